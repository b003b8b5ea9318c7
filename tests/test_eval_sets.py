"""The shipped evaluation sets are sound: every expected fact of an answer case is in the text of a document
its `expected_sources` name (as SiWi indexes it: heading path and section text), every `expected_sources`
entry names a document, and a case expects a handoff exactly when SiWi's phrase rules see a request for a
person. A failed case must be SiWi's failure, not the set's."""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path

import pytest

from bot.handoff import wants_human
from eval.cases import EvalSet, load_set
from eval.matching import contains_fact
from knowledge.documents import Document
from knowledge.sources import build_source, load_sources, missing_paths

REPO = Path(__file__).resolve().parents[1]
SETS = sorted((REPO / "eval" / "sets").glob("*.yaml"))


@cache
def documents(sources_file: Path) -> tuple[Document, ...]:
    configs = load_sources(sources_file)
    if missing := missing_paths(configs):
        pytest.skip(f"the sources of {sources_file.name} are not here ({', '.join(map(str, missing))}); CI has them")
    state = Path(tempfile.mkdtemp(prefix="siwi-sets-"))  # a crawler's or an import's state, not the index
    found = []
    for config in configs:
        found += [item for item in build_source(config, state).items({}) if isinstance(item, Document)]
    return tuple(found)


def indexed_text(document: Document) -> str:
    return "\n\n".join(" > ".join(s.headings) + "\n" + s.text for s in document.sections)


def named(document: Document, expected: str) -> bool:
    return expected.lower() in f"{document.source_id} {document.title} {document.url or ''}".lower()


def knowledge_of(one: EvalSet) -> Path:
    return one.knowledge or REPO / "knowledge" / "sources.yaml"


@pytest.mark.parametrize("path", SETS, ids=[p.stem for p in SETS])
def test_handoff_expected_exactly_where_a_person_is_asked_for(path):
    wrong = [(case.id, case.expect) for case in load_set(path).cases
             if wants_human(case.question) != (case.expect == "handoff")]
    assert not wrong


@pytest.mark.parametrize("path", SETS, ids=[p.stem for p in SETS])
def test_every_expected_fact_is_in_an_expected_source(path):
    one = load_set(path)
    docs = documents(knowledge_of(one))
    problems = []
    for case in one.cases:
        if case.expect != "answer" or not case.expected_sources:
            continue
        for expected in case.expected_sources:
            if not any(named(d, expected) for d in docs):
                problems.append(f"{case.id}: {expected!r} names no document")
        candidates = [indexed_text(d) for d in docs if any(named(d, e) for e in case.expected_sources)]
        for fact in case.expected_facts:
            if not any(contains_fact(text, fact) for text in candidates):
                problems.append(f"{case.id}: {fact!r} is in none of its expected sources")
    assert not problems, "\n".join(problems)
