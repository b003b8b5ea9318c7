"""The checkable facts of a sentence, normalised so that equal facts compare equal however they are written:
"37,00 €" = "37 Euro", "17.03." = "17. März", "8.00 Uhr" = "8:00", "sechs Wochen" = "6 Wochen",
"0800 111 0 111" = "08001110111". A fact in an answer must occur in the source sentence it is cited to.
"""

from __future__ import annotations

import re
from functools import lru_cache

MONTHS = {"januar": 1, "jänner": 1, "februar": 2, "märz": 3, "maerz": 3, "april": 4, "mai": 5, "juni": 6,
          "juli": 7, "august": 8, "september": 9, "oktober": 10, "november": 11, "dezember": 12,
          "january": 1, "february": 2, "march": 3, "may": 5, "june": 6, "july": 7, "october": 10,
          "december": 12}
NUMBER_WORDS = {"ein": 1, "eine": 1, "einen": 1, "einem": 1, "einer": 1, "eins": 1, "zwei": 2, "drei": 3,
                "vier": 4, "fünf": 5, "sechs": 6, "sieben": 7, "acht": 8, "neun": 9, "zehn": 10, "elf": 11,
                "zwölf": 12, "vierzehn": 14, "fünfzehn": 15, "zwanzig": 20, "dreißig": 30, "vierzig": 40,
                "fünfzig": 50, "sechzig": 60, "neunzig": 90, "hundert": 100,
                "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                "ten": 10, "twelve": 12, "twenty": 20, "thirty": 30, "hundred": 100}
# Counting words become numbers only before a unit: "ein Antrag" is no fact, "sechs Wochen" is.
UNITS = (r"(?:jahre?n?|monate?n?|wochen?|tage?n?|werktage?n?|stunden?|minuten?|seiten|euro|prozent|"
         r"years?|months?|weeks?|days?|hours?|minutes?|pages|euros?|per\s*cent)")

_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>()\[\]]+", re.IGNORECASE)
# E-mail addresses and URLs as one pattern: the citation check leaves their words out of a sentence's content.
ADDRESS = re.compile(f"{_EMAIL.pattern}|{_URL.pattern}", re.IGNORECASE)
_PARAGRAPH = re.compile(r"§§?\s*(\d+[a-z]?)(?:\s*(?:Abs\.|Absatz)\s*(\d+))?", re.IGNORECASE)
_DATE_NAMED = re.compile(rf"\b(\d{{1,2}})\.\s*({_MONTH_NAMES})\b(?:\s+(\d{{4}}))?", re.IGNORECASE)
_DATE_NUMERIC = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2}\b)?")
_TIME = re.compile(r"\b(\d{1,2})(?:[:.](\d{2}))?\s*Uhr\b|\b(\d{1,2}):(\d{2})\b", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\d,.])(?:\+\d{2}\s?)?\(?0\d{2,5}\)?[\s/-]?\d[\d\s-]{2,}\d(?!\d|,\d)")
_NUMBER = re.compile(r"(?<![\w])\d+(?:[.,]\d+)*(?:,-)?")
_NUMBER_WORD = re.compile(rf"\b({'|'.join(NUMBER_WORDS)})\s+(?={UNITS}\b)", re.IGNORECASE)


def normalise_number(raw: str) -> str:
    value = raw.removesuffix(",-")
    if re.fullmatch(r"\d{1,3}(\.\d{3})+(,\d+)?", value):  # 1.200,50 → 1200,50
        value = value.replace(".", "")
    value = value.replace(",", ".")
    if re.fullmatch(r"\d+\.\d+", value):
        value = value.rstrip("0").rstrip(".")
    return value.lstrip("0") or "0"


def facts(text: str) -> set[str]:
    """Typed, normalised facts: `date:03-17`, `date:2020-03-17`, `time:08:00`, `phone:…`, `email:…`,
    `url:…`, `para:3(2)`, `num:37.5`."""
    return {fact for _, _, fact in located_facts(text)}


