"""Calibrate the citation check's thresholds on a finished evaluation run, without the model.

A run records what the model wrote (`model_answer`) and the passages it saw (`retrieved`), so the check can
be re-run offline with other thresholds and the answers re-scored: how many right answers each setting
keeps, how many forbidden facts it lets through, and how much of the model's wording survives (rather than
being replaced by a quote or dropped). Minutes of model time become seconds.

The re-scoring leaves out the pipeline's last step (is the verified answer still on the question?), so its
accuracy can differ slightly from the run's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.citations import CitationChecker, render
from bot.prompts import NO_ANSWER_TOKEN
from embeddings.retrieval import Passage
from eval.cases import EvalCase
from eval.matching import contains_fact
from eval.runner import CaseResult


@dataclass(frozen=True)
class Setting:
    min_overlap: float
    min_quote_overlap: float


@dataclass
class Row:
    setting: Setting
    cases: int = 0
    correct: int = 0
    answered: int = 0
    forbidden: int = 0
    sentences: int = 0
    as_written: int = 0
    quoted: int = 0
    dropped: int = 0

    def share(self, part: int, whole: int) -> float | None:
        return part / whole if whole else None


def passages_of(result: CaseResult) -> list[Passage]:
    return [Passage(r.get("chunk_id", ""), r.get("text", ""), r["title"], r["source_id"], r.get("url") or "",
                    r.get("url"), r.get("headings", ""), "public", r["similarity"]) for r in result.retrieved]


def calibrate(cases: Sequence[EvalCase], results: Iterable[CaseResult], settings: Sequence[Setting]) -> list[Row]:
    """Cases whose answer came from the model (not the relevance gate, a handoff or an emergency)."""
    by_id = {case.id: case for case in cases}
    usable = [r for r in results if r.id in by_id and r.model_answer and r.retrieved and r.retrieved[0].get("text")]
    rows = []
    for setting in settings:
        checker = CitationChecker(min_overlap=setting.min_overlap, min_quote_overlap=setting.min_quote_overlap)
        row = Row(setting)
        for result in usable:
            case = by_id[result.id]
            row.cases += 1
            if NO_ANSWER_TOKEN in result.model_answer:
                text, answered = "", False
            else:
                checked = checker.check(result.model_answer, passages_of(result),
                                        cross_language=result.language_expected != "de",
                                        question=result.standalone_question or result.question)
                text = render(checked)
                answered = any(s.verdict in ("supported", "fixed", "quoted") for s in checked)
                factual = [s for s in checked if s.verdict != "neutral"]
                row.sentences += len(factual)
                row.as_written += sum(s.verdict in ("supported", "fixed") for s in factual)
                row.quoted += sum(s.verdict == "quoted" for s in factual)
                row.dropped += sum(s.verdict == "unsupported" for s in factual)
            row.answered += answered
            forbidden = any(contains_fact(text, fact) for fact in case.forbidden_facts)
            row.forbidden += forbidden
            if case.expect == "answer":
                row.correct += answered and not forbidden and all(contains_fact(text, f) for f in case.expected_facts)
            else:
                row.correct += not answered and not forbidden
        rows.append(row)
    return rows


def table(rows: Sequence[Row], current: Setting) -> str:
    def pct(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.1f} %"

    lines = ["| min_overlap | min_quote_overlap | correct | answered | forbidden facts | sentences as written | "
             "quoted | dropped |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        mark = " (current)" if row.setting == current else ""
        lines.append(f"| {row.setting.min_overlap:.2f}{mark} | {row.setting.min_quote_overlap:.2f} | "
                     f"{row.correct}/{row.cases} | {row.answered} | {row.forbidden} | "
                     f"{pct(row.share(row.as_written, row.sentences))} | {pct(row.share(row.quoted, row.sentences))} | "
                     f"{pct(row.share(row.dropped, row.sentences))} |")
    return "\n".join(lines)


def relevance_table(cases: Sequence[EvalCase], results: Iterable[CaseResult], thresholds: Sequence[float],
                    current: float) -> str:
    """The retrieval gate: for each threshold, the share of answerable questions it would turn away unasked
    (lost answers) and of unanswerable ones it would stop before the model (saved model time)."""
    by_id = {case.id: case for case in cases}
    best: dict[str, list[float]] = {"answer": [], "no_answer": []}
    for result in results:
        case = by_id.get(result.id)
        if case is None or case.expect not in best or not result.retrieved or case.language != "de":
            continue  # across languages similarities are lower; the gate is calibrated on German questions
        best[case.expect].append(max(r["similarity"] for r in result.retrieved))
    lines = [f"| min_relevance | answerable turned away (of {len(best['answer'])}) | "
             f"unanswerable stopped before the model (of {len(best['no_answer'])}) |", "|---:|---:|---:|"]
    for threshold in thresholds:
        lost = sum(s < threshold for s in best["answer"])
        stopped = sum(s < threshold for s in best["no_answer"])
        mark = " (current)" if abs(threshold - current) < 1e-9 else ""
        lines.append(f"| {threshold:.2f}{mark} | {lost} | {stopped} |")
    return "\n".join(lines)
