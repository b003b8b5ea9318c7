"""The citation check on hand-made answers: each kind of error gets the right verdict, and what a citizen
would see is only what the sources say."""

import dataclasses

import pytest

from bot.citations import CitationChecker, SourceSentences, parse_markers, parse_refs, render
from bot.facts import covered, facts, normalise_number
from bot.sentences import sentence_spans, split_sentences
from embeddings.retrieval import Passage


def passage(body: str, title: str, heading: str = "") -> Passage:
    headings = f"{title} > {heading}" if heading else title
    return Passage(f"c-{title}", f"{headings}\n{body}", title, title, f"https://example.org/{title}", None,
                   headings, "public", 0.9)


SOURCES = [
    passage("Der Personalausweis kostet für Personen ab 24 Jahren 37 Euro. Ein Online-Antrag ist nicht möglich.",
            "Personalausweis beantragen", "Kosten"),
    passage("Das Serviceportal ist seit dem 17. März freigeschaltet. Über 12.000 Besuche gab es in acht Wochen.",
            "Serviceportal SiWi-Online"),
    passage("Die Hundesteuer beträgt 96 Euro im Jahr für den ersten Hund und 144 Euro für jeden weiteren Hund.\n"
            "- Gefährlicher Hund: 600 Euro im Jahr\n- Ersatz-Hundesteuermarke: 5 Euro",
            "Hundesteuer", "Kosten und Gebühren"),
    passage("Das Bürgerbüro erreichen Sie unter 02741 333-0 oder buergerbuero@kreis.example. "
            "Geöffnet ist es montags bis freitags von 8:00 bis 12:00 Uhr.", "Bürgerbüro", "Kontakt"),
]
checker = CitationChecker()


def verdicts(answer: str, **kwargs) -> list[tuple[str, tuple[int, ...]]]:
    return [(s.verdict, s.markers) for s in checker.check(answer, SOURCES, **kwargs)]


# --- the five kinds the issue names ---------------------------------------------------------------------

def test_correct_answer_is_supported():
    assert verdicts("Der Personalausweis kostet ab 24 Jahren 37 Euro. [1.1]") == [("supported", (1,))]
    assert verdicts("Der Personalausweis kostet ab 24 Jahren 37,00 €. [1]") == [("supported", (1,))]


def test_wrong_fee_is_unsupported():
    [checked] = checker.check("Der Personalausweis kostet ab 24 Jahren 45 Euro. [1]", SOURCES)
    assert checked.verdict == "unsupported" and "num:45" in checked.reason


def test_wrong_date_is_unsupported():
    assert verdicts("Das Serviceportal ist seit dem 19. März freigeschaltet. [2]") == [("unsupported", ())]
    assert verdicts("Das Serviceportal ist seit dem 17.03. freigeschaltet. [2]") == [("supported", (2,))]


def test_fact_cited_to_the_wrong_source_is_fixed():
    assert verdicts("Das Serviceportal ist seit dem 17. März freigeschaltet. [1]") == [("fixed", (2,))]


def test_factual_sentence_without_marker_is_never_shown_as_written():
    """An invention is dropped; a true claim without a marker is replaced by the source sentence that
    supports it, with its citation."""
    assert verdicts("Die nächste Bundestagswahl findet am 28. September statt.") == [("unsupported", ())]
    [checked] = checker.check("Das Serviceportal hatte über 12.000 Besuche in acht Wochen.", SOURCES)
    assert (checked.verdict, checked.markers) == ("quoted", (2,))
    assert checked.text == "Über 12.000 Besuche gab es in acht Wochen."
    assert verdicts("Das Serviceportal hatte über 15.000 Besuche in acht Wochen.") == [("unsupported", ())]


def test_a_list_of_bare_ids_quotes_every_selected_sentence():
    checked = checker.check("[3.2], [3.3]", SOURCES, question="Was kostet ein gefährlicher Hund?")
    assert [c.verdict for c in checked] == ["quoted", "quoted"]
    assert render(checked) == "- Gefährlicher Hund: 600 Euro im Jahr [3]\n- Ersatz-Hundesteuermarke: 5 Euro [3]"


