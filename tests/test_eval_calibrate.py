"""Re-checking a finished run with other thresholds: answers are re-scored from what the model wrote and the
passages it saw, without the model."""

from __future__ import annotations

from eval.calibrate import Setting, calibrate, relevance_table, table
from eval.cases import EvalCase
from eval.runner import CaseResult

PASSAGE = {"rank": 1, "source_id": "/kb/hundesteuer.yaml", "title": "Hundesteuer", "url": None,
           "similarity": 0.9, "chunk_id": "c1", "headings": "Hundesteuer > Kosten",
           "text": "Hundesteuer > Kosten\nDie Hundesteuer beträgt 96 Euro im Jahr für den ersten Hund und 144 Euro "
                   "für jeden weiteren Hund. Blindenführhunde sind steuerfrei."}


def result(case_id: str, model_answer: str, expect: str = "answer") -> CaseResult:
    return CaseResult(id=case_id, question="Was kostet der zweite Hund?", expect=expect, tags=[],
                      language_expected="de", model_answer=model_answer, retrieved=[PASSAGE],
                      standalone_question="Was kostet der zweite Hund?")


CASES = [
    EvalCase(id="loose", question="Was kostet der zweite Hund?", expected_facts=["144 Euro"]),
    EvalCase(id="wrong", question="Was kostet der zweite Hund?", expected_facts=["144 Euro"],
             forbidden_facts=["96 Euro für jeden weiteren"]),
    EvalCase(id="none", question="Was kostet der zweite Hund?", expect="no_answer"),
]
RESULTS = [
    # a loose paraphrase: half its words are not in the source
    result("loose", "Für jeden weiteren Hund werden jährlich 144 Euro fällig. [1.1]"),
    result("wrong", "Für jeden weiteren Hund zahlen Sie 96 Euro. [1]"),
    result("none", "KEINE_ANTWORT", "no_answer"),
    result("not-in-the-set", "Egal. [1]"),
]


def test_stricter_word_overlap_quotes_more_and_never_lets_the_wrong_slot_through():
    lenient, strict = calibrate(CASES, RESULTS, [Setting(0.3, 0.5), Setting(1.0, 0.5)])
    assert lenient.cases == strict.cases == 3
    assert lenient.forbidden == strict.forbidden == 0
    # Leniently the paraphrase is kept as written; strictly the source sentence is quoted instead.
    assert lenient.as_written == 1 and lenient.quoted == 0
    assert strict.as_written == 0 and strict.quoted == 1
    # Either way the citizen gets 144 Euro, and "none" stays unanswered.
    assert lenient.correct == strict.correct == 2


def test_table_marks_the_current_setting():
    rows = calibrate(CASES, RESULTS, [Setting(0.75, 0.5), Setting(1.0, 0.5)])
    text = table(rows, Setting(0.75, 0.5))
    assert "| 0.75 (current) | 0.50 | 2/3 |" in text and "| 1.00 | 0.50 |" in text


def test_relevance_table_counts_what_each_gate_would_turn_away():
    answerable = result("loose", "x [1.1]")
    unanswerable = result("none", "KEINE_ANTWORT", "no_answer")
    unanswerable.retrieved = [dict(PASSAGE, similarity=0.81)]
    text = relevance_table(CASES, [answerable, unanswerable], [0.8, 0.85, 0.95], current=0.85)
    assert "| 0.80 | 0 | 0 |" in text
    assert "| 0.85 (current) | 0 | 1 |" in text
    assert "| 0.95 | 1 | 1 |" in text
