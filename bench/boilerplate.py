"""HTML main-content extraction against a reference: how much of a service page's real content survives, and
how much navigation, header and footer leaks in. Compares, in one run, SiWi's `extract_main_content`, other
trafilatura settings and a naive all-visible-text baseline on the 14 Berlin service pages in
../shared/corpus/berlin-service-html (each with the text of its main-content sections as reference).

Measures (tokens are lower-cased `\\w+` words of the text, so Markdown syntax does not count):

- section recall: share of reference sections (heading + text, e.g. "Gebühren keine") that are found in the
  extracted text. Found means ≥ 90 % of the section's tokens are covered by in-order matching runs of at least
  two tokens (difflib, no junk heuristic) — a section whose heading was dropped, or whose words only occur
  scattered over the page, does not count.
- key recall: the same for the sections a citizen asks about most: Voraussetzungen, Erforderliche
  Unterlagen, Gebühren.
- token recall: covered tokens / all reference tokens, over all sections.
- unreferenced: share of extracted tokens not accounted for by the reference (title, h1, sections; as
  multisets). This includes the service's intro text, which is real content but not part of the reference,
  so read it relative to the other rows, not as pure boilerplate.
- boilerplate lines leaked: distinct text lines of the page's boilerplate containers (the reference's list:
  header, primary navigation, footer, footer links, content footer; plus any nav, aside, breadcrumb or
  cookie element) that are not reference text and appear in the extracted text: as a line of their own
  (same words), or, for lines of four words and more, anywhere in it. A nav item "Online erledigen" does
  not count when a content line says "Dienstleistung online erledigen".

A second table runs the same extractors over the sample site pages (knowledge/sample/pages: cookie banner,
skip link, header, navigation, breadcrumb, chat teaser, footer), with the text of <main> as reference: a
check that what helps on the Berlin pages does not let boilerplate through on another site.

    .venv/bin/python bench/boilerplate.py [--shared ../shared] [--no-pages]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

import lxml.html
import trafilatura

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from knowledge.html import extract_main_content  # noqa: E402

CORPUS = "corpus/berlin-service-html"
SAMPLE_PAGES = REPO / "knowledge" / "sample" / "pages"
KEY_SECTIONS = {"voraussetzungen", "erforderliche_unterlagen", "gebuehren"}
FOUND_SHARE = 0.9
MIN_RUN = 2
# Elements that are boilerplate on any site, beyond the containers the reference names.
GENERIC_BOILERPLATE = ("//nav | //aside | //footer | //*[contains(concat(' ', normalize-space(@class), ' '), "
                       "' breadcrumb ') or contains(@class, 'cookie') or contains(@id, 'cookie')]")


def tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def covered(needle: list[str], haystack: list[str]) -> int:
    """Tokens of `needle` covered by in-order runs of at least MIN_RUN tokens in `haystack` (a one-token
    needle needs its one token)."""
    if not needle:
        return 0
    blocks = SequenceMatcher(None, needle, haystack, autojunk=False).get_matching_blocks()
    least = min(MIN_RUN, len(needle))
    return sum(b.size for b in blocks if b.size >= least)


@dataclass(frozen=True)
class ReferencePage:
    file: Path
    url: str
    title: str
    h1: str
    sections: list[dict[str, str]]
    boilerplate_containers: list[str]

    def section_tokens(self, section: dict[str, str]) -> list[str]:
        return tokens(f"{section['heading']} {section['text']}")

    def reference_counter(self) -> Counter[str]:
        texts = [self.title, self.h1] + [f"{s['heading']} {s['text']}" for s in self.sections]
        return Counter(t for text in texts for t in tokens(text))


def load_reference(corpus: Path) -> list[ReferencePage]:
    pages = []
    for line in (corpus / "main_content_reference.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        pages.append(ReferencePage(corpus / row["file"], row["url"], row["html_title"], row["h1"],
                                   row["sections"], row["boilerplate_containers"]))
    return pages


def _container_xpath(selector: str) -> str:
    """The reference's simple selectors ("tag#id", "tag.class", "id=x") as XPath."""
    if selector.startswith("id="):
        return f"//*[@id='{selector[3:]}']"
    if "#" in selector:
        tag, ident = selector.split("#", 1)
        return f"//{tag or '*'}[@id='{ident}']"
    tag, cls = selector.split(".", 1)
    return f"//{tag or '*'}[contains(concat(' ', normalize-space(@class), ' '), ' {cls} ')]"


