"""Personal data is redacted before anything is logged, stored or put into a prompt (issue 16, finding 2):
the recognisers on their own, and `siwi serve` as a child process with a real citizen, real staff, a
handoff, a callback and feedback — after which the whole data directory, the database and the server's
log are searched for what the citizen typed. Recall and false positives over ≥ 200 sentences are measured
by bench/redaction.py, not here."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.protocol import client_message_adapter
from bot.redaction import RedactingFilter, redact, redact_text
from tests.conftest import free_port
from tests.test_handoff_flow import Citizen, add_accounts, conversation_event, indexed, on_duty, siwi_serve
from tests.test_startup import siwi


@pytest.mark.parametrize(("text", "expected"), [
    ("Meine IBAN: DE89 3704 0044 0532 0130 00, bitte erstatten.", "Meine IBAN: [IBAN], bitte erstatten."),
    ("Steuer-ID 36 574 261 809", "Steuer-ID [STEUER-ID]"),
    ("Rufen Sie mich unter 0176 98765432 an oder schreiben Sie an y.kaya@example.org",
     "Rufen Sie mich unter [TELEFON] an oder schreiben Sie an [E-MAIL]"),
    ("Ich heiße Yasemin Kaya und bin am 03.04.1988 geboren.", "Ich heiße [NAME] und bin am [GEBURTSDATUM] geboren."),
    ("Ich wohne in der Lindenallee 14, 57072 Siegen.", "Ich wohne in der [ADRESSE]."),
    ("Meine Ausweisnummer ist L01X00T47.", "Meine Ausweisnummer ist [AUSWEISNUMMER]."),
    ("My name is John Smith, I live at 42 Oak Street.", "My name is [NAME], I live at [ADRESSE]."),
])
def test_personal_data_becomes_typed_placeholders(text: str, expected: str):
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "Was kostet ein Reisepass für mein Kind, geboren 2019?",
    "Mein Termin ist am 14.01.2027 um 8:30 Uhr, kostet die Zulassung 28,60 Euro?",
    "Was kostet der Kindergarten im Kindergartenjahr 2024/2025 für ein Einzelkind?",
    "Meine Frau braucht einen neuen Personalausweis, sie ist 45.",
    "Ich heiße Sie herzlich willkommen, aber wo ist die Zulassungsstelle?",
    "Gilt das auch für die PLZ 85354?",
])
def test_service_questions_keep_what_they_need(text: str):
    assert redact_text(text).kinds == ()
    assert redact(text) == text


def test_every_free_text_field_of_the_protocol_is_redacted_as_it_is_parsed():
    message = client_message_adapter.validate_python(
        {"type": "user_message", "text": "Ich heiße Yasemin Kaya, IBAN DE89370400440532013000"})
    assert message.text == "Ich heiße [NAME], IBAN [IBAN]"
    feedback = client_message_adapter.validate_python(
        {"type": "feedback", "client_message_id": "m", "rating": "down", "comment": "Ruf an: 0176 98765432"})
    assert feedback.comment == "Ruf an: [TELEFON]"
    callback = client_message_adapter.validate_python(
        {"type": "callback_request", "consent": True, "name": "Yasemin Kaya", "phone": "0176 98765432",
         "message": "Meine Steuer-ID ist 36574261809"})
    # what the citizen gives for the callback, with consent, is kept (its own columns); the free text is not
    assert (callback.name, callback.phone) == ("Yasemin Kaya", "0176 98765432")
    assert callback.message == "Meine Steuer-ID ist [STEUER-ID]"


def test_log_records_are_redacted_with_their_arguments_and_tracebacks():
    record = logging.LogRecord("siwi", logging.ERROR, __file__, 1, "question %r failed",
                               ("IBAN DE89370400440532013000",), None)
    try:
        raise ValueError("Ich heiße Yasemin Kaya")
    except ValueError:
        import sys
        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "question 'IBAN [IBAN]' failed"
    assert "Kaya" not in record.exc_text and "[NAME]" in record.exc_text
    access = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '"WebSocket %s" [accepted]',
                               ("/ws/chat?conversation_id=abc&resume_token=s3cr3t",), None)
    RedactingFilter().filter(access)
    assert "s3cr3t" not in access.getMessage() and "conversation_id=abc" in access.getMessage()


# --- the whole service ---------------------------------------------------------------------------------

IBAN = "DE89 3704 0044 0532 0130 00"
TYPED = {  # what the citizen types into the chat, as they type it, and forms it could be stored in
    "IBAN": [IBAN, IBAN.replace(" ", "")],
    "TELEFON": ["0176 98765432", "017698765432", "98765432"],
    "EMAIL": ["yasemin.kaya@example.org", "yasemin.kaya"],
    "STEUER_ID": ["36 574 261 809", "36574261809"],
    "NAME": ["Yasemin", "Kaya"],
    "GEBURTSDATUM": ["03.04.1988"],
    "ADRESSE": ["Lindenallee 14"],
    "AUSWEIS": ["L01X00T47"],
}
CONSENTED = {"name": "Erika Musterfrau", "phone": "0271 4567890"}
"""Given for the callback with consent: stored once, in the callback's own columns."""


