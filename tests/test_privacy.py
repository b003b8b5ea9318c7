"""Retention and the rights of data subjects (issue 16, finding 2): `siwi privacy purge / export / delete` as an
operator runs them, in a subprocess, against a real SQLite database and feedback file that the server's own
code wrote."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from bot.handoff_store import (
    CallbackRequestRow,
    Database,
    FeedbackRow,
    HandoffConversation,
    HandoffMessage,
    HandoffStore,
    Turn,
    utcnow,
)
from bot.retention import feedback_file
from siwi.settings import Settings
from tests.test_startup import siwi

OLD, NEW = "altes-gespraech", "neues-gespraech"
IBAN = "DE89370400440532013000"


def plant(settings: Settings, conversation_id: str, age_days: int) -> None:
    """A handed-off chat with personal data in it, a callback request and feedback (database and file)."""
    store = HandoffStore(Database(settings.resolved_database_url))
    store.open(conversation_id, "citizen", "de", None, "0" * 64,
               [Turn(f"Meine IBAN ist {IBAN}, wann kommt das Geld?", "Dazu habe ich keine gesicherte Information.",
                     "no_answer", [])])
    store.append(conversation_id, "citizen", "Ich heiße Erika Mustermann.")
    store.add_callback(conversation_id, "Erika Mustermann", "0271 12345", None, "Bitte vormittags.", "de", [])
    store.add_feedback(conversation_id, "down", f"IBAN {IBAN}", "Wann kommt das Geld?", "…", "no_answer")
    then = utcnow() - timedelta(days=age_days)
    with store.db.session() as s:
        s.execute(update(HandoffConversation).where(HandoffConversation.id == conversation_id)
                  .values(created_at=then, updated_at=then, closed_at=then, state="closed"))
        s.execute(update(HandoffMessage).where(HandoffMessage.conversation_id == conversation_id)
                  .values(created_at=then))
        s.execute(update(CallbackRequestRow).where(CallbackRequestRow.conversation_id == conversation_id)
                  .values(created_at=then))
        s.execute(update(FeedbackRow).where(FeedbackRow.conversation_id == conversation_id).values(created_at=then))
    store.db.close()
    # The feedback file's record as the chat service writes it (bot/app.py), through the same locked writer.
    record = {"time": then.isoformat(timespec="seconds"), "conversation_id": conversation_id,
              "client_message_id": "m1", "rating": "down", "comment": f"IBAN {IBAN}", "answer": None}
    with feedback_file(settings.data_dir / "feedback.jsonl") as file:
        file.write(json.dumps(record, ensure_ascii=False) + "\n")


def rows(settings: Settings, conversation_id: str) -> dict[str, int]:
    store = HandoffStore(Database(settings.resolved_database_url))
    try:
        data = store.export(conversation_id)
    finally:
        store.db.close()
    return {"messages": len((data["handoff"] or {}).get("messages", [])), "callbacks": len(data["callbacks"]),
            "feedback": len(data["feedback"])}


def test_purge_deletes_what_is_older_than_the_retention_period(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data")
    plant(settings, OLD, age_days=40)
    plant(settings, NEW, age_days=0)
    feedback = settings.data_dir / "feedback.jsonl"
    for path in (feedback, settings.data_dir / "siwi.db"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    planted = rows(settings, OLD)
    assert planted["messages"] >= 3 and planted["callbacks"] == planted["feedback"] == 1, planted
    assert rows(settings, NEW) == planted

    result = siwi(["privacy", "purge"], SIWI_DATA_DIR=str(settings.data_dir), SIWI_RETENTION_DAYS="30")
    assert result.returncode == 0, result.stderr
    assert "1 conversations" in result.stdout and "1 callbacks" in result.stdout, result.stdout
    assert "1 feedback_lines" in result.stdout, result.stdout
    assert rows(settings, OLD) == {"messages": 0, "callbacks": 0, "feedback": 0}
    assert rows(settings, NEW) == planted
    lines = [json.loads(line) for line in feedback.read_text(encoding="utf-8").splitlines()]
    assert [line["conversation_id"] for line in lines] == [NEW]
    assert stat.S_IMODE(feedback.stat().st_mode) == 0o600

    # With no retention left, the rest goes too.
    assert siwi(["privacy", "purge", "--days", "0"], SIWI_DATA_DIR=str(settings.data_dir)).returncode == 0
    assert rows(settings, NEW) == {"messages": 0, "callbacks": 0, "feedback": 0}
    assert feedback.read_text(encoding="utf-8") == ""


def test_one_conversation_is_exported_and_deleted(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data")
    plant(settings, OLD, age_days=0)
    plant(settings, NEW, age_days=0)
    env = {"SIWI_DATA_DIR": str(settings.data_dir)}

    result = siwi(["privacy", "export", NEW], **env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["conversation_id"] == NEW
    assert [m["text"] for m in data["handoff"]["messages"] if m["role"] == "citizen"][-1] == \
        "Ich heiße Erika Mustermann."
    assert data["callbacks"][0]["phone"] == "0271 12345"
    assert data["feedback"][0]["comment"] == f"IBAN {IBAN}"
    assert [line["conversation_id"] for line in data["feedback_lines"]] == [NEW]

    result = siwi(["privacy", "delete", NEW], **env)
    assert result.returncode == 0, result.stderr
    assert rows(settings, NEW) == {"messages": 0, "callbacks": 0, "feedback": 0}
    assert json.loads(siwi(["privacy", "export", NEW], **env).stdout)["handoff"] is None
    # The other conversation is untouched.
    assert rows(settings, OLD)["callbacks"] == rows(settings, OLD)["feedback"] == 1
    lines = (settings.data_dir / "feedback.jsonl").read_text(encoding="utf-8")
    assert NEW not in lines and OLD in lines