def _visible(html: str) -> lxml.html.HtmlElement:
    root = lxml.html.fromstring(html)
    for junk in root.xpath("//script | //style | //noscript | //template"):
        junk.drop_tree()
    return root


def _lines(regions: list[lxml.html.HtmlElement], reference: str) -> set[str]:
    """Each text piece of the regions as a line of tokens, unless the reference (padded token string)
    contains it."""
    lines = set()
    for region in regions:
        for piece in region.itertext():
            line = " ".join(tokens(piece))
            if line and f" {line} " not in reference:
                lines.add(line)
    return lines


def _padded(text: str) -> str:
    return " " + " ".join(tokens(text)) + " "


def boilerplate_lines(html: str, page: ReferencePage) -> set[str]:
    """Distinct text lines of the boilerplate regions that are not also reference text."""
    root = _visible(html)
    regions = [el for sel in page.boilerplate_containers for el in root.xpath(_container_xpath(sel))]
    regions += root.xpath(GENERIC_BOILERPLATE)
    reference = _padded(" ".join([page.title, page.h1] + [f"{s['heading']} {s['text']}" for s in page.sections]))
    return _lines(regions, reference)


def found_lines(lines: set[str], extracted: str) -> list[str]:
    """The lines that `extracted` contains as a line of its own, or (four words and more) anywhere."""
    own = {" ".join(tokens(line)) for line in extracted.splitlines()}
    padded = _padded(extracted)
    return sorted(line for line in lines if line in own or (line.count(" ") >= 3 and f" {line} " in padded))


@dataclass
class Score:
    sections: int = 0
    found: int = 0
    key_sections: int = 0
    key_found: int = 0
    ref_tokens: int = 0
    covered_tokens: int = 0
    extracted_tokens: int = 0
    unreferenced_tokens: int = 0
    bp_lines: int = 0
    bp_leaked: int = 0

    def add(self, other: Score) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def section_recall(self) -> float:
        return self.found / self.sections if self.sections else 0.0

    @property
    def key_recall(self) -> float:
        return self.key_found / self.key_sections if self.key_sections else 0.0

    @property
    def token_recall(self) -> float:
        return self.covered_tokens / self.ref_tokens if self.ref_tokens else 0.0

    @property
    def unreferenced(self) -> float:
        return self.unreferenced_tokens / self.extracted_tokens if self.extracted_tokens else 0.0


def score_page(page: ReferencePage, html: str, extracted: str) -> Score:
    extracted_tokens = tokens(extracted)
    score = Score(extracted_tokens=len(extracted_tokens))
    for section in page.sections:
        needle = page.section_tokens(section)
        hit = covered(needle, extracted_tokens)
        found = hit >= FOUND_SHARE * len(needle)
        score.sections += 1
        score.found += found
        score.ref_tokens += len(needle)
        score.covered_tokens += hit
        if section["id"] in KEY_SECTIONS:
            score.key_sections += 1
            score.key_found += found
    left = Counter(extracted_tokens) - page.reference_counter()
    score.unreferenced_tokens = sum(left.values())
    lines = boilerplate_lines(html, page)
    score.bp_lines = len(lines)
    score.bp_leaked = len(found_lines(lines, extracted))
    return score


def leaked_lines(page: ReferencePage, html: str, extracted: str) -> list[str]:
    """The boilerplate lines of `page` found in `extracted` (for tests and for reading the results)."""
    return found_lines(boilerplate_lines(html, page), extracted)


def naive_text(html: str, url: str | None) -> str:
    """All visible text of the body, one line per text node: what indexing a page without boilerplate
    removal would store."""
    root = _visible(html)
    body = root.find("body")
    return "\n".join((body if body is not None else root).itertext())


def score_sample_page(html: str, extracted: str) -> Score:
    """A page with a <main>: its text is the reference (one section); what lies outside is boilerplate."""
    root = _visible(html)
    main = root.find(".//main")
    if main is None:
        raise ValueError("sample page without <main>")
    reference = " ".join(main.itertext())
    outside, node = [], main
    while node.getparent() is not None and node.tag != "body":
        outside += [sibling for sibling in node.getparent() if sibling is not node and isinstance(sibling.tag, str)]
        node = node.getparent()
    needle, extracted_tokens = tokens(reference), tokens(extracted)
    hit = covered(needle, extracted_tokens)
    lines = _lines(outside, _padded(reference))
    left = Counter(extracted_tokens) - Counter(needle)
    return Score(sections=1, found=int(hit >= FOUND_SHARE * len(needle)), ref_tokens=len(needle),
                 covered_tokens=hit, extracted_tokens=len(extracted_tokens),
                 unreferenced_tokens=sum(left.values()), bp_lines=len(lines),
                 bp_leaked=len(found_lines(lines, extracted)))


