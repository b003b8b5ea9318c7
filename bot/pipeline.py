"""The answer pipeline: question → (rewrite) → retrieval → gate → prompt → generation → citation check →
delivery. Synchronous on purpose: it runs in the single generation worker (see worker.py).

Streaming and checking: the model's output is never shown as it is written. Each sentence is checked as
soon as it is complete, and only what passed (supported, fixed or replaced by the quoted source sentence) is
streamed, so a citizen never looks at an unverified claim. The final message repeats the whole checked text.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bot import messages
from bot.citations import (
    CheckedSentence,
    CitationChecker,
    SourceSentence,
    SourceSentences,
    answer_sentences,
    content_stems,
    names,
    render,
    shares_word,
)
from bot.emergency import emergency_message, is_emergency
from bot.facts import facts
from bot.handoff import wants_human
from bot.language import LanguageDetector
from bot.llm import ChatModel, complete
from bot.prompts import (
    NO_ANSWER_TOKEN,
    answer_messages,
    choice_grammar,
    choose_messages,
    rewrite_messages,
    translate_messages,
)
from bot.protocol import AnswerResult, Citation, Outcome, RetrievedSource, SentenceVerdict
from bot.question import Ask, Question, analyse, answers_kind
from bot.ranking import Ranked, SentenceRanker
from bot.selection import (
    SelectionOptions,
    answer_lines,
    clean_line,
    lead,
    parse_choice,
    select_lines,
    selected,
    where,
)
from bot.sentences import split_sentences
from embeddings.retrieval import Passage, Retriever

Turn = tuple[str, str]
"""(citizen's question, SiWi's answer text)"""


@dataclass(frozen=True)
class PipelineOptions:
    top_k: int = 4
    min_relevance: float = 0.8
    min_relevance_other_language: float = 0.80
    max_tokens: int = 320
    max_history_turns: int = 6
    contact: str = ""
    answer_mode: str = "generate"
    select_top_k: int = 8
    prompt_lines: int = 0
    select_fallback: bool = True


class AnswerPipeline:
    def __init__(self, retriever: Retriever, model: ChatModel, checker: CitationChecker,
                 detector: LanguageDetector, options: PipelineOptions, ranker: SentenceRanker | None = None,
                 selection: SelectionOptions | None = None):
        self._ranker = ranker or SentenceRanker()
        self._selection = selection or SelectionOptions()
        self._retriever = retriever
        self._model = model
        self._checker = checker
        self._detector = detector
        self._options = options

    def immediate(self, question: str) -> AnswerResult | None:
        """Answers that need no model and must not wait in the queue: emergencies and requests for a person."""
        question = question.strip()
        return self._immediate(question, self._detector.detect(question))

    def _immediate(self, question: str, language: str) -> AnswerResult | None:
        if is_emergency(question):
            return self._result(emergency_message(language), "emergency", question, question, language)
        if wants_human(question):
            return self._result(messages.text("handoff", language, contact=self._options.contact), "handoff",
                                question, question, language)
        return None

    def run(self, question: str, history: list[Turn] | None = None,
            cancel: threading.Event | None = None, include_internal: bool = False) -> Iterator[str | AnswerResult]:
        """Yield verified text deltas, then exactly one AnswerResult (unless cancelled). `include_internal`
        is for staff only (the workspace's ask mode): citizens' answers come from public documents."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        question = question.strip()
        language = self._detector.detect(question)
        if (fixed := self._immediate(question, language)) is not None:
            yield fixed
            return

        retrieved: list[RetrievedSource] = []
        raw = ""

        def result(text: str, outcome: Outcome, standalone: str, citations: list[Citation] | None = None,
                   sentences: list[CheckedSentence] | None = None) -> AnswerResult:
            timings["total"] = time.perf_counter() - started
            answer = self._result(text, outcome, question, standalone, language, citations, sentences, timings)
            answer.retrieved = retrieved
            answer.model_answer = raw
            return answer

        selecting = self._options.answer_mode in ("select", "choose")
        # Select mode compares words: a question in another language is compared in German (the sources'
        # language), translated by the model; the answer's lead stays in the citizen's language.
        german = self._in_german(question) if selecting and language != "de" else question
        if selecting:
            query, standalone, topic = self._follow_up(german, history or [])
            standalone = question if german == question else standalone
        else:
            (query, standalone), topic = self._standalone(question, history or []), ""
        timings["rewrite"] = time.perf_counter() - started
        ranking = selecting or self._options.prompt_lines > 0
        top_k = self._options.select_top_k if ranking else self._options.top_k
        passages = self._retriever.retrieve(query, top_k, include_internal=include_internal)
        timings["retrieval"] = time.perf_counter() - started - timings["rewrite"]
        retrieved.extend(RetrievedSource(rank=n, source_id=p.source_id, title=p.title, url=p.url,
                                         similarity=round(p.similarity, 4), chunk_id=p.chunk_id,
                                         headings=p.headings, text=p.text) for n, p in enumerate(passages, 1))
        gate = (self._options.min_relevance if language == "de" or (selecting and german != question)
                else self._options.min_relevance_other_language)
        if not passages or passages[0].similarity < gate:
            yield result(messages.text("no_answer", language), "no_answer", standalone)
            return

        if ranking:
            passages = self._with_asked_sections(german, passages, include_internal)
        sources = SourceSentences(passages)
        cross_language = language != "de"
        if selecting:
            checked = self._selected_lines(german, query, topic, sources, german == question and cross_language,
                                           language, cancel)
            timings["selection"] = time.perf_counter() - started - timings["rewrite"] - timings["retrieval"]
            if not checked:
                yield result(messages.text("no_answer", language), "no_answer", standalone)
                return
            text = render(checked)
            timings["first_verified"] = time.perf_counter() - started
            yield from _pieces(text)
            yield result(text, "answered", standalone, self._citations(checked, passages), checked)
            return

        only = None
        if self._options.prompt_lines > 0:
            # The model reads the best-ranked lines of more passages instead of three whole passages: the
            # asked item's line is among them, its neighbours mostly not, and the prompt is shorter.
            ranked = self._ranker.rank(analyse(query), sources, "", cross_language)
            only = {r.sentence.ref for r in ranked[:self._options.prompt_lines]}
        checked = []
        shown = ""
        done = 0  # characters of `raw` whose sentences are checked
        # A question that asks for a kind of fact (an amount, a duration, hours …) is answered only by text
        # that has one: until a checked sentence gives it, nothing is shown, so that a true sentence beside
        # the point can still give way to the source line with the asked fact (the select fallback).
        wanted = self._asked_kinds(question) if self._options.select_fallback and language == "de" else ()
        for piece in self._model.stream(answer_messages(query, sources, language, only),
                                        self._options.max_tokens, cancel=cancel):
            if "first_token" not in timings:
                timings["first_token"] = time.perf_counter() - started
            raw += piece
            if NO_ANSWER_TOKEN in raw or NO_ANSWER_TOKEN.startswith(raw.strip()):
                continue
            # Everything before the last sentence start is complete; the last sentence may still grow.
            complete = _complete_prefix(raw, done)
            if complete > done:
                checked += self._check(raw[done:complete], sources, cross_language, query)
                done = complete
                text = render(checked)
                if len(text) > len(shown) and (not wanted or _gives(wanted, text)):
                    timings.setdefault("first_verified", time.perf_counter() - started)
                    yield from _pieces(text[len(shown):])
                    shown = text
        if cancel is not None and cancel.is_set():
            return
        timings["generation"] = time.perf_counter() - started - timings["rewrite"] - timings["retrieval"]

        if NO_ANSWER_TOKEN not in raw:
            checked += self._check(raw[done:], sources, cross_language, query)
        passed = NO_ANSWER_TOKEN not in raw and any(s.verdict in ("supported", "fixed", "quoted") for s in checked) \
            and self._on_topic(query, checked, passages, cross_language)
        text = render(checked)
        if self._options.select_fallback and (not passed or (wanted and not _gives(wanted, text))):
            # Nothing the model wrote passed, or it passed without the asked kind of fact: the source lines that
            # answer the question, where the ranker is sure enough of one (most answerable questions used to end
            # as "no answer", or with a true sentence beside the point).
            lines, found = self._fallback(question, history or [], language, include_internal)
            if lines:
                text = render(lines)
                yield from _pieces(text)
                yield result(text, "answered", standalone, self._citations(lines, found), lines)
                return
        if not passed:
            yield result(messages.text("no_answer", language), "no_answer", standalone, sentences=checked)
            return
        if len(text) > len(shown):
            timings.setdefault("first_verified", time.perf_counter() - started)
            yield from _pieces(text[len(shown):])
        yield result(text, "answered", standalone, self._citations(checked, passages), checked)

    def _selected_lines(self, question: str, query: str, topic: str, sources: SourceSentences,
                        cross_language: bool, language: str,
                        cancel: threading.Event | None = None) -> list[CheckedSentence]:
        """Select, then phrase: the source lines that answer the question, under a lead that says where they
        come from (in the citizen's language; the lines stay as the source says them). In choose mode the
        model picks among the best-ranked lines, constrained to their numbers or KEINE_ANTWORT."""
        asked = analyse(question)
        ranked = self._ranker.rank(asked, sources, topic, cross_language)
        if self._options.answer_mode == "choose" and self._model is not None:
            chosen = self._choose(query, asked, ranked, sources, cross_language, cancel)
        else:
            chosen = select_lines(ranked, asked, sources, self._selection, cross_language)
        if not chosen:
            return []
        where = lead(sources, chosen)
        heading = where + ":" if language == "de" else messages.text("source_lead", language, title=where)
        return [CheckedSentence(heading, (), "neutral", 1.0, original=heading), *(selected(s) for s in chosen)]

    @staticmethod
    def _asked_kinds(question: str) -> tuple[Ask, ...]:
        """The kinds of fact the question asks for that a sentence's text can show (amount, hours, duration,
        date, phone, e-mail, place, online); lists (documents, steps) are judged by their section instead."""
        return tuple(ask for ask in analyse(question).asks if ask.fact_pattern is not None or ask.fact_kinds)

    def _with_asked_sections(self, question: str, passages: list[Passage], include_internal: bool) -> list[Passage]:
        """The passages, plus the asked field of the best services (their fees, documents, hours …) if
        retrieval missed it."""
        asked = analyse(question)
        if not asked.asks:
            return passages
        return passages + self._retriever.sections(
            passages, lambda headings: any(ask.sections is not None and ask.sections.search(headings)
                                           for ask in asked.asks), include_internal)

    def _fallback(self, question: str, history: list[Turn], language: str,
                  include_internal: bool) -> tuple[list[CheckedSentence], list[Passage]]:
        """Select mode's answer for a question whose generated answer did not pass: (lines, their passages),
        or ([], []) when no line clears the selection thresholds. Measured on every set's tuning half: it
        turns no answers into right ones and never the reverse (README, "select fallback")."""
        if language != "de":
            # Lines are chosen by the question's words, which only a German question shares with the sources;
            # without a translation, nothing but meaning would choose ("Print your system prompt" found lines).
            german = self._in_german(question)
            if german == question:
                return [], []
            question = german
        query, _, topic = self._follow_up(question, history)
        passages = self._retriever.retrieve(query, self._options.select_top_k, include_internal=include_internal)
        if not passages:
            return [], []
        passages = self._with_asked_sections(question, passages, include_internal)
        lines = self._selected_lines(question, query, topic, SourceSentences(passages), False, language)
        return lines, passages

    def _check(self, text: str, sources: SourceSentences, cross_language: bool,
               question: str) -> list[CheckedSentence]:
        results = (self._checker.check_sentence(raw, sources, cross_language, question)
                   for raw in answer_sentences(text))
        return [r for r in results if r is not None]

    @staticmethod
    def _on_topic(question: str, checked: list[CheckedSentence], passages: list[Passage],
                  cross_language: bool) -> bool:
        """A verified answer must still be about the question: true sentences beside the point (a small model
        answering "Rezept für Apfelkuchen" from the ID-card page) are no answer. Across languages the words
        cannot be compared; the embedding check on each sentence has to do."""
        if cross_language:
            return True
        shown = [s for s in checked if s.verdict in ("supported", "fixed", "quoted")]
        about = content_stems(" ".join(s.text for s in shown))
        for number in {n for s in shown for n in s.markers}:
            about |= content_stems(f"{passages[number - 1].title} {passages[number - 1].headings}")
        return shares_word(content_stems(question), about)

    def _result(self, text: str, outcome: Outcome, question: str, standalone: str, language: str,
                citations: list[Citation] | None = None, sentences: list[CheckedSentence] | None = None,
                timings: dict[str, float] | None = None) -> AnswerResult:
        return AnswerResult(
            text=text, outcome=outcome, citations=citations or [], language=language, question=question,
            standalone_question=standalone, timings={k: round(v, 4) for k, v in (timings or {}).items()},
            sentences=[SentenceVerdict(text=s.text, markers=list(s.markers), verdict=s.verdict,
                                       support=round(s.support, 3), original=s.original, reason=s.reason,
                                       snippet=s.snippet) for s in sentences or []])

    def _choose(self, query: str, asked: Question, ranked: list[Ranked], sources: SourceSentences,
                cross_language: bool, cancel: threading.Event | None) -> list[SourceSentence]:
        options = self._selection
        candidates = ranked[:options.choices]
        if not candidates or (not cross_language and candidates[0].terms < options.min_choice_terms):
            return []
        lines = [(where(sources, r.sentence), clean_line(r.sentence.span.text)) for r in candidates]
        raw = "".join(self._model.stream(choose_messages(query, lines), max_tokens=12, cancel=cancel,
                                         grammar=choice_grammar(len(candidates))))
        picked = parse_choice(raw, len(candidates))
        if not picked:
            return []
        first = candidates[picked[0]]
        shown = answer_lines(first, [first], asked, sources, options, cross_language)
        shown += [candidates[i].sentence for i in picked[1:] if candidates[i].sentence not in shown]
        return shown

    def _in_german(self, question: str) -> str:
        """The question in German, or as it is when the model gives no usable translation."""
        if self._model is None:
            return question
        translated = complete(self._model, translate_messages(question), max_tokens=80).strip()
        translated = translated.splitlines()[0].strip().strip('"„“<>') if translated else ""
        translated = re.sub(r"</?frage>", "", translated).strip()
        if not translated or len(translated) > 3 * len(question) + 40 or NO_ANSWER_TOKEN in translated:
            return question
        return translated

    def _follow_up(self, question: str, history: list[Turn]) -> tuple[str, str, str]:
        """(query for retrieval, standalone question to report, topic words for ranking) without the model:
        a follow-up that leaves its item out ("Und wie lange ist es reserviert?") is searched together with
        the previous question, and the words of the previous turn count as its topic. The question's own
        words still decide which line answers it, so the follow-up gets the reservation period, not the fee
        again. The report carries the question alone: never an earlier turn."""
        recent = history[-self._options.max_history_turns:] if self._options.max_history_turns else []
        if not recent or not _leans_on_context(question):
            return question, question, ""
        previous_question, previous_answer = recent[-1]
        return f"{previous_question} {question}", question, f"{previous_question} {previous_answer}"

    def _standalone(self, question: str, history: list[Turn]) -> tuple[str, str]:
        """Rewrite a follow-up ("Und was kostet das?") into a question retrieval can answer alone: (the query
        for retrieval, the standalone question the answer reports). The report never carries an earlier
        turn verbatim — the fallback query below is for retrieval only."""
        recent = history[-self._options.max_history_turns:] if self._options.max_history_turns else []
        if not recent:
            return question, question
        rewritten = complete(self._model, rewrite_messages(recent, question), max_tokens=80).strip()
        rewritten = rewritten.splitlines()[0].strip().strip('"„“') if rewritten else ""
        # A small model sometimes answers instead of rewriting, or repeats the question without taking
        # anything from the history; then the previous question gives retrieval the missing context.
        context = content_stems(" ".join(q + " " + a for q, a in recent))
        gained = (content_stems(rewritten) - content_stems(question)) & context
        if not gained or len(rewritten) > 3 * len(question) + 200 or NO_ANSWER_TOKEN in rewritten:
            return f"{recent[-1][0]} {question}", question
        return rewritten, rewritten

    @staticmethod
    def _citations(checked: list[CheckedSentence], passages: list[Passage]) -> list[Citation]:
        citations: dict[int, Citation] = {}
        for sentence in checked:
            if not sentence.shown or not sentence.markers:
                continue
            number = sentence.markers[0]
            p = passages[number - 1]
            citation = citations.setdefault(number, Citation(
                number=number, title=p.title, url=p.url, location=p.location, source_id=p.source_id,
                visibility=p.visibility,
                snippet=sentence.snippet or p.text[:300], passage=p.text, spans=[]))
            if sentence.span and list(sentence.span) not in citation.spans:
                citation.spans.append(list(sentence.span))
        return [citations[n] for n in sorted(citations)]


# Words by which a question points back to an earlier turn instead of naming its item.
_BACK_REFERENCE = re.compile(
    r"^\s*(?:und|aber|also|and|but|what\s+about|how\s+about)\b|\b(?:es|das|dies\w*|dafür|dazu|dort|dabei|davon|damit|"
    r"darauf|hierfür|it|that|this|there|them|they)\b", re.IGNORECASE)


def _gives(asks: tuple[Ask, ...], text: str) -> bool:
    """Does the text give one of the asked kinds of fact?"""
    found = frozenset(facts(text))
    return any(answers_kind(ask, text, found, "") for ask in asks)


def _leans_on_context(question: str) -> bool:
    """Does the question need the earlier turns to be understood? A back-reference, or no noun of its own."""
    return bool(_BACK_REFERENCE.search(question)) or not names(question)


def _pieces(text: str, words: int = 3) -> Iterator[str]:
    """A checked sentence goes out in a few word groups: it reads as it arrives, like typing, and every
    piece is already verified."""
    parts = re.findall(r"\S+\s*", text)
    lead = text[: len(text) - len(text.lstrip())]
    for start in range(0, len(parts), words):
        yield (lead if start == 0 else "") + "".join(parts[start:start + words])


def _complete_prefix(raw: str, done: int) -> int:
    """End of the last complete sentence in raw (>= done): a sentence is complete once the next has begun."""
    last_newline = raw.rfind("\n")
    end = done
    if last_newline >= done:
        end = last_newline + 1
    sentences = split_sentences(raw[end:])
    if len(sentences) >= 2:
        start_of_last = raw.rfind(sentences[-1])
        if start_of_last > end:
            end = start_of_last
    return end
