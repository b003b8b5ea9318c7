"""Recognising a request for a person (the ways citizens ask, and questions that only mention staff), and the
citation-check trigger of the handoff."""

import asyncio

import pytest

from bot.handoff import wants_human
from bot.handoff_service import CitizenLink, check_failed
from bot.protocol import AnswerResult, Handoff, SentenceVerdict
from bot.staff_api import build_workspace
from siwi.settings import Settings


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
    # blunt and angry, after nobody helped (issue 14, failure kind 3): no polite verb
    "Hier hilft mir ja keiner. Mitarbeiter. Sofort!",
    "Das ist doch alles Mist. Jetzt endlich einen Menschen!",
    "MENSCH!!!",
    "Ich will Ihren Vorgesetzten.",
    "Holen Sie mir einen Sachbearbeiter, aber schnell.",
    "Nutzloses Ding. Ich verlange einen echten Mitarbeiter.",
    "Human. Now.",
    "This is useless, I want a human",
    "Schluss mit dem Bot. Sachbearbeiter vom Amt, jetzt!",
    "Ansprechpartner beim Kreis, aber sofort!",
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
    "Brauche ich jetzt einen neuen Personalausweis für mein Kind?",
    "Muss die Person sofort umgemeldet werden, wenn sie umzieht?",
    "Wie viel kostet ein Ausweis für eine Person unter 24 jetzt?",
    "Ich will einen Hund anmelden.",
    "Kann ich meinen Sohn sofort anmelden?",
    "How much does an ID card cost for a person over 24 now?",
])
def test_questions_that_only_mention_people(text):
    assert not wants_human(text)


# --- the citation-check trigger: a rejected answer to a question that matters goes to staff at once ---------

def _answer(question: str, verdicts: list[str], outcome: str = "no_answer") -> AnswerResult:
    return AnswerResult(text="Dazu habe ich keine gesicherte Information.", outcome=outcome, citations=[],
                        language="de", question=question, standalone_question=question,
                        sentences=[SentenceVerdict(text="Die Frist beträgt 14 Tage. [1]", markers=[1], verdict=v,
                                                   support=0.2) for v in verdicts])


@pytest.mark.parametrize(("question", "verdicts", "outcome", "reason"), [
    # the model answered, the check took every claim away, and the question is about a deadline: at once
    ("Bis wann muss ich Widerspruch gegen den Gebührenbescheid einlegen?", ["unsupported"], "no_answer",
     "check_failed"),
    ("Welche Frist gilt für die Ummeldung?", ["neutral", "unsupported"], "no_answer", "check_failed"),
    # a rejected answer to an ordinary question counts towards the two-in-a-row rule only
    ("Wie viele Einwohner hat der Kreis?", ["unsupported"], "no_answer", None),
    # retrieval found nothing (the model was never asked): no failed check
    ("Welche Frist gilt für die Ummeldung?", [], "no_answer", None),
    # an answer that passed the check, even with one sentence dropped, is an answer
    ("Welche Frist gilt für die Ummeldung?", ["supported", "unsupported"], "answered", None),
])
def test_failed_check_on_a_question_that_matters_hands_over(tmp_path, question, verdicts, outcome, reason):
    settings = Settings(data_dir=tmp_path, office_hours="never", handoff_after_no_answers=2)
    workspace = build_workspace(settings)
    sent: list = []

    async def send(frame) -> None:
        sent.append(frame)

    async def run() -> None:
        link = CitizenLink(workspace.service, send)
        link.adopt("c-1", "token-of-c-1")
        await link.answered("c-1", _answer(question, verdicts, outcome))
        await link.close()

    try:
        asyncio.run(run())
    finally:
        workspace.close()
    frames = [f for f in sent if isinstance(f, Handoff)]
    assert [f.reason for f in frames] == ([reason] if reason else [])
    if reason:  # nobody on duty here: the offline frame with contact options and a callback
        assert frames[0].state == "offline" and frames[0].callback_offered


def test_questions_that_matter_are_configurable(tmp_path):
    settings = Settings(data_dir=tmp_path, handoff_on_failed_check_topics=[])
    assert not check_failed(_answer("Frist?", [])) and check_failed(_answer("Frist?", ["unsupported"]))
    workspace = build_workspace(settings)
    try:
        assert workspace.service.check_topics.match("Welche Frist gilt?") is None
    finally:
        workspace.close()


def test_an_older_database_gets_the_new_columns(tmp_path):
    """A queue database from before a nullable column was added keeps its rows and gains the column."""
    import sqlite3

    from bot.handoff_store import Database

    path = tmp_path / "siwi.db"
    Database(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE handoff_messages DROP COLUMN client_message_id")
        assert "client_message_id" not in {row[1] for row in db.execute("PRAGMA table_info(handoff_messages)")}
    Database(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as db:
        assert "client_message_id" in {row[1] for row in db.execute("PRAGMA table_info(handoff_messages)")}
