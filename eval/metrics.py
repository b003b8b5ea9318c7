"""Metrics over case results, overall and per tag. Every metric is a share in [0, 1] (or seconds for the
latencies) over the cases it applies to; a metric without any applicable case is None, not 0."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from eval.runner import CaseResult

OUTCOME_OF = {"answer": "answered", "no_answer": "no_answer", "handoff": "handoff", "emergency": "emergency"}
SHOWN = ("supported", "fixed", "quoted", "selected")


def _share(results: Sequence[CaseResult], applies: Callable[[CaseResult], bool],
           passes: Callable[[CaseResult], bool]) -> float | None:
    pool = [r for r in results if applies(r)]
    return sum(1 for r in pool if passes(r)) / len(pool) if pool else None


def cites_expected(result: CaseResult) -> bool:
    return any(expected.lower() in f"{c.get('source_id', '')} {c.get('title', '')} {c.get('url') or ''}".lower()
               for c in result.citations for expected in result.expected_sources)


def first_relevant_rank(result: CaseResult) -> int | None:
    for item in result.retrieved:
        haystack = f"{item['source_id']} {item['title']} {item.get('url') or ''}".lower()
        if any(expected.lower() in haystack for expected in result.expected_sources):
            return int(item["rank"])
    return None


def correct(result: CaseResult) -> bool:
    """The expectation is met: right outcome, all expected facts, nothing forbidden."""
    return (result.error is None and result.outcome == OUTCOME_OF[result.expect]
            and all(result.facts.values()) and not result.forbidden_found)


def _precision_recall(results: Sequence[CaseResult], outcome: str) -> tuple[float | None, float | None]:
    predicted = [r for r in results if r.outcome == outcome]
    actual = [r for r in results if OUTCOME_OF[r.expect] == outcome]
    hits = [r for r in predicted if OUTCOME_OF[r.expect] == outcome]
    return (len(hits) / len(predicted) if predicted else None, len(hits) / len(actual) if actual else None)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def metrics(results: Sequence[CaseResult]) -> dict[str, float | int | None]:
    answers = lambda r: r.expect == "answer" and r.error is None  # noqa: E731
    sentences = [s for r in results for s in r.sentences]
    factual = [s for s in sentences if s["verdict"] != "neutral"]
    answered = [r for r in results if r.outcome == "answered"]
    ranks = [first_relevant_rank(r) for r in results if r.expected_sources and r.retrieved]
    no_answer_p, no_answer_r = _precision_recall(results, "no_answer")
    handoff_p, handoff_r = _precision_recall(results, "handoff")
    latencies = [r.total_s for r in results if r.total_s is not None and r.error is None]
    first = [r.first_token_s for r in answered if r.first_token_s is not None]
    return {
        "cases": len(results),
        "errors": sum(1 for r in results if r.error),
        "answer_accuracy": _share(results, lambda r: True, correct),
        "fact_recall": (sum(sum(r.facts.values()) for r in results) / n
                        if (n := sum(len(r.facts) for r in results)) else None),
        "citation_accuracy": _share(results, lambda r: answers(r) and bool(r.expected_sources), cites_expected),
        "citation_precision": (sum(1 for s in factual if s["verdict"] in SHOWN and s["markers"]) /
                               len([s for s in factual if s["verdict"] in SHOWN]))
        if [s for s in factual if s["verdict"] in SHOWN] else None,
        "unsupported_sentence_rate": (sum(1 for s in factual if s["verdict"] == "unsupported") / len(factual)
                                      if factual else None),
        # How often the model wrote something its sources do not say (removed or replaced by a quote before
        # the citizen saw it): the check's workload, and the share of answers that would have been wrong.
        "answers_with_unsupported_model_sentence": _share(
            answered, lambda r: bool(r.sentences),
            lambda r: any(s["verdict"] in ("unsupported", "quoted") for s in r.sentences)),
        "retrieval_recall@k": (sum(1 for rank in ranks if rank) / len(ranks)) if ranks else None,
        "retrieval_mrr": (sum(1 / rank for rank in ranks if rank) / len(ranks)) if ranks else None,
        "no_answer_precision": no_answer_p,
        "no_answer_recall": no_answer_r,
        "handoff_precision": handoff_p,
        "handoff_recall": handoff_r,
        "forbidden_fact_violations": sum(1 for r in results if r.forbidden_found),
        "language_match": _share(results, lambda r: r.error is None and r.outcome == "answered",
                                 lambda r: r.language == r.language_expected),
        "latency_p50_s": _percentile(latencies, 0.5),
        "latency_p95_s": _percentile(latencies, 0.95),
        "first_verified_p50_s": statistics.median(first) if first else None,
    }


def metrics_by_tag(results: Sequence[CaseResult]) -> dict[str, dict[str, float | int | None]]:
    tags = sorted({tag for r in results for tag in r.tags})
    return {tag: metrics([r for r in results if tag in r.tags]) for tag in tags}
