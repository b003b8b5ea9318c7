"""The citation check: nothing reaches a citizen unless the source it cites says it.

The model sees every source sentence with an id ([2.3] = source 2, sentence 3) and cites those ids. Each
answer sentence is then checked against the source sentence(s) it cites, not against the whole passage:

1. Facts (amounts, numbers, dates, times, phone numbers, e-mail addresses, URLs, § references; see facts.py)
   must all occur in that one source sentence. "96 Euro für den zweiten Hund" cited to "96 Euro für den
   ersten Hund und 144 Euro für jeden weiteren" passes this step ...
2. ... but not this one: the sentence's content words (stemmed, compounds split) must be found in the source
   sentence or its heading path. "zweiten" is not there, so the claim is not supported.
3. Optionally, the embedding similarity of the two sentences must reach a threshold (needed where the answer
   is in another language than the source, where words cannot be compared).

A sentence that fails against what it cites is tried against every other source sentence ("fixed" when one
supports it). If none does but the model clearly pointed at a source sentence, that sentence is shown
verbatim instead of the model's wording ("quoted"): the citizen reads what the source says, never the model's
variation of it. Everything else is dropped ("unsupported"); a factual sentence without any marker is
unsupported too. Short sentences without facts ("Gern helfe ich Ihnen.") are "neutral" and kept.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from rapidfuzz import fuzz, process

from bot.claims import bindings, misplaced
from bot.facts import ADDRESS, asked_kinds, covered, facts, kinds
from bot.facts import normalise_number as normalise_number  # re-exported for callers and tests
from bot.sentences import Span, clean_line, sentence_spans, split_sentences
from embeddings.lexical import tokenize
from embeddings.retrieval import Passage

__all__ = ["CitationChecker", "CheckedSentence", "SourceSentences", "parse_markers", "render", "split_sentences",
           "content_stems", "normalise_number", "about_question"]

log = logging.getLogger(__name__)

Verdict = Literal["supported", "fixed", "quoted", "selected", "unsupported", "neutral"]
"""`selected`: a source line chosen as the answer (bot/selection.py), shown verbatim; the model wrote nothing."""
Similarity = Callable[[str, Sequence[str]], Sequence[float]]
"""(answer sentence, source sentences) → cosine similarities."""

# [2], [2.3], [2.3, 1.1], [2,3]; the model sometimes uses round brackets for ids.
MARKER = re.compile(r"\s*[\[(]((?:\d+(?:\.\d+)?)(?:\s*[,;]\s*\d+(?:\.\d+)?)*)[\])]")
# Words that state a relation rather than a claim of their own: "Die Gebühr beträgt …", "Sie brauchen …".
_LIGHT_WORDS = (
    "kosten kostet beträgt betragen gebühr gebühren zahlen bezahlen benötigen brauchen erhalten bekommen "
    "müssen muss können kann dürfen darf sollten möglich gibt geben liegt liegen gilt gelten beantragen "
    "stellen vorlegen mitbringen informationen information frage antwort bitte gern gerne folgende folgendes "
    "dafür dazu hierfür außerdem zusätzlich insgesamt jeweils etwa rund circa ca euro uhr sowie bzw "
    "laut quelle quellen angaben demnach gemäß entsprechend wann warum weshalb wieso wozu womit woher wohin wieviel "
    "cost costs fee fees need needs pay get must can may apply please following according source")


@lru_cache(maxsize=1)
def light_words() -> frozenset[str]:
    """Stems of _LIGHT_WORDS, on first use: tokenising loads the compound splitter, which takes seconds."""
    return frozenset(tokenize(_LIGHT_WORDS))
# A negated claim is the opposite claim: "ist nicht verfahrensfrei" never supports "ist verfahrensfrei".
NEGATION = re.compile(r"\b(nicht|kein\w*|nie|niemals|ohne|not|no|never|without|cannot|can't)\b", re.IGNORECASE)
CONTENT_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
BARE_ID = re.compile(r"[\[(]?(\d{1,2})\.(\d{1,2})[\])]?\.?")
# Capitalised words: in German the nouns, and so the offices, documents, places and services a claim is
# about. Unlike other words, none of them may be missing from the source sentence ("im Jugendamt" for
# "im Bürgerbüro"; "Reisepass" for "Personalausweis").
NAME = re.compile(r"(?<![\w-])[A-ZÄÖÜ][^\W\d_]{2,}")


def content_stems(text: str) -> set[str]:
    """Stemmed content words (compound parts included), without the relation words above, without bare
    numbers and without the words inside e-mail addresses and URLs (facts are compared exactly, on their
    own; "bauaufsicht@kreis-lindenau.example" is no statement about the Bauaufsicht)."""
    return {t for t in tokenize(ADDRESS.sub(" ", text)) if not t.isdigit()} - light_words()


def names(text: str) -> list[tuple[str, frozenset[str]]]:
    """(stem of the whole word, stems of its compound parts) of each capitalised content word."""
    found = []
    for match in NAME.finditer(re.sub(r"-(?=\w)", " ", text)):  # "Online-Umschreibung": two names
        terms = [t for t in tokenize(match.group()) if not t.isdigit()]
        if terms and terms[0] not in light_words():
            found.append((terms[0], frozenset(terms[1:]) - light_words()))
    return found


def named(sentence_names: list[tuple[str, frozenset[str]]], available: frozenset[str] | set[str]) -> bool:
    """Each name is in the source as a word, or as all of its parts ("Kreishaus" ← "Haus des Kreises")."""
    return all(whole in available or (parts and parts <= available) for whole, parts in sentence_names)


@dataclass(frozen=True)
class SourceSentence:
    source: int
    """1-based number of the passage, as the citizen sees it."""
    index: int
    """1-based number of the sentence within the passage body."""
    span: Span
    """Offsets into passage.text: what the widget highlights."""
    facts: frozenset[str]
    stems: frozenset[str]
    context: frozenset[str]
    """Stems of the passage's title and heading path, which every sentence of it is about."""
    site: frozenset[str] = frozenset()
    """Stems of the page's host name: whose page it is. It makes a sentence about a place the question names
    ("in München"), never support for a claim (the "Kreis" of kreis-lindenau.de is no "Kreishaus")."""

    @property
    def ref(self) -> str:
        return f"{self.source}.{self.index}"


