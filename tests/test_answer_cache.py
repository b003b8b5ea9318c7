"""Repeated questions (issue 15): a conversation's first question that was answered before is answered from
the cache — no queue, no model — over a real server and real WebSocket clients; a follow-up never is, and a
write to the index empties the cache."""

from __future__ import annotations

import json
import shutil

from websockets.sync.client import connect

from bot.answer_cache import AnswerCache, normalise
from bot.app import create_app
from bot.protocol import AnswerResult
from bot.services import build_index, build_pipeline
from siwi.settings import Settings
from tests.conftest import FIXTURES, MODELS_DIR, SMALL_MODEL, LiveServer
from tests.test_chat_service import CountingModel

QUESTION = "Was kostet der Personalausweis für Personen ab 24 Jahren?"


def ask(ws, text: str) -> dict:
    ws.send(json.dumps({"v": 1, "type": "user_message", "text": text}))
    deltas = ""
    while True:
        frame = json.loads(ws.recv(timeout=300))
        if frame["type"] == "delta":
            deltas += frame["text"]
        if frame["type"] in ("final", "error"):
            assert frame["type"] == "final", frame
            assert deltas == frame["answer"]["text"]  # the deltas add up to the answer, cached or not
            return frame["answer"]


def test_a_repeated_first_question_is_answered_from_the_cache_until_the_index_changes(tmp_path, embedder,
                                                                                    small_model):
    settings = Settings(data_dir=tmp_path / "data", models_dir=MODELS_DIR, llm_model=SMALL_MODEL, llm_max_tokens=80)
    kb = tmp_path / "kb"
    shutil.copytree(FIXTURES / "kb", kb)
    index = build_index(settings, embedder)
    index.ingestor(settings).ingest([kb])
    model = CountingModel(small_model)
    with LiveServer(create_app(settings, index, build_pipeline(settings, index, model))) as live:
        with connect(live.ws, open_timeout=10) as first:
            assert json.loads(first.recv(timeout=10))["type"] == "ready"
            answer = ask(first, QUESTION)
            assert answer["outcome"] == "answered", answer
            written = len(model.times)
            assert written > 0
            # the same question as a follow-up in this conversation: its history may matter, so the model runs
            ask(first, QUESTION)
            assert len(model.times) > written
            written = len(model.times)
        with connect(live.ws, open_timeout=10) as second:
            assert json.loads(second.recv(timeout=10))["type"] == "ready"
            again = ask(second, "  was kostet der Personalausweis für Personen ab 24 Jahren ")
            assert len(model.times) == written  # not a piece more from the model
            assert again["text"] == answer["text"] and again["citations"] == answer["citations"]
            assert again["timings"] == {"cached": 1.0}
            assert again["question"] == "was kostet der Personalausweis für Personen ab 24 Jahren"
        # a document changes (here: one is re-ingested with new text): every cached answer goes
        page = next(kb.glob("*.md"))
        page.write_text(page.read_text(encoding="utf-8") + "\n\nNeu: ein zusätzlicher Absatz.\n", encoding="utf-8")
        index.ingestor(settings).ingest([kb])
        with connect(live.ws, open_timeout=10) as third:
            assert json.loads(third.recv(timeout=10))["type"] == "ready"
            ask(third, QUESTION)
            assert len(model.times) > written


def answer(text: str, outcome: str = "answered") -> AnswerResult:
    return AnswerResult(text=text, outcome=outcome, citations=[], language="de", question="q",
                        standalone_question="q")


def test_the_cache_keeps_staff_and_citizen_answers_apart_and_only_checked_answers():
    version = [1]
    cache = AnswerCache(size=2, ttl_s=60, version=lambda: version[0])
    cache.put("Was kostet X?", answer("intern"), include_internal=True)
    assert cache.get("was kostet x", include_internal=False) is None  # internal documents never reach citizens
    assert cache.get("Was kostet  X ?", include_internal=True).text == "intern"
    cache.put("Wetter?", answer("Keine Information.", "no_answer"))
    assert cache.get("Wetter?") is None
    cache.put("a", answer("A"))
    cache.put("b", answer("B"))
    assert cache.get("Was kostet X?", include_internal=True) is None and len(cache) == 2  # the oldest went
    version[0] = 2
    assert cache.get("a") is None and len(cache) == 0
    assert normalise("Was  kostet\u00a0ein PASS?") == "was kostet ein pass"
