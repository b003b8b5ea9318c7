"""The privacy choke point: personal data in text that a person typed is replaced by typed placeholders
(`[IBAN]`, `[TELEFON]` …) before anything is logged, stored, put into a prompt or sent to a server.

Every inbound field of a citizen's (or the workspace's search) that carries free text — a chat message, a
feedback comment, a callback's message — is declared as `PersonalText` in the protocol models, so it is
redacted while the frame or request body is parsed: no later layer ever holds the clear text. A staff
member's reply or note is redacted where the handoff service takes it, keeping that member's own name
("Guten Tag, ich bin Frau Muster"). Log records pass `RedactingFilter`.
Fields a citizen fills in *for* a callback with consent (name, phone, e-mail) are plain fields, stored once
in their own columns (docs/privacy.md).

Recognisers, each a small function over the text: checksum-validated IBANs and Steuer-IDs (python-stdnum),
telephone numbers (libphonenumber's matcher, German numbering plan first), e-mail addresses, German ID-card
and passport numbers (ICAO 9303 alphabet and check digit), dates given as a birth date, street addresses with
a house number, and names a person introduces ("Ich heiße …", "My name is …", a signature, "Frau Becker").
What is not recognised: names without such a cue, addresses without a house number. Measured on
bench/redaction_sentences.yaml (bench/redaction.py, figures in the README).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated

import phonenumbers
from pydantic import AfterValidator
from stdnum import iban as stdnum_iban
from stdnum.de import idnr

PLACEHOLDERS: dict[str, str] = {
    "IBAN": "[IBAN]",
    "STEUER_ID": "[STEUER-ID]",
    "AUSWEIS": "[AUSWEISNUMMER]",
    "EMAIL": "[E-MAIL]",
    "GEBURTSDATUM": "[GEBURTSDATUM]",
    "TELEFON": "[TELEFON]",
    "ADRESSE": "[ADRESSE]",
    "NAME": "[NAME]",
}
"""Kinds of personal data and their placeholders; the order is the precedence where two findings overlap
(checksum-validated numbers first)."""

_RANK = {kind: rank for rank, kind in enumerate(PLACEHOLDERS)}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Redaction:
    text: str
    kinds: tuple[str, ...]
    """The kind of each replaced span, in text order (for counting; never the values)."""


# --- recognisers ---------------------------------------------------------------------------------------------

_IBAN_CANDIDATE = re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}")


def _ibans(text: str) -> Iterator[Finding]:
    """The longest prefix of a candidate that is a valid IBAN (a candidate may run into the next word); a
    German IBAN's shape (DE + 20 digits) counts even with a typo in its check digits."""
    for match in _IBAN_CANDIDATE.finditer(text):
        positions = [match.start() + i for i, c in enumerate(match.group()) if c != " "]
        compact = "".join(text[p] for p in positions).upper()
        for length in range(min(len(compact), 34), 14, -1):
            candidate = compact[:length]
            if stdnum_iban.is_valid(candidate) or (
                    length == 22 and candidate.startswith("DE") and candidate[2:].isdigit()):
                yield Finding("IBAN", match.start(), positions[length - 1] + 1)
                break


_ELEVEN_DIGITS = re.compile(r"(?<![\d\w])\d{2}[ ./-]?\d{3}[ ./-]?\d{3}[ ./-]?\d{3}(?![\d\w])")
_STEUER_ID_CUE = re.compile(r"(?i)steuer[- ]?(?:id|identifikationsnummer)|\bidnr\b|identifikationsnummer|"
                            r"\btax[- ]?(?:id|identification)")


def _steuer_ids(text: str) -> Iterator[Finding]:
    """Eleven digits with the Steuer-ID's checksum, or any eleven digits right after the word for it."""
    for match in _ELEVEN_DIGITS.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        cued = _STEUER_ID_CUE.search(text[max(0, match.start() - 40):match.start()])
        if idnr.is_valid(digits) or (cued and digits[0] != "0"):
            yield Finding("STEUER_ID", match.start(), match.end())


# German ID cards and passports since 2010: nine characters of this alphabet (no vowels but Y, no B D Q S),
# the first a letter, then an optional check digit (ICAO 9303: weights 7 3 1).
_ID_ALPHABET = "CFGHJKLMNPRTVWXYZ0123456789"
_ID_CANDIDATE = re.compile(r"(?<![\w-])[CFGHJKLMNPRTVWXYZ][CFGHJKLMNPRTVWXYZ0-9]{8}\d?(?![\w-])", re.IGNORECASE)
_ID_CUE = re.compile(r"(?i)(?:ausweis|reisepass|pass|dokumenten?|serien|kartenzugangs|passport|id[- ]card|"
                     r"document|identity card)[\w.-]*\W+(?:[\w.]+\W+){0,3}?((?=[A-Z]*\d)[A-Z0-9]{6,10})\b")


