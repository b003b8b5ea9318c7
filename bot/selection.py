"""Select, then phrase: the answer is the source lines that answer the question, shown as the source says
them, under a short lead that names where they come from.

A 1.5B model that writes its own sentences gets one in five wrong, and the citation check then has to drop or
replace them; most answerable questions ended as "no answer". Choosing among the source's own lines is a task
that ranking (bot/ranking.py) does well and that needs no generation: every shown sentence is a verbatim
source sentence with its citation, so it is supported by construction. What remains to decide is *which*
lines, and whether any answers at all — the thresholds below, chosen on the tuning half of the evaluation sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.citations import CheckedSentence, SourceSentence, SourceSentences, about_question
from bot.prompts import NO_ANSWER_TOKEN
from bot.question import Question, answers_kind
from bot.ranking import Ranked
from bot.sentences import clean_line
from bot.sentences import is_list_item as is_list_line


@dataclass(frozen=True)
class SelectionOptions:
    min_score: float = 0.5
    """The best line's score below which nothing answers the question (→ no answer)."""
    min_terms: float = 0.2
    """Share of the question's words (weighted by rarity) the best line must have, where words can be compared:
    a question about a thing the sources never name ("Begrüßungsgeld") finds only lines about other things."""
    keep_ratio: float = 0.92
    """Further lines are shown when they score at least this share of the best."""
    max_lines: int = 2
    max_list_items: int = 8
    choices: int = 6
    """Best-ranked lines the model chooses from (choose mode)."""
    min_choice_terms: float = 0.05
    """Below this word share of the best line the model is not asked: nothing is about the question."""


def is_list_item(sentence: SourceSentence) -> bool:
    return is_list_line(sentence.span.text)


def select_lines(ranked: list[Ranked], question: Question, sources: SourceSentences, options: SelectionOptions,
                 cross_language: bool = False) -> list[SourceSentence]:
    """The lines that answer the question, best first; [] when none does."""
    if not ranked:
        return []
    best = ranked[0]
    if best.score < options.min_score or not best.kind or (not cross_language and best.terms < options.min_terms):
        return []
    return answer_lines(best, ranked, question, sources, options, cross_language)


def answer_lines(best: Ranked, ranked: list[Ranked], question: Question, sources: SourceSentences,
                 options: SelectionOptions, cross_language: bool = False) -> list[SourceSentence]:
    """The lines shown for the chosen best line: the whole list for a list question, else the best line and
    the few that score nearly as well."""
    topic = "" if cross_language else question.text
    passage = sources.passages[best.sentence.source - 1]
    # A list answer (documents, steps): every item of the section, in the source's order.
    if question.listing and is_list_item(best.sentence) and any(
            ask.listing and answers_kind(ask, best.sentence.span.text, best.sentence.facts, passage.headings)
            for ask in question.asks):
        # The section may be cut into several chunks: its items from every passage of it, in order.
        same = [n for n, p in enumerate(sources.passages, 1)
                if p.source_id == passage.source_id and p.headings == passage.headings]
        items = [s for n in same for s in sources.get(n, None) if is_list_item(s)]
        unique = list({clean_line(s.span.text): s for s in reversed(items)}.values())[::-1]
        return sorted(unique, key=lambda s: (_position(sources.passages[s.source - 1].chunk_id), s.index)
                      )[:options.max_list_items]
    chosen = [best.sentence]
    for other in ranked:
        if other is best:
            continue
        if len(chosen) >= options.max_lines or other.score < options.keep_ratio * best.score:
            break
        if (other.kind and (cross_language or other.terms >= options.min_terms)
                and about_question(topic, other.sentence) and other.sentence.span.text != best.sentence.span.text):
            chosen.append(other.sentence)
    return chosen


def _position(chunk_id: str) -> int:
    """Chunk ids end in the chunk's position in its document ("…:7")."""
    tail = chunk_id.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def selected(sentence: SourceSentence, reason: str = "selected: the source line that answers the question"
             ) -> CheckedSentence:
    """A chosen source line as a checked sentence: the source's words, its citation, its span."""
    return CheckedSentence(clean_line(sentence.span.text), (sentence.source,), "selected", 1.0, sentence.span.text,
                           (sentence.span.start, sentence.span.end), "", reason)


def lead(sources: SourceSentences, chosen: list[SourceSentence]) -> str:
    """Where the lines come from, as the first line of the answer: "Wunschkennzeichen reservieren – Kosten und
    Gebühren:". Without it a fee line ("Online-Reservierung: 2,60 Euro") does not say what it is about."""
    passage = sources.passages[chosen[0].source - 1]
    path = [part.strip() for part in (passage.headings or passage.title).split(">") if part.strip()]
    if passage.title and passage.title not in path:
        path.insert(0, passage.title)
    return " – ".join(dict.fromkeys(path))


def where(sources: SourceSentences, sentence: SourceSentence) -> str:
    """The page and section a line stands in, for the model choosing among lines of several services."""
    return lead(sources, [sentence])


def parse_choice(raw: str, count: int) -> list[int] | None:
    """0-based candidate indexes from the model's constrained output; None for no answer (or output that a
    server without grammar support made up: then nothing is shown)."""
    text = raw.strip()
    if not text or NO_ANSWER_TOKEN in text:
        return None
    picked = []
    for part in text.split(","):
        part = part.strip().strip("[]")
        if not part.isdigit() or not 1 <= int(part) <= count:
            return None
        if int(part) - 1 not in picked:
            picked.append(int(part) - 1)
    return picked or None
