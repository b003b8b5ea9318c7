"""The chat service over a real uvicorn server on 127.0.0.1, with a real WebSocket client, the real
embedding model, a real Chroma store on disk and the small packaged LLM."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from bot.app import create_app
from bot.services import build_index, build_pipeline
from siwi.settings import Settings
from tests.conftest import FIXTURES, MODELS_DIR, SMALL_MODEL, LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder, small_model):
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), models_dir=MODELS_DIR, llm_model=SMALL_MODEL,
                        llm_max_tokens=80, max_queue=3)
    index = build_index(settings, embedder)
    index.ingestor(settings).ingest([FIXTURES / "kb"])
    app = create_app(settings, index, build_pipeline(settings, index, small_model))
    with LiveServer(app) as live:
        live.app = app
        live.index = index
        yield live


def receive(ws) -> dict:
    return json.loads(ws.recv(timeout=180))


def ask_over_socket(url: str, text: str, conversation_id: str | None = None,
                    resume_token: str | None = None) -> tuple[list[dict], dict]:
    """Send one question (continuing a conversation: with its id and resume token); return the frames before
    the final one, and the final one (with the ready frame's resume token added)."""
    if conversation_id:
        url += f"?conversation_id={conversation_id}&resume_token={resume_token or ''}"
    with connect(url, open_timeout=10) as ws:
        ready = receive(ws)
        assert ready["type"] == "ready" and ready["resume_token"]
        ws.send(json.dumps({"v": 1, "type": "user_message", "text": text, "conversation_id": ready["conversation_id"]}))
        frames = []
        while (frame := receive(ws))["type"] != "final":
            assert frame["type"] != "error", frame
            frames.append(frame)
        return frames, {**frame, "resume_token": ready["resume_token"]}


def expect_error(ws, code: str) -> dict:
    frame = receive(ws)
    assert frame["type"] == "error" and frame["code"] == code, frame
    assert frame["message"]
    return frame


def still_usable(ws) -> None:
    ws.send(json.dumps({"v": 1, "type": "ping"}))
    assert receive(ws)["type"] == "pong"


def test_bad_input_gets_a_clear_error_and_the_connection_stays_usable(server):
    chunks_before = server.index.store.count()
    with connect(server.ws) as ws:
        assert receive(ws)["type"] == "ready"
        ws.send("{not json")
        expect_error(ws, "invalid_json")
        still_usable(ws)
        ws.send(json.dumps({"v": 1, "type": "subscribe_to_everything"}))
        assert "type" in expect_error(ws, "invalid_message")["message"]
        ws.send(json.dumps({"v": 2, "type": "ping"}))
        expect_error(ws, "invalid_message")
        ws.send(json.dumps({"v": 1, "type": "user_message"}))
        assert "text" in expect_error(ws, "invalid_message")["message"]
        ws.send(b"\x00\x01binary")
        expect_error(ws, "unsupported_frame")
        ws.send(json.dumps({"v": 1, "type": "user_message", "text": "   \n "}))
        expect_error(ws, "empty_message")
        ws.send(json.dumps({"v": 1, "type": "user_message", "text": "x" * 2001}))
        assert "2000" in expect_error(ws, "message_too_long")["message"]
        ws.send("y" * 200_000)
        expect_error(ws, "message_too_long")
        ws.send(json.dumps({"v": 1, "type": "user_message", "text": "Hallo", "conversation_id": "../etc"}))
        expect_error(ws, "invalid_message")
        still_usable(ws)
    assert server.index.store.count() == chunks_before


def test_answer_streams_in_deltas_and_ends_with_checked_final(server):
    frames, final = ask_over_socket(server.ws, "Was kostet der Personalausweis für Personen ab 24 Jahren?")
    deltas = [f for f in frames if f["type"] == "delta"]
    assert frames[0]["type"] == "started"
    answer = final["answer"]
    assert answer["outcome"] == "answered", answer
    # Only checked text is streamed: the deltas add up to exactly the final answer.
    assert deltas and "".join(d["text"] for d in deltas) == answer["text"]
    assert "37" in answer["text"]
    cited = {c["number"]: c for c in answer["citations"]}
    assert cited and all(f"[{n}]" in answer["text"] for n in cited)
    fee = [c for c in cited.values() if c["title"] == "Personalausweis beantragen"]
    assert fee and "37" in fee[0]["snippet"]
    start, end = fee[0]["spans"][0]
    assert fee[0]["passage"][start:end] == fee[0]["snippet"]
    # Verdicts are for staff and evaluation: never sent to the citizen's socket.
    assert answer["sentences"] == [] and answer["retrieved"] == [] and answer["model_answer"] == ""


def test_follow_up_question_is_rewritten_with_the_history(server):
    _, first = ask_over_socket(server.ws, "Was kostet der Personalausweis?")
    conversation = first["conversation_id"]
    _, second = ask_over_socket(server.ws, "Und wie lange dauert das?", conversation, first["resume_token"])
    assert second["conversation_id"] == conversation
    answer = second["answer"]
    assert answer["question"] == "Und wie lange dauert das?"
    # The model's rewrite names the topic; where the small model gives none, retrieval still searched with
    # the earlier question, but the answer never reports an earlier turn verbatim.
    standalone = answer["standalone_question"]
    assert "Personalausweis" in standalone or standalone == "Und wie lange dauert das?", standalone
    assert "Was kostet der Personalausweis?" not in standalone
    assert all("Personalausweis" in c["title"] for c in answer["citations"]), answer["citations"]
    history = server.app.state.chat.conversations.history(conversation)
    assert [q for q, _ in history] == ["Was kostet der Personalausweis?", "Und wie lange dauert das?"]


def test_a_conversation_is_continued_only_with_its_resume_token(server):
    """Over the WebSocket: the id alone (or a wrong token) opens a new conversation, and a socket cannot send
    messages or feedback into another conversation."""
    _, first = ask_over_socket(server.ws, "Was kostet der Personalausweis?")
    victim = first["conversation_id"]
    for token in ("", "falsch", first["resume_token"][:-1] + ("y" if first["resume_token"].endswith("x") else "x")):
        with connect(f"{server.ws}?conversation_id={victim}&resume_token={token}", open_timeout=10) as ws:
            ready = receive(ws)
            assert ready["type"] == "ready" and ready["conversation_id"] != victim
            expect_error(ws, "forbidden")
    with connect(server.ws, open_timeout=10) as ws:
        receive(ws)
        ws.send(json.dumps({"v": 1, "type": "user_message", "text": "Und wie lange dauert das?",
                            "conversation_id": victim}))
        expect_error(ws, "forbidden")
        ws.send(json.dumps({"v": 1, "type": "feedback", "client_message_id": "x", "rating": "down",
                            "conversation_id": victim}))
        expect_error(ws, "forbidden")
        still_usable(ws)
    assert server.app.state.chat.conversations.history(victim) == [(first["answer"]["question"],
                                                                     first["answer"]["text"])]


def test_http_follow_up_needs_the_resume_token_and_never_echoes_earlier_turns(server):
    """Finding 1 of the privacy review: POST /api/ask with a conversation_id answered from that conversation's
    history for anyone who knew the id, and pasted the earlier question (with its personal data) into
    `standalone_question`."""
    private = "Ich heiße Erika Mustermann, IBAN DE89370400440532013000. Was kostet der Personalausweis?"
    first = httpx.post(f"{server.http}/api/ask", json={"question": private}, timeout=180)
    assert first.status_code == 200
    cid, token = first.json()["conversation_id"], first.json()["resume_token"]
    assert token
    follow_up = {"question": "Und wie lange dauert das?", "conversation_id": cid}
    for wrong in (None, "falsch"):
        refused = httpx.post(f"{server.http}/api/ask", json={**follow_up, "resume_token": wrong}, timeout=180)
        assert refused.status_code == 403, refused.text
        assert refused.json()["detail"]["code"] == "forbidden"
        assert "Mustermann" not in refused.text and "DE89" not in refused.text
    answered = httpx.post(f"{server.http}/api/ask", json={**follow_up, "resume_token": token}, timeout=180)
    assert answered.status_code == 200
    body = answered.json()
    assert body["conversation_id"] == cid and body["resume_token"] == token
    assert "Mustermann" not in answered.text and "DE89370400440532013000" not in answered.text
    assert len(server.app.state.chat.conversations.history(cid)) == 2


def test_two_concurrent_chats_are_both_answered_in_turn(server):
    results: dict[str, tuple[list[dict], dict]] = {}

    def chat(name: str, text: str) -> None:
        results[name] = ask_over_socket(server.ws, text)

    threads = [threading.Thread(target=chat, args=("a", "Welche Unterlagen brauche ich für den Personalausweis?")),
               threading.Thread(target=chat, args=("b", "Wie hoch ist die Hundesteuer für den ersten Hund?"))]
    for t in threads:
        t.start()
        time.sleep(0.3)
    for t in threads:
        t.join(timeout=300)
    assert set(results) == {"a", "b"}
    for name, topic in (("a", "Personalausweis"), ("b", "Hundesteuer")):
        answer = results[name][1]["answer"]
        assert answer["outcome"] == "answered", answer["text"]
        assert answer["citations"] and all(topic in c["title"] for c in answer["citations"]), answer["citations"]
    # The second chat waited for the first and was told its position.
    assert any(f["type"] == "queued" and f["position"] == 1 for f in results["b"][0])


class CountingModel:
    """The real model, with a count of the pieces it wrote and when: instrumentation, not a stand-in."""

    def __init__(self, model):
        self._model = model
        self.name = model.name
        self.times: list[float] = []

    def stream(self, *args, **kwargs):
        for piece in self._model.stream(*args, **kwargs):
            self.times.append(time.monotonic())
            yield piece


def test_disconnect_stops_generation(tmp_path, embedder, small_model):
    """With room for 1,000 tokens, a citizen who closes the chat after the first checked words leaves the
    model writing at most a few more pieces; the same question undisturbed runs far longer (so this test
    fails when cancelling does not work)."""
    settings = Settings(data_dir=tmp_path, models_dir=MODELS_DIR, llm_model=SMALL_MODEL, llm_max_tokens=1000)
    index = build_index(settings, embedder)
    index.ingestor(settings).ingest([FIXTURES / "kb"])
    model = CountingModel(small_model)
    app = create_app(settings, index, build_pipeline(settings, index, model))
    question = ("Erklären Sie mir ausführlich alles zum Personalausweis: Unterlagen, Kosten, Dauer, "
                "Gültigkeit und wo ich ihn beantrage.")
    with LiveServer(app) as live:
        ask_over_socket(live.ws, question)
        undisturbed = len(model.times)
        model.times.clear()
        with connect(live.ws) as ws:
            receive(ws)
            ws.send(json.dumps({"v": 1, "type": "user_message", "text": question}))
            while receive(ws)["type"] != "delta":
                pass
        closed = time.monotonic()
        deadline = closed + 30
        while app.state.chat.worker.busy and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not app.state.chat.worker.busy
    after = sum(1 for t in model.times if t > closed + 0.5)  # pieces written once the close had arrived
    assert undisturbed >= 40, undisturbed
    assert after <= 5, (after, undisturbed)


def test_http_api_gives_the_same_final_result(server):
    response = httpx.post(f"{server.http}/api/ask", json={"question": "Was kostet der Personalausweis für Personen "
                                                                      "ab 24 Jahren?"}, timeout=180)
    assert response.status_code == 200
    body = response.json()
    assert body["conversation_id"]
    assert body["answer"]["outcome"] == "answered" and "37" in body["answer"]["text"]
    _, final = ask_over_socket(server.ws, "Was kostet der Personalausweis für Personen ab 24 Jahren?")
    assert final["answer"]["text"] == body["answer"]["text"]
    assert final["answer"]["citations"] == body["answer"]["citations"]


def test_http_api_rejects_bad_input(server):
    assert httpx.post(f"{server.http}/api/ask", json={"question": "  "}).status_code == 422
    assert httpx.post(f"{server.http}/api/ask", json={"question": "x" * 2001}).status_code == 422
    assert httpx.post(f"{server.http}/api/ask", json={"frage": "Hallo"}).status_code == 422
    assert httpx.post(f"{server.http}/api/ask", content=b"{kaputt", headers={"content-type": "application/json"}
                      ).status_code == 422


def test_request_for_a_human_is_a_handoff(server):
    _, final = ask_over_socket(server.ws, "Ich möchte bitte mit einem Menschen sprechen.")
    assert final["answer"]["outcome"] == "handoff"
    assert "Mitarbeiter" in final["answer"]["text"]


def test_unrelated_question_is_no_answer(server):
    _, final = ask_over_socket(server.ws, "Who won the football world cup in 1954?")
    assert final["answer"]["outcome"] == "no_answer"
    assert final["answer"]["language"] == "en"
    assert final["answer"]["citations"] == []


def test_operator_endpoints_and_page(server):
    assert httpx.get(f"{server.http}/health").json()["status"] == "ok"
    ready = httpx.get(f"{server.http}/ready")
    assert ready.status_code == 200 and ready.json()["index_chunks"] > 0
    assert "/ws/chat" not in httpx.get(f"{server.http}/openapi.json").json()["paths"]
    assert "/api/ask" in httpx.get(f"{server.http}/openapi.json").json()["paths"]
    assert httpx.get(f"{server.http}/docs").status_code == 404  # Swagger UI would load from a CDN: off by default
    page = httpx.get(f"{server.http}/")
    assert page.status_code == 200 and "KI-Assistent" in page.text
    assert httpx.get(f"{server.http}/static/chat.js").status_code == 200


def test_ready_is_503_on_an_empty_index(tmp_path: Path, embedder, small_model):
    settings = Settings(data_dir=tmp_path, models_dir=MODELS_DIR, llm_model=SMALL_MODEL)
    index = build_index(settings, embedder)
    with LiveServer(create_app(settings, index, build_pipeline(settings, index, small_model))) as live:
        response = httpx.get(f"{live.http}/ready")
        assert response.status_code == 503 and response.json()["ready"] is False


def test_text_that_is_no_text_is_refused_before_the_model(server):
    """Finding 5 of the privacy review: a lone surrogate gave HTTP 500 after 10 s (and held the model queue on
    the WebSocket), an emoji message within the limit was refused as too long (its JSON escapes counted), and
    `"v": true` passed as protocol version 1."""
    started = time.monotonic()
    refused = httpx.post(f"{server.http}/api/ask", content=b'{"question": "\\ud800 Was kostet der Ausweis?"}',
                         headers={"content-type": "application/json"}, timeout=30)
    assert refused.status_code == 422 and refused.json()["detail"]["code"] == "invalid_text", refused.text
    assert time.monotonic() - started < 5
    with connect(server.ws, open_timeout=10) as ws:
        receive(ws)
        ws.send('{"v": 1, "type": "user_message", "text": "\\udfff Hallo"}')
        expect_error(ws, "invalid_text")
        ws.send(json.dumps({"v": True, "type": "ping"}))
        expect_error(ws, "invalid_message")
        emoji = "\U0001F600" * 1013  # 1,013 characters: within the limit of 2,000, 12,156 characters as JSON
        ws.send(json.dumps({"v": 1, "type": "user_message", "text": emoji, "client_message_id": "e"}))
        frame = receive(ws)
        assert frame["type"] == "started", frame
        ws.send(json.dumps({"v": 1, "type": "cancel"}))
        ws.send(json.dumps({"v": 1, "type": "user_message", "text": "x" * 2001}))
        while (frame := receive(ws))["type"] != "error":
            pass
        assert frame["code"] == "message_too_long"
        still_usable(ws)


def test_every_response_carries_security_headers(server):
    """Finding 6 of the privacy review: only /staff had them."""
    for path in ("/", "/widget/siwi.js", "/static/chat.js", "/static/datenschutz.html", "/health", "/openapi.json",
                 "/nicht-da"):
        headers = httpx.get(f"{server.http}{path}").headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path
        assert "camera=()" in headers["permissions-policy"], path
    page = httpx.get(f"{server.http}/").headers
    policy = page["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'self'" in policy and "object-src 'none'" in policy
    assert page["x-frame-options"] == "SAMEORIGIN"
    script = httpx.get(f"{server.http}/widget/siwi.js").headers
    assert script["cross-origin-resource-policy"] == "cross-origin"  # the widget stays embeddable
    assert script["access-control-allow-origin"] == "*"
    staff = httpx.get(f"{server.http}/staff").headers  # keeps its own, stricter policy
    assert "frame-ancestors 'none'" in staff["content-security-policy"] and staff["x-frame-options"] == "DENY"