def located_facts(text: str) -> list[tuple[int, int, str]]:
    """(start, end, fact) in text order: where a fact sits tells what it applies to (see claims.py)."""
    found: list[tuple[int, int, str]] = []
    rest = text

    def take(pattern: re.Pattern[str], make) -> None:
        nonlocal rest
        for match in pattern.finditer(rest):
            value = make(match)
            if value:
                found.append((match.start(), match.end(), value))
        # blanked to the same length, so that later patterns see the same offsets
        rest = pattern.sub(lambda m: " " * len(m.group()), rest)

    take(_EMAIL, lambda m: f"email:{m.group().lower()}")
    take(_URL, lambda m: "url:" + re.sub(r"^(https?://)?(www\.)?", "", m.group().lower()).rstrip("/.,;"))
    take(_PARAGRAPH, lambda m: f"para:{m.group(1)}" + (f"({m.group(2)})" if m.group(2) else ""))
    take(_DATE_NAMED, lambda m: _date(m.group(1), MONTHS[m.group(2).lower()], m.group(3)))
    take(_DATE_NUMERIC, lambda m: _date(m.group(1), int(m.group(2)), m.group(3)))
    take(_TIME, lambda m: _time(m))
    take(_PHONE, lambda m: "phone:" + re.sub(r"\D", "", m.group()).removeprefix("49") if
         len(re.sub(r"\D", "", m.group())) >= 6 else None)
    take(_NUMBER, lambda m: f"num:{normalise_number(m.group())}")
    for match in _NUMBER_WORD.finditer(rest):
        found.append((match.start(), match.end(), f"num:{NUMBER_WORDS[match.group(1).lower()]}"))
    return sorted(found)


def _date(day: str, month: int, year: str | None) -> str | None:
    if not 1 <= int(day) <= 31 or not 1 <= month <= 12:
        return None
    if year and len(year) == 2:
        year = "20" + year
    return f"date:{year + '-' if year else ''}{month:02d}-{int(day):02d}"


def _time(match: re.Match[str]) -> str | None:
    hours, minutes = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
    if int(hours) > 24:
        return None
    return f"time:{int(hours):02d}:{minutes or '00'}"


# What a question asks for, as the kind of fact that answers it: "Wann hat … geöffnet?" wants times, "Was
# kostet …?" an amount. German and English; a question may ask for several kinds or none.
_ASKS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(?:öffnungszeit\w*|sprechzeit\w*|geöffnet|offen|opening\s+hours?|open)\b|\bhat\b.{0,60}\bauf\b",
                re.IGNORECASE), "time"),
    (re.compile(r"\b(?:was|wie\s*viel)\s+kostet|\bkosten\b|\bgebühr\w*|\bhow\s+much\b|\bfees?\b|\bcosts?\b",
                re.IGNORECASE), "num"),
    (re.compile(r"\b(?:telefon\w*|rufnummer|phone)\b", re.IGNORECASE), "phone"),
    (re.compile(r"\be-?mail", re.IGNORECASE), "email"),
]


@lru_cache(maxsize=256)
def asked_kinds(question: str) -> frozenset[str]:
    """`time`, `num`, `phone`, `email`: the fact kinds (as in `facts`) that would answer the question. Asked
    once per sentence of an answer, always with the same question: cached."""
    return frozenset(kind for pattern, kind in _ASKS if pattern.search(question))


def kinds(found: set[str] | frozenset[str]) -> set[str]:
    return {fact.partition(":")[0] for fact in found}


def covered(needed: set[str], available: set[str]) -> bool:
    """Every needed fact is available; a date without a year matches the same day with any year, a number
    matches a date, time or phone part only if it is listed as a number too."""
    for fact in needed:
        if fact in available:
            continue
        if fact.startswith("date:") and fact.count("-") == 1:
            if any(a.startswith("date:") and a.endswith(fact[5:]) for a in available):
                continue
        if fact.startswith("num:") and f"para:{fact[4:]}" in available:
            continue
        # "von 8 bis 12 Uhr": the 8 is a time written without its unit.
        if fact.startswith("num:") and fact[4:].isdigit() and f"time:{int(fact[4:]):02d}:00" in available:
            continue
        return False
    return True
