"""How well the citation check (bot/citations.py) keeps false wording from a citizen, measured on deliberately
corrupted answers built from the sample knowledge base (knowledge/sample/services, 52 services).

Why generated rather than hand-written: a few hand-made examples (tests/test_citations.py) show each verdict
once; a measurement needs hundreds of sentences of each kind, reproducibly, over real service texts.

For each service, its chunks are the "retrieved" passages, plus 1–2 chunks of a related service (PARTNERS) as
distractors, shuffled, so that a claim can be fixed to, or transferred from, another source. Answer sentences
are made from the service's own source sentences (list dash and step number removed; written verbatim,
"Laut Quelle: …", or "X: Y" → "Y (X)") and cited by sentence id [n.m] (three in four) or by source [n]:

- correct: true, cited to its own sentence; correct_wrong_marker: true, cited to another source of the same
  service (the check should fix the marker). Neither is an error.
- number_swap: a quantity (number before a unit, "96 Euro", "zwei Wochen") → a value none of the passages has.
- wrong_slot: a quantity → the same kind of quantity of another sentence of the same chunk ("Jeder weitere
  Hund: 96 Euro", 96 being the first dog's fee). clause_swap: two quantities of one sentence exchanged (every
  fact and word still in the cited sentence, so the check cannot see it by design; measured to know the gap).
- date_swap, time_swap: day, month or year; an hour (opening times) → a value none of the passages has.
- phone_swap, email_swap: replaced by another office's number or address (from another service).
- name_swap: an office, document, building or town (NAMES) → one of the same gender that the service's page
  never mentions ("im Bürgerbüro" → "im Jugendamt").
- transferred: the service's subject noun → the related service's ("Personalausweis ab 24 Jahren: 46 Euro" →
  "Reisepass ab 24 Jahren: 46 Euro"); only for sentences with a fact, and only where no sentence of the related
  service's page states the same facts with half the words, so the claim is really false for it.
- negation: "nicht"/"kein" removed, or "nicht"/"kein" added after ist/sind where the German stays right.
- uncited_invention: an invented factual sentence (fee, duration, deadline, opening hour) without a marker.

A case is skipped where the corruption cannot be made really false (no quantity, no date, ...). Generation is
deterministic: each service draws from random.Random("42:<service id>"), so a service's cases do not depend on
which other services are run.

Each answer sentence is checked on its own with CitationChecker() (defaults) against the case's passages.
Corrupted sentences are caught when the citizen does not see their wording: verdict unsupported, or quoted
(the cited source sentence is shown instead). A correct sentence is a false alarm when it is unsupported;
quoted correct sentences (kept, but in the source's words) are counted apart. Precision = caught / (caught +
false alarms); "strict" also counts quoted correct sentences as flags. The true sentences are near-verbatim, so
their false-alarm rate is a lower bound for a model's freer wording; and the "Laut Quelle:" lead-in adds two
words the source lacks, which helps catch some corruptions (see the wording rows of the table).

    .venv/bin/python bench/citation_check.py [--services hundesteuer,personalausweis] [--examples 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.citations import CitationChecker, SourceSentence, SourceSentences, content_stems  # noqa: E402
from bot.facts import covered, facts, normalise_number  # noqa: E402
from bot.sentences import split_sentences  # noqa: E402
from embeddings.retrieval import Passage  # noqa: E402
from knowledge.chunking import Chunker  # noqa: E402
from knowledge.loaders import SourceFile, load_file  # noqa: E402

SERVICES_DIR = REPO / "knowledge" / "sample" / "services"
SEED = 42
CORRECT_KINDS = ("correct", "correct_wrong_marker")
CORRUPT_KINDS = ("number_swap", "wrong_slot", "clause_swap", "date_swap", "time_swap", "phone_swap", "email_swap",
                 "name_swap", "transferred", "negation", "uncited_invention")
KINDS = CORRECT_KINDS + CORRUPT_KINDS
# Sentences per service and kind, at most: several hundred in all, correct ones most.
QUOTA = {"correct": 6, "correct_wrong_marker": 2, "number_swap": 3, "wrong_slot": 3, "clause_swap": 1,
         "date_swap": 2, "time_swap": 1, "phone_swap": 1, "email_swap": 1, "name_swap": 2, "transferred": 2,
         "negation": 2, "uncited_invention": 2}
CAUGHT = frozenset({"unsupported", "quoted"})

# service → (related service, [(its subject noun, the related service's noun of the same gender)]). The related
# service gives the distractor chunks and the target of transferred claims.
PARTNERS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "abbruchanzeige": ("bauvoranfrage", [("Anzeige", "Bauvoranfrage")]),
    "abfallentsorgung": ("sperrmuell", [("Restmülltonne", "Sperrmüllabholung")]),
    "amtsaerztliche-untersuchung": ("schuleingangsuntersuchung", [("Untersuchung", "Schuleingangsuntersuchung")]),
    "aufenthaltstitel": ("niederlassungserlaubnis", [("Aufenthaltserlaubnis", "Niederlassungserlaubnis")]),
    "bauantrag": ("bauvoranfrage", [("Baugenehmigung", "Bauvoranfrage")]),
    "bauvoranfrage": ("bauantrag", [("Bauvoranfrage", "Baugenehmigung"), ("Vorbescheid", "Bauantrag")]),
    "beistandschaft": ("sorgeerklaerung", [("Beistandschaft", "Sorgeerklärung")]),
    "einbuergerung": ("niederlassungserlaubnis", [("Einbürgerung", "Niederlassungserlaubnis")]),
    "eingliederungshilfe": ("erziehungsberatung", [("Schulbegleitung", "Erziehungsberatung")]),
    "elterngeld": ("wohngeld", [("Elterngeld", "Wohngeld"), ("Basiselterngeld", "Wohngeld")]),
    "ersatzfuehrerschein": ("fuehrerschein-umtausch", [("Ersatzführerschein", "Kartenführerschein")]),
    "erziehungsberatung": ("eingliederungshilfe", [("Erziehungsberatung", "Eingliederungshilfe")]),
    "fischereischein": ("jagdschein", [("Fischereischein", "Jagdschein"), ("Fischerprüfung", "Jägerprüfung")]),
    "fuehrerschein-ersterteilung": ("fuehrerschein-lkw-verlaengerung", [("Erteilung", "Verlängerung")]),
    "fuehrerschein-lkw-verlaengerung": ("fuehrerschein-ersterteilung", [("Verlängerung", "Ersterteilung")]),
    "fuehrerschein-umtausch": ("ersatzfuehrerschein", [("Kartenführerschein", "Ersatzführerschein")]),
    "fuehrungszeugnis": ("infektionsschutz-belehrung", [("Führungszeugnis", "Gesundheitszeugnis")]),
    "gewerbe-anmelden": ("fuehrungszeugnis", []),
    "grundsicherung-alter": ("hilfe-zur-pflege", [("Grundsicherung", "Hilfe zur Pflege")]),
    "hilfe-zur-pflege": ("grundsicherung-alter", [("Hilfe zur Pflege", "Grundsicherung")]),
    "hundehaltung": ("hundesteuer", [("Erlaubnis", "Hundesteuer"), ("Verhaltensprüfung", "Hundesteuer")]),
    "hundesteuer": ("hundehaltung", [("Hundesteuer", "Verhaltensprüfung")]),
    "impfberatung": ("schuleingangsuntersuchung", [("Impfung", "Schuleingangsuntersuchung")]),
    "infektionsschutz-belehrung": ("fuehrungszeugnis", [("Gesundheitszeugnis", "Führungszeugnis")]),
    "internationaler-fuehrerschein": ("ersatzfuehrerschein", [("Internationaler Führerschein",
                                                                "Ersatzführerschein")]),
    "jagdschein": ("fischereischein", [("Jagdschein", "Fischereischein"), ("Jägerprüfung", "Fischerprüfung")]),
    "katastrophenschutz-ehrenamt": ("impfberatung", []),
    "kfz-ausserbetriebsetzung": ("kfz-umschreibung", [("Außerbetriebsetzung", "Umschreibung")]),
    "kfz-umschreibung": ("kfz-zulassung", [("Umschreibung", "Zulassung")]),
    "kfz-zulassung": ("kfz-umschreibung", [("Zulassung", "Umschreibung")]),
    "kita-elternbeitraege": ("schuelerfahrkosten", []),
    "kurzzeitkennzeichen": ("wunschkennzeichen", [("Kurzzeitkennzeichen", "Wunschkennzeichen")]),
    "lebensmittelkontrolle-beschwerde": ("trinkwasser-untersuchung", [("Beschwerde", "Trinkwasseruntersuchung")]),
    "niederlassungserlaubnis": ("aufenthaltstitel", [("Niederlassungserlaubnis", "Aufenthaltserlaubnis")]),
    "parkausweis-behinderung": ("schwerbehindertenausweis", [("Parkausweis", "Schwerbehindertenausweis")]),
    "personalausweis": ("reisepass", [("Personalausweis", "Reisepass")]),
    "pflegeberatung": ("hilfe-zur-pflege", [("Pflegeberatung", "Hilfe zur Pflege")]),
    "reisepass": ("personalausweis", [("Reisepass", "Personalausweis")]),
    "schueler-bafoeg": ("schuelerfahrkosten", [("Schüler-BAföG", "Schülerticket")]),
    "schuelerfahrkosten": ("schueler-bafoeg", [("Schülerticket", "Schüler-BAföG")]),
    "schuleingangsuntersuchung": ("impfberatung", [("Schuleingangsuntersuchung", "Impfberatung"),
                                                   ("Untersuchung", "Impfung")]),
    "schwerbehindertenausweis": ("parkausweis-behinderung", [("Schwerbehindertenausweis", "Parkausweis")]),
    "sorgeerklaerung": ("vaterschaftsanerkennung", [("Sorgeerklärung", "Vaterschaftsanerkennung")]),
    "sperrmuell": ("abfallentsorgung", [("Sperrmüll", "Restmüll")]),
    "tierhaltung-anmelden": ("hundehaltung", [("Tierhaltung", "Hundehaltung")]),
    "trinkwasser-untersuchung": ("lebensmittelkontrolle-beschwerde", [("Untersuchung", "Lebensmittelkontrolle")]),
    "unterhaltsvorschuss": ("beistandschaft", []),
    "vaterschaftsanerkennung": ("sorgeerklaerung", [("Vaterschaftsanerkennung", "Sorgeerklärung"),
                                                    ("Anerkennung", "Sorgeerklärung")]),
    "vorsorgevollmacht-beglaubigung": ("sorgeerklaerung", [("Beglaubigung", "Beurkundung")]),
    "waffenbesitzkarte": ("jagdschein", []),
    "wohngeld": ("elterngeld", [("Wohngeld", "Elterngeld")]),
    "wunschkennzeichen": ("kurzzeitkennzeichen", [("Wunschkennzeichen", "Kurzzeitkennzeichen")]),
}

# Names that a model may confuse, grouped so that a swap keeps article and case right.
NAMES: dict[str, tuple[str, ...]] = {
    "office_f": ("Bauaufsicht", "Ausländerbehörde", "Fahrerlaubnisbehörde", "Zulassungsstelle", "Elterngeldstelle",
                 "Einbürgerungsbehörde", "Betreuungsbehörde", "Abfallberatung", "Wohngeldstelle"),
    "office_n": ("Bürgerbüro", "Gesundheitsamt", "Jugendamt", "Standesamt", "Veterinäramt", "Sozialamt",
                 "Ordnungsamt", "Gewerbeamt", "Straßenverkehrsamt", "Finanzamt", "Amtsgericht"),
    "document_f": ("Geburtsurkunde", "Heiratsurkunde", "Meldebescheinigung", "Verlustanzeige",
                   "Sehtestbescheinigung", "Einkommenserklärung"),
    "document_m": ("Mietvertrag", "Arbeitsvertrag", "Lageplan", "Rentenbescheid", "Steuerbescheid"),
    "building": ("Kreishaus", "Gesundheitshaus", "Rathaus"),
    "town": ("Birkenfeld", "Eichenau", "Hohenwald", "Talbach"),
}

UNIT = (r"(?:Euro|EUR|€|Prozent|%|Jahren|Jahre|Jahr|Monaten|Monate|Monat|Wochenstunden|Wochen|Woche|Werktagen|"
        r"Werktage|Tagen|Tage|Tag|Stunden|Stunde|Minuten|Minute|Kilometern|Kilometer|Metern|Meter|Kubikmetern|"
        r"Kubikmeter|Liter|Zentimeter|Kilogramm|kg|cm|mm)(?!\w)")
# A number before a unit, directly or as the start of a range ("2 bis 4 Wochen"); not part of a date, time,
# phone number, room or step number, which have no unit after them.
QUANTITY = re.compile(rf"(?<![\w.,:/-])(\d{{1,3}}(?:\.\d{{3}})+(?:,\d+)?|\d+(?:,\d+)?)"
                      rf"(?=(?:\s*(?:bis|–|-|und|oder)\s*\d+(?:,\d+)?)?\s*({UNIT}))")
WORDS = {"zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6, "sieben": 7, "acht": 8, "zehn": 10, "zwölf": 12}
WORD_QUANTITY = re.compile(rf"\b({'|'.join(WORDS)})(?=\s+({UNIT}))", re.IGNORECASE)
SINGULAR_UNITS = {"Jahr", "Monat", "Woche", "Tag", "Stunde", "Minute"}
GERMAN_MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
                 "November", "Dezember")
DATE_NAMED = re.compile(rf"\b(\d{{1,2}})\.\s*({'|'.join(GERMAN_MONTHS)})\b(?:\s+(\d{{4}}))?")
DATE_NUMERIC = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})?")
TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b")
PHONE = re.compile(r"\b0\d{3,5} \d{3}-\d{1,5}\b")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
NEGATION = re.compile(r"\b(nicht|kein|keine|keinen|keinem|keiner|keines|ohne|nur|sondern|weder|nie)\b", re.IGNORECASE)
# "ist kostenlos." / "ist ein Ausfuhrkennzeichen nötig": where an added negation stays good German.
NEGATABLE = re.compile(r"\b(ist|sind)\s+(?=(?:[a-zäöüß]+(?:[.;,]|\s+und\b|$))|ein(?:e|en)?\s)")
INVENTIONS = ("Die Bearbeitung dauert in der Regel {n} Wochen.", "Die Gebühr beträgt {x} Euro.",
              "Der Antrag muss spätestens {n} Tage vorher gestellt werden.",
              "Samstags ist die zuständige Stelle von 9 bis {h} Uhr geöffnet.",
              "Nach {n} Monaten müssen Sie den Antrag erneuern.")


@dataclass(frozen=True)
class Service:
    id: str
    title: str
    passages: list[Passage]
    text: str
    """All chunk texts: does the service's page mention something anywhere?"""


