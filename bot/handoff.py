"""When the citizen wants a person instead of the bot.

Deterministic phrase patterns, German and English, so that a request for a human is never sent to the model
first (which would answer it, or refuse it). Each pattern is one way people ask; a question that merely
mentions staff ("Brauche ich für die Zulassung einen Termin beim Mitarbeiter?") matches none of them.
"""

from __future__ import annotations

import re

_PERSON = (r"(mensch(en)?|mitarbeiter(in|innen|n)?|sachbearbeiter(in|n)?|person|jemand(em|en)?|berater(in)?|"
           r"ansprechpartner(in)?|zuständige[nm]?|kolleg(e|en|in)|chef(in)?|vorgesetzte[nmr]?|"
           r"human|someone|somebody|agent|staff|representative|operator|supervisor|manager)")
# Said by someone who has run out of patience: "Mitarbeiter. Sofort!", "Jetzt endlich einen Menschen!"
_NOW = r"(jetzt|sofort|endlich|gleich|umgehend|now|immediately|right\s+now)"
_CONTACT = (r"(sprechen|reden|verbinden|verbunden|weiterleiten|weiter|erreichen|telefonieren|klären|chatten|"
            r"talk|speak|connect|chat|put\s+me\s+through|transfer)")

_PATTERNS = [
    # "mit einem Menschen sprechen", "Please put me through to a human agent"
    rf"\b{_PERSON}\b.{{0,40}}\b{_CONTACT}\b",
    rf"\b{_CONTACT}\b.{{0,30}}\b{_PERSON}\b",
    # "einen echten Menschen", "a real person", "human agent", "live agent"
    r"\b(echte[nm]?|richtige[nm]?|lebendige[nm]?)\s+(mensch|person|mitarbeiter)",
    r"\b(real|actual|live)\s+(person|human|agent)\b|\bhuman\s+(agent|being)\b",
    # "Gib mir (bitte) einen Mitarbeiter", "Ich möchte eine Sachbearbeiterin"
    rf"\b(gib|geben\s+sie)\s+mir\b.{{0,20}}\b{_PERSON}\b",
    rf"\b(möchte|will|hätte\s+gern[e]?|brauche)\s+(bitte\s+)?(eine[nm]?|mit\s+eine[mr])\s+{_PERSON}\b",
    # "Rückruf bitte", "call me back"
    r"\b(rückruf|zurückruf\w*|ruft\s+mich\s+(jemand\s+)?zurück|call\s+me\s+back|callback)\b",
    # "jemand, der mir persönlich helfen kann", "persönliche Beratung"
    r"\bpersönlich\w*\s+(helfen|beraten|beratung|ansprechpartner|sprechen|kontakt)",
    r"\bjemand\w*,?\s+(der|die)\s+mir\b.{0,30}\bhelfen",
    # blunt demands without a polite verb: "Mitarbeiter. Sofort!", "Endlich einen Menschen!", "Person jetzt"
    rf"\b{_PERSON}\s*[.!,;:–-]+\s*{_NOW}\b|\b{_PERSON}\s+{_NOW}\W*$",
    # "Sachbearbeiter vom KVR, jetzt!", "Ansprechpartner beim Kreis, aber sofort!"
    rf"\b{_PERSON}\b[^.?!]{{0,30}}[,:;–-]\s*(aber\s+|und\s+|bitte\s+)?{_NOW}\s*[.!]*\s*$",
    rf"\b{_NOW}\W+(\w+\W+)?(eine[nm]?\s+|a\s+|an\s+)?{_PERSON}\b",
    rf"^\W*(bitte\s+|please\s+)?(eine[nm]?\s+|a\s+|an\s+)?(echte[nm]?\s+|real\s+)?{_PERSON}\W*(bitte|please)?\W*$",
    # "Holen Sie mir Ihren Chef", "Ich will Ihren Vorgesetzten", "I want a human"
    rf"\bhol(en\s+sie)?\s+mir\b.{{0,20}}\b{_PERSON}\b",
    rf"\b(will|verlange|fordere|want|need|demand)\s+(jetzt\s+|sofort\s+|endlich\s+)?(ihren|ihre|deinen|deine|einen|eine|den|die|to\s+see\s+)?\s*(a\s+|an\s+|the\s+|your\s+)?(echte[nm]?\s+|real\s+)?{_PERSON}\b",
    # "keinen Bot", "nicht mit einer Maschine", "no bot"
    r"\b(kein(en)?|nicht\s+mit\s+(einem|dem|einer))\s+(bot|chatbot|roboter|maschine|computer)\b",
    r"\b(no|not\s+a|not\s+the)\s+(bot|chatbot|robot|machine)\b",
]
_HUMAN_REQUEST = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)


def wants_human(text: str) -> bool:
    return bool(_HUMAN_REQUEST.search(text))


# --- topics that always go to a person (SIWI_ALWAYS_HUMAN_TOPICS) -------------------------------------------

class HumanTopics:
    """Configured topics such as Kindeswohl or complaints: a message that mentions one is handed to staff
    instead of the bot. Each entry is 'Topic' or 'Topic=word|word'; a word matches as the start of a word
    ("beschwer" finds "Beschwerde" and "beschweren"), case-insensitive."""

    def __init__(self, entries: list[str]):
        self._topics: list[tuple[str, re.Pattern[str]]] = []
        for entry in entries:
            name, _, words = entry.partition("=")
            alternatives = [w.strip() for w in (words or name).split("|") if w.strip()]
            if name.strip() and alternatives:
                pattern = "|".join(r"\s+".join(map(re.escape, w.split())) for w in alternatives)
                self._topics.append((name.strip(), re.compile(rf"\b(?:{pattern})", re.IGNORECASE)))

    def match(self, text: str) -> str | None:
        """The first configured topic the text mentions, or None."""
        return next((name for name, pattern in self._topics if pattern.search(text)), None)