def _icao_check(value: str) -> bool:
    def number(c: str) -> int:
        return int(c) if c.isdigit() else ord(c) - 55
    body, check = value[:-1], value[-1]
    return check.isdigit() and sum(number(c) * (7, 3, 1)[i % 3] for i, c in enumerate(body)) % 10 == int(check)


def _id_numbers(text: str) -> Iterator[Finding]:
    for match in _ID_CANDIDATE.finditer(text):
        value = match.group().upper()
        digits = sum(c.isdigit() for c in value)
        if 3 <= digits < len(value) or (len(value) == 10 and digits < 10 and _icao_check(value)):
            yield Finding("AUSWEIS", match.start(), match.end())
    for match in _ID_CUE.finditer(text):  # after "Ausweisnummer", "passport number": any code with digits
        value = match.group(1)
        if any(c.isdigit() for c in value) and (not value.isdigit() or len(value) >= 9):
            yield Finding("AUSWEIS", match.start(1), match.end(1))


_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def _emails(text: str) -> Iterator[Finding]:
    for match in _EMAIL.finditer(text):
        yield Finding("EMAIL", match.start(), match.end())


_MONTHS_DE = (r"Januar|Jänner|Februar|März|Maerz|April|Mai|Juni|Juli|August|September|Oktober|November|"
              r"Dezember|Jan|Feb|Mär|Mrz|Apr|Jun|Jul|Aug|Sept?|Okt|Nov|Dez")
_MONTHS_EN = r"January|February|March|April|May|June|July|August|September|October|November|December"
_DATE = re.compile(
    r"(?<![\d.])(?:"
    r"\d{1,2}\.\s?\d{1,2}\.\s?(?:\d{4}|\d{2})(?![\d.]\d)"          # 12.03.1985, 3.7.62
    rf"|\d{{1,2}}\.?\s?(?:{_MONTHS_DE}|{_MONTHS_EN})\.?\s+\d{{4}}"  # 12. März 1985, 12 March 1985
    rf"|(?:{_MONTHS_EN})\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"    # March 12, 1985
    r"|\d{4}-\d{2}-\d{2}"                                           # 1985-03-12
    r"|\d{1,2}/\d{1,2}/\d{2,4}"                                     # 03/12/1985
    r")(?!\d)", re.IGNORECASE)
_BIRTH_BEFORE = re.compile(r"(?i)(?:geb(?:oren|\.|urtsdatum|urtstag|urt)|born|birth|\bdob\b|d\.o\.b)")
_BIRTH_AFTER = re.compile(r"(?i)^\W{0,3}(?:\w+\s){0,2}(?:geboren|born|zur welt|auf die welt)\b")


def _birth_dates(text: str) -> Iterator[Finding]:
    """A full date given as a birth date: cued by "geboren", "geb.", "Geburtsdatum", "born", "DOB" just before
    it, or "… geboren" after it. A year alone ("geboren 2019") is kept: it decides fees and rules."""
    for match in _DATE.finditer(text):
        before = text[max(0, match.start() - 60):match.start()]
        after = text[match.end():match.end() + 25]
        if _BIRTH_BEFORE.search(before) or _BIRTH_AFTER.search(after):
            yield Finding("GEBURTSDATUM", match.start(), match.end())


_UNITS = (r"(?i:€|euro|eur\b|cent|%|prozent|jahr|monat|woche|tag|stunde|minute|uhr|seite|person|km\b|m²|qm\b|"
          r"stück|mal\b|kind|termin|antr|fahrzeug|plätze|platz|x\b|years?\b|months?\b|weeks?\b|days?\b|hours?\b|"
          r"pages?\b|people)")
_STREET_SUFFIX = (r"straße|strasse|str\.?|weg|platz|allee|gasse|ring|damm|ufer|chaussee|steig|stieg|pfad|zeile|"
                  r"promenade|graben|anger|wall|markt|berg|feld")
_HOUSE_NUMBER = (rf"\d{{1,3}}(?:\s?[a-zA-Z](?![\wäöüß]))?(?:\s?[-/]\s?\d{{1,3}}[a-zA-Z]?)?"
                 rf"(?!\d|[.,]\d|\s*{_UNITS})")
