"""Repeated questions: the time from a citizen's message to the final answer over a real WebSocket when the
question was answered before (bot/answer_cache.py), beside the bare round trip of the same server (a ping
and its pong) and the first, uncached answer — all in the same run.

A real uvicorn server on 127.0.0.1 (this process; the sample knowledge base in a temporary index; the model
given). Each question is asked once (the model answers), then --repeats times from new connections, each a
new conversation, in other spellings (case, spaces, end punctuation).

    .venv/bin/python bench/repeated.py [--repeats 20] [--model qwen2.5-coder-0.5b] [--json]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import uvicorn  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from bot.app import create_app  # noqa: E402
from bot.services import build_index, build_pipeline  # noqa: E402
from siwi.settings import Settings  # noqa: E402

QUESTIONS = ["Was kostet ein Wunschkennzeichen?", "Wie hoch ist die Hundesteuer für den ersten Hund?",
             "Welche Unterlagen brauche ich für den Personalausweis?"]


def spellings(question: str, n: int) -> list[str]:
    forms = [question, question.lower(), f"  {question.rstrip('?')} ", question.upper(), question + "??"]
    return [forms[i % len(forms)] for i in range(n)]


def timed_answer(url: str, text: str) -> tuple[float, dict]:
    with connect(url, open_timeout=10) as ws:
        json.loads(ws.recv(timeout=10))  # ready
        started = time.perf_counter()
        ws.send(json.dumps({"v": 1, "type": "user_message", "text": text}))
        while True:
            frame = json.loads(ws.recv(timeout=600))
            if frame["type"] in ("final", "error"):
                return (time.perf_counter() - started) * 1000, frame


def ping_ms(url: str, n: int) -> list[float]:
    times = []
    with connect(url, open_timeout=10) as ws:
        json.loads(ws.recv(timeout=10))
        for _ in range(n):
            started = time.perf_counter()
            ws.send(json.dumps({"v": 1, "type": "ping"}))
            while json.loads(ws.recv(timeout=10))["type"] != "pong":
                pass
            times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--json", action="store_true", help="Print the figures as one JSON object.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), models_dir=Settings().resolved_models_dir, llm_model=args.model,
                            client_questions="1000 per minute")
        index = build_index(settings)
        index.ingestor(settings).ingest([REPO / "knowledge" / "sample"])
        app = create_app(settings, index, build_pipeline(settings, index))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        url = f"ws://127.0.0.1:{port}/ws/chat"
        first, repeated, cached, same = [], [], 0, 0
        for question in QUESTIONS:
            ms, frame = timed_answer(url, question)
            first.append(ms)
            original = frame.get("answer", {})
            for text in spellings(question, args.repeats):
                ms, frame = timed_answer(url, text)
                repeated.append(ms)
                answer = frame.get("answer", {})
                cached += answer.get("timings") == {"cached": 1.0}
                same += answer.get("text") == original.get("text")
        bare = ping_ms(url, len(repeated))
        server.should_exit = True
    figures = {
        "model": args.model, "questions": len(QUESTIONS), "repeats": len(repeated),
        "first_answer_p50_ms": round(statistics.median(first), 1),
        "repeated_p50_ms": round(statistics.median(repeated), 2),
        "repeated_p95_ms": round(statistics.quantiles(repeated, n=20)[-1], 2),
        "bare_round_trip_p50_ms": round(statistics.median(bare), 2),
        "repeated_from_cache": cached, "repeated_same_text": same,
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"Repeated questions ({args.model}; {len(QUESTIONS)} questions, {len(repeated)} repeats from new "
          f"conversations)")
    print("| path | p50 ms | p95 ms |\n|---|---:|---:|")
    print(f"| bare WebSocket round trip (ping → pong) | {figures['bare_round_trip_p50_ms']} | – |")
    print(f"| repeated question → final (cache) | {figures['repeated_p50_ms']} | {figures['repeated_p95_ms']} |")
    print(f"| first answer (model) | {figures['first_answer_p50_ms']} | – |")
    print(f"answered from the cache: {cached} of {len(repeated)}; same text as the first answer: {same}")


if __name__ == "__main__":
    main()
