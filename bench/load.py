"""Load: many concurrent WebSocket chats from several clients against one SiWi process, beside the bare
pipeline answering the same questions one after another in the same run.

A real uvicorn server on 127.0.0.1 (in this process, sample knowledge base in a temporary index, the model
given); each simulated client is its own loopback address (127.0.0.11, .12, …), so that the per-client fair
use limits apply as they would to citizens. Every chat connects, asks one question and waits for its final
answer. Bounded in time (--timeout).

Prints, and with --json as one JSON object: chats answered / refused (and why) / lost (neither answer nor
error: must be 0), answers per client (none starved), each client's answers in the order it asked,
throughput in answers per minute against the bare pipeline's, wait time to the final answer (p50 / p95 /
max) for each concurrency level in --levels (the curve), queue positions shown, and the process's memory
before and after.

    .venv/bin/python bench/load.py [--chats 100] [--clients 10] [--levels 10,50,100] [--model qwen2.5-coder-0.5b]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import uvicorn  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from bot.app import create_app  # noqa: E402
from bot.services import build_index, build_pipeline  # noqa: E402
from eval.runner import _final  # noqa: E402
from siwi.settings import Settings  # noqa: E402

QUESTIONS = [
    "Was kostet ein Wunschkennzeichen?", "Welche Unterlagen brauche ich für den Personalausweis?",
    "Wie hoch ist die Hundesteuer für den ersten Hund?", "Wo beantrage ich Elterngeld?",
    "Was kostet die Zulassung eines Neuwagens?", "Wie lange ist ein Reisepass gültig?",
    "Wann hat die Zulassungsstelle geöffnet?", "Was kostet ein internationaler Führerschein?",
    "Wie melde ich mein Auto ab?", "Was kostet eine Sperrmüllabholung?",
]


@dataclass
class Chat:
    client: int
    number: int
    question: str
    sent: float = 0.0
    done: float = 0.0
    outcome: str = ""
    """answered / refused:<code> / waiting (still queued when --timeout ended the wait) / lost"""
    positions: list[int] = field(default_factory=list)


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def one_chat(url: str, chat: Chat, timeout: float) -> None:
    address = f"127.0.0.{11 + chat.client}"
    try:
        async with asyncio.timeout(timeout):
            async with connect(url, local_addr=(address, 0), open_timeout=30, max_size=1 << 22) as ws:
                ready = json.loads(await ws.recv())
                if ready.get("type") != "ready":
                    chat.outcome = f"refused:{ready.get('code', ready.get('type'))}"
                    return
                chat.sent = time.perf_counter()
                await ws.send(json.dumps({"v": 1, "type": "user_message", "text": chat.question}))
                while True:
                    frame = json.loads(await ws.recv())
                    if frame["type"] == "queued":
                        chat.positions.append(frame["position"])
                    elif frame["type"] == "final":
                        chat.outcome, chat.done = "answered", time.perf_counter()
                        return
                    elif frame["type"] == "error":
                        chat.outcome, chat.done = f"refused:{frame['code']}", time.perf_counter()
                        return
    except TimeoutError:
        # Still connected and told its place: the server holds the question, the bench stopped waiting.
        chat.outcome = "waiting" if chat.positions or chat.sent else "lost"
    except Exception as exc:  # a connection that broke: counted, never hidden
        chat.outcome = f"lost:{type(exc).__name__}"


async def wave(url: str, chats: int, clients: int, timeout: float) -> list[Chat]:
    """`chats` chats at once, spread over `clients` clients, each client's chats started in its order."""
    wave = [Chat(n % clients, n, QUESTIONS[n % len(QUESTIONS)]) for n in range(chats)]
    tasks = []
    for chat in wave:
        tasks.append(asyncio.create_task(one_chat(url, chat, timeout)))
        await asyncio.sleep(0.01)  # arrival order is the order above
    await asyncio.gather(*tasks)
    return wave