def test_a_quoted_source_line_is_shown_without_markdown_residue():
    """Issue 14, failure kind 5: a quoted line kept "… alt**" from the source's Markdown."""
    fees = [passage("- **Personalausweis** für Personen ab 24 Jahren alt**: 46 Euro\n- Unter 24 Jahren: 27,60 Euro",
                    "Personalausweis", "Kosten")]
    [checked] = checker.check("[1.1]", fees, question="Was kostet der Personalausweis ab 24 Jahren?")
    assert checked.verdict == "quoted"
    assert checked.text == "Personalausweis für Personen ab 24 Jahren alt: 46 Euro"
    assert "*" not in render([checked])


def test_a_quote_must_be_about_what_the_question_names():
    """A bare amount or id from the model is shown as its source sentence only if that sentence is about the
    question's nouns, not merely about the same town."""
    gewerbe = [passage("- Gewerbeanmeldung in der Stadt Lindenau: 26 Euro", "Gewerbe anmelden", "Kosten")]
    assert verdicts_for("26 Euro", gewerbe, "Was kostet eine Hochzeit beim Standesamt in Lindenau?") == \
        [("unsupported", ())]
    assert verdicts_for("[1.1]", gewerbe, "Was kostet eine Hochzeit beim Standesamt in Lindenau?") == []
    assert verdicts_for("26 Euro", gewerbe, "Was kostet die Gewerbeanmeldung in Lindenau?") == [("quoted", (1,))]


def test_the_host_name_says_whose_page_a_sentence_is_on():
    """Citizens name the place ("… in München?"), service pages rarely do: the words of the page's host name
    are context of its sentences, like its headings. Without a URL the place stays unnamed."""
    url = "https://stadt.muenchen.de/service/info/reisepass"
    muenchen = [Passage("c-1", "Reisepass > Kosten\n- Express-Bestellung: Gebühr plus 32 Euro Aufpreis", "Reisepass",
                        "munich:1", url, url, "Reisepass > Kosten", "public", 0.9)]
    question = "Wie viel muss ich in München für einen Reisepass im Expressverfahren zusätzlich zahlen?"
    assert verdicts_for("32 Euro", muenchen, question) == [("quoted", (1,))]
    unnamed = [dataclasses.replace(muenchen[0], url=None, location="reisepass.md")]
    assert verdicts_for("32 Euro", unnamed, question) == [("unsupported", ())]
    # The host name counts as context, not as the statement: another town's question is still not answered.
    assert verdicts_for("32 Euro", muenchen, "Was kostet ein Expresspass in Lindenau beim Bürgerbüro?") == \
        [("unsupported", ())]


def test_a_negated_unmarked_fact_is_not_replaced_by_the_source_stating_it():
    """"Sie müssen die 13 Euro nicht zahlen" must not become the source's "13 Euro": it would say the opposite."""
    fee = [passage("- 13 Euro\n- Für ein Ehrenamt wird auf Antrag keine Gebühr erhoben.", "Führungszeugnis",
                   "Kosten und Gebühren")]
    question = "Muss ich für das Führungszeugnis die 13 Euro zahlen?"
    assert verdicts_for("Nein, Sie müssen die 13 Euro nicht zahlen.", fee, question) == [("unsupported", ())]
    assert verdicts_for("13 Euro", fee, question) == [("quoted", (1,))]


def verdicts_for(answer: str, passages: list[Passage], question: str) -> list[tuple[str, tuple[int, ...]]]:
    return [(s.verdict, s.markers) for s in checker.check(answer, passages, question=question)]


def test_words_of_an_address_are_no_statement():
    """"Sie erreichen das Bürgerbüro per E-Mail" is not supported by the address buergerbuero@… alone."""
    bauaufsicht = [passage("E-Mail: bauaufsicht@kreis-lindenau.example", "Bauantrag", "Kontakt")]
    checked = checker.check("Ja, Sie können den Bauantrag bei der Bauaufsicht des Kreises einreichen.", bauaufsicht,
                            question="Reiche ich den Bauantrag bei der Bauaufsicht des Kreises ein?")
    assert [c.verdict for c in checked] == ["unsupported"]


