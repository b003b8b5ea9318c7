"""What a question asks for: the kind of fact that answers it, and the words that single out its item.

"Was kostet die Ummeldung des Gewerbes?" asks for an amount (a `num` fact, or the fees section of a service)
about "Ummeldung" and "Gewerbe". A source line answers it when it has the asked kind *and* the item's words;
the line with the neighbouring item ("Anmeldung: 26 Euro") has the kind but not the item. German and English
cues; a question may ask for several kinds, or none (then only its words and meaning count).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from bot.facts import facts


@dataclass(frozen=True)
class Ask:
    """One kind of answer: how a question asks for it, and what in a source line gives it."""

    name: str
    cue: re.Pattern[str]
    fact_kinds: frozenset[str] = frozenset()
    """Fact kinds (bot/facts.py) that answer it: `num` for amounts, `time` for hours …"""
    fact_pattern: re.Pattern[str] | None = None
    """A finer test of the line's text than the fact kind (an amount needs "Euro", a duration a time unit)."""
    sections: re.Pattern[str] | None = None
    """Headings of sections whose lines answer it ("Kosten und Gebühren", "Erforderliche Unterlagen")."""
    listing: bool = False
    """The answer is a list (documents, steps): all items of the section, not one line."""


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_DURATION_UNITS = (r"(?:jahre?n?|monate?n?|wochen?|tage?n?|werktage?n?|stunden?|minuten?|"
                   r"years?|months?|weeks?|days?|hours?)")

ASKS: tuple[Ask, ...] = (
    Ask("amount", _re(r"\bkoste[tn]?\b|\bgebühr|\bpreis|\b(?:be)?zahl(?:en|e)?\b|\bwie\s+hoch\b|"
                      r"\bwie\s*viel\b(?!.{0,30}\b(?:zeit|tage|wochen))|\bhow\s+much\b|\bfees?\b|\bcosts?\b|\bprice\b|\bpay\b|\bkostenlos|\bgratis\b|\bfree\b"),
        frozenset({"num"}),
        _re(r"\d\s*(?:,\d+|,-)?\s*(?:euro|€|eur\b)|kostenlos|gebührenfrei|kostenfrei|keine\s+gebühr"),
        _re(r"kosten|gebühr")),
    Ask("hours", _re(r"öffnungszeit|sprechzeit|geöffnet|\boffen\b|\bgeschlossen\b|\bopening\b|\bopen\b|\bhours\b|"
                     r"\b(?:wann|hat|haben)\b.{0,60}\b(?:erreich|auf\b|da\b|hin)|"
                     r"\b(?:montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag)s?\b|"
                     r"\b(?:mondays?|tuesdays?|wednesdays?|thursdays?|fridays?|saturdays?|sundays?)\b"),
        frozenset({"time"}), None, _re(r"öffnungszeit|sprechzeit|erreichbar")),
    Ask("duration", _re(r"wie\s+lange|\bdauer|\bdauert|\bgültig|\bfrist|\bhow\s+long\b|\bvalid\b|\bexpires?\b|"
                        r"\bwie\s+(?:schnell|früh)|wie\s*viel\s+(?:zeit|vorlauf)|\bvorlauf|\bbearbeitungszeit|"
                        r"\breserviert\b|\bwie\s+viele\s+(?:tage|wochen|monate)"),
        frozenset({"num", "date"}), _re(rf"\d+\s*{_DURATION_UNITS}|\b(?:ein|eine[nm]?|zwei|drei|vier|fünf|sechs|sieben|"
                                         rf"acht|neun|zehn|zwölf)\s+{_DURATION_UNITS}|sofort|unbefristet"),
        _re(r"frist|dauer|gültig")),
    Ask("date", _re(r"\bbis\s+wann\b|\bab\s+wann\b|\bwann\b|\bdatum\b|\bstichtag|\bwhen\b|\bdeadline\b|\bdate\b"),
        frozenset({"date", "time"}), None, _re(r"frist|termin")),
    Ask("phone", _re(r"telefon|rufnummer|\banrufen|\bnummer\b|\bphone\b|\bcall\b"), frozenset({"phone"}), None,
        _re(r"kontakt|zuständige\s+stelle")),
    Ask("email", _re(r"e-?mail|\bmail\b|\bschreiben\b"), frozenset({"email"}), None,
        _re(r"kontakt|zuständige\s+stelle")),
    Ask("place", _re(r"\bwo\b|\bwohin\b|\bzuständig|adresse|anschrift|\bwelche[sr]?\s+(?:amt|stelle|behörde|büro)|"
                     r"\bwhere\b|\bwhich\s+office\b|\baddress\b|\bresponsible\b|\bbei\s+wem\b|\bwer\s+(?:ist|hilft|macht|stellt)"),
        frozenset(), _re(r"\b(?:amt|ämter|büro|stelle|behörde|kreishaus|rathaus)\b|amt\b|stelle\b|büro\b|"
                         r"\b\d{5}\s+\w+|(?:straße|str\.|platz|weg|allee|markt|gasse|ring)\s+\d+"),
        _re(r"zuständige\s+stelle|anschrift|kontakt|standort")),
    Ask("documents", _re(r"unterlagen|dokumente|mitbringen|mitnehmen|\bvorlegen|nachweis|\bdocuments?\b|\bbring\b|"
                         r"\bpapers?\b|was\s+brauche\s+ich|welche.{0,20}brauche"),
        frozenset(), None, _re(r"unterlagen|nachweise|dokumente"), listing=True),
    Ask("steps", _re(r"was\s+(?:muss|soll|kann)\s+ich\s+tun|was\s+ist\s+zu\s+tun|"
                     r"wie\s+(?:gehe|läuft|funktioniert|beantrage|bekomme|melde|komme)|\bablauf|\bschritte|\bvorgehen|what\s+(?:do|should)\s+i\s+do|how\s+do\s+i"),
        frozenset(), None, _re(r"verfahrensablauf|ablauf|vorgehen"), listing=True),
    Ask("requirements", _re(r"voraussetzung|\bwer\s+(?:kann|darf|bekommt|hat\s+anspruch)|anspruch|berechtigt|"
                            r"\brequirements?\b|\beligible\b"),
        frozenset(), None, _re(r"voraussetzung"), listing=True),
    Ask("online", _re(r"\bonline\b|\binternet\b|\bwebsite\b|\bdigital\b|\bportal\b"),
        frozenset({"url"}), _re(r"online|internet|portal|https?://"), _re(r"online")),
)

