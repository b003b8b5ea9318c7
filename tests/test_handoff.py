"""Recognising a request for a person: the ways citizens ask, and questions that only mention staff."""

import pytest

from bot.handoff import wants_human


@pytest.mark.parametrize("text", [
    "Kann ich mit einem Menschen sprechen?",
    "Bitte verbinden Sie mich mit einer Sachbearbeiterin.",
    "Ich will keinen Bot, ich will einen echten Menschen!",
    "Rückruf bitte. Ich hätte gern, dass mich jemand von der Zulassungsstelle zurückruft.",
    "Gibt es jemanden, der mir persönlich helfen kann?",
    "Mit dir komm ich nicht weiter. Gib mir bitte einen Mitarbeiter.",
    "Das möchte ich direkt mit meiner Sachbearbeiterin klären.",
    "Leiten Sie mich bitte an eine zuständige Person weiter.",
    "Mitarbeiter sprechen",
    "Can I talk to a real person?",
    "Please put me through to a human agent.",
    "I'd like to speak to someone from the foreigners' office, please.",
])
def test_requests_for_a_person(text):
    assert wants_human(text)


@pytest.mark.parametrize("text", [
    "Brauche ich für die Zulassung einen Termin?",
    "Kann mein Mitarbeiter das Gewerbe für mich anmelden?",
    "Wie erreiche ich die Zulassungsstelle?",
    "Wer ist zuständig für Wohngeld?",
    "Kann jemand anderes meinen Ausweis abholen?",
    "Was kostet ein Personalausweis für eine Person über 24?",
    "Ich möchte einen Reisepass beantragen.",
])
def test_questions_that_only_mention_people(text):
    assert not wants_human(text)
