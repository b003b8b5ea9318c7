"""Fair use (issue 16, finding 3): no client can take all capacity. Real uvicorn on 127.0.0.1, real WebSocket
and HTTP clients connecting from several loopback addresses (each address is one client), the real small
model, a real Chroma store."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from bot.app import create_app
from bot.services import build_index, build_pipeline
from siwi.settings import Settings
from tests.conftest import FIXTURES, MODELS_DIR, SMALL_MODEL, LiveServer, free_port
from tests.test_chat_service import CountingModel
from tests.test_handoff_flow import indexed, siwi_serve

ANSWERABLE = ["Welche Unterlagen brauche ich für den Personalausweis?", "Wie hoch ist die Hundesteuer?",
              "Was kostet ein Wunschkennzeichen?", "Wo ist die Kfz-Zulassungsstelle?",
              "Wie lange ist ein Reisepass gültig?"]
UNANSWERABLE = "Wie wird das Wetter morgen in Lindenau?"


@pytest.fixture(scope="module")
def index(tmp_path_factory, embedder):
    settings = Settings(data_dir=tmp_path_factory.mktemp("index"))
    built = build_index(settings, embedder)
    built.ingestor(settings).ingest([FIXTURES / "kb"])
    return built


def serve(tmp_path: Path, index, model, **limits) -> LiveServer:
    settings = Settings(data_dir=tmp_path / "data", models_dir=MODELS_DIR, llm_model=SMALL_MODEL,
                        llm_max_tokens=limits.pop("llm_max_tokens", 60), **limits)
    app = create_app(settings, index, build_pipeline(settings, index, model))
    live = LiveServer(app)
    live.app = app
    return live


@contextmanager
def open_chat(live: LiveServer, address: str = "127.0.0.1", origin: str | None = None) -> Iterator[ClientConnection]:
    """A chat socket from `address` (a loopback address stands for one client), past its ready frame."""
    sock = socket.create_connection(("127.0.0.1", live.port), source_address=(address, 0))
    headers = {"Origin": origin} if origin else None
    with connect(live.ws, sock=sock, open_timeout=10, additional_headers=headers) as ws:
        assert receive(ws)["type"] == "ready"
        yield ws


def receive(ws: ClientConnection, timeout: float = 180) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def ask(ws: ClientConnection, text: str) -> None:
    ws.send(json.dumps({"v": 1, "type": "user_message", "text": text}))


def until_final_or_error(ws: ClientConnection) -> dict:
    while (frame := receive(ws))["type"] not in ("final", "error"):
        pass
    return frame


def test_one_client_holds_only_its_share_of_the_queue_and_clients_take_turns(tmp_path, index, small_model):
    """Queue of 4, a client may hold 2 of it. Client A opens five chats and asks in each at once: one answer
    runs, two wait, the other two are told to wait for their answers — before, A filled the queue and the
    next citizen was turned away as `busy`. Client B, asking after all of A's, is served before A's last."""
    with serve(tmp_path, index, small_model, max_queue=4, client_queue_share=0.5) as live, ExitStack() as stack:
        a = [stack.enter_context(open_chat(live, "127.0.0.2")) for _ in range(5)]
        b = stack.enter_context(open_chat(live, "127.0.0.3"))
        for ws, text in zip(a, ANSWERABLE, strict=True):
            ask(ws, text)
            time.sleep(0.05)
        time.sleep(0.3)
        ask(b, "Was kostet ein Reisepass?")
        finished: dict[str, float] = {}
        results: dict[str, dict] = {}

        def collect(name: str, ws: ClientConnection) -> None:
            results[name] = until_final_or_error(ws)
            finished[name] = time.monotonic()

        threads = [threading.Thread(target=collect, args=(f"a{n}", ws)) for n, ws in enumerate(a)]
        threads.append(threading.Thread(target=collect, args=("b", b)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)

    refused = sorted(name for name, frame in results.items() if frame["type"] == "error")
    assert refused == ["a3", "a4"], results
    assert all(results[name]["code"] == "too_many_waiting" for name in refused)
    assert "warten" in results["a3"]["message"]
    assert results["b"]["type"] == "final", results["b"]
    assert all(results[f"a{n}"]["type"] == "final" for n in range(3))
    # Round-robin: B came after A's three, and is answered before A's third.
    assert finished["a0"] < finished["b"] < finished["a2"], finished


def test_open_sockets_per_client_are_limited(tmp_path, index, small_model):
    with serve(tmp_path, index, small_model, client_connections=3) as live, ExitStack() as stack:
        first = [stack.enter_context(open_chat(live, "127.0.0.4")) for _ in range(3)]
        sock = socket.create_connection(("127.0.0.1", live.port), source_address=("127.0.0.4", 0))
        with connect(live.ws, sock=sock, open_timeout=10) as extra:
            frame = receive(extra, 10)
            assert (frame["type"], frame["code"]) == ("error", "too_many_connections"), frame
            with pytest.raises(ConnectionClosed) as closed:
                extra.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        # Another client is not affected; a closed socket frees its place.
        stack.enter_context(open_chat(live, "127.0.0.5"))
        first[0].close()
        time.sleep(0.3)
        stack.enter_context(open_chat(live, "127.0.0.4"))


def test_questions_per_client_are_rate_limited(tmp_path, index, small_model):
    # a window far longer than two answers take on a loaded machine (with one minute, two slow answers let
    # the window pass before the third question)
    with serve(tmp_path, index, small_model, client_questions="2 per hour") as live:
        with open_chat(live, "127.0.0.6") as ws:
            for _ in range(2):
                ask(ws, UNANSWERABLE)
                assert until_final_or_error(ws)["type"] == "final"
            ask(ws, UNANSWERABLE)
            frame = until_final_or_error(ws)
            assert (frame["type"], frame["code"]) == ("error", "rate_limited"), frame
            assert re.search(r"Bitte warten Sie \d+ Minuten", frame["message"]), frame  # not "3540 Sekunden"
            ws.send(json.dumps({"v": 1, "type": "ping"}))  # the connection stays usable
            assert receive(ws)["type"] == "pong"
        # The same client over HTTP is limited too; another client is not.
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.6"), timeout=120) as http:
            response = http.post(f"{live.http}/api/ask", json={"question": UNANSWERABLE})
        assert response.status_code == 429
        assert response.json()["detail"]["code"] == "rate_limited"
        assert 1 <= int(response.headers["Retry-After"]) <= 3600
        with open_chat(live, "127.0.0.7") as other:
            ask(other, UNANSWERABLE)
            assert until_final_or_error(other)["type"] == "final"


def test_an_idle_socket_is_closed_and_a_pinging_one_is_not(tmp_path, index, small_model):
    with serve(tmp_path, index, small_model, idle_timeout_s=1.0) as live:
        with open_chat(live) as idle, open_chat(live) as pinging:
            started = time.monotonic()
            while time.monotonic() - started < 2.5:
                pinging.send(json.dumps({"v": 1, "type": "ping"}))
                assert receive(pinging, 5)["type"] == "pong"
                time.sleep(0.4)
            frame = receive(idle, 5)
            assert (frame["type"], frame["code"]) == ("error", "idle_timeout"), frame
            with pytest.raises(ConnectionClosed):
                idle.recv(timeout=5)
            ask(pinging, UNANSWERABLE)
            assert until_final_or_error(pinging)["type"] == "final"


def test_only_allowed_pages_may_use_the_chat_from_a_browser(tmp_path, index, small_model):
    allowed = "https://www.kreis-lindenau.example"
    with serve(tmp_path, index, small_model, allowed_origins=[f"{allowed}/buergerservice/"]) as live:
        with pytest.raises(InvalidStatus) as refused, open_chat(live, origin="https://evil.example"):
            pass
        assert refused.value.response.status_code == 403
        for origin in (allowed, live.http, None):  # the embedding page, SiWi's own page, no browser
            with open_chat(live, origin=origin) as ws:
                ask(ws, UNANSWERABLE)
                assert until_final_or_error(ws)["type"] == "final"
        response = httpx.post(f"{live.http}/api/ask", json={"question": UNANSWERABLE},
                              headers={"Origin": "https://evil.example"}, timeout=60)
        assert response.status_code == 403
        assert response.json()["detail"]["code"] == "origin_not_allowed"
        assert httpx.post(f"{live.http}/api/ask", json={"question": UNANSWERABLE},
                          headers={"Origin": allowed}, timeout=120).status_code == 200


def test_an_http_question_whose_client_left_is_stopped(tmp_path, index, small_model):
    """Room for 1,000 tokens; the client drops the request once the model writes. Before, the answer ran to
    its end for nobody (this test then counts ~100 pieces after the close)."""
    model = CountingModel(small_model)
    question = ("Erklären Sie mir ausführlich alles zum Personalausweis: Unterlagen, Kosten, Dauer, "
                "Gültigkeit und wo ich ihn beantrage.")
    with serve(tmp_path, index, model, llm_max_tokens=1000) as live:
        body = json.dumps({"question": question}).encode()
        request = (f"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        with socket.create_connection(("127.0.0.1", live.port)) as raw:
            raw.sendall(request)
            deadline = time.monotonic() + 120
            while not model.times and time.monotonic() < deadline:
                time.sleep(0.05)
            assert model.times, "the model never started"
        closed = time.monotonic()
        worker = live.app.state.chat.worker
        while worker.busy and time.monotonic() < closed + 30:
            time.sleep(0.05)
        assert not worker.busy
    after = sum(1 for t in model.times if t > closed + 1.0)
    assert after <= 5, after


def test_behind_a_reverse_proxy_the_limits_count_the_citizens_not_the_proxy(tmp_path, embedder):
    """`siwi serve` believes X-Forwarded-For from the proxies in SIWI_FORWARDED_ALLOW_IPS (here the proxy at
    127.0.0.2): two citizens behind one proxy each get their own sockets; one citizen is still held to its
    limit, and a client that is no listed proxy cannot claim another address."""
    data = tmp_path / "data"
    indexed(data, embedder)

    def chat(base: str, forwarded: str, source: str = "127.0.0.2") -> ClientConnection:
        sock = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), source_address=(source, 0))
        return connect(base.replace("http", "ws") + "/ws/chat", sock=sock, open_timeout=10,
                       additional_headers={"X-Forwarded-For": forwarded})

    with siwi_serve(data, free_port(), tmp_path / "serve.log", SIWI_CLIENT_CONNECTIONS="1",
                    SIWI_FORWARDED_ALLOW_IPS="127.0.0.2") as base, \
            ExitStack() as stack:
        first = stack.enter_context(chat(base, "203.0.113.7"))
        assert receive(first, 10)["type"] == "ready"
        other = stack.enter_context(chat(base, "203.0.113.8"))
        assert receive(other, 10)["type"] == "ready"  # another citizen behind the same proxy
        again = stack.enter_context(chat(base, "203.0.113.7"))
        assert receive(again, 10)["code"] == "too_many_connections"  # the same citizen: its limit holds
        # 127.0.0.9 is no listed proxy: its header is ignored, so it is counted as itself
        spoofed = stack.enter_context(chat(base, "203.0.113.7", source="127.0.0.9"))
        assert receive(spoofed, 10)["type"] == "ready"
        spoofed_again = stack.enter_context(chat(base, "198.51.100.1", source="127.0.0.9"))
        assert receive(spoofed_again, 10)["code"] == "too_many_connections"