def test_a_sentence_id_without_brackets_is_a_selection():
    [checked] = checker.check("3.1", SOURCES, question="Was kostet der zweite Hund?")
    assert checked.verdict == "quoted" and checked.text.startswith("Die Hundesteuer beträgt")
    assert verdicts("7.1") == [("unsupported", ())]  # no such sentence: a number, and not in any source


# --- claims in the wrong slot, transferred claims --------------------------------------------------------

def test_right_number_in_the_wrong_slot_is_not_shown_as_written():
    """The measured failure: 96 Euro is in the cited sentence, but for the first dog, not the second."""
    [checked] = checker.check("Für den zweiten Hund zahlen Sie 96 Euro. [3.1]", SOURCES)
    assert checked.verdict == "quoted"  # the citizen reads the source sentence itself instead
    assert checked.text.startswith("Die Hundesteuer beträgt 96 Euro im Jahr für den ersten Hund und 144 Euro")
    assert "zweiten" not in render([checked])
    # Without a sentence id to quote, the wrong claim is simply dropped.
    assert verdicts("Für den zweiten Hund zahlen Sie 96 Euro. [3]") == [("unsupported", ())]


def test_number_of_another_list_item_is_unsupported():
    assert verdicts("Für einen gefährlichen Hund zahlen Sie 5 Euro im Jahr. [3]") == [("unsupported", ())]
    assert verdicts("Für einen gefährlichen Hund zahlen Sie 600 Euro im Jahr. [3]") == [("supported", (3,))]


def test_claim_transferred_to_another_service_is_not_supported():
    """Only the ID-card page says there is no online application; the passport is not mentioned."""
    [checked] = checker.check("Den Reisepass können Sie nicht online beantragen. [1]", SOURCES)
    assert checked.verdict == "unsupported"


def test_words_the_source_binds_to_another_amount_are_caught():
    """Every word and amount of these is in the cited sentence; only their order says the wrong thing."""
    assert verdicts("Für jeden weiteren Hund zahlen Sie 96 Euro. [3]") == [("unsupported", ())]
    assert verdicts("Die Hundesteuer beträgt 144 Euro im Jahr für den ersten Hund und 96 Euro für jeden "
                    "weiteren Hund. [3]") == [("unsupported", ())]


@pytest.mark.parametrize("answer", [
    "Für jeden weiteren Hund zahlen Sie 144 Euro. [3.1]",
    "Der erste Hund kostet 96 Euro im Jahr. [3.1]",
    "Die Hundesteuer für den ersten Hund beträgt 96 Euro, für jeden weiteren 144 Euro. [3.1]",
    "Für jeden weiteren Hund zahlen Sie 144 Euro Hundesteuer. [3.1]",
])
def test_reworded_amounts_in_their_own_context_stay_supported(answer):
    assert verdicts(answer) == [("supported", (3,))]


def test_an_office_or_document_the_source_does_not_name_is_not_supported():
    assert verdicts("Das Jugendamt erreichen Sie unter 02741 333-0. [4]") == [("unsupported", ())]
    assert verdicts("Der Reisepass kostet für Personen ab 24 Jahren 37 Euro. [1]") == [("unsupported", ())]
    # named in the heading path, which every sentence of the passage is about: fine
    assert verdicts("Der Personalausweis kostet ab 24 Jahren 37 Euro. [1]") == [("supported", (1,))]


def test_phone_email_and_times_must_match():
    assert verdicts("Sie erreichen das Bürgerbüro unter 02741 333-0. [4.1]") == [("supported", (4,))]
    assert verdicts("Sie erreichen das Bürgerbüro unter 02741 333-1. [4.1]")[0][0] != "supported"
    assert verdicts("Das Bürgerbüro ist montags bis freitags von 8 bis 12 Uhr geöffnet. [4.2]") == \
        [("supported", (4,))]
    assert verdicts("Das Bürgerbüro ist montags bis freitags von 8 bis 14 Uhr geöffnet. [4]") == \
        [("unsupported", ())]