# A question that a yes or no answers: it begins with a verb ("Kann ich …", "Muss man …", "Is it …").
YES_NO = _re(r"^\s*(?:und\s+)?(?:kann|könnte|können|muss|müssen|darf|dürfen|ist|sind|gibt|gilt|brauche|braucht|"
             r"brauchen|kostet|bekomme|bekommt|habe|hat|soll|sollte|wird|werden|geht|reicht|"
             r"can|could|do|does|is|are|must|should|will|may|have|has)\b")


@dataclass(frozen=True)
class Question:
    text: str
    asks: tuple[Ask, ...]
    yes_no: bool
    facts: frozenset[str]
    """Facts the question itself names (an age, a year, a page count): the line with the same one wins."""

    @property
    def listing(self) -> bool:
        return any(ask.listing for ask in self.asks)


@lru_cache(maxsize=1024)
def analyse(text: str) -> Question:
    asks = tuple(ask for ask in ASKS if ask.cue.search(text))
    # "Wann …?" asks for a date only when nothing more specific is asked ("Wann hat … geöffnet?" = hours).
    if len(asks) > 1:
        asks = tuple(ask for ask in asks if ask.name != "date")
    return Question(text, asks, bool(YES_NO.search(text)), frozenset(facts(text)))


def answers_kind(ask: Ask, line: str, line_facts: frozenset[str], headings: str) -> bool:
    """Does this line (with its section headings) give the kind of answer `ask` wants?"""
    kinds = {fact.partition(":")[0] for fact in line_facts}
    if ask.fact_pattern is not None:
        return bool(ask.fact_pattern.search(line))
    if ask.fact_kinds:
        return bool(ask.fact_kinds & kinds)
    # Documents, steps, requirements: what the section is about, not a kind of fact in the line.
    return ask.sections is not None and bool(ask.sections.search(headings))