# Sentences that address a language model rather than a citizen. An administration page has no reason to
# contain them; when one does (a planted injection, a compromised page), the sentence is neither shown to the
# model nor citable, and a warning names the document.
INJECTION = re.compile(
    r"ignorier\w*\s.{0,40}(anweisung|regel|instruktion|vorgabe)|vergiss\s.{0,40}(anweisung|regel|quelle)|"
    r"\b(du\s+bist|sie\s+sind)\s+(jetzt|ab\s+sofort|nun|ab\s+jetzt)\b|system\s*-?\s*(prompt|nachricht|anweisung)|"
    r"(ignore|disregard|forget)\s.{0,40}(instruction|rule|prompt|source)|\byou\s+are\s+now\b|"
    r"system\s+(prompt|message)|</?\s*(quelle|frage|system|source)\b|^\W*system\s*:|"
    r"\b(antworte|answer|respond)\w*\s+(ab\s+jetzt|from\s+now\s+on|nur\s+noch|only\s+with)",
    re.IGNORECASE)


class SourceSentences:
    """The sentences of the passages of one answer, numbered as in the prompt."""

    def __init__(self, passages: Sequence[Passage]):
        self.passages = list(passages)
        self.by_source: dict[int, list[SourceSentence]] = {}
        for number, passage in enumerate(self.passages, 1):
            start = body_start(passage)
            context = frozenset(content_stems(f"{passage.title} {passage.headings}"))
            site = frozenset(content_stems(site_words(passage.url)))
            sentences = []
            for span in sentence_spans(passage.text[start:]):
                if INJECTION.search(span.text):
                    log.warning("ignored an instruction-like sentence in %s: %r", passage.location, span.text[:120])
                    continue
                sentences.append(SourceSentence(
                    number, len(sentences) + 1, Span(span.text, span.start + start, span.end + start),
                    frozenset(facts(span.text)), frozenset(content_stems(span.text)), context, site))
            self.by_source[number] = sentences

    def get(self, source: int, index: int | None) -> list[SourceSentence]:
        sentences = self.by_source.get(source, [])
        if index is None:
            return sentences
        return [s for s in sentences if s.index == index]

    def all(self) -> list[SourceSentence]:
        return [s for sentences in self.by_source.values() for s in sentences]


