"""How well the privacy choke point (bot/redaction.py) finds personal data, and how often it touches text
that has none, on bench/redaction_sentences.yaml: citizens' messages (German and English) with invented
IBANs, phone numbers, e-mail addresses, Steuer-IDs, ID-card and passport numbers, birth dates, street
addresses and names, and hard messages without any (years, amounts, appointment dates, "meine Frau …").
The set was written apart from the recognisers, by someone who had not read them.

Figures, per half of the set (split by a hash of the case id, as the evaluation sets are: rules are chosen on
the tuning half, the test half shows whether they hold):
- recall: planted items no longer readable after redaction (none of their characters left beside a
  placeholder), per type; "typed" also asks for the right placeholder;
- false-positive rate: messages without personal data that redaction changed at all; kept-text losses: words
  a case marks as needed for the answer (a birth year, an amount) that redaction removed;
- also, as a control, every question of the answer-quality sets (eval/sets/*.yaml: none has personal data):
  how many redaction changed;
- time per message (p50, p95), beside a bare baseline: the same messages only lower-cased (what any pass
  over the text costs in Python).

    .venv/bin/python bench/redaction.py [--json] [--show N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.redaction import PLACEHOLDERS, Finding, findings, redact  # noqa: E402
from eval.cases import half_of, load_cases  # noqa: E402

SET = Path(__file__).with_name("redaction_sentences.yaml")


def _covered(start: int, end: int, text: str, found: list[Finding]) -> tuple[bool, set[str]]:
    """Whether every non-space character of text[start:end] lies inside a finding, and the kinds covering it."""
    kinds, ok = set(), True
    for i in range(start, end):
        if text[i].isspace() or text[i] in ",.;:()":
            continue
        hit = next((f for f in found if f.start <= i < f.end), None)
        if hit is None:
            ok = False
        else:
            kinds.add(hit.kind)
    return ok, kinds


def measure(cases: list[dict[str, Any]]) -> dict[str, Any]:
    items: Counter[str] = Counter()
    hidden: Counter[str] = Counter()
    typed: Counter[str] = Counter()
    clean = changed = kept_lost = keeps = 0
    misses: list[str] = []
    false_positives: list[str] = []
    for case in cases:
        text = case["text"]
        found = findings(text)
        for item in case.get("pii") or []:
            start = text.index(item["value"])
            ok, kinds = _covered(start, start + len(item["value"]), text, found)
            items[item["type"]] += 1
            if ok:
                hidden[item["type"]] += 1
                typed[item["type"]] += item["type"] in kinds
            else:
                misses.append(f"{case['id']}: {item['type']} {item['value']!r} → {redact(text)!r}")
        redacted = redact(text)
        for word in case.get("keep") or []:
            keeps += 1
            if word not in redacted:
                kept_lost += 1
                false_positives.append(f"{case['id']}: lost {word!r} → {redacted!r}")
        if not case.get("pii"):
            clean += 1
            if found:
                changed += 1
                false_positives.append(f"{case['id']}: {[f.kind for f in found]} → {redacted!r}")
    total = sum(items.values())
    return {
        "cases": len(cases), "items": total,
        "recall": round(sum(hidden.values()) / total, 3) if total else None,
        "recall_typed": round(sum(typed.values()) / total, 3) if total else None,
        "recall_by_type": {kind: round(hidden[kind] / items[kind], 3) for kind in PLACEHOLDERS if items[kind]},
        "items_by_type": {kind: items[kind] for kind in PLACEHOLDERS if items[kind]},
        "clean_cases": clean, "false_positive_rate": round(changed / clean, 3) if clean else None,
        "kept_lost": kept_lost, "keeps": keeps,
        "_misses": misses, "_false_positives": false_positives,
    }


def eval_questions() -> list[str]:
    questions = []
    for path in sorted((ROOT / "eval" / "sets").glob("*.yaml")):
        for case in load_cases(path):
            questions += [case.question, *(turn.question for turn in case.history)]
    return questions


def timing(texts: list[str], repeat: int = 3) -> dict[str, float]:
    def per_message(function) -> list[float]:
        times = []
        for _ in range(repeat):
            for text in texts:
                started = time.perf_counter()
                function(text)
                times.append((time.perf_counter() - started) * 1000)
        return times
    bare, siwi = per_message(str.lower), per_message(redact)
    return {"bare_p50_ms": round(statistics.median(bare), 4), "p50_ms": round(statistics.median(siwi), 3),
            "p95_ms": round(statistics.quantiles(siwi, n=20)[-1], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--show", type=int, default=0, help="print up to N misses and false positives per half")
    args = parser.parse_args()
    cases = yaml.safe_load(SET.read_text(encoding="utf-8"))["cases"]
    halves: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for case in cases:
        halves[half_of(case["id"])].append(case)
    figures = {"all": measure(cases), "tuning": measure(halves["tuning"]), "test": measure(halves["test"])}
    questions = eval_questions()
    control = sum(1 for q in questions if findings(q))
    result = {
        "set": str(SET.relative_to(ROOT)),
        **{half: {k: v for k, v in f.items() if not k.startswith("_")} for half, f in figures.items()},
        "eval_questions": len(questions), "eval_questions_changed": control,
        "timing": timing([c["text"] for c in cases] + questions),
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    print(f"Redaction on {result['set']}: {len(cases)} messages\n")
    print("| | all | tuning half | test half |\n|---|---:|---:|---:|")
    rows = [("messages with personal data", lambda f: f["cases"] - f["clean_cases"]),
            ("planted items", lambda f: f["items"]),
            ("recall (item unreadable)", lambda f: f"{f['recall']:.1%}"),
            ("recall with the right placeholder", lambda f: f"{f['recall_typed']:.1%}"),
            *[(f"recall {kind}", lambda f, k=kind: f"{f['recall_by_type'].get(k, 0):.0%} of "
                                                    f"{f['items_by_type'].get(k, 0)}") for kind in PLACEHOLDERS],
            ("messages without personal data", lambda f: f["clean_cases"]),
            ("false-positive rate (message changed)", lambda f: f"{f['false_positive_rate']:.1%}"),
            ("needed words lost", lambda f: f"{f['kept_lost']} of {f['keeps']}")]
    for name, value in rows:
        print(f"| {name} | " + " | ".join(str(value(figures[h])) for h in ("all", "tuning", "test")) + " |")
    t = result["timing"]
    print(f"\nControl: {control} of {len(questions)} questions of the answer-quality sets changed.")
    print(f"Time per message: p50 {t['p50_ms']} ms, p95 {t['p95_ms']} ms (bare pass over the text: "
          f"{t['bare_p50_ms']} ms).")
    if args.show:
        for half in ("tuning", "test"):
            print(f"\n{half} half — misses:")
            print("\n".join("  " + m for m in figures[half]["_misses"][:args.show]) or "  none")
            print(f"{half} half — false positives and lost words:")
            print("\n".join("  " + m for m in figures[half]["_false_positives"][:args.show]) or "  none")


if __name__ == "__main__":
    main()
