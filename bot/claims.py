"""What a fact in a sentence applies to: its claim context.

"96 Euro im Jahr für den ersten Hund und 144 Euro für jeden weiteren Hund" has both amounts and every word
of "144 Euro im Jahr für den ersten Hund und 96 Euro für jeden weiteren Hund", so neither the fact check nor
the word overlap sees the swap. Where the words sit does: a word within a few words of one fact (and nearer
to it than to any other) is bound to that fact. A sentence misplaces a fact when it binds a word to one fact
while its source binds that word only to another one and never has it near the first.

Deliberately local and lenient: reworded sentences move words around, so only words close to a fact count,
a word the source also has near the same fact is always fine, and the source's words before its first fact
are its topic, bound to no fact in particular.
"""

from __future__ import annotations

import re

from bot.facts import located_facts
from embeddings.lexical import tokenize

WINDOW = 2
"""At most this many content words between a fact and a word for the word to be about that fact."""

_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)


def _items(text: str, ignore: frozenset[str]) -> list[tuple[str, str]]:
    """("fact", fact) and ("word", stem of the whole word) in text order; relation words left out."""
    located = located_facts(text)
    items: list[tuple[int, str, str]] = [(start, "fact", fact) for start, _, fact in located]
    blanked = list(text)
    for start, end, _ in located:
        blanked[start:end] = " " * (end - start)
    for match in _WORD.finditer("".join(blanked)):
        terms = tokenize(match.group())
        if terms and terms[0] not in ignore:
            items.append((match.start(), "word", terms[0]))
    return [(kind, value) for _, kind, value in sorted(items)]


def bindings(text: str, ignore: frozenset[str] = frozenset(), topic: bool = False
             ) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(bound, near): for each word, the facts it is bound to (nearest, within WINDOW, no tie with another
    fact), and the facts it is within WINDOW of at all. With `topic`, words before the first fact are bound
    to none: "Die Hundesteuer beträgt in Lindenau 96 Euro … und 144 Euro …" is about Lindenau throughout."""
    items = _items(text, ignore)
    positions = [(i, value) for i, (kind, value) in enumerate(items) if kind == "fact"]
    bound: dict[str, set[str]] = {}
    near: dict[str, set[str]] = {}
    for i, (kind, word) in enumerate(items):
        if kind != "word":
            continue
        distances: dict[str, int] = {}
        for j, fact in positions:
            between = sum(1 for k, _ in items[min(i, j) + 1:max(i, j)] if k == "word")
            distances[fact] = min(distances.get(fact, between), between)
        close = {fact for fact, d in distances.items() if d <= WINDOW}
        near.setdefault(word, set()).update(close)
        if close and not (topic and i < positions[0][0]):
            nearest = min(distances[f] for f in close)
            winners = {f for f in close if distances[f] == nearest}
            if len(winners) == 1:
                bound.setdefault(word, set()).update(winners)
    return bound, near


def misplaced(mine: dict[str, set[str]], source: str, ignore: frozenset[str] = frozenset()) -> list[str]:
    """Words a sentence binds to a fact (`mine`: the first part of its `bindings`) that its source binds to
    another fact instead ("weiteren" next to 96 Euro where the source says 144 Euro für jeden weiteren Hund)."""
    if not mine:
        return []
    theirs, their_near = bindings(source, ignore, topic=True)
    wrong = []
    for word, facts in mine.items():
        elsewhere = theirs.get(word, set())
        if elsewhere and not facts & their_near.get(word, set()):
            wrong.append(word)
    return wrong