def site_words(url: str | None) -> str:
    """The words of a page's host name ("www.stadt.muenchen.de" → "stadt muenchen"). Citizens name the place
    ("… in München?"), the service pages rarely do."""
    host = urlsplit(url).hostname if url else None
    labels = host.split(".")[:-1] if host else []  # without the top-level domain
    return " ".join(word for label in labels if label != "www" for word in label.split("-"))


def body_start(passage: Passage) -> int:
    """Chunks begin with their heading path on a line of its own; sentences start after it."""
    if passage.headings and passage.text.startswith(passage.headings):
        newline = passage.text.find("\n")
        return newline + 1 if newline >= 0 else len(passage.text)
    return 0


@dataclass(frozen=True)
class CheckedSentence:
    text: str
    """What is shown: the model's sentence, or for `quoted` the source sentence, without markers."""
    markers: tuple[int, ...]
    """Source numbers after the check (fixed or removed where the model cited wrongly)."""
    verdict: Verdict
    support: float
    """Share of the sentence's content words found in the supporting source sentence."""
    snippet: str | None = None
    """The supporting source sentence, verbatim."""
    span: tuple[int, int] | None = None
    """Offsets of the snippet in the cited passage's text."""
    original: str = ""
    """What the model wrote (without markers)."""
    reason: str = ""
    """Why a sentence was not supported as written (for staff and evaluation)."""

    @property
    def shown(self) -> bool:
        return self.verdict != "unsupported"


Ref = tuple[int, int | None]


def parse_markers(sentence: str, n_sources: int) -> tuple[str, tuple[int, ...]]:
    """Strip markers; the source numbers cited, in order ([2.3] cites source 2)."""
    clean, refs = parse_refs(sentence, n_sources)
    return clean, tuple(dict.fromkeys(source for source, _ in refs))


def parse_refs(sentence: str, n_sources: int) -> tuple[str, list[Ref]]:
    refs: list[Ref] = []
    for group in MARKER.findall(sentence):
        for item in re.split(r"\s*[,;]\s*", group):
            source, _, index = item.partition(".")
            ref = (int(source), int(index) if index else None)
            if 1 <= ref[0] <= n_sources and ref not in refs:
                refs.append(ref)
    clean = MARKER.sub("", sentence).strip()
    clean = re.sub(r"\s+([.,!?;:])", r"\1", clean)
    return clean, refs


