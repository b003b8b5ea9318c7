"""`siwi eval`: cases through the real pipeline (small model, real store) in-process and over HTTP,
metrics, resumable runs, the three reports, comparisons and the threshold gate."""

from __future__ import annotations

import json
import textwrap

import pytest

from bot.app import create_app
from bot.services import build_index, build_pipeline
from eval.cases import load_cases
from eval.report import build_report, compare, gate, side_by_side, write_reports
from eval.runner import Run, RunMismatch, in_process, over_http
from siwi.settings import Settings
from tests.conftest import FIXTURES, MODELS_DIR, SMALL_MODEL, LiveServer
from tests.test_startup import siwi

SET = textwrap.dedent("""\
    - id: ausweis
      question: Was kostet der Personalausweis für Personen ab 24 Jahren?
      expected_facts: ["37 Euro"]
      expected_sources: [personalausweis]
      tags: [kosten]
    - id: apfelkuchen
      question: Haben Sie ein Rezept für Apfelkuchen?
      expect: no_answer
    - id: person
      question: Kann ich bitte mit einem Menschen sprechen?
      expect: handoff
    - id: folgefrage
      question: Und wie lange ist er gültig?
      history: [{question: "Was kostet der Personalausweis?"}]
      tags: [folgefrage]
    """)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, embedder, small_model):
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), models_dir=MODELS_DIR, llm_model=SMALL_MODEL,
                        llm_max_tokens=80)
    index = build_index(settings, embedder)
    index.ingestor(settings).ingest([FIXTURES / "kb"])
    path = tmp_path_factory.mktemp("sets") / "set.yaml"
    path.write_text(SET, encoding="utf-8")
    return settings, build_pipeline(settings, index, small_model), load_cases(path), index


def test_in_process_run_reports_and_resumes(setup, tmp_path):
    settings, pipeline, cases, _ = setup
    run = Run(tmp_path / "out")
    results = run.execute(cases, in_process(pipeline))
    by_id = {r.id: r for r in results}
    assert by_id["ausweis"].outcome == "answered" and by_id["ausweis"].facts == {"37 Euro": True}
    assert by_id["ausweis"].retrieved and by_id["ausweis"].sentences and by_id["ausweis"].model_answer
    assert by_id["ausweis"].retrieved[0]["text"]
    assert by_id["apfelkuchen"].outcome == "no_answer" and by_id["person"].outcome == "handoff"
    assert all(r.error is None for r in results)

    # Interrupted after two cases: the rerun only runs what is missing.
    lines = run.results_file.read_text().splitlines()
    run.results_file.write_text("\n".join(lines[:2]) + "\n" + lines[2][:30])  # plus a half-written line
    ran = []
    again = Run(tmp_path / "out").execute(cases, in_process(pipeline), progress=lambda r: ran.append(r.id))
    assert sorted(ran) == sorted(c.id for c in cases[2:]) and len(again) == len(cases)

    report = build_report(again, ["set.yaml"], {"llm_model": SMALL_MODEL})
    m = report["metrics"]
    assert m["cases"] == 4 and m["errors"] == 0
    assert m["handoff_recall"] == 1.0 and m["no_answer_recall"] == 1.0
    assert m["citation_accuracy"] == 1.0 and m["retrieval_recall@k"] == 1.0
    assert m["answer_accuracy"] == 1.0 and report["by_tag"]["kosten"]["answer_accuracy"] == 1.0
    paths = write_reports(report, tmp_path / "out")
    assert [p.name for p in paths] == ["report.json", "report.md", "report.html", "summary.json"]
    page = paths[2].read_text()
    assert "<script" not in page and all(f"<code>{c.id}</code>" in page for c in cases)
    assert "answer_accuracy" in paths[1].read_text()
    assert json.loads(paths[0].read_text())["metrics"] == json.loads(json.dumps(m))
    # The summary (a baseline to commit) has the metrics and each case's result, not the sources' text.
    small = json.loads(paths[3].read_text())
    assert small["metrics"] == json.loads(json.dumps(m)) and "Personalausweis" not in paths[3].read_text()
    assert [c["id"] for c in small["cases"]] == [c.id for c in cases] and "correct" in small["cases"][0]
    same = compare(small, json.loads(paths[0].read_text()))  # the same run: no change, nothing flipped
    assert "✔" not in same and "✘" not in same and "flipped" not in same


def test_a_run_resumes_only_with_its_own_settings_and_reruns_edited_cases(setup, tmp_path):
    _, pipeline, cases, _ = setup
    person = cases[2]  # answered without the model: the handoff request
    run = Run(tmp_path / "out")
    run.claim({"llm_model": "a.gguf", "top_k": 3})
    [first] = run.execute([person], in_process(pipeline))
    assert first.case_hash

    with pytest.raises(RunMismatch, match=r"llm_model: 'a.gguf' → 'b.gguf'.*--fresh"):
        Run(tmp_path / "out").claim({"llm_model": "b.gguf", "top_k": 3})
    assert Run(tmp_path / "out").done()  # refusing loses nothing

    ran = []
    Run(tmp_path / "out").claim({"llm_model": "a.gguf", "top_k": 3})
    Run(tmp_path / "out").execute([person], in_process(pipeline), progress=lambda r: ran.append(r.id))
    assert ran == []  # same settings, same case: nothing to do
    edited = person.model_copy(update={"tags": ["neu"]})
    [again] = Run(tmp_path / "out").execute([edited], in_process(pipeline), progress=lambda r: ran.append(r.id))
    assert ran == [person.id] and again.tags == ["neu"] and Run(tmp_path / "out").done()[person.id].tags == ["neu"]

    Run(tmp_path / "out").claim({"llm_model": "b.gguf", "top_k": 3}, fresh=True)
    assert Run(tmp_path / "out").done() == {}