def files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def holding(content: dict[Path, bytes], value: str) -> list[Path]:
    return [path for path, data in content.items() if value.encode() in data]


@pytest.mark.slow
def test_personal_data_planted_everywhere_leaves_only_placeholders_and_purge_leaves_nothing(tmp_path: Path,
                                                                                          embedder):
    data = tmp_path / "data"
    indexed(data, embedder)
    add_accounts(data)
    log = tmp_path / "serve.log"
    with siwi_serve(data, free_port(), log, verbose=True) as base, on_duty(base) as (staff, inbox):
        citizen = Citizen(base)
        cid = citizen.conversation_id
        # a chat question with all kinds of personal data, answered by the model
        final = citizen.ask(f"Ich heiße Yasemin Kaya, geboren am 03.04.1988, Lindenallee 14, 57072 Siegen. "
                            f"Meine IBAN ist {IBAN} und meine Steuer-ID 36 574 261 809, Ausweisnummer L01X00T47. "
                            f"Was kostet ein Personalausweis?", client_message_id="m-1")
        question = final["answer"]["question"]
        assert "[IBAN]" in question and "[NAME]" in question and "Kaya" not in question
        # feedback on it, with a comment
        citizen.send(type="feedback", client_message_id="m-1", rating="down",
                     comment="Bitte rufen Sie mich an: 0176 98765432 oder yasemin.kaya@example.org")
        citizen.expect("feedback_ack")
        # a handoff: staff take it, the citizen writes to them, staff answer and close with a note
        citizen.send(type="handoff_request")
        citizen.handoff("waiting")
        inbox.find(conversation_event(cid, "queued"))
        inbox.send(type="claim", conversation_id=cid, request_id="c-1")
        citizen.until(lambda f: f["type"] == "handoff" and f["state"] == "assigned")
        citizen.send(type="user_message", text="Meine Handynummer ist 0176 98765432, Ausweis L01X00T47.",
                     client_message_id="m-2")
        citizen.expect("delivered", client_message_id="m-2")
        got = inbox.until(lambda f: f["type"] == "message" and f["message"]["role"] == "citizen")
        assert got["message"]["text"] == "Meine Handynummer ist [TELEFON], Ausweis [AUSWEISNUMMER]."
        reply = staff.post(f"/staff/api/conversations/{cid}/reply",
                           {"text": "Frau Kaya, hier ist Frau Muster. Wir rufen Sie unter 0176 98765432 zurück."})
        assert reply.status_code == 200, reply.text
        # the citizen's name and number go; the staff member's own name stays
        citizen.expect("staff_message", text="Frau [NAME], hier ist Frau Muster. Wir rufen Sie unter [TELEFON] zurück.")
        # a callback request: its contact details with consent, its message redacted
        citizen.send(type="callback_request", consent=True, **CONSENTED,
                     message="Ich heiße Yasemin Kaya, E-Mail yasemin.kaya@example.org")
        citizen.expect("callback_received")
        staff.post(f"/staff/api/conversations/{cid}/close", {"note": "Rückruf an Frau Kaya, IBAN " + IBAN})
        citizen.until(lambda f: f["type"] == "handoff" and f["state"] == "closed")
        citizen.close()

    stored = files(data)
    database = data / "siwi.db"
    everything = {**stored, log: log.read_bytes()}
    assert b"[IBAN]" in stored[database] and b"[TELEFON]" in stored[database]  # the chat was stored, redacted
    assert b"[TELEFON]" in stored[data / "feedback.jsonl"]
    for kind, values in TYPED.items():
        for value in values:
            assert not holding(everything, value), (kind, value, holding(everything, value))
    for value in CONSENTED.values():
        assert holding(everything, value) == [database], value  # once, in the database, nowhere else

    result = siwi(["privacy", "purge", "--days", "0"], SIWI_DATA_DIR=str(data))
    assert result.returncode == 0, result.stderr
    after = files(data)
    for value in [*CONSENTED.values(), "[IBAN]", "[TELEFON]", "[NAME]"]:
        assert not holding(after, value), (value, holding(after, value))
    assert after[data / "feedback.jsonl"].strip() == b""
