"""Answer latency: SiWi's pipeline against a bare llama-cpp-python call, same prompt, same model, one run.

Prints time to first token and generation speed for both and their ratio (SiWi's overhead: language
detection, retrieval, the no-answer hold-back, the citation check), and retrieval latency at the size of
the sample index. Ratios measured in the same run are what to compare across machines; absolute seconds
depend on the machine.

    .venv/bin/python bench/answer_latency.py [--model qwen2.5-coder-1.5b] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.citations import SourceSentences  # noqa: E402
from bot.llm import LlamaCppChatModel  # noqa: E402
from bot.model_files import resolve_model_path  # noqa: E402
from bot.prompts import answer_messages  # noqa: E402
from bot.protocol import AnswerResult  # noqa: E402
from bot.services import build_index, build_pipeline  # noqa: E402
from knowledge.sources import FileSource  # noqa: E402
from siwi.settings import Settings  # noqa: E402

QUESTION = "Was kostet ein Wunschkennzeichen?"
RETRIEVAL_QUESTIONS = [
    "Was kostet ein Wunschkennzeichen?", "Welche Unterlagen brauche ich für die Zulassung eines Autos?",
    "Wie lange dauert der Führerscheinumtausch?", "Wo beantrage ich Elterngeld?", "Wann wird Sperrmüll abgeholt?",
    "Brauche ich für meinen Hund eine Erlaubnis?", "Wie bekomme ich einen Schwerbehindertenausweis?",
    "Was kostet ein internationaler Führerschein?", "Wer ist für Wohngeld zuständig?",
    "Welche Öffnungszeiten hat das Kreishaus?", "How do I register a car?", "Wie beantrage ich einen Jagdschein?",
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bare_call(model: LlamaCppChatModel, messages, max_tokens: int) -> tuple[float, int, float]:
    """(time to first token, tokens generated, total seconds) of a plain create_chat_completion."""
    llm = model._llm
    llm.reset()
    start = time.perf_counter()
    first = None
    pieces = []
    for chunk in llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0, seed=42,
                                            stream=True):
        piece = chunk["choices"][0]["delta"].get("content")
        if piece:
            first = first or time.perf_counter() - start
            pieces.append(piece)
    return first or 0.0, model.count_tokens("".join(pieces)), time.perf_counter() - start


def pipeline_call(pipeline, model: LlamaCppChatModel, question: str) -> tuple[float, int, float, float, AnswerResult]:
    """(model's first token, tokens generated, total, first checked text shown, result) through SiWi."""
    model._llm.reset()
    start = time.perf_counter()
    seen: dict[str, float] = {}
    raw: list[str] = []
    original = model.stream

    def spy(*args, **kwargs):
        for piece in original(*args, **kwargs):
            seen.setdefault("first", time.perf_counter() - start)
            raw.append(piece)
            yield piece

    model.stream = spy  # type: ignore[method-assign]
    try:
        result = None
        for event in pipeline.run(question):
            if isinstance(event, str):
                seen.setdefault("shown", time.perf_counter() - start)
            else:
                result = event
    finally:
        model.stream = original  # type: ignore[method-assign]
    total = time.perf_counter() - start
    return seen.get("first", 0.0), model.count_tokens("".join(raw)), total, seen.get("shown", total), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--models-dir", type=Path, default=REPO / "data" / "models")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="Reuse this index of the sample (as `make run` builds it); default: a fresh one.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=args.data_dir or Path(tmp), models_dir=args.models_dir, llm_model=args.model)
        index = build_index(settings)
        started = time.perf_counter()
        report = index.ingestor(settings).ingest_source(FileSource([REPO / "knowledge" / "sample"], name="sample"))
        ingest_s = time.perf_counter() - started
        chunks = index.store.count()
        retriever = index.retriever(settings)

        retriever.retrieve("Aufwärmen")
        retrieval = []
        for _ in range(3):
            for q in RETRIEVAL_QUESTIONS:
                t = time.perf_counter()
                retriever.retrieve(q)
                retrieval.append(time.perf_counter() - t)

        path = resolve_model_path(args.model, settings.resolved_models_dir)
        model = LlamaCppChatModel(str(path), settings.llm_context, settings.llm_threads, 0.0, 42)
        pipeline = build_pipeline(settings, index, model)
        passages = retriever.retrieve(args.question)
        messages = answer_messages(args.question, SourceSentences(passages), "de")
        prompt_tokens = model.count_tokens("".join(m["content"] for m in messages))

        rows = {"bare": [], "siwi": []}
        for _ in range(args.runs):
            rows["bare"].append(bare_call(model, messages, settings.llm_max_tokens))
            first, tokens, total, shown, result = pipeline_call(pipeline, model, args.question)
            rows["siwi"].append((first, tokens, total))
            rows.setdefault("shown", []).append(shown)

    def summary(name: str) -> tuple[float, float]:
        ttft = statistics.median(r[0] for r in rows[name])
        speed = statistics.median(r[1] / max(1e-9, r[2] - r[0]) for r in rows[name] if r[1] > 1)
        return ttft, speed

    bare_ttft, bare_speed = summary("bare")
    siwi_ttft, siwi_speed = summary("siwi")
    print(f"model: {args.model}; question: {args.question!r}; prompt: {prompt_tokens} tokens; runs: {args.runs}")
    documents = len(report.added) + len(report.updated) + len(report.unchanged)
    print(f"sample index: {chunks} chunks from {documents} documents ({report.chunks_written} embedded now, "
          f"{ingest_s:.1f} s)")
    print()
    print("| path | time to first token (s) | generation (tokens/s) |")
    print("|---|---|---|")
    print(f"| bare llama-cpp-python | {bare_ttft:.2f} | {bare_speed:.1f} |")
    print(f"| SiWi pipeline | {siwi_ttft:.2f} | {siwi_speed:.1f} |")
    print(f"| ratio SiWi / bare | {siwi_ttft / bare_ttft:.3f} | {siwi_speed / bare_speed:.3f} |")
    shown = statistics.median(rows["shown"])
    print(f"| first checked sentence shown (SiWi) | {shown:.2f} | – |")
    print()
    print(f"retrieval over {chunks} chunks ({len(retrieval)} queries): p50 {pct(retrieval, .5) * 1000:.1f} ms, "
          f"p95 {pct(retrieval, .95) * 1000:.1f} ms")
    print(f"last SiWi answer ({result.outcome}): {result.text}")


if __name__ == "__main__":
    main()
