"""The second implementation of each engine against a real server started here on 127.0.0.1:

* the LLM behind the OpenAI-compatible API (SIWI_LLM_BACKEND=openai), served by `python -m llama_cpp.server`
  with the small packaged GGUF model;
* the vector store as a Chroma server (SIWI_STORE_BACKEND=http), served by `chroma run`.

Each server is a child process on a free port, started once per module and always terminated at the end,
also when a test or the start itself fails. Nothing is mocked: the point is that the in-process defaults and
these remote variants behave the same behind the same interfaces.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.language import LanguageDetector
from bot.llm import ModelError, OpenAIChatModel, complete, make_chat_model
from bot.prompts import choice_grammar, choose_messages
from bot.protocol import AnswerResult
from bot.services import build_index, build_pipeline
from embeddings.store import StoreError, open_store
from siwi.settings import Settings
from tests.conftest import FIXTURES, SMALL_MODEL, free_port, model_file, wait_for_port

KB = FIXTURES / "kb"
FEE_QUESTION = "Was kostet der Personalausweis für Personen ab 24 Jahren?"
GERMAN_PROMPT = [
    {"role": "system", "content": "Du bist ein hilfsbereiter Assistent. Antworte immer auf Deutsch."},
    {"role": "user", "content": "Erkläre in zwei Sätzen, wofür man in Deutschland einen Personalausweis braucht."},
]
THREADS = str(os.cpu_count() or 2)


# --- child processes ---------------------------------------------------------------------------------

if sys.platform == "linux":
    import ctypes

    _LIBC = ctypes.CDLL(None, use_errno=True)
    _PR_SET_PDEATHSIG = 1
    _SIGTERM = int(signal.SIGTERM)

    def _die_with_parent() -> None:
        """Runs in the child before exec: should pytest itself die (killed, os._exit), the kernel ends the
        server too. Loaded beforehand, so that nothing here imports or takes a lock in the forked child."""
        _LIBC.prctl(_PR_SET_PDEATHSIG, _SIGTERM)
else:
    _die_with_parent = None


@dataclass
class ServerProcess:
    name: str
    port: int
    process: subprocess.Popen
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def requests(self, path: str) -> int:
        """How many requests for `path` the server has logged (uvicorn's access log)."""
        return self.log_tail(10**9).count(f'"POST {path} ')


@contextmanager
def server_process(name: str, args: list[str], port: int, log: Path, timeout: float = 120.0,
                   env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """Start `args`, wait until it listens on `port` (failing fast if it exits), always stop it afterwards."""
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   env=env, preexec_fn=_die_with_parent)
    server = ServerProcess(name, port, process, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode} before listening on {port}:\n"
                                   f"{server.log_tail()}")
            try:
                wait_for_port(port, timeout=0.5)
                break
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} did not listen on {port} within {timeout}s:\n"
                                       f"{server.log_tail()}") from None
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


# --- LLM: llama_cpp.server behind the OpenAI-compatible backend --------------------------------------

@dataclass
class LlmServer:
    url: str
    model: str
    server: ServerProcess

    def settings(self, data_dir: Path, **overrides: object) -> Settings:
        values: dict[str, object] = dict(data_dir=data_dir, llm_backend="openai", llm_url=self.url,
                                         llm_model=self.model, llm_max_tokens=120, llm_timeout=120.0)
        values.update(overrides)
        return Settings(**values)


def llama_server_args(port: int) -> list[str]:
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(model_file(SMALL_MODEL)),
            "--model_alias", SMALL_MODEL, "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
            "--n_threads", THREADS, "--n_threads_batch", THREADS]


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory) -> Iterator[LlmServer]:
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with server_process("llama_cpp.server", llama_server_args(port), port, log) as server:
        url = f"http://127.0.0.1:{port}/v1"
        # The server announces the model name it accepts; an operator puts exactly this into SIWI_LLM_MODEL.
        models = httpx.get(f"{url}/models", timeout=30).json()["data"]
        assert [m["id"] for m in models] == [SMALL_MODEL], models
        yield LlmServer(url, models[0]["id"], server)


def test_openai_backend_streams_german_text(llm_server, tmp_path):
    """make_chat_model picks the OpenAI client for llm_backend=openai, and the answer arrives in pieces."""
    model = make_chat_model(llm_server.settings(tmp_path))
    assert isinstance(model, OpenAIChatModel) and model.name == SMALL_MODEL

    pieces = list(model.stream(GERMAN_PROMPT, max_tokens=60))
    text = "".join(pieces)
    assert len(pieces) >= 5, pieces
    assert all(isinstance(p, str) and p for p in pieces)
    assert len(text.split()) >= 8, text
    assert LanguageDetector().detect(text) == "de", text


