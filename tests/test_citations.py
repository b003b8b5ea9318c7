"""The citation check on hand-made answers: each kind of error gets the right verdict."""

from bot.citations import CitationChecker, normalise_number, parse_markers, render, split_sentences
from embeddings.retrieval import Passage


def passage(text: str, title: str = "Quelle") -> Passage:
    return Passage("c", text, title, title, f"https://example.org/{title}", None, title, "public", 0.9)


SOURCES = [
    passage("Der Personalausweis kostet für Personen ab 24 Jahren 37 Euro. Ein Online-Antrag ist nicht möglich.",
            "Personalausweis"),
    passage("Das Serviceportal ist seit dem 17. März freigeschaltet. Über 12.000 Besuche gab es in acht Wochen.",
            "Serviceportal"),
]
checker = CitationChecker()


def verdicts(answer: str) -> list[tuple[str, tuple[int, ...]]]:
    return [(s.verdict, s.markers) for s in checker.check(answer, SOURCES)]


def test_correct_answer_is_supported():
    assert verdicts("Der Personalausweis kostet ab 24 Jahren 37 Euro. [1]") == [("supported", (1,))]


def test_wrong_fee_is_unsupported():
    assert verdicts("Der Personalausweis kostet ab 24 Jahren 45 Euro. [1]") == [("unsupported", ())]


def test_wrong_date_is_unsupported():
    assert verdicts("Das Serviceportal ist seit dem 19. März freigeschaltet. [2]") == [("unsupported", ())]


def test_fact_cited_to_the_wrong_source_is_fixed():
    assert verdicts("Das Serviceportal ist seit dem 17. März freigeschaltet. [1]") == [("fixed", (2,))]


def test_factual_sentence_without_marker_gets_the_supporting_source():
    assert verdicts("Das Serviceportal hatte über 12.000 Besuche in acht Wochen.") == [("fixed", (2,))]


def test_invented_sentence_without_marker_is_unsupported():
    assert verdicts("Die nächste Bundestagswahl findet am 28. September statt.") == [("unsupported", ())]


def test_marker_outside_the_sources_is_ignored():
    assert parse_markers("Text [7].", n_sources=2) == ("Text.", ())
    assert parse_markers("Text [1, 2] [2]", n_sources=2) == ("Text", (1, 2))


def test_short_lead_in_is_neutral_and_kept():
    checked = checker.check("Gerne helfe ich. Der Personalausweis kostet ab 24 Jahren 37 Euro [1].", SOURCES)
    assert [s.verdict for s in checked] == ["neutral", "supported"]
    assert render(checked) == "Gerne helfe ich. Der Personalausweis kostet ab 24 Jahren 37 Euro. [1]"


def test_snippet_is_the_supporting_source_sentence():
    [sentence] = checker.check("Seit dem 17. März ist das Serviceportal freigeschaltet [2].", SOURCES)
    assert sentence.snippet == "Das Serviceportal ist seit dem 17. März freigeschaltet."


def test_sentence_split_keeps_dates_and_abbreviations():
    text = "Seit dem 17. März gibt es z. B. Anträge nach Nr. 5 online. [1] Mehr steht im Portal. [2]"
    assert split_sentences(text) == ["Seit dem 17. März gibt es z. B. Anträge nach Nr. 5 online. [1]",
                                     "Mehr steht im Portal. [2]"]


def test_number_normalisation():
    assert normalise_number("37,00") == "37"
    assert normalise_number("12.000") == "12000"
    assert normalise_number("22,80") == "22.80"
