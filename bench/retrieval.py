"""Retrieval quality on the Baden-Württemberg statutes: vector-only, BM25-only and hybrid in one run.

Ingests ../shared/corpus/bw-landkreise/documents with SiWi's own loaders, chunker and embedder (cached in
bench/.cache/, incremental: the second run does no embedding work), then asks the questions of
retrieval_questions.jsonl that name the statute answering them. A statute counts as found at rank r when
one of its chunks is the r-th distinct statute in the ranking.

    .venv/bin/python bench/retrieval.py [--corpus ../shared/corpus/bw-landkreise] [--scope SUBDIR] [--limit N]

Prints recall@1/@5/@10 (share of questions whose statute is among the first k), MRR@10, and the median
query time of each mode.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.services import build_index  # noqa: E402
from embeddings.retrieval import Mode, Retriever  # noqa: E402
from knowledge.sources import FileSource  # noqa: E402
from siwi.settings import Settings  # noqa: E402

MODES: list[Mode] = ["vector", "bm25", "hybrid"]
CUTOFFS = (1, 5, 10)
CHUNKS_PER_QUERY = 60  # enough chunks to see 10 distinct statutes


def load_questions(corpus: Path, limit: int | None) -> list[tuple[str, set[str]]]:
    questions = []
    with (corpus / "retrieval_questions.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            expected = {(corpus / p).resolve().as_posix() for p in row.get("expected_documents") or []}
            expected = {p for p in expected if Path(p).is_file()}
            if expected:
                questions.append((row["question"], expected))
    return questions[:limit] if limit else questions


def ranked_documents(retriever: Retriever, question: str, mode: Mode) -> list[str]:
    passages = retriever.retrieve(question, k=CHUNKS_PER_QUERY, include_internal=True, mode=mode)
    return list(dict.fromkeys(p.source_id for p in passages))[:max(CUTOFFS)]


def evaluate(retriever: Retriever, questions: list[tuple[str, set[str]]], mode: Mode) -> dict[str, float]:
    hits = dict.fromkeys(CUTOFFS, 0)
    reciprocal = 0.0
    times = []
    for question, expected in questions:
        start = time.perf_counter()
        ranking = ranked_documents(retriever, question, mode)
        times.append(time.perf_counter() - start)
        first = next((rank for rank, doc in enumerate(ranking, 1) if doc in expected), None)
        if first:
            reciprocal += 1 / first
            for k in CUTOFFS:
                hits[k] += first <= k
    n = len(questions)
    return {**{f"recall@{k}": hits[k] / n for k in CUTOFFS}, "MRR@10": reciprocal / n,
            "median ms": 1000 * statistics.median(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus" / "bw-landkreise")
    parser.add_argument("--data-dir", type=Path, default=REPO / "bench" / ".cache" / "bw-landkreise")
    parser.add_argument("--limit", type=int, default=None, help="Only the first N questions.")
    parser.add_argument("--scope", default="", help="Index only this folder below documents/, e.g. "
                        "regelungsrahmen/Laender_und_Kommunen/bw/Lkr_GP (the district all questions are about).")
    args = parser.parse_args()
    if not (args.corpus / "documents").is_dir():
        sys.exit(f"{args.corpus}/documents not found: this benchmark needs ../shared beside the repository")

    settings = Settings(data_dir=args.data_dir)
    index = build_index(settings)
    started = time.perf_counter()
    documents = args.corpus / "documents" / args.scope
    report = index.ingestor(settings).ingest_source(FileSource([documents], name="bw-landkreise"), prune=True)
    print(f"index: {index.store.count()} chunks from {len(report.added) + len(report.updated) + len(report.unchanged)}"
          f" statutes ({report.summary()}) in {time.perf_counter() - started:.0f} s; "
          f"embedder {index.embedder.name}, chunk size {settings.chunk_size}")
    retriever = index.retriever(settings)
    started = time.perf_counter()
    retriever.retrieve("Aufwärmen", mode="bm25")
    print(f"BM25 index built in {time.perf_counter() - started:.1f} s")

    questions = load_questions(args.corpus, args.limit)
    indexed = set(index.store.source_hashes())
    questions = [(q, expected) for q, expected in questions if expected & indexed]
    results = {mode: evaluate(retriever, questions, mode) for mode in MODES}
    columns = list(results["vector"])
    print(f"\n{len(questions)} questions with a resolved statute\n")
    print("| mode | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for mode, row in results.items():
        cells = [f"{row[c]:.1f}" if c == "median ms" else f"{row[c]:.3f}" for c in columns]
        print(f"| {mode} | " + " | ".join(cells) + " |")
    gain = results["hybrid"]["MRR@10"] - results["vector"]["MRR@10"]
    print(f"\nhybrid vs vector-only: MRR@10 {gain:+.3f}, recall@5 "
          f"{results['hybrid']['recall@5'] - results['vector']['recall@5']:+.3f}")


if __name__ == "__main__":
    main()