@dataclass(frozen=True)
class Case:
    service: str
    kind: str
    answer: str
    """The answer sentence as the model would write it, with its marker (none for uncited inventions)."""
    source: str
    """The source sentence it was made from (verbatim)."""
    cited: str
    """What the marker points at: the source sentence, a whole source ("source 3"), or "" (no marker)."""
    detail: str = ""
    """What was changed, e.g. "96 → 120"."""
    marker: str = "sentence"
    """"sentence" ([n.m]), "source" ([n]) or "none"."""
    style: str = "verbatim"
    """How the source sentence was worded: verbatim, lead_in ("Laut Quelle: …"), reorder ("Y (X)")."""
    ref: str = ""
    """Id of the source sentence ("5.2"), as numbered in the case's passages."""


@dataclass
class ServiceCases:
    service: str
    passages: list[Passage]
    cases: list[Case] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    case: Case
    verdict: str
    shown: str
    """What the citizen reads in its place ("" when dropped)."""


# --- loading ---------------------------------------------------------------------------------------------------

def load_services(directory: Path = SERVICES_DIR) -> dict[str, Service]:
    chunker = Chunker(700, 100)
    services: dict[str, Service] = {}
    for path in sorted(directory.glob("*.yaml")):
        document = load_file(SourceFile(path, path.stem))
        passages = [Passage(chunk.chunk_id, chunk.text, document.title, path.stem, str(path), document.url,
                            " > ".join(chunk.headings), "public", 1.0) for chunk in chunker.split(document)]
        services[path.stem] = Service(path.stem, document.title, passages, "\n".join(p.text for p in passages))
    return services


