"""Reports of a run: JSON for machines, Markdown for pull requests, one self-contained HTML file for people
(no scripts, no external assets: it opens from a mail attachment or an offline share), and comparisons."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, select_autoescape

from eval.cases import half_of
from eval.metrics import correct, metrics, metrics_by_tag
from eval.runner import CaseResult

# Metrics where a smaller value is better (for comparisons and the gate).
LOWER_IS_BETTER = {"errors", "unsupported_sentence_rate", "answers_with_unsupported_model_sentence",
                   "forbidden_fact_violations", "latency_p50_s", "latency_p95_s", "first_verified_p50_s"}


def build_report(results: Sequence[CaseResult], sets: list[str], settings: dict[str, object]) -> dict:
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "sets": sets,
        "settings": settings,
        "metrics": metrics(results),
        # The tuning half is where rules and thresholds are chosen; the test half is what they are judged on.
        "halves": {half: metrics([r for r in results if half_of(r.id) == half]) for half in ("tuning", "test")},
        "by_tag": metrics_by_tag(results),
        "cases": [r.model_dump() | {"correct": correct(r), "half": half_of(r.id)} for r in results],
    }


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown(report: dict) -> str:
    lines = [f"## SiWi evaluation: {', '.join(report['sets'])}", "",
             f"model `{report['settings'].get('llm_model')}`, {report['metrics']['cases']} cases, "
             f"{report['created']}", "", "| metric | all | tuning half | test half |", "|---|---|---|---|"]
    halves = report.get("halves") or {}
    lines += [f"| {name} | {_fmt(value)} | {_fmt(halves.get('tuning', {}).get(name))} | "
              f"{_fmt(halves.get('test', {}).get(name))} |" for name, value in report["metrics"].items()]
    failed = [c for c in report["cases"] if not c["correct"]]
    if failed:
        lines += ["", f"<details><summary>{len(failed)} cases not met</summary>", ""]
        lines += [f"- `{c['id']}` expected {c['expect']}, got {c['outcome']}: {c['text'][:120]!r}" for c in failed]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


HTML = """<!doctype html>
<html lang="de"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>SiWi – Auswertung {{ sets|join(", ") }}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.5rem}table{border-collapse:collapse}.scroll{overflow-x:auto;margin:1rem 0}
svg{max-width:100%;height:auto}code,pre,q,.meta{overflow-wrap:anywhere}td,th{border:1px solid #ccc;padding:.3rem .6rem;
text-align:left}th{background:#f1f3f5}.bar{fill:#2b6cb0}.bar.low{fill:#c05621}.ok{color:#276749}.bad{color:#9b2c2c}
details{border:1px solid #ddd;border-radius:4px;margin:.4rem 0;padding:.3rem .7rem}summary{cursor:pointer}
.verdict-unsupported{color:#9b2c2c}.verdict-quoted{color:#975a16}.meta{color:#555;font-size:.9em}
pre{white-space:pre-wrap;background:#f8f9fa;padding:.5rem}
</style></head><body>
<h1>SiWi – Auswertung</h1>
<p class="meta">Sets: {{ sets|join(", ") }} · Modell: {{ settings.llm_model }} · {{ metrics.cases }} Fälle ·
{{ created }}</p>
<details><summary>Einstellungen des Laufs</summary><table>{% for key, value in settings.items() %}
<tr><th scope="row">{{ key }}</th><td>{{ fmt(value) }}</td></tr>{% endfor %}</table></details>
<h2>Übersicht</h2>
<svg width="780" height="{{ 24 * shares|length + 10 }}" viewBox="0 0 780 {{ 24 * shares|length + 10 }}" role="img"
 aria-label="Kennzahlen als Balken">
{% for name, value in shares %}<text x="400" text-anchor="end" y="{{ 24 * loop.index0 + 17 }}" font-size="13">{{ name }}
{%- if name in lower %} (↓ besser){% endif %}</text>
<rect class="bar{% if (value > 0.5 if name in lower else value < 0.5) %} low{% endif %}" x="410"
 y="{{ 24 * loop.index0 + 5 }}"
 width="{{ (value * 300)|round|int }}" height="16"></rect>
<text x="{{ 416 + (value * 300)|round|int }}" y="{{ 24 * loop.index0 + 17 }}"
 font-size="12">{{ "%.3f"|format(value) }}</text>
{% endfor %}</svg>
<div class="scroll" tabindex="0" role="region" aria-label="Kennzahlen je Tag">
<table><tr><th>Kennzahl</th><th>gesamt</th>{% for tag in by_tag %}<th>{{ tag }}</th>{% endfor %}</tr>
{% for name, value in metrics.items() %}<tr><td>{{ name }}</td><td>{{ fmt(value) }}</td>
{% for tag, values in by_tag.items() %}<td>{{ fmt(values[name]) }}</td>{% endfor %}</tr>{% endfor %}</table></div>
<h2>Fälle</h2>
{% for case in cases %}<details{% if not case.correct %} open{% endif %}>
<summary><span class="{{ 'ok' if case.correct else 'bad' }}">{{ '✔' if case.correct else '✘' }}</span>
<code>{{ case.id }}</code> – {{ case.question }} <span class="meta">(erwartet {{ case.expect }}, erhalten
{{ case.outcome or 'Fehler' }}{% if case.total_s %}, {{ "%.1f"|format(case.total_s) }} s{% endif %})</span></summary>
{% if case.error %}<p class="bad">{{ case.error }}</p>{% endif %}
<pre>{{ case.text }}</pre>
{% if case.facts %}<p>Fakten: {% for fact, hit in case.facts.items() %}<span class="{{ 'ok' if hit else 'bad' }}">
{{ fact }}</span>{% if not loop.last %} · {% endif %}{% endfor %}</p>{% endif %}
{% if case.forbidden_found %}<p class="bad">Verbotene Angaben: {{ case.forbidden_found|join(", ") }}</p>{% endif %}
{% if case.citations %}<p>Quellen:</p><ol>{% for c in case.citations %}<li value="{{ c.number }}">{{ c.title }}
<span class="meta">{{ c.location }}</span><br><q>{{ c.snippet }}</q></li>{% endfor %}</ol>{% endif %}
{% if case.sentences %}<p>Prüfung je Satz:</p><ul>{% for s in case.sentences %}
<li class="verdict-{{ s.verdict }}"><b>{{ s.verdict }}</b>: {{ s.original or s.text }}
{% if s.reason %}<span class="meta">({{ s.reason }})</span>{% endif %}</li>{% endfor %}</ul>{% endif %}
{% if case.retrieved %}<p class="meta">Gefunden: {% for r in case.retrieved %}{{ r.rank }}. {{ r.title }}
({{ "%.2f"|format(r.similarity) }}){% if not loop.last %} · {% endif %}{% endfor %}</p>{% endif %}
</details>{% endfor %}
</body></html>
"""


def html(report: dict) -> str:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    shares = [(name, value) for name, value in report["metrics"].items()
              if isinstance(value, float) and 0 <= value <= 1 and not name.startswith("latency")]
    return env.from_string(HTML).render(**report, shares=shares, fmt=_fmt, lower=LOWER_IS_BETTER)


def summary(report: dict) -> dict:
    """The report without answers and passages: small, and free of the sources' text, so that it can be
    committed as a baseline (`eval/baselines/`) and compared against with `siwi eval compare`."""
    keep = ("id", "half", "expect", "outcome", "correct", "tags", "facts", "forbidden_found", "total_s")
    return {key: value for key, value in report.items() if key != "cases"} | {
        "cases": [{key: case.get(key) for key in keep} for case in report["cases"]]}


def write_reports(report: dict, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "report.json", directory / "report.md", directory / "report.html",
             directory / "summary.json"]
    paths[0].write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    paths[1].write_text(markdown(report), encoding="utf-8")
    paths[2].write_text(html(report), encoding="utf-8")
    paths[3].write_text(json.dumps(summary(report), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return paths


def compare(before: dict, after: dict) -> str:
    """Metric deltas and the cases whose result flipped, as Markdown."""
    lines = ["| metric | before | after | change |", "|---|---|---|---|"]
    for name, old in before["metrics"].items():
        new = after["metrics"].get(name)
        change = ""
        if isinstance(old, int | float) and isinstance(new, int | float):
            delta = new - old
            better = delta < 0 if name in LOWER_IS_BETTER else delta > 0
            change = f"{delta:+.3f}" + (" ✔" if better and delta else " ✘" if delta else "")
        lines.append(f"| {name} | {_fmt(old)} | {_fmt(new)} | {change} |")
    lines += ["", "| answer accuracy | before | after |", "|---|---|---|"]
    for half in ("tuning", "test"):
        lines.append(f"| {half} half | {_fmt(_accuracy(before, half))} | {_fmt(_accuracy(after, half))} |")
    old_cases = {c["id"]: c["correct"] for c in before["cases"]}
    flipped = [(c["id"], old_cases[c["id"]], c["correct"]) for c in after["cases"]
               if c["id"] in old_cases and old_cases[c["id"]] != c["correct"]]
    if flipped:
        lines += ["", "Cases that flipped:"]
        lines += [f"- `{cid}`: {'met → not met' if was else 'not met → met'}" for cid, was, _ in flipped]
    return "\n".join(lines) + "\n"


def _accuracy(report: dict, half: str) -> float | None:
    """Answer accuracy over one half, from the cases (so older summaries without `halves` compare too)."""
    cases = [c for c in report["cases"] if half_of(c["id"]) == half]
    return sum(1 for c in cases if c["correct"]) / len(cases) if cases else None


def side_by_side(reports: dict[str, dict]) -> str:
    """Every metric of several runs in one Markdown table, a column per run (sets, models, settings)."""
    names = list(reports)
    metrics_seen = list(dict.fromkeys(m for report in reports.values() for m in report["metrics"]))
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    lines += [f"| {metric} | " + " | ".join(_fmt(reports[n]["metrics"].get(metric)) for n in names) + " |"
              for metric in metrics_seen]
    return "\n".join(lines) + "\n"


def gate(report: dict, thresholds: dict[str, float]) -> list[str]:
    """Thresholds not met, as readable lines ("answer_accuracy 0.61 < 0.70")."""
    failures = []
    for name, threshold in thresholds.items():
        if name not in report["metrics"]:
            failures.append(f"unknown metric {name!r}")
            continue
        value = report["metrics"][name]
        if value is None:
            failures.append(f"{name} has no value (no applicable cases)")
        elif name in LOWER_IS_BETTER and value > threshold:
            failures.append(f"{name} {value:.3f} > {threshold}")
        elif name not in LOWER_IS_BETTER and value < threshold:
            failures.append(f"{name} {value:.3f} < {threshold}")
    return failures
