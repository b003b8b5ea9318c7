"""Retention and the rights of data subjects: what SiWi stores about a conversation is deleted once
SIWI_RETENTION_DAYS have passed (by the server every hour, and by `siwi privacy purge`), and can be exported
(Art. 15 DSGVO) or deleted (Art. 17) for one conversation. Two stores hold it: the database (handoff
transcripts, callback requests, feedback; bot/handoff_store.py) and DATA_DIR/feedback.jsonl, whose writer
and rewriter take the same file lock (the server appends while the CLI may purge)."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from bot.handoff_store import HandoffStore


@contextmanager
def feedback_file(path: Path, mode: str = "a") -> Iterator[TextIO]:
    """The feedback file, created readable by SiWi's user only, under an exclusive lock (a shared one to read:
    mode "r")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = {"a": os.O_CREAT | os.O_APPEND | os.O_WRONLY, "r+": os.O_CREAT | os.O_RDWR, "r": os.O_RDONLY}[mode]
    with os.fdopen(os.open(path, flags, 0o600), mode, encoding="utf-8") as file:
        fcntl.flock(file, fcntl.LOCK_SH if mode == "r" else fcntl.LOCK_EX)
        yield file


def _rewrite(path: Path, drop: Callable[[dict[str, Any]], bool]) -> tuple[int, list[dict[str, Any]]]:
    """Remove the records `drop` selects from the feedback file: (how many, the records removed)."""
    if not path.exists():
        return 0, []
    with feedback_file(path, "r+") as file:
        kept, dropped = [], []
        for line in file.read().splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            (dropped if drop(record) else kept).append(line)
        if dropped:
            file.seek(0)
            file.write("".join(line + "\n" for line in kept))
            file.truncate()
        return len(dropped), [json.loads(line) for line in dropped]


def purge(store: HandoffStore, feedback: Path, before: datetime) -> dict[str, int]:
    """Delete everything recorded before `before`, in the database and the feedback file."""
    removed = store.purge(before)
    removed["feedback_lines"], _ = _rewrite(
        feedback, lambda r: datetime.fromisoformat(r["time"]) < before)
    return removed


def export(store: HandoffStore, feedback: Path, conversation_id: str) -> dict[str, Any]:
    data = store.export(conversation_id)
    if feedback.exists():
        with feedback_file(feedback, "r") as file:
            lines = [json.loads(line) for line in file.read().splitlines() if line.strip()]
        data["feedback_lines"] = [r for r in lines if r.get("conversation_id") == conversation_id]
    else:
        data["feedback_lines"] = []
    return {"conversation_id": conversation_id, **data}


def erase(store: HandoffStore, feedback: Path, conversation_id: str) -> dict[str, int]:
    removed = store.erase(conversation_id)
    removed["feedback_lines"], _ = _rewrite(feedback, lambda r: r.get("conversation_id") == conversation_id)
    return removed