def distractors(partner: Service) -> list[Passage]:
    """The related service's fee chunk and first description chunk: the two most often retrieved beside."""
    fees = [p for p in partner.passages if p.headings.endswith("Kosten und Gebühren")][:1]
    description = [p for p in partner.passages if p.headings.endswith("Beschreibung")][:1]
    return (fees + description) or partner.passages[:2]


# --- helpers -----------------------------------------------------------------------------------------------------

def body_of(sentence: str) -> str:
    """A source sentence as an answer would use it: no list dash, no step number."""
    return re.sub(r"^(?:[-*•]\s+|\d+\.\s+)", "", sentence.strip())


def styled(body: str, rng: random.Random) -> tuple[str, str]:
    """A light, truthful rewording, so that the check is not measured on verbatim copies only: (text, style)."""
    styles = ["verbatim"] + (["lead_in"] if ":" not in body else [])
    label = re.fullmatch(r"([^:]{3,60}):\s+([^:]+?)\.?", body)
    if label and not re.search(r"https?://|@", body):
        styles.append("reorder")
    style = rng.choice(styles)
    if style == "lead_in":
        return f"Laut Quelle: {body}", style
    if style == "reorder" and label:
        return f"{label.group(2)} ({label.group(1)})", style
    return body, style


def with_marker(text: str, marker: str) -> str:
    text = text.rstrip()
    if not text.endswith((".", "!", "?")):
        text += "."
    return f"{text} {marker}".strip()


