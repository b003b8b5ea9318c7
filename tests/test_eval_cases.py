"""Evaluation test sets: strict loading with line numbers, and fact matching with normalisation."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from eval.cases import CaseFileError, load_cases, load_set
from eval.matching import contains_fact

YAML_SET = textwrap.dedent("""\
    - id: ausweis-kosten
      question: Was kostet der Personalausweis?
      expected_facts: ["37 Euro|46 Euro"]
      expected_sources: [personalausweis]
      tags: [kosten]
    - id: apfelkuchen
      question: Haben Sie ein Rezept für Apfelkuchen?
      expect: no_answer
    - id: folgefrage
      question: Und was kostet das?
      history:
        - question: Ich brauche einen neuen Reisepass.
      expected_facts: ["70 Euro"]
    """)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_set_loads(tmp_path):
    cases = load_cases(write(tmp_path, "set.yaml", YAML_SET))
    assert [c.id for c in cases] == ["ausweis-kosten", "apfelkuchen", "folgefrage"]
    assert cases[1].expect == "no_answer" and cases[0].language == "de"
    assert cases[2].history[0].question.startswith("Ich brauche")


def test_unknown_key_is_an_error_with_its_line(tmp_path):
    broken = YAML_SET.replace("  expect: no_answer", "  expect: no_answer\n  expected_fact: [x]")
    with pytest.raises(CaseFileError, match=r"set.yaml:9: expected_fact: Extra inputs are not permitted"):
        load_cases(write(tmp_path, "set.yaml", broken))


def test_json_lines_set_and_its_errors(tmp_path):
    lines = [json.dumps({"id": "a", "question": "Was kostet ein Wunschkennzeichen?", "expected_facts": ["10,20 Euro"]}),
             "", json.dumps({"id": "b", "question": "Hallo?", "expect": "vielleicht"})]
    with pytest.raises(CaseFileError, match=r"set.jsonl:3: expect"):
        load_cases(write(tmp_path, "set.jsonl", "\n".join(lines)))
    assert [c.id for c in load_cases(write(tmp_path, "ok.jsonl", lines[0]))] == ["a"]
    with pytest.raises(CaseFileError, match=r"bad.jsonl:1: not valid JSON"):
        load_cases(write(tmp_path, "bad.jsonl", "{id: a}"))


def test_duplicate_ids_and_empty_alternatives_are_errors(tmp_path):
    with pytest.raises(CaseFileError, match="duplicate case id"):
        load_cases(write(tmp_path, "d.yaml", "- {id: a, question: x}\n- {id: a, question: y}\n"))
    with pytest.raises(CaseFileError, match="must not be empty"):
        load_cases(write(tmp_path, "e.yaml", "- {id: a, question: x, expected_facts: ['37 Euro|']}\n"))
    with pytest.raises(CaseFileError, match="no cases"):
        load_cases(write(tmp_path, "n.yaml", "[]\n"))


@pytest.mark.parametrize(("answer", "expected"), [
    ("Der Ausweis kostet 37,00 €. [1]", "37 Euro"),
    ("Das Portal gibt es seit dem 17. März 2020.", "17.03."),
    ("Es kostet 46 Euro.", "37 Euro|46 Euro"),
    ("Bringen Sie die EVB-Nummer  mit.", "eVB-Nummer"),
    ("Rufen Sie 0800 111 0 111 an.", "0800 1110111"),
])
def test_expected_facts_match_however_written(answer, expected):
    assert contains_fact(answer, expected)


@pytest.mark.parametrize(("answer", "expected"), [
    ("Es kostet 45 Euro.", "37 Euro"),
    ("Seit dem 18. März.", "17.03."),
    ("Termin online buchen", "Online-Termin"),
])
def test_different_facts_do_not_match(answer, expected):
    assert not contains_fact(answer, expected)


def test_a_set_can_name_its_knowledge(tmp_path):
    text = "knowledge: ../k/sources.yaml\ncases:\n" + textwrap.indent(YAML_SET, "  ")
    loaded = load_set(write(tmp_path, "set.yaml", text))
    assert loaded.knowledge == tmp_path / "../k/sources.yaml"
    assert len(loaded.cases) == 3
    assert load_set(write(tmp_path, "plain.yaml", YAML_SET)).knowledge is None


def test_unknown_top_level_key_is_an_error(tmp_path):
    text = "knowlege: k.yaml\ncases:\n" + textwrap.indent(YAML_SET, "  ")
    with pytest.raises(CaseFileError, match=r"set\.yaml:1: .*knowlege"):
        load_set(write(tmp_path, "set.yaml", text))


def test_every_case_has_a_fixed_half_and_reports_show_both():
    from eval.cases import half_of
    from eval.report import build_report, compare, markdown
    from eval.runner import CaseResult

    shipped = load_set(Path(__file__).resolve().parents[1] / "eval" / "sets" / "sample.yaml").cases
    halves = [half_of(case.id) for case in shipped]
    assert halves == [half_of(case.id) for case in shipped]  # a hash, not a draw
    assert 0.4 < halves.count("tuning") / len(halves) < 0.6
    results = [CaseResult(id=case.id, question=case.question, expect=case.expect, tags=[], language_expected="de",
                          outcome="answered" if n % 3 else "no_answer") for n, case in enumerate(shipped[:40])]
    report = build_report(results, ["sample"], {})
    tuning = [r for r in results if half_of(r.id) == "tuning"]
    assert report["halves"]["tuning"]["cases"] == len(tuning)
    assert report["halves"]["test"]["cases"] == len(results) - len(tuning)
    assert all(case["half"] == half_of(case["id"]) for case in report["cases"])
    assert "| tuning half | test half |" in markdown(report).replace("| metric | all ", "")
    assert "| tuning half |" in compare(report, report)