def test_openai_backend_passes_a_grammar_to_the_llama_cpp_server(llm_server, tmp_path):
    """Choose mode constrains the model to candidate numbers or KEINE_ANTWORT; through llama.cpp's server the
    GBNF travels in the request's `grammar` field, and the model can write nothing else."""
    model = make_chat_model(llm_server.settings(tmp_path))
    lines = [("Hundesteuer – Kosten", "Erster Hund: 96 Euro im Jahr"),
             ("Hundesteuer – Kosten", "Jeder weitere Hund: 144 Euro im Jahr")]
    raw = complete(model, choose_messages("Was kostet die Steuer für meinen zweiten Hund?", lines), max_tokens=12,
                   grammar=choice_grammar(len(lines)))
    assert re.fullmatch(r"KEINE_ANTWORT|[12](,[12])?", raw.strip()), raw
    # a grammar no model would follow by chance: the server applied it
    odd = complete(model, GERMAN_PROMPT, max_tokens=12, grammar='root ::= "Lindenau-" [0-9] [0-9] "-X"\n')
    assert re.fullmatch(r"Lindenau-\d\d-X", odd.strip()), odd


def test_openai_backend_stops_when_cancelled(llm_server, tmp_path):
    """A disconnecting citizen sets `cancel`; the remote stream must stop as the in-process one does."""
    model = make_chat_model(llm_server.settings(tmp_path))
    cancel = threading.Event()
    pieces = []
    for piece in model.stream(GERMAN_PROMPT, max_tokens=120, cancel=cancel):
        pieces.append(piece)
        if len(pieces) == 3:
            cancel.set()
    assert len(pieces) == 3


def test_pipeline_answers_through_the_openai_backend(llm_server, tmp_path, embedder):
    """The whole RAG path with the model built from settings alone (no model argument): retrieval from the
    real index, generation on the server, citation check here."""
    settings = llm_server.settings(tmp_path / "data")
    index = build_index(settings, embedder)
    report = index.ingestor(settings).ingest([KB])
    assert len(report.added) == 4 and not report.failed
    pipeline = build_pipeline(settings, index)

    calls_before = llm_server.server.requests("/v1/chat/completions")
    items = list(pipeline.run(FEE_QUESTION))
    *deltas, result = items
    assert isinstance(result, AnswerResult)
    assert deltas and all(isinstance(d, str) for d in deltas)
    assert result.outcome == "answered", result
    assert "37" in result.text
    assert any(c.title == "Personalausweis beantragen" for c in result.citations)
    # The answer really came from the server, not from some in-process model.
    assert llm_server.server.requests("/v1/chat/completions") == calls_before + 1


def test_unreachable_llm_server_is_a_model_error(tmp_path):
    """Nothing listens on the port: the operator gets a ModelError naming SIWI_LLM_URL, quickly."""
    settings = Settings(data_dir=tmp_path, llm_backend="openai", llm_url=f"http://127.0.0.1:{free_port()}/v1",
                        llm_model=SMALL_MODEL, llm_timeout=2.0)
    model = make_chat_model(settings)
    started = time.monotonic()
    with pytest.raises(ModelError, match="SIWI_LLM_URL"):
        list(model.stream(GERMAN_PROMPT, max_tokens=10))
    assert time.monotonic() - started < 20


