"""The whole path with the default components: the real pages in ../shared, the real embedding model,
a real Chroma store on disk, the default 1.5B LLM, a real server and a real WebSocket client."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from websockets.sync.client import connect

from bot.app import create_app
from bot.services import build_index, build_pipeline
from siwi.settings import Settings
from tests.conftest import DEFAULT_MODEL, MODELS_DIR, LiveServer

pytestmark = pytest.mark.slow

QUESTION = "Seit wann gibt es das Serviceportal SiWi-Online?"
PORTAL_PAGE = "siegen-wittgenstein-2020-serviceportal-siwi-online.txt"


@pytest.fixture(scope="module")
def shared_pages():
    from tests.conftest import SHARED

    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (a fresh clone has no ../shared; CI has it)")
    return SHARED / "pages"


@pytest.fixture(scope="module")
def e2e(tmp_path_factory, shared_pages, embedder, default_model):
    settings = Settings(data_dir=tmp_path_factory.mktemp("e2e"), models_dir=MODELS_DIR, llm_model=DEFAULT_MODEL)
    index = build_index(settings, embedder)
    report = index.ingestor(settings).ingest([shared_pages])
    assert len(report.added) == 5 and not report.failed
    with LiveServer(create_app(settings, index, build_pipeline(settings, index, default_model))) as live:
        live.settings = settings
        yield live


def assert_portal_answer(answer: dict) -> None:
    assert answer["outcome"] == "answered", answer
    assert "17. März" in answer["text"]
    portal = [c for c in answer["citations"] if c["source_id"].endswith(PORTAL_PAGE)]
    assert portal, answer["citations"]
    assert f"[{portal[0]['number']}]" in answer["text"]
    assert "17. März" in portal[0]["snippet"]


def test_websocket_streams_a_grounded_answer(e2e):
    with connect(e2e.ws, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        ws.send(json.dumps({"v": 1, "type": "user_message", "text": QUESTION}))
        deltas = []
        while (frame := json.loads(ws.recv(timeout=300)))["type"] != "final":
            assert frame["type"] != "error", frame
            if frame["type"] == "delta":
                deltas.append(frame["text"])
    assert len(deltas) >= 3
    assert "17. März" in "".join(deltas)
    assert_portal_answer(frame["answer"])


def test_http_api_gives_the_grounded_answer(e2e):
    response = httpx.post(f"{e2e.http}/api/ask", json={"question": QUESTION}, timeout=300)
    assert response.status_code == 200
    assert_portal_answer(response.json()["answer"])


def test_cli_ask_prints_the_answer_and_numbered_sources(e2e):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIWI_")}
    env.update(SIWI_DATA_DIR=str(e2e.settings.data_dir), SIWI_MODELS_DIR=str(MODELS_DIR),
               SIWI_LLM_MODEL=DEFAULT_MODEL)
    result = subprocess.run([sys.executable, "-m", "siwi.cli", "ask", QUESTION], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "17. März" in out
    assert "Quellen:" in out
    sources = out.split("Quellen:", 1)[1]
    assert PORTAL_PAGE in sources and "outcome: answered" in out