def value_of(number: str) -> float:
    return float(normalise_number(number))


def render_number(value: float, like: str) -> str:
    """`value` written as `like` is (decimal comma, thousands dots)."""
    decimals = len(like.split(",")[1]) if "," in like else 0
    text = f"{value:,.{decimals}f}".replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text if "." in like or value < 1000 or "." not in text else text.replace(".", "")


def ranges_ok(text: str) -> bool:
    """"2 bis 4 Wochen", "drei bis vier Wochen" must stay ranges from low to high."""
    number = rf"(\d+(?:,\d+)?|{'|'.join(WORDS)})"
    for low, high in re.findall(rf"{number}\s*(?:bis|–)\s*{number}\b", text, re.IGNORECASE):
        if amount(low) >= amount(high):
            return False
    return True


def amount(number: str) -> float:
    return float(WORDS[number.lower()]) if number.lower() in WORDS else value_of(number)


def unit_class(unit: str) -> str:
    unit = unit.lower()
    for prefix, name in (("euro", "money"), ("eur", "money"), ("€", "money"), ("proz", "percent"), ("%", "percent"),
                         ("wochenst", "hours"), ("jahr", "year"), ("monat", "month"), ("woche", "week"),
                         ("werkt", "day"), ("tag", "day"), ("stund", "hour"), ("minut", "minute")):
        if unit.startswith(prefix):
            return name
    return unit


@dataclass(frozen=True)
class Quantity:
    start: int
    end: int
    text: str
    value: float
    unit: str
    word: bool


def quantities(text: str) -> list[Quantity]:
    found = [Quantity(m.start(1), m.end(1), m.group(1), value_of(m.group(1)), m.group(2), False)
             for m in QUANTITY.finditer(text)]
    found += [Quantity(m.start(1), m.end(1), m.group(1), float(WORDS[m.group(1).lower()]), m.group(2), True)
              for m in WORD_QUANTITY.finditer(text)]
    # "1 Monat" cannot take another value without its unit changing form.
    return sorted((q for q in found if not (q.value == 1 and q.unit in SINGULAR_UNITS)), key=lambda q: q.start)