def test_gate_and_compare(setup, tmp_path):
    _, pipeline, cases, _ = setup
    results = Run(tmp_path / "a").execute(cases[:3], in_process(pipeline))
    before = build_report(results, ["set"], {})
    assert gate(before, {"handoff_recall": 1.0}) == []
    assert gate(before, {"answer_accuracy": 1.01}) and gate(before, {"nonsense": 1})
    after = json.loads(json.dumps(before))
    after["cases"][0]["correct"] = not after["cases"][0]["correct"]
    after["metrics"]["answer_accuracy"] = (before["metrics"]["answer_accuracy"] or 0) + 0.1
    text = compare(before, after)
    assert "answer_accuracy" in text and "+0.100" in text and f"`{cases[0].id}`" in text

    table = side_by_side({"a": before, "b": after}).splitlines()
    assert table[0] == "| metric | a | b |" and len(table) == 2 + len(before["metrics"])
    row = next(line for line in table if line.startswith("| answer_accuracy |"))
    assert row == f"| answer_accuracy | {before['metrics']['answer_accuracy']:.3f} | " \
                  f"{after['metrics']['answer_accuracy']:.3f} |"

    # The CLI reads report.json files or the --report directories holding them; a broken one is named.
    write_reports(before, tmp_path / "sample")
    write_reports(after, tmp_path / "pages")
    (tmp_path / "baseline.json").write_text((tmp_path / "sample" / "summary.json").read_text())
    result = siwi(["eval", "table", str(tmp_path / "sample"), str(tmp_path / "pages" / "report.json"),
                   str(tmp_path / "baseline.json")])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "| metric | sample | pages | baseline |"
    assert row.split("|")[2] in result.stdout
    (tmp_path / "broken.json").write_text("{")
    broken = siwi(["eval", "compare", str(tmp_path / "sample"), str(tmp_path / "broken.json")])
    assert broken.returncode == 2 and "broken.json" in broken.stderr


def test_run_against_a_server_over_http(setup, tmp_path):
    settings, pipeline, cases, index = setup
    with LiveServer(create_app(settings, index, pipeline)) as live:
        results = Run(tmp_path / "http").execute([cases[0], cases[2], cases[3]], over_http(live.http), jobs=2)
    assert [r.outcome for r in results] == ["answered", "handoff", "answered"], results[2].text
    assert results[0].facts == {"37 Euro": True} and results[0].sentences  # the API carries verdicts
    # The follow-up was asked in the conversation of its history turn (with its resume token), so it was
    # searched with the Personalausweis; its report never repeats the earlier question.
    follow_up = results[2]
    assert follow_up.error is None and follow_up.question == "Und wie lange ist er gültig?"
    assert all("personalausweis" in c["source_id"] for c in follow_up.citations), follow_up.citations
    assert "Was kostet" not in follow_up.standalone_question


def test_unreachable_server_is_recorded_as_an_error(setup, tmp_path):
    _, _, cases, _ = setup
    from tests.conftest import free_port

    [result] = Run(tmp_path / "dead").execute(cases[:1], over_http(f"http://127.0.0.1:{free_port()}", timeout=2))
    assert result.error and "Connect" in result.error
    assert build_report([result], ["s"], {})["metrics"]["errors"] == 1



def test_cli_runs_a_set_against_its_own_knowledge_and_skips_one_whose_knowledge_is_absent(tmp_path, embedder):
    """What pages.yaml and munich.yaml do: their sources are indexed into their own collection; without
    ../shared the set is skipped with a message instead of failing the run."""
    (tmp_path / "kb.yaml").write_text(f"sources:\n  - {{name: kb, type: files, paths: ['{FIXTURES / 'kb'}']}}\n")
    (tmp_path / "gone.yaml").write_text("sources:\n  - {name: gone, type: files, paths: [does-not-exist]}\n")
    case = ("cases:\n  - {id: ausweis, question: 'Was kostet der Personalausweis?', "
            "expected_sources: [personalausweis]}\n")
    (tmp_path / "own.yaml").write_text("knowledge: kb.yaml\n" + case)
    (tmp_path / "absent.yaml").write_text("knowledge: gone.yaml\n" + case.replace("ausweis,", "other,"))
    data = tmp_path / "data"
    result = siwi(["eval", "run", str(tmp_path / "own.yaml"), str(tmp_path / "absent.yaml"),
                   "--report", str(tmp_path / "out")], SIWI_DATA_DIR=str(data), SIWI_LLM_MAX_TOKENS="80")
    assert result.returncode == 0, result.stderr
    assert "absent.yaml: its knowledge is not here" in result.stderr and "does-not-exist" in result.stderr
    assert "kb: 4 added" in result.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    [only] = report["cases"]
    assert only["id"] == "ausweis" and only["outcome"] == "answered", only
    assert any("personalausweis" in c["source_id"] for c in only["citations"])
    assert build_index(Settings(data_dir=data), embedder).store.count() == 0  # SiWi's own index was not touched

    # The same report directory with another setting: refused before anything runs, the results are kept.
    other = siwi(["eval", "run", str(tmp_path / "own.yaml"), "--report", str(tmp_path / "out")],
                 SIWI_DATA_DIR=str(data), SIWI_LLM_MAX_TOKENS="80", SIWI_TOP_K="5")
    assert other.returncode == 2 and "top_k: 3 → 5" in other.stderr and "--fresh" in other.stderr
    assert (tmp_path / "out" / "results.jsonl").read_text().count('"id": "ausweis"') == 1

    alone = siwi(["eval", "run", str(tmp_path / "absent.yaml"), "--report", str(tmp_path / "out2")],
                 SIWI_DATA_DIR=str(data))
    assert alone.returncode == 2 and "No set could be run." in alone.stderr
