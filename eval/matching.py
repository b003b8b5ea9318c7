"""Does an answer contain an expected fact? Case- and whitespace-insensitive, with the same number, date,
time and phone normalisation as the citation check ("37,00 €" matches "37 Euro", "17.03." matches
"17. März"), and `|`-separated alternatives."""

from __future__ import annotations

import re

from bot.facts import covered, facts

_CURRENCY = re.compile(r"€|\bEUR\b", re.IGNORECASE)


def _words(text: str) -> str:
    """The text without its facts, lower case, punctuation and whitespace collapsed."""
    text = _CURRENCY.sub(" euro ", text)
    text = re.sub(r"\d+(?:[.,:]\d+)*\.?", " ", text)
    text = re.sub(r"\b(januar|februar|märz|april|mai|juni|juli|august|september|oktober|november|dezember)\b",
                  " ", text, flags=re.IGNORECASE)
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def contains_fact(answer: str, expected: str) -> bool:
    return any(_contains_one(answer, alternative.strip()) for alternative in expected.split("|"))


def _contains_one(answer: str, expected: str) -> bool:
    needed = facts(expected)
    if needed and not covered(needed, facts(answer)):
        return False
    words = _words(expected)
    return not words or f" {words} " in f" {_words(answer)} "
