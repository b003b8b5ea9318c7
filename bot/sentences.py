"""Sentence boundaries for German administrative text, with character offsets.

pysbd knows most German abbreviations and dates ("z. B.", "17. März"); legal and fee texts add their own
("gem. § 3 Abs. 2 Nr. 5", "zzgl.", "ggf."), after which a segment is glued to the next. Lines (list items,
table rows) are always sentences of their own: a fee list is a list of claims.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pysbd

# Abbreviations after which pysbd still cuts, seen in statutes and service descriptions.
_ABBREVIATIONS = re.compile(
    r"(?:\b(?:gem|Abs|Art|Nr|Ziff|lit|Buchst|S|Satz|bzw|ca|zzgl|ggf|inkl|evtl|vgl|sog|Tel|Str|Std|Min|"
    r"Mo|Di|Mi|Do|Fr|Sa|So|usw|etc|max|min|mind|bspw|insb|Hs|Anl|Kap|Aufl|geb|verh|zz|zzt|Dr|Prof|"
    r"u\.\s?a|z\.\s?B|d\.\s?h|i\.\s?d\.\s?R|o\.\s?Ä|u\.\s?U|i\.\s?V\.\s?m|v\.\s?a)\.|§|§§)\s*$")


# A citation marker that pysbd cut off after the full stop ("… online. [1]") belongs to the sentence before.
_MARKERS_ONLY = re.compile(r"^\s*(?:[\[(][\d.,;\s]+[\])]\s*)+[.!?]?\s*$")


_LEADING_MARKERS = re.compile(r"\s*(?:[\[(][\d.,;\s]+[\])]\s*)+")


@dataclass(frozen=True)
class Span:
    text: str
    start: int
    end: int
    """text == source[start:end]"""


@lru_cache(maxsize=4)
def _segmenter(language: str) -> pysbd.Segmenter:
    try:
        return pysbd.Segmenter(language=language, clean=False, char_span=True)
    except ValueError:
        return pysbd.Segmenter(language="de", clean=False, char_span=True)


def sentence_spans(text: str, language: str = "de") -> list[Span]:
    spans: list[Span] = []
    for line in re.finditer(r"[^\n]+", text):
        if not line.group().strip():
            continue
        pieces: list[tuple[int, int]] = []
        for part in _segmenter(language).segment(line.group()):
            start, end = line.start() + part.start, line.start() + part.end
            leading = _LEADING_MARKERS.match(text, start, end)
            if pieces and leading and leading.end() < end:
                pieces[-1] = (pieces[-1][0], leading.end())
                start = leading.end()
            glue = _ABBREVIATIONS.search(text[pieces[-1][0]:pieces[-1][1]]) if pieces else False
            # A German sentence does not start in lower case: "seit dem 17.03. freigeschaltet" is one.
            lower = text[start:end].lstrip()[:1].islower()
            if pieces and (glue or lower or _MARKERS_ONLY.match(text[start:end])):
                pieces[-1] = (pieces[-1][0], end)
            else:
                pieces.append((start, end))
        for start, end in pieces:
            raw = text[start:end]
            stripped = raw.strip()
            if stripped:
                offset = start + len(raw) - len(raw.lstrip())
                spans.append(Span(stripped, offset, offset + len(stripped)))
    return spans


def split_sentences(text: str, language: str = "de") -> list[str]:
    return [span.text for span in sentence_spans(text, language)]


_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_MARKDOWN = re.compile(r"\*\*|__|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)|`")


def is_list_item(text: str) -> bool:
    return bool(_LIST_MARK.match(text))


def clean_line(text: str) -> str:
    """A source line as a citizen reads it: without its list mark and Markdown emphasis ("… alt**")."""
    return _MARKDOWN.sub("", _LIST_MARK.sub("", text)).strip()
