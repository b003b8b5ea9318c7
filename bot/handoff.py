"""When the citizen wants a person instead of the bot."""

from __future__ import annotations

import re

_HUMAN_REQUEST = re.compile(
    r"\b(mensch(en)?|mitarbeiter(in|innen)?|sachbearbeiter(in)?|person|jemand(em|en)?|berater(in)?|"
    r"human|person|someone|agent|staff|real person|representative)\b.{0,40}"
    r"\b(sprechen|reden|verbinden|verbunden|weiterleiten|erreichen|talk|speak|connect|chat)\b|"
    r"\b(sprechen|reden|verbinden|talk|speak|connect)\b.{0,30}"
    r"\b(mensch(en)?|mitarbeiter(in)?|sachbearbeiter(in)?|person|human|someone|agent|staff)\b",
    re.IGNORECASE,
)


def wants_human(text: str) -> bool:
    return bool(_HUMAN_REQUEST.search(text))
