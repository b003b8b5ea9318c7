"""The citation check: every sentence shown must be supported by the source its `[n]` marker names.

A cheap deterministic check: each number in the sentence must occur in the cited passage, and most of the
sentence's content words must too. Sentences that fail are re-attributed to a passage that supports them
or dropped; a factual sentence without a marker is treated the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from embeddings.retrieval import Passage

MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
# A sentence ends at . ! ? after two lower-case letters, a marker or a bracket, so that "z. B.", "Nr. 5"
# and "17. März" stay whole; list lines end at the line break.
_SENTENCE_END = re.compile(
    r"(?:(?<=[a-zäöüß]{2}[.!?])|(?<=\][.!?])|(?<=\)[.!?])|(?<=\]))\s+(?=[A-ZÄÖÜ„\"*\-])|\s*\n+\s*")
_WORD = re.compile(r"[A-Za-zÄÖÜäöüß][A-Za-zÄÖÜäöüß\-]+")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_STEM = 5

STOPWORDS = frozenset("""
aber alle allem allen aller alles als also am an ander andere anderen auch auf aus bei beim bin bis bist
da dabei damit dann das dass dem den denn der des dessen die dies diese diesem diesen dieser dieses doch dort
du durch ein eine einem einen einer eines er es etwa euch euer für gegen gibt hat hatte haben hier hin ich
ihm ihn ihnen ihr ihre ihrem ihren ihrer im in ins ist ja jede jedem jeden jeder jedes kann kein keine
können könnte man mehr mit muss müssen nach nicht noch nun nur ob oder ohne sehr sein seine sich sie sind so
soll sollte sowie über um und uns unter vom von vor war waren was weil welche welcher wenn wer werden wie
wieder wir wird wo zu zum zur zwischen bitte gerne gern dazu davon darüber hierzu außerdem zudem jedoch
the and for are was were with that this from you your can will have has not but all any its also there
""".split())


@dataclass(frozen=True)
class CheckedSentence:
    text: str
    """The sentence without markers."""
    markers: tuple[int, ...]
    """Source numbers after the check (fixed or removed where the model cited wrongly)."""
    verdict: str
    """supported | fixed | unsupported | neutral (no factual claim, e.g. a greeting)"""
    support: float
    snippet: str | None


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def content_stems(text: str) -> set[str]:
    words = (w.lower().strip("-") for w in _WORD.findall(text))
    return {w[:_STEM] for w in words if len(w) > 2 and w not in STOPWORDS}


def normalise_number(raw: str) -> str:
    value = raw
    if re.fullmatch(r"\d{1,3}(\.\d{3})+", value):  # 12.000 → 12000
        value = value.replace(".", "")
    value = re.sub(r"[.,]0+$", "", value)            # 37,00 → 37
    return value.replace(",", ".")


def _numbers(text: str) -> set[str]:
    return {normalise_number(n) for n in _NUMBER.findall(text)}


def _best_sentence(sentence_stems: set[str], passage: Passage) -> tuple[float, str]:
    best = (0.0, "")
    for candidate in split_sentences(passage.text):
        overlap = len(sentence_stems & content_stems(candidate)) / max(1, len(sentence_stems))
        if overlap > best[0]:
            best = (overlap, candidate)
    return best


def support_of(sentence: str, passage: Passage) -> float:
    """Share of the sentence's content words found in the passage; 0 if a number is missing there."""
    stems = content_stems(sentence)
    if not _numbers(sentence) <= _numbers(passage.text):
        return 0.0
    if not stems:
        return 1.0
    return len(stems & content_stems(passage.text)) / len(stems)


def parse_markers(sentence: str, n_sources: int) -> tuple[str, tuple[int, ...]]:
    numbers: list[int] = []
    for group in MARKER.findall(sentence):
        for n in group.split(","):
            value = int(n)
            if 1 <= value <= n_sources and value not in numbers:
                numbers.append(value)
    clean = MARKER.sub("", sentence).strip()
    clean = re.sub(r"\s+([.,!?;:])", r"\1", clean)
    return clean, tuple(numbers)


class CitationChecker:
    def __init__(self, min_support: float = 0.5):
        self.min_support = min_support

    def check(self, answer: str, passages: list[Passage]) -> list[CheckedSentence]:
        checked = []
        for raw in split_sentences(answer):
            text, markers = parse_markers(raw, len(passages))
            if not text or not re.search(r"\w", text):
                continue
            checked.append(self._check_sentence(text, markers, passages))
        return checked

    def _check_sentence(self, text: str, markers: tuple[int, ...], passages: list[Passage]) -> CheckedSentence:
        stems = content_stems(text)
        if not markers and not _numbers(text) and len(stems) <= 2:
            return CheckedSentence(text, (), "neutral", 1.0, None)
        scores = {n: support_of(text, passages[n - 1]) for n in range(1, len(passages) + 1)}
        cited_ok = tuple(n for n in markers if scores[n] >= self.min_support)
        if cited_ok:
            return self._verdict(text, cited_ok, "supported", scores, passages, stems)
        best = max(scores, key=lambda n: scores[n], default=None)
        if best is not None and scores[best] >= self.min_support:
            return self._verdict(text, (best,), "fixed", scores, passages, stems)
        top = max(scores.values(), default=0.0)
        return CheckedSentence(text, (), "unsupported", top, None)

    @staticmethod
    def _verdict(text: str, markers: tuple[int, ...], verdict: str, scores: dict[int, float],
                 passages: list[Passage], stems: set[str]) -> CheckedSentence:
        _, snippet = _best_sentence(stems, passages[markers[0] - 1])
        return CheckedSentence(text, markers, verdict, max(scores[n] for n in markers), snippet or None)


def render(sentences: list[CheckedSentence]) -> str:
    """The verified answer text: kept sentences with their (possibly fixed) markers."""
    parts = []
    for s in sentences:
        if s.verdict == "unsupported":
            continue
        marker = "".join(f"[{n}]" for n in s.markers)
        parts.append(f"{s.text} {marker}".strip() if marker else s.text)
    return " ".join(parts)
