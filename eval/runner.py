"""Run test cases through SiWi and record what happened, case by case.

Two targets behind one function type: the in-process pipeline (what `siwi ask` runs) or a running SiWi
server over its public HTTP API. Results are appended to `results.jsonl` as each case finishes, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import BaseModel

from bot.protocol import AnswerResult
from bot.redaction import redact
from eval.cases import EvalCase
from eval.matching import contains_fact

Ask = Callable[[EvalCase], AnswerResult]
"""Answer a case's question (after its history); raises on failure."""


class CaseResult(BaseModel):
    id: str
    question: str
    expect: str
    tags: list[str]
    language_expected: str
    outcome: str | None = None
    text: str = ""
    language: str | None = None
    citations: list[dict] = []
    retrieved: list[dict] = []
    sentences: list[dict] = []
    model_answer: str = ""
    standalone_question: str = ""
    facts: dict[str, bool] = {}
    forbidden_found: list[str] = []
    expected_sources: list[str] = []
    first_token_s: float | None = None
    total_s: float | None = None
    error: str | None = None
    case_hash: str = ""
    """Fingerprint of the case as it was run: a case edited since is run again on resume."""


def fingerprint(case: EvalCase) -> str:
    return hashlib.sha256(case.model_dump_json().encode()).hexdigest()[:16]


def evaluate_case(case: EvalCase, ask: Ask) -> CaseResult:
    result = CaseResult(id=case.id, question=case.question, expect=case.expect, tags=case.tags,
                        language_expected=case.language, expected_sources=case.expected_sources,
                        case_hash=fingerprint(case))
    started = time.perf_counter()
    try:
        answer = ask(case)
    except Exception as exc:  # one broken case must not end the run; it is recorded and counted
        result.error = f"{type(exc).__name__}: {exc}"
        result.total_s = time.perf_counter() - started
        return result
    result.outcome = answer.outcome
    result.text = answer.text
    result.language = answer.language
    result.citations = [c.model_dump(exclude={"passage"}) for c in answer.citations]
    result.retrieved = [r.model_dump() for r in answer.retrieved]
    result.sentences = [s.model_dump() for s in answer.sentences]
    result.model_answer = answer.model_answer
    result.standalone_question = answer.standalone_question
    result.facts = {fact: contains_fact(answer.text, fact) for fact in case.expected_facts}
    result.forbidden_found = [fact for fact in case.forbidden_facts if contains_fact(answer.text, fact)]
    result.first_token_s = answer.timings.get("first_verified") or answer.timings.get("first_token")
    result.total_s = answer.timings.get("total", time.perf_counter() - started)
    return result


def in_process(pipeline) -> Ask:
    """The pipeline of this process; earlier turns without a given answer are asked first. Questions pass
    the redaction that the server applies at its door (bot/redaction.py), so the figures are the served ones."""

    def ask(case: EvalCase) -> AnswerResult:
        history: list[tuple[str, str]] = []
        for turn in case.history:
            question = redact(turn.question)
            answer = turn.answer or _final(pipeline.run(question, history)).text
            history.append((question, answer))
        return _final(pipeline.run(redact(case.question), history))

    return ask


def _final(events: Iterable[object]) -> AnswerResult:
    final = None
    for event in events:
        if isinstance(event, AnswerResult):
            final = event
    if final is None:
        raise RuntimeError("the pipeline produced no answer")
    return final


def over_http(base_url: str, timeout: float = 900.0) -> Ask:
    """A running SiWi server: the history is replayed in one conversation through POST /api/ask."""
    client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def ask(case: EvalCase) -> AnswerResult:
        conversation: dict[str, str | None] = {"conversation_id": None, "resume_token": None}
        for turn in case.history:
            body = client.post("/api/ask", json={"question": turn.question, **conversation})
            body.raise_for_status()
            conversation = {key: body.json()[key] for key in conversation}
        response = client.post("/api/ask", json={"question": case.question, **conversation})
        response.raise_for_status()
        return AnswerResult.model_validate(response.json()["answer"])

    return ask


class RunMismatch(ValueError):
    """The directory holds results of a run with other settings: resuming would mix two runs."""


@dataclass
class Run:
    """One evaluation run writing to `directory/results.jsonl`; finished cases are not run again."""

    directory: Path

    @property
    def results_file(self) -> Path:
        return self.directory / "results.jsonl"

    @property
    def settings_file(self) -> Path:
        return self.directory / "run.json"

    def claim(self, settings: dict[str, object], fresh: bool = False) -> None:
        """Bind the directory to these settings; refuse to resume a run made with others."""
        if fresh:
            self.results_file.unlink(missing_ok=True)
        elif self.settings_file.exists() and self.results_file.exists():
            before = json.loads(self.settings_file.read_text(encoding="utf-8"))
            changed = [f"{key}: {before.get(key)!r} → {settings.get(key)!r}"
                       for key in sorted(set(before) | set(settings)) if before.get(key) != settings.get(key)]
            if changed:
                raise RunMismatch(f"{self.directory} holds a run with other settings ({'; '.join(changed)}); "
                                  "use another --report directory, or --fresh to start this one again")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.settings_file.write_text(json.dumps(settings, ensure_ascii=False, indent=2), encoding="utf-8")

    def done(self) -> dict[str, CaseResult]:
        if not self.results_file.exists():
            return {}
        results = {}
        for line in self.results_file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    result = CaseResult.model_validate_json(line)
                except ValueError:
                    continue  # a line cut off by an interruption: that case runs again
                results[result.id] = result
        return results

    def execute(self, cases: list[EvalCase], ask: Ask, jobs: int = 1,
                progress: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
        self.directory.mkdir(parents=True, exist_ok=True)
        finished = self.done()
        todo = [case for case in cases if case.id not in finished
                or finished[case.id].case_hash not in ("", fingerprint(case))]
        with self.results_file.open("a", encoding="utf-8") as out:
            def record(result: CaseResult) -> None:
                out.write(json.dumps(result.model_dump(), ensure_ascii=False) + "\n")
                out.flush()
                finished[result.id] = result
                if progress:
                    progress(result)

            if jobs <= 1:
                for case in todo:
                    record(evaluate_case(case, ask))
            else:
                with ThreadPoolExecutor(max_workers=jobs) as pool:
                    for result in pool.map(lambda c: evaluate_case(c, ask), todo):
                        record(result)
        return [finished[case.id] for case in cases if case.id in finished]