def summarise(chats: list[Chat], seconds: float) -> dict:
    answered = [c for c in chats if c.outcome == "answered"]
    waits = [c.done - c.sent for c in answered]
    per_client: dict[int, list[Chat]] = {}
    for chat in answered:
        per_client.setdefault(chat.client, []).append(chat)
    in_order = all([c.number for c in sorted(group, key=lambda c: c.done)] == sorted(c.number for c in group)
                   for group in per_client.values())
    refused: dict[str, int] = {}
    for chat in chats:
        if chat.outcome.startswith("refused"):
            refused[chat.outcome.split(":", 1)[1]] = refused.get(chat.outcome.split(":", 1)[1], 0) + 1
    return {
        "chats": len(chats), "answered": len(answered), "refused": refused,
        "lost": sum(1 for c in chats if c.outcome.startswith("lost") or not c.outcome),
        "still_waiting_at_timeout": sum(1 for c in chats if c.outcome == "waiting"),
        "answers_per_client": sorted(len(per_client.get(n, [])) for n in {c.client for c in chats}),
        "clients_in_arrival_order": in_order,
        "answers_per_minute": round(60 * len(answered) / seconds, 1) if seconds else None,
        "wait_p50_s": round(statistics.median(waits), 2) if waits else None,
        "wait_p95_s": round(sorted(waits)[min(len(waits) - 1, round(0.95 * (len(waits) - 1)))], 2) if waits else None,
        "wait_max_s": round(max(waits), 2) if waits else None,
        "shown_a_queue_position": sum(1 for c in answered if c.positions),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--levels", default="", help="Concurrency levels for the wait curve, e.g. 10,50,100 "
                        "(default: only --chats).")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--max-tokens", type=int, default=60)
    parser.add_argument("--timeout", type=float, default=900, help="Seconds one chat may take at most.")
    parser.add_argument("--json", action="store_true", help="Print the figures as one JSON object.")
    parser.add_argument("--cache", action="store_true", help="Answer repeated questions from the answer cache "
                        "(off by default: the load is meant to reach the model).")
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",") if n] or [args.chats]
    if args.clients > 200:
        sys.exit("at most 200 clients (loopback addresses 127.0.0.11 …)")

    with tempfile.TemporaryDirectory() as tmp:
        # Room for every chat of the largest wave; fair use still holds: a client may hold a tenth of it.
        settings = Settings(data_dir=Path(tmp), models_dir=Settings().resolved_models_dir, llm_model=args.model,
                            llm_max_tokens=args.max_tokens,
                            max_queue=max(levels) + 8, client_queue_share=max(0.1, 1.5 / args.clients),
                            client_questions="1000 per minute", client_connections=max(levels),
                            # the same ten questions come back: without --cache every chat reaches the model
                            answer_cache_size=1000 if args.cache else 0)
        index = build_index(settings)
        index.ingestor(settings).ingest([REPO / "knowledge" / "sample"])
        pipeline = build_pipeline(settings, index)
        memory_before = rss_mb()

        # The bare pipeline: the same questions, one after another, no server.
        bare_n = min(len(QUESTIONS), max(levels))
        start = time.perf_counter()
        for question in QUESTIONS[:bare_n]:
            _final(pipeline.run(question))
        bare_per_minute = 60 * bare_n / (time.perf_counter() - start)

        app = create_app(settings, index, pipeline)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        results = {}
        try:
            for level in levels:
                start = time.perf_counter()
                chats = asyncio.run(wave(f"ws://127.0.0.1:{port}/ws/chat", level, args.clients, args.timeout))
                results[level] = summarise(chats, time.perf_counter() - start)
        finally:
            server.should_exit = True
            thread.join(timeout=30)
        figures = {"model": args.model, "max_tokens": args.max_tokens, "clients": args.clients,
                   "bare_answers_per_minute": round(bare_per_minute, 1), "levels": results,
                   "memory_mb_before": round(memory_before), "memory_mb_after": round(rss_mb())}
    if args.json:
        print(json.dumps(figures))
        return
    print(f"model {args.model}, {args.max_tokens} tokens per answer at most, {args.clients} clients; "
          f"bare pipeline: {figures['bare_answers_per_minute']} answers/min")
    print("| chats at once | answered | refused | still queued at the time limit | lost | answers per client "
          "(min–max) | in order per client | answers/min (× bare) | wait p50 / p95 / max s |")
    print("|---:|---:|---|---:|---:|---|---|---:|---|")
    for level, r in results.items():
        ratio = r["answers_per_minute"] / figures["bare_answers_per_minute"] if r["answers_per_minute"] else 0
        print(f"| {level} | {r['answered']} | {r['refused'] or 0} | {r['still_waiting_at_timeout']} | {r['lost']} | "
              f"{r['answers_per_client'][0]}–{r['answers_per_client'][-1]} | {r['clients_in_arrival_order']} | "
              f"{r['answers_per_minute']} ({ratio:.2f} ×) | "
              f"{r['wait_p50_s']} / {r['wait_p95_s']} / {r['wait_max_s']} |")
    print(f"memory: {figures['memory_mb_before']} MB before, {figures['memory_mb_after']} MB after")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main()
