"""Evaluation test sets: YAML (a list of cases, or `cases:` with one) or JSON lines, one case each.

A YAML set may name the knowledge it is about (`knowledge: sources.yaml`, relative to the set): its cases are
then answered from an index of those sources, not from the index SiWi serves.

Every mistake in a set is an error that names the file and line: a typo in a key must never silently turn a
case into one that checks nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from siwi.validation import describe

Expectation = Literal["answer", "no_answer", "handoff", "emergency"]


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1)
    answer: str = ""
    """SiWi's earlier answer; empty means: ask the question first and keep whatever SiWi answered."""


class EvalCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    question: str = Field(min_length=1)
    expect: Expectation = "answer"
    history: list[Turn] = []
    expected_facts: list[str] = []
    """All must appear in the answer; alternatives within one entry separated by `|`."""
    expected_sources: list[str] = []
    """One of them must occur in the source id, title or URL of a cited source."""
    forbidden_facts: list[str] = []
    language: str = "de"
    tags: list[str] = []

    @field_validator("expected_facts", "forbidden_facts", "expected_sources")
    @classmethod
    def _no_empty(cls, values: list[str]) -> list[str]:
        if any(not v.strip() or any(not alt.strip() for alt in v.split("|")) for v in values):
            raise ValueError("entries and their |-alternatives must not be empty")
        return values


Half = Literal["tuning", "test"]


def half_of(case_id: str) -> Half:
    """Every case belongs to one half, fixed by a hash of its id: rules and thresholds are chosen on the
    tuning half and judged on the test half, which is never looked at while tuning. Adding or editing other
    cases moves no case between halves."""
    return "tuning" if hashlib.sha256(case_id.encode("utf-8")).digest()[0] % 2 == 0 else "test"


class CaseFileError(ValueError):
    pass


@dataclass(frozen=True)
class EvalSet:
    path: Path
    cases: list[EvalCase]
    knowledge: Path | None = None
    """A sources file (knowledge/sources.yaml format) whose index answers these cases; None: SiWi's own."""


def load_set(path: Path) -> EvalSet:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CaseFileError(f"{path}: {exc.strerror}") from exc
    knowledge = None
    if path.suffix in (".jsonl", ".ndjson"):
        raw = _json_lines(path, text)
    else:
        raw, knowledge = _yaml_cases(path, text)
    return EvalSet(path, _validated(path, raw), knowledge)


def load_cases(path: Path) -> list[EvalCase]:
    return load_set(path).cases


def _validated(path: Path, raw: Raw) -> list[EvalCase]:
    cases: list[EvalCase] = []
    seen: set[str] = set()
    for line, item, key_lines in raw:
        try:
            case = EvalCase.model_validate(item)
        except ValidationError as exc:
            key = exc.errors()[0]["loc"][0] if exc.errors()[0]["loc"] else None
            raise CaseFileError(f"{path}:{key_lines.get(key, line)}: {describe(exc)}") from exc
        if case.id in seen:
            raise CaseFileError(f"{path}:{line}: duplicate case id {case.id!r}")
        seen.add(case.id)
        cases.append(case)
    if not cases:
        raise CaseFileError(f"{path}: no cases")
    return cases


Raw = list[tuple[int, object, dict[object, int]]]
"""(line of the case, the case, line of each of its keys)"""


def _json_lines(path: Path, text: str) -> Raw:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            rows.append((number, json.loads(line), {}))
        except json.JSONDecodeError as exc:
            raise CaseFileError(f"{path}:{number}: not valid JSON: {exc.msg}") from exc
    return rows


def _yaml_cases(path: Path, text: str) -> tuple[Raw, Path | None]:
    """Each case with the line it starts on (from the YAML node tree, which keeps positions), and the
    set's knowledge sources file, if it names one."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise CaseFileError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    node = root
    knowledge = None
    if isinstance(data, dict):
        unknown = set(data) - {"cases", "knowledge"}
        if unknown or "cases" not in data:
            line = next((k.start_mark.line + 1 for k, _ in root.value if k.value in unknown), 1)
            raise CaseFileError(f"{path}:{line}: a set is a list of cases or a mapping with `cases:` "
                                f"(and optionally `knowledge:`), got {', '.join(map(str, sorted(data)))}")
        if "knowledge" in data:
            if not isinstance(data["knowledge"], str) or not data["knowledge"].strip():
                raise CaseFileError(f"{path}: `knowledge:` must be the path of a sources file")
            knowledge = path.parent / data["knowledge"]
        data = data["cases"]
        node = next(value for key, value in root.value if key.value == "cases")
    if not isinstance(data, list):
        raise CaseFileError(f"{path}: expected a list of cases (or `cases:` with one)")
    rows: Raw = []
    for item_node, item in zip(node.value, data, strict=True):
        keys = {}
        if isinstance(item_node, yaml.MappingNode):
            keys = {key.value: key.start_mark.line + 1 for key, _ in item_node.value}
        rows.append((item_node.start_mark.line + 1, item, keys))
    return rows, knowledge