_POSTCODE_TOWN = (r"(?:,?\s+(?:D-)?\d{5}\s+[A-ZÄÖÜ][\wäöüß-]+"
                  r"(?:\s?(?:an der\s|am\s|im\s|in\s|bei\s|ob der\s|[ai]\.\s?d\.\s?)[A-ZÄÖÜ][\wäöüß]+)?)?")
_STREET = re.compile(  # Bahnhofstraße 12, hauptstr. 5a, Max-Planck-Str. 3, Münchner Straße 120, 82008 Unterhaching
    rf"(?<![\w-])(?:[A-ZÄÖÜa-zäöüß][\wäöüß-]*?(?i:{_STREET_SUFFIX})|[A-ZÄÖÜ][\wäöüß-]*\s(?i:{_STREET_SUFFIX}))"
    rf"\s*{_HOUSE_NUMBER}{_POSTCODE_TOWN}")
_PREFIX_STREET = re.compile(  # Am Anger 3, An der Mühle 5
    rf"(?<![\w-])(?:Am|An der|An den|Auf der|Auf dem|Im|In der|In den|Zum|Zur|Unter den|Hinter der|Vor dem)"
    rf"\s[A-ZÄÖÜ][\wäöüß-]+\s{_HOUSE_NUMBER}{_POSTCODE_TOWN}")
_ENGLISH_STREET = re.compile(  # 42 Oak Street, 7 Church Lane, Oxford OX1 2AB
    r"(?<![\w-])\d{1,5}[a-zA-Z]?\s+(?:[A-Z][a-z]+\s){1,3}(?:Street|St\.?|Road|Rd\.?|Avenue|Ave\.?|Lane|Drive|"
    r"Way|Close|Court|Boulevard|Blvd\.?|Place|Square)(?!\w)"
    r"(?:,\s[A-Z][a-z]+(?:\s[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2})?)?")
_ADDRESS_CUE = re.compile(r"(?i)(?:wohn|adress|anschrift|umgezogen|umzug|zieh|live|address|moved|gemeldet|"
                          r"hauptwohnsitz|wohnsitz|bei mir|zu mir|an mich|meine)\W*(?:\w+\W+){0,5}$")


def _addresses(text: str) -> Iterator[Finding]:
    """A street with a house number (and the postcode and town after it). "Am Anger 3" forms are taken with a
    postcode or where the text speaks of living or an address, since "Am Montag 3 …" has the same shape."""
    for match in _STREET.finditer(text):
        yield Finding("ADRESSE", match.start(), match.end())
    for match in _PREFIX_STREET.finditer(text):
        if re.search(r"\d{5}", match.group()) or _ADDRESS_CUE.search(text[max(0, match.start() - 60):match.start()]):
            yield Finding("ADRESSE", match.start(), match.end())
    for match in _ENGLISH_STREET.finditer(text):
        yield Finding("ADRESSE", match.start(), match.end())


_ANY_PHONE_CUE = re.compile(r"(?i)(?:tel(?:efon|\.)?|handy|mobil|festnetz|rückruf|rufnummer|erreichbar|anrufen|"
                            r"phone|call|mobile|cell|whatsapp)\W*(?:\w+\W+){0,4}$")
_PHONE_LIKE = re.compile(r"(?<![\w+])(?:\+|00)?[\d(][\d ()/-]{5,}\d(?![\w])")


def _phones(text: str) -> Iterator[Finding]:
    """libphonenumber's matcher with the German plan (valid numbers written with 0 or a country prefix); other
    digit runs of seven or more digits right after a word for telephone ("Handy: 0151 2345 678")."""
    found: list[tuple[int, int]] = []
    for match in phonenumbers.PhoneNumberMatcher(text, "DE", leniency=phonenumbers.Leniency.POSSIBLE):
        number = match.number
        if not match.raw_string.lstrip("( ").startswith(("0", "+")) or _DATE.fullmatch(match.raw_string.strip()):
            continue  # written in Germany with its trunk or country prefix; "2024/2025" is a school year
        if phonenumbers.is_valid_number(number) or (
                phonenumbers.is_possible_number(number) and sum(c.isdigit() for c in match.raw_string) >= 9):
            found.append((match.start, match.end))
    for match in _PHONE_LIKE.finditer(text):
        cued = _ANY_PHONE_CUE.search(text[max(0, match.start() - 40):match.start()])
        if cued and sum(c.isdigit() for c in match.group()) >= 7:
            found.append((match.start(), match.end()))
    for start, end in found:
        yield Finding("TELEFON", start, end)