def _trafilatura(**options: object) -> Callable[[str, str | None], str]:
    def run(html: str, url: str | None) -> str:
        return trafilatura.extract(html, url=url, **options) or ""  # type: ignore[arg-type]
    return run


MARKDOWN = {"output_format": "markdown", "include_tables": True, "include_formatting": True, "include_links": False}

EXTRACTORS: dict[str, Callable[[str, str | None], str]] = {
    "SiWi extract_main_content": lambda html, url: extract_main_content(html, url).markdown,
    "trafilatura favor_precision": _trafilatura(**MARKDOWN, favor_precision=True),
    "trafilatura favor_recall (SiWi before)": _trafilatura(**MARKDOWN, favor_recall=True),
    "trafilatura markdown, balanced": _trafilatura(**MARKDOWN),
    "trafilatura default (txt)": _trafilatura(),
    "naive: all body text": naive_text,
}


Results = dict[str, tuple[Score, dict[str, Score]]]
"""Extractor name → (total score, score per page file name)."""


def measure(corpus: Path) -> Results:
    pages = load_reference(corpus)
    htmls = {page.file.name: page.file.read_text(encoding="utf-8") for page in pages}
    return _run({name: (htmls[name], page.url) for name, page in zip(htmls, pages, strict=True)},
                lambda name, html, text: score_page(pages[list(htmls).index(name)], html, text))


def measure_sample(folder: Path) -> Results:
    htmls = {path.name: (path.read_text(encoding="utf-8"), None) for path in sorted(folder.glob("*.html"))}
    return _run(htmls, lambda name, html, text: score_sample_page(html, text))


def _run(pages: dict[str, tuple[str, str | None]], scorer: Callable[[str, str, str], Score]) -> Results:
    results = {}
    for extractor, extract in EXTRACTORS.items():
        total, per_page = Score(), {}
        for name, (html, url) in pages.items():
            per_page[name] = scorer(name, html, extract(html, url))
            total.add(per_page[name])
        results[extractor] = (total, per_page)
    return results


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def markdown_tables(results: Results, pages: bool, keys: bool = True) -> str:
    key_head, key_rule = (" key sections (Vorauss./Unterl./Gebühren) |", "---|") if keys else ("", "")
    out = [f"| extractor | sections found |{key_head} token recall | unreferenced tokens | "
           "boilerplate lines leaked | tokens extracted |", f"|---|---|{key_rule}---|---|---|---|"]
    for name, (s, _) in results.items():
        key = f" {s.key_found}/{s.key_sections} ({_pct(s.key_recall)}) |" if keys else ""
        out.append(f"| {name} | {s.found}/{s.sections} ({_pct(s.section_recall)}) |{key} {_pct(s.token_recall)} | "
                   f"{_pct(s.unreferenced)} | {s.bp_leaked}/{s.bp_lines} | {s.extracted_tokens} |")
    if pages:
        names = list(results)
        out += ["", "Per page: sections found / boilerplate lines leaked", "",
                "| page | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for file in next(iter(results.values()))[1]:
            cells = [f"{results[n][1][file].found}/{results[n][1][file].sections} · "
                     f"{results[n][1][file].bp_leaked}" for n in names]
            out.append(f"| {file} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--pages", action=argparse.BooleanOptionalAction, default=True,
                        help="also print the per-page table")
    args = parser.parse_args()
    corpus = args.shared / CORPUS
    if not (corpus / "main_content_reference.jsonl").is_file():
        sys.exit(f"{corpus}: no main_content_reference.jsonl (is ../shared there?)")
    print(f"Berlin service pages ({corpus}):\n")
    print(markdown_tables(measure(corpus), args.pages))
    print(f"\nSample site pages ({SAMPLE_PAGES.relative_to(REPO)}), reference = text of <main>:\n")
    print(markdown_tables(measure_sample(SAMPLE_PAGES), pages=False, keys=False))


if __name__ == "__main__":
    main()