@dataclass
class CitationChecker:
    min_overlap: float = 0.75
    """Share of a sentence's content words that its source sentence (with headings) must contain."""
    min_similarity: float = 0.0
    """Embedding similarity a sentence needs to its source sentence (0 = not used)."""
    min_quote_overlap: float = 0.5
    """How clearly a failed sentence must be about the sentence it cites for that to be quoted instead."""
    similarity: Similarity | None = field(default=None, repr=False)

    def check(self, answer: str, passages: Sequence[Passage], cross_language: bool = False,
              question: str = "") -> list[CheckedSentence]:
        sources = SourceSentences(passages)
        checked = []
        for raw in answer_sentences(answer):
            result = self.check_sentence(raw, sources, cross_language, question)
            if result is not None:
                checked.append(result)
        return checked

    def check_sentence(self, raw: str, sources: SourceSentences, cross_language: bool = False,
                       question: str = "") -> CheckedSentence | None:
        """`question`, when given, must share a content word with a source sentence for it to be quoted: a
        verbatim quote that is true but beside the point is no answer. Across languages the words cannot be
        compared; retrieval's relevance gate and the embedding check have to do."""
        wanted = asked_kinds(question)
        topic = "" if cross_language else question  # for _about
        text, refs = parse_refs(raw, len(sources.passages))
        text = text.strip()
        # "[2.1] - Ersatzführerschein: ab ca. 35 Euro" → the list dash is layout, not content.
        text = re.sub(r"^[-*•]\s+", "", text)
        if refs and not CONTENT_WORD.search(text) and not facts(text):
            # A bare id ("[1.1]") is the model selecting a source sentence as the answer: quote it.
            return self._selected(refs, sources, topic, wanted)
        if not text or not CONTENT_WORD.search(text) and not facts(text):
            return None
        sentence_facts = facts(text)
        stems = content_stems(text)
        if not refs and not sentence_facts and (len(stems) <= 2 or text.endswith(":")):
            return CheckedSentence(text, (), "neutral", 1.0, original=text)
        if not refs and (bare := BARE_ID.fullmatch(text)) and sources.get(int(bare[1]), int(bare[2])):
            # "3.5" alone: a sentence id without its brackets, not the number 3.5.
            return self._selected([(int(bare[1]), int(bare[2]))], sources, topic, wanted)
        if not refs:
            best = self._best(text, sentence_facts, stems, sources.all(), cross_language)
            if best and best[1] is not None and stems & best[1].stems and about_question(topic, best[1]):
                # The claim is in a source sentence (not only in its headings), but the model did not say
                # which: the source sentence is shown, with its citation, instead of the model's wording.
                return _quote(best[1], text, "no source marker; the source sentence that supports it is shown")
            stating = self._stating(sentence_facts, sources, question, cross_language, bool(NEGATION.search(text)))
            if stating is not None:
                # The model's own unmarked wording is not shown; the one source sentence on the question
                # that states exactly these facts is ("10,20 Euro" → "Zuteilung …: 10,20 Euro").
                return _quote(stating, text, "factual sentence without a source marker; the source sentence is shown")
            return CheckedSentence(text, (), "unsupported", best[0] if best else 0.0, original=text,
                                   reason="factual sentence without a source marker")

        cited = [s for source, index in refs for s in sources.get(source, index)]
        best = self._best(text, sentence_facts, stems, cited, cross_language)
        if best and best[1] is not None:
            return self._kept(text, "supported", best[0], best[1])
        elsewhere = [s for s in sources.all() if s not in cited]
        other = self._best(text, sentence_facts, stems, elsewhere, cross_language)
        if other and other[1] is not None:
            return self._kept(text, "fixed", other[0], other[1], reason="cited source did not support it")
        quote = self._quotable(stems, sentence_facts, cited, refs)
        reason = self._why_not(sentence_facts, cited)
        if quote is not None and about_question(topic, quote):
            return _quote(quote, text, reason)
        return CheckedSentence(text, (), "unsupported", best[0] if best else 0.0, original=text, reason=reason)

    def _best(self, text: str, sentence_facts: set[str], stems: set[str], candidates: list[SourceSentence],
              cross_language: bool) -> tuple[float, SourceSentence | None] | None:
        """(best overlap, the best supporting candidate or None)."""
        if not candidates:
            return None
        scored = []
        negated = bool(NEGATION.search(text))
        sentence_names = [] if cross_language else names(text)
        # which fact each word of the sentence is about: once per sentence, compared with each candidate
        bound = {} if cross_language or not sentence_facts else bindings(text, light_words())[0]
        for candidate in candidates:
            available = candidate.stems | candidate.context
            overlap = len(stems & available) / len(stems) if stems else 1.0
            ok = (covered(sentence_facts, set(candidate.facts)) and (cross_language or overlap >= self.min_overlap)
                  and negated == bool(NEGATION.search(candidate.span.text)) and named(sentence_names, available)
                  and not misplaced(bound, candidate.span.text, light_words()))
            scored.append((overlap, ok, candidate))
        best_overlap = max(overlap for overlap, _, _ in scored)
        passing = [(overlap, c) for overlap, ok, c in scored if ok]
        if passing and self.similarity is not None and (self.min_similarity > 0 or cross_language):
            similarities = self.similarity(text, [c.span.text for _, c in passing])
            threshold = max(self.min_similarity, 0.85 if cross_language else 0.0)
            passing = [(s, c) for (_, c), s in zip(passing, similarities, strict=True) if s >= threshold]
        elif cross_language:
            passing = []  # words cannot be compared across languages and there is no embedder
        if not passing:
            return best_overlap, None
        overlap, candidate = max(passing, key=lambda pair: pair[0])
        return overlap, candidate

    def _quotable(self, stems: set[str], sentence_facts: set[str], cited: list[SourceSentence],
                  refs: list[Ref]) -> SourceSentence | None:
        """The source sentence the model evidently meant: cited by its id, and about the same things or
        stating the same facts ("Für das zweite Tier: 144 Euro [3.1]" means the sentence with 144 Euro)."""
        best: tuple[float, SourceSentence] | None = None
        for candidate in cited:
            if not any(index == candidate.index for source, index in refs if source == candidate.source):
                continue
            mine = stems & (candidate.stems | candidate.context)
            about = max(len(mine) / max(1, len(stems)), len(stems & candidate.stems) / max(1, len(candidate.stems)))
            if sentence_facts and covered(sentence_facts, set(candidate.facts)):
                about = max(about, 1.0)
            if about >= self.min_quote_overlap and (best is None or about > best[0]):
                best = (about, candidate)
        return best[1] if best else None

    @staticmethod
    def _stating(sentence_facts: set[str], sources: SourceSentences, question: str,
                 cross_language: bool = False, negated: bool = False) -> SourceSentence | None:
        """The source sentence that contains all of these facts and shares the most words with the question
        (on a tie the higher-ranked passage); None when no sentence about the question has them. Across
        languages few words are shared: the top-ranked passage's sentence with these facts, if it has one.
        A sentence that negates what the source states, or the reverse ("Sie müssen die 13 Euro nicht
        zahlen" against "13 Euro"), is not replaced by it: the quote would say the opposite."""
        if not sentence_facts or not question:
            return None
        asked = content_stems(question)
        best: tuple[int, SourceSentence] | None = None
        for candidate in sources.all():  # in rank order
            shared = len(asked & (candidate.stems | candidate.context | candidate.site))
            about = ((shared or candidate.source == 1) if cross_language
                     else (shared and about_question(question, candidate)))
            if (about and covered(sentence_facts, set(candidate.facts))
                    and negated == bool(NEGATION.search(candidate.span.text)) and (best is None or shared > best[0])):
                best = (shared, candidate)
        return best[1] if best else None

    @staticmethod
    def _selected(refs: list[Ref], sources: SourceSentences, question: str,
                  wanted: frozenset[str]) -> CheckedSentence | None:
        for source, index in refs:
            if index is None:
                continue
            for chosen in sources.get(source, index):
                if about_question(question, chosen):
                    if (instead := _answering(question, wanted, chosen, sources)) is not None:
                        return _quote(instead, "", f"the model selected [{source}.{index}], which has no "
                                                   "answer of the asked kind; this sentence of the source has")
                    return _quote(chosen, "", "the model selected this source sentence")
        return None

    @staticmethod
    def _kept(text: str, verdict: Verdict, overlap: float, source: SourceSentence, reason: str = "") -> CheckedSentence:
        return CheckedSentence(text, (source.source,), verdict, overlap, source.span.text,
                               (source.span.start, source.span.end), text, reason)

    @staticmethod
    def _why_not(sentence_facts: set[str], cited: list[SourceSentence]) -> str:
        available = set().union(*(c.facts for c in cited)) if cited else set()
        missing = sorted(f for f in sentence_facts if not covered({f}, available))
        if missing:
            return "not in the cited source: " + ", ".join(missing)
        return "the cited source does not say this"


