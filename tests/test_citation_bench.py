"""The corrupted-answer benchmark (bench/citation_check.py): its corruptions are really false, its generation is
reproducible, and the check catches what it is designed to catch (changed amounts and dates)."""

import re

import pytest

from bench.citation_check import CORRUPT_KINDS, KINDS, NEGATION, PARTNERS, benchmark, generate, load_services
from bot.citations import SourceSentences, parse_refs
from bot.facts import covered, facts

# Services with fees, ranges, dates and a related service each; small enough for a fast run.
SERVICES = ["personalausweis", "hundesteuer", "elterngeld", "jagdschein"]


@pytest.fixture(scope="module")
def services():
    return load_services()


@pytest.fixture(scope="module")
def groups(services):
    return generate(services, SERVICES)


def text_of(answer: str) -> str:
    text, _ = parse_refs(answer, 99)
    return re.sub(r"^Laut Quelle:\s*", "", text)


def cases(groups, kind):
    return [case for group in groups for case in group.cases if case.kind == kind]


def test_every_kind_is_generated(groups):
    made = {case.kind for group in groups for case in group.cases}
    assert set(KINDS) - made <= {"clause_swap"}, set(KINDS) - made


def test_generation_is_deterministic(services, groups):
    again = generate(services, SERVICES)
    assert [g.cases for g in again] == [g.cases for g in groups]
    assert [[p.chunk_id for p in g.passages] for g in again] == [[p.chunk_id for p in g.passages] for g in groups]
    # A service's cases do not depend on which other services run with it.
    assert generate(services, ["hundesteuer"])[0].cases == groups[1].cases


def test_true_sentences_state_only_what_their_source_says(groups):
    for case in cases(groups, "correct") + cases(groups, "correct_wrong_marker"):
        assert covered(facts(text_of(case.answer)), facts(case.source)), case


@pytest.mark.parametrize("kind", ["number_swap", "wrong_slot", "date_swap", "time_swap", "phone_swap",
                                  "email_swap"])
def test_changed_facts_are_not_in_the_cited_sentence(groups, kind):
    found = cases(groups, kind)
    assert found or kind in ("date_swap",), kind
    for case in found:
        assert not covered(facts(text_of(case.answer)), facts(case.source)), case
        old, new = case.detail.split(" → ")
        assert new in case.answer and old != new, case


def test_wrong_slot_takes_its_number_from_another_sentence_of_the_same_chunk(groups):
    for group in groups:
        sources = SourceSentences(group.passages)
        for case in (c for c in group.cases if c.kind == "wrong_slot"):
            source, index = map(int, case.ref.split("."))
            [cited] = sources.get(source, index)
            assert cited.span.text == case.source
            new = facts(case.detail.split(" → ")[1] + " Euro")  # the unit only makes a number word a fact
            others = [s for s in sources.get(cited.source, None) if s.index != cited.index]
            assert any(covered(new, set(s.facts)) for s in others), case
            assert not covered(new, set(cited.facts)), case


def test_transferred_claims_name_another_service(groups, services):
    found = cases(groups, "transferred")
    assert found
    for case in found:
        old, rest = case.detail.split(" → ")
        new, partner = rest.rsplit(" (", 1)
        assert partner.rstrip(")") != case.service and partner.rstrip(")") == PARTNERS[case.service][0]
        assert new in case.answer and new not in case.source and old in case.source, case
        assert not re.search(rf"\b{re.escape(old)}\b", text_of(case.answer)), case


def test_name_swaps_use_names_the_service_never_mentions(groups, services):
    for case in cases(groups, "name_swap"):
        old, new = case.detail.split(" → ")
        assert new.lower() not in services[case.service].text.lower() and old in case.source, case


def test_negation_flips_the_statement(groups):
    for case in cases(groups, "negation"):
        assert NEGATION.findall(text_of(case.answer)) != NEGATION.findall(case.source), case


def test_inventions_are_factual_and_uncited(groups):
    for case in cases(groups, "uncited_invention"):
        assert facts(case.answer) and parse_refs(case.answer, 99)[1] == [], case


def test_benchmark_figures(services):
    figures = benchmark(SERVICES, services=services)
    rates = [figures[k] for k in ("recall", "precision", "precision_strict", "false_alarm_rate", "quoted_rate")]
    rates += [v for kind in figures["kinds"].values() for k, v in kind.items() if k in
              ("recall", "false_alarm", "quoted", "recall_sentence_marker", "recall_source_marker")]
    assert all(0.0 <= rate <= 1.0 for rate in rates), figures
    assert figures["corrupted"] == sum(figures["kinds"][k]["n"] for k in CORRUPT_KINDS)
    # The check is designed to catch every changed amount and date: a miss here is a bug in it, not noise.
    for kind in ("number_swap", "date_swap"):
        entry = figures["kinds"][kind]
        assert entry["n"] > 0 and entry["recall"] == 1.0, (kind, entry["examples"])
