"""HTML → main content as Markdown plus page metadata. Navigation, header, footer, breadcrumbs and cookie
banners go; headings, lists and tables stay (measured in bench/boilerplate.py)."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import lxml.html
import trafilatura
from lxml import etree

# Elements that flow inside a line of text; a div holding only these (and text) is a paragraph.
_INLINE = frozenset({"a", "abbr", "b", "bdi", "br", "cite", "code", "data", "del", "dfn", "em", "i", "img", "ins",
                     "kbd", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var",
                     "wbr"})
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_CHROME_TAGS = frozenset({"nav", "header", "footer", "aside"})
_CHROME_WORDS = frozenset({"nav", "navbar", "navi", "navigation", "menu", "header", "footer", "sidebar", "aside",
                           "breadcrumb", "breadcrumbs", "cookie", "banner", "complementary", "contentinfo"})
_WORD = re.compile(r"[a-z0-9]+")
_PREFORMATTED = frozenset({"pre", "code", "textarea"})
_SPACES = re.compile(r"\s+")
_INNER_BLANKS = re.compile(r"(?<=\S) {2,}")


@dataclass(frozen=True)
class ExtractedPage:
    markdown: str
    title: str | None
    url: str | None
    language: str | None
    date: str | None


def parse_html(html: str) -> lxml.html.HtmlElement | None:
    """Parse already decoded HTML, whatever encoding it declares (a wrong <meta charset> or an XML
    declaration must not garble or reject the text); None when there is no markup to parse."""
    if not html.strip():
        return None
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True)
    try:
        return lxml.html.document_fromstring(html.encode("utf-8", errors="replace"), parser=parser)
    except (etree.ParserError, ValueError):
        return None


def _is_chrome(element: lxml.html.HtmlElement) -> bool:
    """Inside navigation, header, footer, sidebar, breadcrumb or cookie banner, by element or by name."""
    for node in (element, *element.iterancestors()):
        if node.tag in _CHROME_TAGS:
            return True
        names = f"{node.get('class', '')} {node.get('id', '')} {node.get('role', '')}".lower()
        if _CHROME_WORDS.intersection(_WORD.findall(names)):
            return True
    return False


def _content_sections(root: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    """What follows a content heading up to the next heading of the same or a higher level."""
    sections = []
    for heading in root.iter(*_HEADINGS):
        if _is_chrome(heading):
            continue
        for sibling in heading.itersiblings():
            if sibling.tag in _HEADINGS and sibling.tag <= heading.tag:
                break
            if isinstance(sibling.tag, str) and not _is_chrome(sibling):
                sections.append(sibling)
    return sections


def _normalise(root: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    """Rewrites before trafilatura, measured on real service pages (bench/boilerplate.py).

    Inside content sections (what follows a heading, outside navigation and footer):
    - links become their text: link-density pruning otherwise drops lists whose items are links, which on a
      service page are the forms, the legal bases and the offices (Berlin: 57 % → 100 % of the reference
      text kept). Elsewhere links stay, so that link-heavy menus without <nav> are still recognised;
    - a div that holds text directly becomes a paragraph: trafilatura keeps bare div text only on short
      pages, so "Gebühren: keine" appeared on one page and vanished on the next.
    Everywhere: runs of source-code whitespace collapse to one space, as a browser shows them, so that list
    items and bold text do not come out as lines of blanks."""
    for section in _content_sections(root):
        for link in list(section.iter("a")):
            if not _is_chrome(link):
                link.drop_tag()
        for div in section.iter("div"):
            if div.text and div.text.strip() and all(isinstance(c.tag, str) and c.tag in _INLINE for c in div):
                div.tag = "p"
    for element in root.iter():
        in_pre = any(a.tag in _PREFORMATTED for a in element.iterancestors())
        if element.text and not in_pre and element.tag not in _PREFORMATTED:
            element.text = _SPACES.sub(" ", element.text)
        if element.tail and not in_pre:
            element.tail = _SPACES.sub(" ", element.tail)
    return root


def _tidy(markdown: str) -> str:
    """Double blanks inside lines, trailing blanks and runs of empty lines left by the conversion."""
    lines = [_INNER_BLANKS.sub(" ", line.rstrip()) for line in markdown.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def extract_main_content(html: str, url: str | None = None) -> ExtractedPage:
    root = parse_html(html)
    if root is None:
        return ExtractedPage("", None, url, None, None)
    meta = trafilatura.extract_metadata(copy.deepcopy(root), default_url=url)
    markdown = trafilatura.extract(_normalise(root), url=url, output_format="markdown", include_tables=True,
                                   include_formatting=True, include_links=False, favor_recall=True) or ""
    return ExtractedPage(
        markdown=_tidy(markdown),
        title=meta.title if meta and meta.title else None,
        url=meta.url if meta and meta.url else None,
        language=getattr(meta, "language", None) if meta else None,
        date=meta.date if meta and meta.date else None,
    )


# --- HTML fragments (a catalogue's description or fee field) → plain text ---------------------------------

_BLOCKS = frozenset({"p", "div", "section", "article", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "table",
                     "thead", "tbody", "tfoot", "tr", "dl", "dt", "dd", "pre", "address", "figure", "hr"})
_LISTS = frozenset({"ul", "ol"})
_SKIP = frozenset({"script", "style", "template", "noscript"})
_INVISIBLE = str.maketrans("", "", "\u200b\u200c\u200d\u2060\ufeff\xad")


@dataclass(frozen=True)
class Block:
    text: str
    marker: str | None = None
    """"-" or "1." for a list item, None for a paragraph."""


class _Blocks:
    """Walks a fragment and cuts it into paragraphs and list items; inline markup becomes plain text, <br>
    a line break, nested lists indented "- " lines inside their item."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._line: list[str] = []

    def flush(self) -> None:
        lines = (" ".join(line.translate(_INVISIBLE).split()) for line in "".join(self._line).split("\n"))
        text = "\n".join(line for line in lines if line)
        if text:
            self.blocks.append(Block(text))
        self._line = []

    def walk(self, element: lxml.html.HtmlElement) -> None:
        self._line.append(element.text or "")
        for child in element:
            if not isinstance(child.tag, str) or child.tag in _SKIP:
                pass
            elif child.tag == "br":
                self._line.append("\n")
            elif child.tag in _LISTS:
                self.flush()
                for number, item in enumerate(child.iterchildren("li"), 1):
                    self.blocks.append(Block(_item_text(item), f"{number}." if child.tag == "ol" else "-"))
            elif child.tag in ("td", "th"):
                self._line.append(" | " if self._line and "".join(self._line).strip() else "")
                self.walk(child)
            elif child.tag in _BLOCKS or child.tag == "li":
                self.flush()
                self.walk(child)
                self.flush()
            else:
                self.walk(child)
            self._line.append(child.tail or "")


def _render(block: Block) -> str:
    """A list item with its continuation lines indented, so that it stays one Markdown item."""
    return f"{block.marker} " + block.text.replace("\n", "\n  ") if block.marker else block.text


def _item_text(item: lxml.html.HtmlElement) -> str:
    inner = _Blocks()
    inner.walk(item)
    inner.flush()
    return "\n".join(_render(block) for block in inner.blocks)


def fragment_blocks(html: str) -> list[Block]:
    """Paragraphs and list items of an HTML fragment, as plain text (lxml, not patterns over markup)."""
    if not html or not html.strip():
        return []
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return []
    walker = _Blocks()
    walker.walk(root)
    walker.flush()
    return [block for block in walker.blocks if block.text]


def fragment_text(html: str) -> str:
    """An HTML fragment as plain text with Markdown lists: paragraphs apart by a blank line, list items as
    "- " or "1. " lines."""
    parts: list[str] = []
    previous: Block | None = None
    for block in fragment_blocks(html):
        if previous is not None:
            same_list = (block.marker and previous.marker and block.marker != "1."
                         and (block.marker == "-") == (previous.marker == "-"))
            parts.append("\n" if same_list else "\n\n")
        parts.append(_render(block))
        previous = block
    return "".join(parts)