def answer_sentences(text: str) -> list[str]:
    """The model's sentences; a bare list of ids ("[2.1], [2.2], [2.3]") is one selection per id, so that
    every selected source sentence is quoted, not only the first."""
    sentences = []
    for sentence in split_sentences(text):
        ids = MARKER.findall(sentence)
        if len(ids) > 1 and not CONTENT_WORD.search(MARKER.sub("", sentence)) and not facts(MARKER.sub("", sentence)):
            sentences += [f"[{group}]" for group in ids]
        else:
            sentences.append(sentence)
    return sentences


def about_question(question: str, sentence: SourceSentence) -> bool:
    """Is a source sentence (with its headings) about the question? It shares a content word with it, and at
    least half of the question's nouns: "Was kostet eine Hochzeit beim Standesamt in Lindenau?" is not
    answered by "Gewerbeanmeldung in der Stadt Lindenau: 26 Euro". Without a question any sentence counts."""
    if not question:
        return True
    available = sentence.stems | sentence.context | sentence.site
    if not shares_word(content_stems(question), available):
        return False
    asked = names(question)
    found = sum(1 for name in asked if named([name], available) or shares_word({name[0]}, available))
    return 2 * found >= len(asked)


def _answering(question: str, wanted: frozenset[str], chosen: SourceSentence,
               sources: SourceSentences) -> SourceSentence | None:
    """A small model often selects the line that names the thing instead of the one that answers: for "Wann
    hat die Zulassungsstelle geöffnet?" the line "Straßenverkehrsamt – Zulassungsstelle" instead of
    "Öffnungszeiten: Mo–Fr 7:30–12:30 Uhr". When the question asks for a kind of fact (times, an amount, a
    phone number) that the chosen sentence lacks, the sentence of the same passage that has it and is about
    the question is meant: the one sharing most of the question's words, on a tie the nearest. `wanted`:
    `asked_kinds` of the question (which may be in another language, then `question` is empty)."""
    if not wanted or wanted & kinds(chosen.facts):
        return None
    asked = content_stems(question)
    candidates = [s for s in sources.get(chosen.source, None)
                  if wanted & kinds(s.facts) and about_question(question, s)]
    if not candidates:
        return None
    return max(candidates, key=lambda s: (len(asked & s.stems), -abs(s.index - chosen.index)))


