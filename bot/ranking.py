"""Source sentences ranked for one question: the line that answers it first, its neighbours after it.

Passages are ranked by retrieval; inside a passage, a fee list or an office block holds several claims, and
the model used to pick the wrong one ("26 Euro" of the Anmeldung for a question about the Ummeldung). Each
sentence of the retrieved passages gets its own score from four features:

- **terms**: the question's content words found in the line (fully) or only in its headings (half), each
  weighted by how rare it is among the candidate lines, so that the word that singles out the item
  ("Ummeldung", "Express", "zweiten") outweighs the word every line shares ("Gewerbe");
- **kind**: the line gives the kind of answer asked for (an amount, hours, a duration, an office …; see
  bot/question.py);
- **facts**: the numbers the question names (an age, a year) are in the line;
- **meaning**: cosine similarity of the line to the question (multilingual embeddings: also across
  languages), and the retrieval rank of its passage as a weak prior.

The weights were chosen on the tuning half of the evaluation sets (`siwi eval select`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from bot.citations import SourceSentence, SourceSentences, content_stems
from bot.question import Question, answers_kind

Similarity = Callable[[str, Sequence[str]], Sequence[float]]
"""(question, source lines) → cosine similarities."""


@dataclass(frozen=True)
class RankWeights:
    terms: float = 1.0
    kind: float = 0.6
    facts: float = 0.4
    meaning: float = 10.0
    meaning_floor: float = 0.8
    prior: float = 0.15
    heading_share: float = 0.5
    """What a word found only in the line's headings counts, against one in the line itself."""


@dataclass(frozen=True)
class Ranked:
    sentence: SourceSentence
    score: float
    terms: float
    kind: bool
    facts: float
    meaning: float


def _typo_map(asked: set[str], vocabulary: set[str]) -> dict[str, str]:
    """A question word that is not in any line, mapped to the line word it is a typo of ("hundesteur" →
    "hundesteu"): citizens type fast."""
    mapped = {}
    for word in asked - vocabulary:
        if len(word) >= 5 and vocabulary:
            match = process.extractOne(word, vocabulary, scorer=fuzz.ratio, score_cutoff=80)
            if match is not None:
                mapped[word] = match[0]
    return mapped


class SentenceRanker:
    def __init__(self, similarity: Similarity | None = None, weights: RankWeights | None = None):
        self._similarity = similarity
        self.weights = weights or RankWeights()

    def rank(self, question: Question, sources: SourceSentences, topic: str = "",
             cross_language: bool = False) -> list[Ranked]:
        """All sentences of the passages, best first. `topic`: words of earlier turns that the question leaves
        out ("Und wie lange ist es reserviert?" after a question about the Wunschkennzeichen); they count
        like heading words, never like the question's own."""
        candidates = sources.all()
        if not candidates:
            return []
        w = self.weights
        asked = set() if cross_language else content_stems(question.text)
        carried = (set() if cross_language else content_stems(topic)) - asked
        vocabulary = set().union(*(c.stems | c.context | c.site for c in candidates))
        typos = _typo_map(asked, vocabulary)
        asked = {typos.get(word, word) for word in asked}
        df = {word: sum(1 for c in candidates if word in c.stems or word in c.context) for word in asked | carried}
        n = len(candidates)
        idf = {word: math.log(1 + n / (1 + count)) for word, count in df.items()}
        carried_share = w.heading_share * 0.5
        total = (sum(idf[word] for word in asked) + carried_share * sum(idf[word] for word in carried)) or 1.0
        meanings = (list(self._similarity(question.text, [c.span.text for c in candidates]))
                    if self._similarity is not None else [0.0] * n)
        ranked = []
        for candidate, meaning in zip(candidates, meanings, strict=True):
            around = candidate.context | candidate.site
            found = sum(idf[word] * (1.0 if word in candidate.stems else w.heading_share if word in around else 0.0)
                        for word in asked)
            found += sum(idf[word] * carried_share for word in carried
                         if word in candidate.stems or word in around)
            terms = found / total
            headings = sources.passages[candidate.source - 1].headings
            kind = not question.asks or any(answers_kind(ask, candidate.span.text, candidate.facts, headings)
                                            for ask in question.asks)
            named = {f for f in question.facts if f.startswith("num:")}
            facts = len(named & candidate.facts) / len(named) if named else 0.0
            prior = 1.0 / candidate.source
            # e5 similarities of related texts crowd between 0.75 and 0.95: what counts is the part above that.
            score = (w.terms * terms + w.kind * kind + w.facts * facts + w.meaning * (float(meaning) - w.meaning_floor)
                     + w.prior * prior)
            ranked.append(Ranked(candidate, score, terms, kind, facts, float(meaning)))
        ranked.sort(key=lambda r: (-r.score, r.sentence.source, r.sentence.index))
        return ranked