def test_answer_in_another_language_needs_the_embedding_check():
    english = "The ID card costs 37 euros for people aged 24 and over. [1.1]"
    # Without an embedder, words cannot be compared across languages: nothing is claimed as verified.
    assert verdicts(english, cross_language=True)[0][0] != "supported"
    agreeing = CitationChecker(similarity=lambda sentence, candidates: [0.9] * len(candidates))
    assert [s.verdict for s in agreeing.check(english, SOURCES, cross_language=True)] == ["supported"]
    wrong = "The ID card costs 45 euros. [1.1]"
    assert agreeing.check(wrong, SOURCES, cross_language=True)[0].verdict != "supported"


# --- presentation ---------------------------------------------------------------------------------------

def test_short_lead_in_is_neutral_and_kept():
    checked = checker.check("Gerne helfe ich. Der Personalausweis kostet ab 24 Jahren 37 Euro [1.1].", SOURCES)
    assert [s.verdict for s in checked] == ["neutral", "supported"]
    assert render(checked) == "Gerne helfe ich. Der Personalausweis kostet ab 24 Jahren 37 Euro. [1]"


def test_snippet_and_span_locate_the_supporting_sentence():
    [sentence] = checker.check("Seit dem 17. März ist das Serviceportal freigeschaltet [2].", SOURCES)
    assert sentence.snippet == "Das Serviceportal ist seit dem 17. März freigeschaltet."
    start, end = sentence.span
    assert SOURCES[1].text[start:end] == sentence.snippet


def test_quoted_list_items_stay_list_items():
    checked = checker.check("[3.2] - Gefährlicher Hund: 600 Euro im Jahr\n[3.3] - Ersatz-Hundesteuermarke: 5 Euro",
                            SOURCES)
    assert [s.verdict for s in checked] == ["supported", "supported"]
    assert render(checked) == "- Gefährlicher Hund: 600 Euro im Jahr [3]\n- Ersatz-Hundesteuermarke: 5 Euro [3]"


def test_markers_outside_the_sources_are_ignored():
    assert parse_markers("Text [7].", n_sources=2) == ("Text.", ())
    assert parse_markers("Text [1, 2] [2]", n_sources=2) == ("Text", (1, 2))
    assert parse_refs("Text [2.3] [1]", n_sources=2) == ("Text", [(2, 3), (1, None)])


def test_source_sentences_are_numbered_as_in_the_prompt():
    sources = SourceSentences(SOURCES)
    assert [s.ref for s in sources.get(3, None)] == ["3.1", "3.2", "3.3"]
    assert sources.get(3, 2)[0].span.text == "- Gefährlicher Hund: 600 Euro im Jahr"


# --- the building blocks ---------------------------------------------------------------------------------

def test_sentence_split_keeps_dates_abbreviations_and_markers():
    text = "Seit dem 17. März gibt es z. B. Anträge nach Nr. 5 online. [1] Mehr steht gem. § 3 Abs. 2 im Portal. [2]"
    assert split_sentences(text) == ["Seit dem 17. März gibt es z. B. Anträge nach Nr. 5 online. [1]",
                                     "Mehr steht gem. § 3 Abs. 2 im Portal. [2]"]
    assert split_sentences("- Neufahrzeug: ca. 27 Euro (zzgl. Schilder)\n- Wunschkennzeichen: 10,20 Euro") == \
        ["- Neufahrzeug: ca. 27 Euro (zzgl. Schilder)", "- Wunschkennzeichen: 10,20 Euro"]
    for span in sentence_spans(text):
        assert text[span.start:span.end] == span.text


@pytest.mark.parametrize(("answer", "source"), [
    ("37,00 €", "37 Euro"), ("17.03.", "17. März 2020"), ("8.00 Uhr", "8:00"), ("sechs Wochen", "6 Wochen"),
    ("0800 111 0 111", "0800 1110111"), ("§ 3 Abs. 2", "§ 3 Absatz 2"), ("1.200,50 Euro", "1200,50 EUR"),
    ("www.kreis.example/zulassung/", "https://www.kreis.example/zulassung"),
])
def test_facts_compare_equal_however_written(answer, source):
    assert facts(answer) and covered(facts(answer), facts(source)), (facts(answer), facts(source))


@pytest.mark.parametrize(("answer", "source"), [
    ("37,50 €", "37 Euro"), ("18.03.", "17. März"), ("17. März 2021", "17. März 2020"), ("9 Uhr", "8 Uhr"),
    ("0800 111 0 112", "0800 111 0 111"), ("§ 4", "§ 3"),
])
def test_different_facts_differ(answer, source):
    assert not covered(facts(answer), facts(source))


