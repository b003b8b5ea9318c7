"""SiWi's own fixed texts, per language; German is the reference, English the fallback for the rest."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "no_answer": "Dazu habe ich in meinen Quellen leider keine gesicherte Information. "
                     "Gern verbinde ich Sie mit einer Mitarbeiterin oder einem Mitarbeiter.",
        "handoff": "Gern verbinde ich Sie mit einer Mitarbeiterin oder einem Mitarbeiter. {contact}",
        "busy": "Im Moment sind viele Anfragen in Bearbeitung. Bitte versuchen Sie es gleich noch einmal.",
    },
    "en": {
        "no_answer": "I'm sorry, my sources don't contain reliable information on that. "
                     "I can put you in touch with a member of staff.",
        "handoff": "I'll gladly put you in touch with a member of staff. {contact}",
        "busy": "Many requests are being processed right now. Please try again in a moment.",
    },
}


def text(key: str, language: str, **values: str) -> str:
    table = TEXTS.get(language, TEXTS["en"])
    return table[key].format(**values).strip()