_NAME_TOKEN = r"(?:[A-ZÄÖÜÇŞİĞŁŚŻŹ][\w'’ÄÖÜäöüßçşığłśżźćńó-]+)"
_PARTICLES = {"von", "van", "de", "der", "den", "zu", "al", "el", "bin", "ibn", "da", "di", "du", "le", "la", "ten",
              "ter"}
_PARTICLE = rf"(?:{'|'.join(sorted(_PARTICLES))})"
_NAME = rf"{_NAME_TOKEN}(?:\s(?:{_PARTICLE}\s)*{_NAME_TOKEN}){{0,2}}"
_LOOSE_NAME = r"[^\W\d_][\w'’-]+(?:\s[^\W\d_][\w'’-]+){0,2}"
_NAME_RE, _LOOSE_NAME_RE = re.compile(_NAME), re.compile(_LOOSE_NAME)
_NOT_A_NAME = {
    "sie", "ihnen", "ihn", "ihr", "es", "you", "dich", "euch", "auch", "nicht", "so", "wie", "und", "hier", "jetzt",
    "gerade", "leider", "noch", "eigentlich", "willkommen", "welcome", "a", "an", "the", "not", "also", "just",
    "calling", "writing", "looking", "trying", "interested", "new", "from", "here", "living", "and", "in", "at",
}
_STOP_WORDS = {
    "und", "and", "ich", "i", "wohne", "bin", "komme", "habe", "möchte", "brauche", "will", "würde", "wollte", "im",
    "in", "aus", "from", "live", "am", "have", "need", "would", "want", "my", "mein", "meine", "bitte", "please",
    "geboren", "born", "geb", "wohnhaft", "mit", "with", "für", "for", "zur", "zum", "der", "die", "das", "is",
    "ist", "hat", "war", "was", "sind", "vom", "von", "seit", "since", "an", "auf", "unter", "tel", "telefon",
    "handy", "e", "email", "mail", "iban", "steuer", "steuernummer", "wegen", "because", "about", "bezüglich",
}
_INTRODUCED = re.compile(r"(?i)(?:\bhei(?:ß|ss)e|mein\s+name\s+(?:ist|lautet|wäre)|my\s+name\s+is|"
                         r"i\s+am\s+called|i'?m\s+called|hier\s+(?:ist|spricht|schreibt)|this\s+is)"
                         r"\s*(?:auch\s+)?")
"""Cues after which a person gives their own name, in whatever case they type it."""
_LABELLED = re.compile(r"(?i:\bname\b\s*:?|kontoinhaber(?:in)?\s*:?|\binhaber(?:in)?\s*:?|account\s+holder\s*:?|"
                       r"absender(?:in)?\s*:|unterschrift\s*:|ausgestellt\s+auf|issued\s+to|^ich,)\s*")
"""Labels before a name ("Kontoinhaberin: …", "Ich, …,"): weaker cues, so only capitalised names count."""
_CLOSING = re.compile(r"(?i)(?:viele|liebe|beste|herzliche|freundliche)\s+grüße|mit\s+freundlichen\s+grüßen|"
                      r"\bmfg\b|\blg\b|\bvg\b|grüße|\bgruß\b|best\s+regards|kind\s+regards|\bregards\b|"
                      r"best\s+wishes|sincerely|\bcheers\b|\bthanks\b|\bthank\s+you\b|\bdanke\b|\bbest\b|"
                      r"hochachtungsvoll|\bciao\b|\btschüss\b")
_TITLE = re.compile(rf"(?<![\w])(?:Herrn?|Frau|Mr|Mrs|Ms|Miss|Dr)\.?\s+(?:Dr\.\s+|Prof\.\s+)?({_NAME})")
_TITLE_NOT_AFTER = re.compile(r"(?i)(?:mein|meine|meinen|meinem|meiner|dein|deine|seine|seiner|seinem|ihre|ihrer|"
                              r"ihrem|unsere|unserer|eure|die|der|den|dem|eine|einer|einen|jede|jeder|als|my|your|"
                              r"his|the|our)\s+$")
_I_AM = re.compile(rf"(?<![\w])(?:I\s+am|I'm|Ich\s+bin)\s+({_NAME_TOKEN}\s{_NAME_TOKEN})"
                   rf"(?=\s*(?:[,.;:!?)]|$|und\b|and\b))")