def test_number_normalisation():
    assert normalise_number("37,00") == "37"
    assert normalise_number("12.000") == "12000"
    assert normalise_number("22,80") == "22.8"
    assert normalise_number("35,-") == "35"


def test_a_bare_sentence_id_quotes_that_sentence():
    """Small models often answer with the id of the answering sentence only: that is a valid, grounded
    answer, shown as the quoted source sentence."""
    [checked] = checker.check("[2.1]", SOURCES, question="Seit wann gibt es das Serviceportal?")
    assert checked.verdict == "quoted" and checked.markers == (2,)
    assert checked.text == "Das Serviceportal ist seit dem 17. März freigeschaltet."
    # Selected but beside the question: not shown.
    assert checker.check("[2.1]", SOURCES, question="Rezept für Apfelkuchen?") == []
    assert checker.check("[2.9]", SOURCES, question="Serviceportal?") == []


def test_a_bare_unmarked_fact_shows_the_one_source_sentence_stating_it():
    [checked] = checker.check("144 Euro", SOURCES, question="Was kostet die Hundesteuer für weitere Hunde?")
    assert checked.verdict == "quoted" and checked.markers == (3,)
    assert checked.text.startswith("Die Hundesteuer beträgt 96 Euro") and checked.original == "144 Euro"
    # Ambiguous (no source sentence, or several) or beside the question: dropped.
    assert verdicts("999 Euro", question="Hundesteuer?") == [("unsupported", ())]
    assert verdicts("144 Euro", question="Rezept für Apfelkuchen?") == [("unsupported", ())]


# --- the model selects a sentence that names the thing instead of the one that answers --------------------

OFFICE = [passage("Straßenverkehrsamt – Zulassungsstelle\nAnschrift: Kreishaus, Am Markt 1, 57000 Lindenau\n"
                  "Telefon: 02799 333-2100\nÖffnungszeiten: Mo–Fr 7:30–12:30 Uhr, Do zusätzlich 14:00–17:30 Uhr",
                  "Fahrzeug zulassen", "Zuständige Stelle Zulassungsstelle")]


@pytest.mark.parametrize(("question", "shown"), [
    ("Wann hat die Zulassungsstelle geöffnet?", "Öffnungszeiten: Mo–Fr 7:30–12:30 Uhr, Do zusätzlich 14:00–17:30 Uhr"),
    ("Wie ist die Telefonnummer der Zulassungsstelle?", "Telefon: 02799 333-2100"),
    # no kind of fact asked for: the model's choice stands
    ("Wer ist für die Zulassung zuständig?", "Straßenverkehrsamt – Zulassungsstelle"),
])
def test_a_selected_line_without_the_asked_fact_gives_way_to_the_line_with_it(question, shown):
    [checked] = checker.check("[1.1]", OFFICE, question=question)
    assert checked.verdict == "quoted" and checked.text == shown and checked.markers == (1,)


def test_asked_kinds():
    from bot.facts import asked_kinds
    assert asked_kinds("Hat die Ausländerbehörde freitags auf?") == {"time"}
    assert asked_kinds("Was kostet ein Reisepass?") == {"num"}
    assert asked_kinds("What are the opening hours and the fee?") == {"time", "num"}
    assert asked_kinds("Ist der Personalausweis kostenlos?") == set()
    assert asked_kinds("Welche Unterlagen brauche ich?") == set()


def test_across_languages_an_unmarked_fact_is_quoted_from_the_top_passage_only():
    """An English question shares few words with German sources: the unmarked "96 Euro" is quoted from the
    top-ranked passage that states it, and a fact found only in a lower-ranked passage is not quoted."""
    dogs = [SOURCES[2], SOURCES[0]]
    [checked] = checker.check("96 Euro", dogs, cross_language=True, question="How much is the dog tax?")
    assert checked.verdict == "quoted" and "96 Euro im Jahr für den ersten Hund" in checked.text
    [checked] = checker.check("37 Euro", dogs, cross_language=True, question="How much is the dog tax?")
    assert checked.verdict == "unsupported"