def shares_word(asked: set[str] | frozenset[str], about: set[str] | frozenset[str]) -> bool:
    """A word in common, forgiving one typo in a longer word: citizens write "fürungszeugnis"."""
    if asked & about:
        return True
    return any(len(word) >= 6 and process.extractOne(word, about, scorer=fuzz.ratio, score_cutoff=85) is not None
               for word in asked)


def _quote(source: SourceSentence, original: str, reason: str) -> CheckedSentence:
    """Show the source sentence itself (list mark and Markdown emphasis dropped) instead of the model's wording."""
    return CheckedSentence(clean_line(source.span.text), (source.source,), "quoted", 1.0,
                           source.span.text, (source.span.start, source.span.end), original, reason)


def render(sentences: Sequence[CheckedSentence]) -> str:
    """The verified answer text: kept sentences with their (possibly fixed) markers; list items and quotes
    from lists on lines of their own."""
    parts: list[str] = []
    for s in sentences:
        if not s.shown:
            continue
        marker = "".join(f"[{n}]" for n in s.markers)
        line = f"{s.text} {marker}".strip() if marker else s.text
        is_item = bool(s.snippet and s.snippet.lstrip().startswith(("-", "*", "•")))
        if is_item:
            parts.append(("\n" if parts else "") + "- " + line)
        elif parts and parts[-1].lstrip("\n").startswith("- "):
            parts.append("\n" + line)
        else:
            parts.append((" " if parts else "") + line)
    return "".join(parts).strip()