def test_silent_llm_server_times_out_with_a_model_error(tmp_path):
    """A server that accepts connections but never answers must not hang a chat: llm_timeout applies."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        settings = Settings(data_dir=tmp_path, llm_backend="openai", llm_url=f"http://127.0.0.1:{port}/v1",
                            llm_model=SMALL_MODEL, llm_timeout=1.0)
        started = time.monotonic()
        with pytest.raises(ModelError, match="SIWI_LLM_URL"):
            list(make_chat_model(settings).stream(GERMAN_PROMPT, max_tokens=10))
        # Three attempts (max_retries=2) of 1 s each plus the client's back-off.
        assert time.monotonic() - started < 20


def test_llm_server_dying_mid_answer_is_a_model_error(tmp_path):
    """The server crashes while streaming: callers expect the same ModelError as for an unreachable server."""
    port = free_port()
    with server_process("llama_cpp.server (to be killed)", llama_server_args(port), port,
                        tmp_path / "server.log") as server:
        model = make_chat_model(Settings(data_dir=tmp_path, llm_backend="openai",
                                         llm_url=f"http://127.0.0.1:{port}/v1", llm_model=SMALL_MODEL,
                                         llm_timeout=10.0))
        with pytest.raises(ModelError, match="SIWI_LLM_URL"):
            for _ in model.stream(GERMAN_PROMPT, max_tokens=300):
                if server.process.poll() is None:
                    server.process.kill()
                    server.process.wait(timeout=15)


# --- vector store: a Chroma server behind store_backend=http -----------------------------------------

@dataclass
class ChromaServer:
    port: int
    path: Path
    server: ServerProcess


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory) -> Iterator[ChromaServer]:
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    assert chroma, "the `chroma` CLI (package chromadb) is not installed beside this Python"
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    # The Rust server in chromadb 1.x sends no product telemetry; the variable only switches off the Python
    # side's, should a version route through it. It costs nothing and the machine has no network anyway.
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    args = [chroma, "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)]
    with server_process("chroma run", args, port, path / "server.log", env=env) as server:
        heartbeat = httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=30)
        assert heartbeat.status_code == 200, heartbeat.text
        yield ChromaServer(port, path / "db", server)


@pytest.fixture(scope="module")
def http_settings(chroma_server, tmp_path_factory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"), store_backend="http", chroma_host="127.0.0.1",
                    chroma_port=chroma_server.port, collection="siwi-http-test")


@pytest.fixture(scope="module")
def http_index(http_settings, embedder):
    index = build_index(http_settings, embedder)
    report = index.ingestor(http_settings).ingest([KB])
    assert len(report.added) == 4 and report.chunks_written > 0 and not report.failed
    return index


def test_http_store_retrieves_the_fee_service(http_index, http_settings, chroma_server):
    """Retrieval over the Chroma server ranks the Personalausweis fees first, and the data lives in the
    server's --path, not under SIWI_DATA_DIR."""
    hits = http_index.retriever(http_settings).retrieve(FEE_QUESTION)
    assert hits and hits[0].title == "Personalausweis beantragen"
    assert any("37 Euro" in h.text for h in hits)
    assert hits[0].similarity >= http_settings.min_relevance  # the cosine space reached the server
    assert (chroma_server.path / "chroma.sqlite3").is_file()
    assert not http_settings.chroma_dir.exists()


def test_http_store_keeps_internal_documents_from_citizens(http_index, http_settings):
    """The visibility filter runs in the server's query: an internal page never reaches the citizen path."""
    retriever = http_index.retriever(http_settings)
    question = "Wie lautet das interne Kennwort der Dienstanweisung Chat-Übergabe?"
    citizen = retriever.retrieve(question, k=20)
    assert citizen and all(p.visibility == "public" for p in citizen)
    assert all("INTERN-GEHEIM-7Q4X" not in p.text for p in citizen)
    staff = retriever.retrieve(question, k=20, include_internal=True)
    assert any("INTERN-GEHEIM-7Q4X" in p.text for p in staff)


def test_http_index_survives_a_new_client(http_index, http_settings, embedder):
    """A restarted SiWi process (a new HttpClient) sees the same chunks and ingests incrementally."""
    total = http_index.store.count()
    reopened = build_index(http_settings, embedder)
    assert reopened is not http_index and reopened.store.count() == total > 0
    again = reopened.ingestor(http_settings).ingest([KB])
    assert again.chunks_written == 0 and len(again.unchanged) == 4
    assert reopened.retriever(http_settings).retrieve(FEE_QUESTION)[0].title == "Personalausweis beantragen"


def test_http_store_refuses_a_different_embedder(http_index, http_settings):
    """The embedder name stored with the collection is checked on the server too."""
    with pytest.raises(StoreError, match="Re-index"):
        open_store(http_settings, "some-other-model")


def test_unreachable_chroma_server_is_a_store_error(tmp_path):
    """Nothing listens on the port: a StoreError that names the settings to fix, quickly."""
    settings = Settings(data_dir=tmp_path, store_backend="http", chroma_host="127.0.0.1", chroma_port=free_port())
    started = time.monotonic()
    with pytest.raises(StoreError, match="SIWI_CHROMA_HOST / SIWI_CHROMA_PORT"):
        open_store(settings, "any-embedder")
    assert time.monotonic() - started < 20