def _name_tokens(text: str, start: int, loose: bool) -> Finding | None:
    """The name that begins at `start`: up to three words, stopping at a word that cannot be part of it."""
    match = (_LOOSE_NAME_RE if loose else _NAME_RE).match(text, start)
    if not match:
        return None
    words, end = [], start
    for word in re.finditer(r"[^\s,.;:!?()]+", match.group()):
        lowered = word.group().lower().strip("'’")
        if lowered in _STOP_WORDS or (not words and lowered in _NOT_A_NAME) or any(c.isdigit() for c in lowered):
            break
        words.append(word.group())
        end = start + word.end()
    return Finding("NAME", start, end) if words else None


def _names(text: str) -> Iterator[Finding]:
    """Names a person introduces ("Ich heiße …", "Mein Name ist …", "My name is …"), signs with ("Viele
    Grüße, Anna Becker") or gives with a title ("Frau Becker", "Herrn Dr. Yılmaz"); "meine Frau Elterngeld"
    is no name."""
    for cue in _INTRODUCED.finditer(text):
        if finding := _name_tokens(text, cue.end(), loose=True):
            yield finding
    for cue in _LABELLED.finditer(text):
        if finding := _name_tokens(text, cue.end(), loose=False):
            yield finding
    for closing in _CLOSING.finditer(text):
        rest = re.match(r"[ \t]*[,!.]?\s*", text[closing.end():])
        start = closing.end() + (rest.end() if rest else 0)
        title = re.match(r"(?:(?:Dr|Prof|med|Dipl)\.[ -]?(?:[\w-]+\.\s)?)*", text[start:])
        start += title.end() if title else 0
        tail = text[start:]
        match = re.match(rf"({_NAME}|{_LOOSE_NAME}(?=\s*$))\s*(?:[.!]?\s*$|\n|,|\|)", tail)
        if match and not (set(match.group(1).lower().split()) - _PARTICLES) & (_NOT_A_NAME | _STOP_WORDS):
            yield Finding("NAME", start, start + match.end(1))
    for match in _TITLE.finditer(text):
        if _TITLE_NOT_AFTER.search(text[max(0, match.start() - 12):match.start()]):
            continue
        if finding := _name_tokens(text, match.start(1), loose=False):
            yield finding
    for match in _I_AM.finditer(text):
        yield Finding("NAME", match.start(1), match.end(1))


RECOGNISERS: tuple[Callable[[str], Iterable[Finding]], ...] = (
    _ibans, _steuer_ids, _id_numbers, _emails, _birth_dates, _phones, _addresses, _names)


# --- the choke point -----------------------------------------------------------------------------------------

def findings(text: str) -> list[Finding]:
    """Non-overlapping findings in text order; where two overlap, the kind earlier in PLACEHOLDERS wins
    (a validated IBAN over the phone number inside it), then the longer span."""
    candidates = sorted((f for recognise in RECOGNISERS for f in recognise(text) if f.end > f.start),
                        key=lambda f: (_RANK[f.kind], -(f.end - f.start), f.start))
    chosen: list[Finding] = []
    for finding in candidates:
        if all(finding.end <= other.start or finding.start >= other.end for other in chosen):
            chosen.append(finding)
    return sorted(chosen, key=lambda f: f.start)


def redact_text(text: str, keep: frozenset[str] = frozenset()) -> Redaction:
    """`keep`: words of names that stay (a staff member's own name in their reply)."""
    parts, kinds, at = [], [], 0
    for finding in findings(text):
        if finding.kind == "NAME" and keep and set(text[finding.start:finding.end].split()) <= keep:
            continue
        parts += [text[at:finding.start], PLACEHOLDERS[finding.kind]]
        kinds.append(finding.kind)
        at = finding.end
    parts.append(text[at:])
    return Redaction("".join(parts), tuple(kinds))


def redact(text: str, keep: frozenset[str] = frozenset()) -> str:
    """`text` with every recognised piece of personal data replaced by its placeholder."""
    return redact_text(text, keep).text if text else text


def _redact_optional(text: str | None) -> str | None:
    return redact(text) if text else text


PersonalText = Annotated[str, AfterValidator(redact)]
"""A protocol field that carries free text a person typed: redacted as the frame or body is parsed."""
OptionalPersonalText = Annotated[str | None, AfterValidator(_redact_optional)]


# Secrets in URLs (a resume token in the WebSocket's query string) do not belong in logs either.
_URL_SECRET = re.compile(r"((?:resume_token|token|password)=)[^&\s\"']+")


class RedactingFilter(logging.Filter):
    """Redacts every log record a handler emits: the formatted message and any traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = _URL_SECRET.sub(r"\1[…]", redact(message))
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_redaction(*loggers: str) -> None:
    """Put `RedactingFilter` on the handlers of the root logger and of the named loggers (uvicorn's own)."""
    for name in ("", *loggers):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