def replace(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


def num_fact(value: float) -> str:
    return f"num:{normalise_number(str(value).replace('.', ','))}"


# --- the generator --------------------------------------------------------------------------------------------

class Generator:
    """Answer sentences for one service, true and corrupted; each maker returns None where it cannot make a
    case that is really what its kind says."""

    def __init__(self, service: Service, services: dict[str, Service], seed: int = SEED):
        self.service = service
        self.rng = random.Random(f"{seed}:{service.id}")
        partner_id, self.nouns = PARTNERS.get(service.id, ("", []))
        self.partner = services.get(partner_id)
        passages = list(service.passages) + (distractors(self.partner) if self.partner else [])
        self.rng.shuffle(passages)
        self.passages = passages
        self.sources = SourceSentences(passages)
        own = {id(p) for p in service.passages}
        self.own = [s for s in self.sources.all() if id(passages[s.source - 1]) in own]
        self.all_facts: set[str] = set().union(*(s.facts for s in self.sources.all()))
        self.page = service.text.lower()
        others = [s for s in services.values() if s.id != service.id]
        self.phones = sorted({m.group() for s in others for m in PHONE.finditer(s.text)})
        self.emails = sorted({m.group() for s in others for m in EMAIL.finditer(s.text)})
        self.partner_sentences = SourceSentences(self.partner.passages).all() if self.partner else []

    def cases(self) -> ServiceCases:
        makers: dict[str, Callable[[SourceSentence], Case | None]] = {
            "correct": self.correct, "correct_wrong_marker": self.correct_wrong_marker,
            "number_swap": self.number_swap, "wrong_slot": self.wrong_slot, "clause_swap": self.clause_swap,
            "date_swap": self.date_swap, "time_swap": self.time_swap, "phone_swap": self.phone_swap,
            "email_swap": self.email_swap, "name_swap": self.name_swap, "transferred": self.transferred,
            "negation": self.negation}
        result = ServiceCases(self.service.id, self.passages)
        for kind in KINDS:
            if kind == "uncited_invention":
                templates = self.rng.sample(INVENTIONS, QUOTA[kind])
                result.cases.extend(case for t in templates if (case := self.uncited_invention(t)))
                continue
            made = [case for s in self.own if (case := makers[kind](s))]
            self.rng.shuffle(made)
            # Splitting is the slow part: only for the cases taken.
            result.cases.extend([case for case in made if single_sentence(case.answer)][:QUOTA[kind]])
        return result

    # markers and framing

    def cite(self, s: SourceSentence) -> tuple[str, str, str]:
        """(marker, what it points at, marker kind): the sentence id mostly, sometimes only the source."""
        if self.rng.random() < 0.75:
            return f"[{s.ref}]", s.span.text, "sentence"
        return f"[{s.source}]", f"source {s.source}", "source"

    def make(self, kind: str, s: SourceSentence, body: str, detail: str = "") -> Case:
        marker, cited, marker_kind = self.cite(s)
        text, style = styled(body, self.rng)
        return Case(self.service.id, kind, with_marker(text, marker), s.span.text, cited, detail, marker_kind, style,
                    s.ref)

    # true sentences

    def correct(self, s: SourceSentence) -> Case | None:
        body = body_of(s.span.text)
        return self.make("correct", s, body) if content_stems(body) else None

    def correct_wrong_marker(self, s: SourceSentence) -> Case | None:
        body = body_of(s.span.text)
        if not (s.facts and content_stems(body)):
            return None
        others = sorted({o.source for o in self.own if o.source != s.source})
        if not others:
            return None
        wrong = self.rng.choice(others)
        ids = [o.index for o in self.sources.get(wrong, None)]
        marker = f"[{wrong}.{self.rng.choice(ids)}]" if ids and self.rng.random() < 0.75 else f"[{wrong}]"
        return Case(self.service.id, "correct_wrong_marker", with_marker(body, marker), s.span.text,
                    f"source {wrong}", f"true source {s.ref}", "sentence" if "." in marker else "source",
                    ref=s.ref)

    # numbers

    def fresh_values(self, q: Quantity, cited: SourceSentence) -> list[float]:
        """Other plausible values that no passage states."""
        v = q.value
        candidates = {v * 2, v * 1.5, v / 2, v * 1.2} | ({v + 1, v + 2, v - 1, v + 10} if v < 100 else set())
        if q.word:
            candidates = set(WORDS.values())
        else:
            decimals = len(q.text.split(",")[1]) if "," in q.text else 0
            candidates = {round(c, decimals) if decimals else float(round(c)) for c in candidates}
        return sorted(c for c in candidates
                      if c > 1 and c != v and num_fact(c) not in self.all_facts and num_fact(c) not in cited.facts)

    def written(self, value: float, q: Quantity) -> str:
        if q.word:
            word = next(w for w, n in WORDS.items() if n == value)
            return word.capitalize() if q.text[0].isupper() else word
        return render_number(value, q.text)

    def number_swap(self, s: SourceSentence) -> Case | None:
        body = body_of(s.span.text)
        options = []
        for q in quantities(body):
            for value in self.fresh_values(q, s):
                new = replace(body, q.start, q.end, self.written(value, q))
                if ranges_ok(new):
                    options.append((new, f"{q.text} → {self.written(value, q)}"))
        if not options:
            return None
        new, detail = self.rng.choice(options)
        return self.make("number_swap", s, new, detail)

    def wrong_slot(self, s: SourceSentence) -> Case | None:
        body = body_of(s.span.text)
        neighbours = [o for o in self.sources.get(s.source, None) if o.index != s.index]
        donors = [(q, o) for o in neighbours for q in quantities(body_of(o.span.text))]
        options = []
        for q in quantities(body):
            for donor, _ in donors:
                if unit_class(donor.unit) != unit_class(q.unit) or donor.value in (q.value, 1):
                    continue
                if num_fact(donor.value) in s.facts:
                    continue
                new = replace(body, q.start, q.end, donor.text)
                if ranges_ok(new):
                    options.append((new, f"{q.text} → {donor.text}"))
        if not options:
            return None
        new, detail = self.rng.choice(sorted(set(options)))
        return self.make("wrong_slot", s, new, detail)

    def clause_swap(self, s: SourceSentence) -> Case | None:
        body = body_of(s.span.text)
        found = quantities(body)
        pairs = [(a, b) for i, a in enumerate(found) for b in found[i + 1:]
                 if a.word == b.word and a.value != b.value and unit_class(a.unit) == unit_class(b.unit)
                 and not re.fullmatch(r"\s*(?:\S+\s+)?(?:bis|–|-|und|oder)\s*", body[a.end:b.start])]
        if not pairs:
            return None
        a, b = self.rng.choice(pairs)
        new = body[:a.start] + b.text + body[a.end:b.start] + a.text + body[b.end:]
        if not ranges_ok(new) or new == body:
            return None
        return self.make("clause_swap", s, new, f"{a.text} ⇄ {b.text}")

    # dates, times, contacts

    def date_swap(self, s: SourceSentence) -> Case | None:
        body = body_of(s.span.text)
        options = []
        for m in DATE_NAMED.finditer(body):
            day, month, year = int(m.group(1)), GERMAN_MONTHS.index(m.group(2)) + 1, m.group(3)
            for d, mo, y in shifted(day, month, year):
                new = f"{d}. {GERMAN_MONTHS[mo - 1]}" + (f" {y}" if y else "")
                options.append((m.start(), m.end(), m.group(), new))
        for m in DATE_NUMERIC.finditer(body):
            day, month, year = int(m.group(1)), int(m.group(2)), m.group(3)
            width = len(m.group(1))
            for d, mo, y in shifted(day, month, year):
                options.append((m.start(), m.end(), m.group(), f"{d:0{width}d}.{mo:0{width}d}.{y or ''}"))
        fresh = [(a, b, old, new) for a, b, old, new in options
                 if (fact := facts(new)) and not covered(fact, self.all_facts)]
        if not fresh:
            return None
        start, end, old, new = self.rng.choice(fresh)
        return self.make("date_swap", s, replace(body, start, end, new), f"{old} → {new}")

    def time_swap(self, s: SourceSentence) -> Case | None:
        body = body_of(s.span.text)
        options = []
        for m in TIME.finditer(body):
            hour = int(m.group(1))
            for h in (hour - 1, hour + 1, hour + 2):
                new = f"{h:0{len(m.group(1))}d}:{m.group(2)}"
                if 5 <= h <= 21 and f"time:{h:02d}:{m.group(2)}" not in self.all_facts:
                    options.append((m.start(), m.end(), m.group(), new))
        if not options:
            return None
        start, end, old, new = self.rng.choice(options)
        changed = replace(body, start, end, new)
        return self.make("time_swap", s, changed, f"{old} → {new}") if ranges_ok_times(changed) else None

    def phone_swap(self, s: SourceSentence) -> Case | None:
        body = body_of(s.span.text)
        m = PHONE.search(body)
        pool = [p for p in self.phones if not covered(facts(p), self.all_facts)]
        if not m or not pool:
            return None
        new = self.rng.choice(pool)
        return self.make("phone_swap", s, replace(body, m.start(), m.end(), new), f"{m.group()} → {new}")

    def email_swap(self, s: SourceSentence) -> Case | None:
        body = body_of(s.span.text)
        m = EMAIL.search(body)
        pool = [e for e in self.emails if e.lower() not in self.page]
        if not m or not pool:
            return None
        new = self.rng.choice(pool)
        return self.make("email_swap", s, replace(body, m.start(), m.end(), new), f"{m.group()} → {new}")

    # words

    def name_swap(self, s: SourceSentence) -> Case | None:
        body = body_of(s.span.text)
        if any(f.startswith("para:") for f in s.facts):
            return None  # a statute's title is not a claim about an office
        options = []
        for group in NAMES.values():
            for name in group:
                for m in re.finditer(rf"\b{re.escape(name)}\b", body):
                    if re.search(r"-\s+(?:oder|und|bzw\.)\s+$", body[:m.start()]):
                        continue  # "Heirats- oder Geburtsurkunde": the first word borrows the name's ending
                    rest = content_stems(body[:m.start()] + body[m.end():])
                    for other in group:
                        # "Heirats- oder Geburtsurkunde" → "Heirats- oder Heiratsurkunde" would say nothing false
                        if other.lower() not in self.page and not content_stems(other) & rest:
                            options.append((m.start(), m.end(), name, other))
        if not options:
            return None
        start, end, old, new = self.rng.choice(options)
        return self.make("name_swap", s, replace(body, start, end, new), f"{old} → {new}")

    def transferred(self, s: SourceSentence) -> Case | None:
        body = body_of(s.span.text)
        if self.partner is None or not any(not f.startswith("para:") for f in s.facts):
            return None  # a claim with an amount, date, time, phone or link; a statute's title is none
        for noun, other in self.nouns:
            if not re.search(rf"\b{re.escape(noun)}\b", body) or other in body:
                continue  # "Personalausweis oder Reisepass" → "Reisepass oder Reisepass" would still be true
            new = re.sub(rf"\b{re.escape(noun)}\b", other, body)
            if self.true_for_partner(new):
                return None
            return self.make("transferred", s, new, f"{noun} → {other} ({self.partner.id})")
        return None

    def true_for_partner(self, claim: str) -> bool:
        """The related service's page states the same facts with half the words: the claim may be true there."""
        claim_facts, stems = facts(claim), content_stems(claim)
        for sentence in self.partner_sentences:
            if covered(claim_facts, set(sentence.facts)) and \
                    len(stems & (sentence.stems | sentence.context)) >= 0.5 * max(1, len(stems)):
                return True
        return False

    def negation(self, s: SourceSentence) -> Case | None:
        body = body_of(s.span.text)
        found = [w.lower() for w in NEGATION.findall(body)]
        if s.facts and all(f.startswith("para:") for f in s.facts) or re.search(r"\bnoch\s+nicht\b", body):
            return None  # a statute's title; "noch nicht 25 Jahre" has no clean opposite
        if found == ["nicht"]:
            # "muss nicht mehr verlängert werden" → "muss verlängert werden"; "nicht mehr als" keeps its "mehr"
            new, detail = re.sub(r"\bnicht\s+(?:mehr\s+(?!als\b))?", "", body, count=1), "„nicht“ removed"
        elif len(found) == 1 and found[0] in ("kein", "keinen", "keinem") and not re.search(r"\bmehr\b", body):
            # "keine" may be plural (no "eine"); "keinen … mehr" has no "einen … mehr"
            new = re.sub(r"\b([Kk])(ein\w*)", lambda m: m.group(2).capitalize() if m.group(1) == "K" else m.group(2),
                         body, count=1)
            detail = f"„{found[0]}“ → „{found[0][1:]}“"
        elif not found and (m := NEGATABLE.search(body)):
            article = re.match(r"(ein\w*)\b", body[m.end():])
            if article:  # "ist eine Steuer" → "ist keine Steuer"
                new = replace(body, m.end(), m.end() + article.end(), "k" + article.group(1))
                detail = f"„{article.group(1)}“ → „k{article.group(1)}“"
            else:
                new, detail = replace(body, m.end(), m.end(), "nicht "), f"„nicht“ after „{m.group(1)}“"
        else:
            return None
        if new == body or not content_stems(new):
            return None
        return self.make("negation", s, new, detail)

    def uncited_invention(self, template: str) -> Case | None:
        for _ in range(20):
            text = template.format(n=self.rng.choice([3, 5, 7, 9, 11, 14, 21]),
                                   x=self.rng.choice([18, 29, 42, 55, 64, 88]), h=self.rng.choice([13, 14, 15, 16]))
            if not covered(facts(text), self.all_facts):
                return Case(self.service.id, "uncited_invention", text, "", "", "invented", "none")
        return None


def shifted(day: int, month: int, year: str | None) -> list[tuple[int, int, str | None]]:
    """The date with its day, its month or its year changed."""
    changed = [(day % 28 + 1, month, year), (day, month % 12 + 1, year)]
    return changed + ([(day, month, str(int(year) + 1))] if year else [])


def ranges_ok_times(text: str) -> bool:
    """"8:00–12:30" must stay a range from early to late."""
    for a, b in re.findall(r"(\d{1,2}:\d{2})\s*[–-]\s*(\d{1,2}:\d{2})", text):
        if tuple(map(int, a.split(":"))) >= tuple(map(int, b.split(":"))):
            return False
    return True


def single_sentence(answer: str) -> bool:
    """The check splits an answer into sentences; a case must stay one, or its verdict would be several."""
    return len(split_sentences(answer)) == 1


def generate(services: dict[str, Service], ids: Iterable[str] | None = None, seed: int = SEED) -> list[ServiceCases]:
    return [Generator(services[sid], services, seed).cases() for sid in (ids or sorted(services))]


# --- running and scoring -----------------------------------------------------------------------------------------

def run(groups: Sequence[ServiceCases], checker: CitationChecker | None = None) -> list[Outcome]:
    """Each answer sentence alone, as CitationChecker.check would check it (one sentence → one verdict), with
    the passages' sentences split once per service rather than once per sentence."""
    checker = checker or CitationChecker()
    outcomes = []
    for group in groups:
        sources = SourceSentences(group.passages)
        for case in group.cases:
            [raw] = split_sentences(case.answer)
            checked = checker.check_sentence(raw, sources)
            verdict = checked.verdict if checked else "neutral"
            shown = checked.text if checked and checked.shown else ""
            outcomes.append(Outcome(case, verdict, shown))
    return outcomes


def ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def score(outcomes: Sequence[Outcome], examples: int = 3) -> dict:
    by_kind: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_kind.setdefault(outcome.case.kind, []).append(outcome)
    kinds = {}
    for kind in KINDS:
        group = by_kind.get(kind, [])
        verdicts = Counter(o.verdict for o in group)
        entry: dict = {"n": len(group), "verdicts": dict(sorted(verdicts.items()))}
        if kind in CORRUPT_KINDS:
            caught = sum(o.verdict in CAUGHT for o in group)
            entry["recall"] = ratio(caught, len(group))
            for marker in ("sentence", "source"):
                sub = [o for o in group if o.case.marker == marker]
                entry[f"recall_{marker}_marker"] = ratio(sum(o.verdict in CAUGHT for o in sub), len(sub))
            misses = [o for o in group if o.verdict not in CAUGHT]
        else:
            entry["false_alarm"] = ratio(verdicts["unsupported"], len(group))
            entry["quoted"] = ratio(verdicts["quoted"], len(group))
            misses = [o for o in group if o.verdict == "unsupported"]
        entry["examples"] = [{"answer": o.case.answer, "verdict": o.verdict, "cited": o.case.cited,
                              "source": o.case.source, "ref": o.case.ref, "detail": o.case.detail,
                              "service": o.case.service}
                             for o in misses[:examples]]
        kinds[kind] = entry
    corrupt = [o for o in outcomes if o.case.kind in CORRUPT_KINDS]
    correct = [o for o in outcomes if o.case.kind in CORRECT_KINDS]
    # Does the wording or the marker style decide? Recall (corrupted) and false alarms (true) per style.
    breakdown = {}
    for facet in ("style", "marker"):
        for value in sorted({getattr(o.case, facet) for o in outcomes}):
            bad = [o for o in corrupt if getattr(o.case, facet) == value]
            good = [o for o in correct if getattr(o.case, facet) == value]
            breakdown[f"{facet}={value}"] = {
                "corrupted": len(bad), "recall": ratio(sum(o.verdict in CAUGHT for o in bad), len(bad)),
                "true": len(good), "false_alarm": ratio(sum(o.verdict == "unsupported" for o in good), len(good))}
    caught = sum(o.verdict in CAUGHT for o in corrupt)
    false_alarms = sum(o.verdict == "unsupported" for o in correct)
    quoted = sum(o.verdict == "quoted" for o in correct)
    return {
        "services": len({o.case.service for o in outcomes}),
        "sentences": len(outcomes),
        "corrupted": len(corrupt),
        "correct": len(correct),
        "recall": ratio(caught, len(corrupt)),
        "precision": ratio(caught, caught + false_alarms),
        "precision_strict": ratio(caught, caught + false_alarms + quoted),
        "false_alarm_rate": ratio(false_alarms, len(correct)),
        "quoted_rate": ratio(quoted, len(correct)),
        "kinds": kinds,
        "breakdown": breakdown,
    }


def benchmark(ids: Iterable[str] | None = None, seed: int = SEED, examples: int = 3,
              services: dict[str, Service] | None = None) -> dict:
    services = services or load_services()
    return score(run(generate(services, ids, seed)), examples)


# --- report --------------------------------------------------------------------------------------------------------

def pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def markdown(figures: dict) -> str:
    lines = [f"Citation check on {figures['sentences']} answer sentences from {figures['services']} services "
             f"({figures['corrupted']} corrupted, {figures['correct']} correct), CitationChecker() defaults.", "",
             "| kind | n | recall (caught) | [n.m] / [n] marker | verdicts |", "|---|---:|---:|---:|---|"]
    for kind in CORRUPT_KINDS:
        k = figures["kinds"][kind]
        verdicts = ", ".join(f"{v} {c}" for v, c in k["verdicts"].items())
        lines.append(f"| {kind} | {k['n']} | {pct(k['recall'])} | {pct(k['recall_sentence_marker'])} / "
                     f"{pct(k['recall_source_marker'])} | {verdicts} |")
    lines += ["", "| true sentences | n | false alarms (unsupported) | quoted | verdicts |", "|---|---:|---:|---:|---|"]
    for kind in CORRECT_KINDS:
        k = figures["kinds"][kind]
        verdicts = ", ".join(f"{v} {c}" for v, c in k["verdicts"].items())
        lines.append(f"| {kind} | {k['n']} | {pct(k['false_alarm'])} | {pct(k['quoted'])} | {verdicts} |")
    lines += ["", "| overall | |", "|---|---:|",
              f"| recall (corrupted sentences not shown as written) | {pct(figures['recall'])} |",
              f"| precision (caught / (caught + false alarms)) | {pct(figures['precision'])} |",
              f"| precision, quoted true sentences counted as flags | {pct(figures['precision_strict'])} |",
              f"| false-alarm rate on true sentences | {pct(figures['false_alarm_rate'])} |",
              f"| quoted rate on true sentences | {pct(figures['quoted_rate'])} |", "",
              "| wording / marker | corrupted | recall | true | false alarms |", "|---|---:|---:|---:|---:|"]
    for facet, b in figures["breakdown"].items():
        lines.append(f"| {facet} | {b['corrupted']} | {pct(b['recall'])} | {b['true']} | {pct(b['false_alarm'])} |")
    lines.append("")
    lines.append("Examples of misses (corrupted: shown as written; true: dropped), with the source sentence each was "
                 "made from:")
    for kind in KINDS:
        for ex in figures["kinds"][kind]["examples"]:
            source = f"[{ex['ref']}] {ex['source']}" if ex["ref"] else "—"
            detail = f", {ex['detail']}" if ex["detail"] else ""
            lines.append(f"- {kind} ({ex['service']}{detail}; → {ex['verdict']}): {ex['answer']}  ⟵  {source}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", help="comma-separated service ids (default: all)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--examples", type=int, default=3, help="misses shown per kind")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    ids = args.services.split(",") if args.services else None
    figures = benchmark(ids, args.seed, args.examples)
    print(markdown(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
