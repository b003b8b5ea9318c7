"""The answer pipeline: question → (rewrite) → retrieval → gate → prompt → streamed generation → citation
check → result. Synchronous on purpose: it runs in the single generation worker (see worker.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bot import messages
from bot.citations import CheckedSentence, CitationChecker, content_stems, render
from bot.handoff import wants_human
from bot.language import LanguageDetector
from bot.llm import ChatModel, complete
from bot.prompts import NO_ANSWER_TOKEN, answer_messages, rewrite_messages
from bot.protocol import AnswerResult, Citation, Outcome, SentenceVerdict
from embeddings.retrieval import Passage, Retriever

Turn = tuple[str, str]
"""(citizen's question, SiWi's answer text)"""


@dataclass(frozen=True)
class PipelineOptions:
    top_k: int = 4
    min_relevance: float = 0.8
    max_tokens: int = 320
    max_history_turns: int = 6
    contact: str = ""


class AnswerPipeline:
    def __init__(self, retriever: Retriever, model: ChatModel, checker: CitationChecker,
                 detector: LanguageDetector, options: PipelineOptions):
        self._retriever = retriever
        self._model = model
        self._checker = checker
        self._detector = detector
        self._options = options

    def run(self, question: str, history: list[Turn] | None = None,
            cancel: threading.Event | None = None) -> Iterator[str | AnswerResult]:
        """Yield provisional text deltas, then exactly one AnswerResult (unless cancelled)."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        question = question.strip()
        language = self._detector.detect(question)

        def result(text: str, outcome: Outcome, standalone: str, citations: list[Citation] | None = None,
                   sentences: list[CheckedSentence] | None = None) -> AnswerResult:
            timings["total"] = time.perf_counter() - started
            return AnswerResult(
                text=text, outcome=outcome, citations=citations or [], language=language, question=question,
                standalone_question=standalone, timings={k: round(v, 4) for k, v in timings.items()},
                sentences=[SentenceVerdict(text=s.text, markers=list(s.markers), verdict=s.verdict,  # type: ignore[arg-type]
                                           support=round(s.support, 3)) for s in sentences or []])

        if wants_human(question):
            yield result(messages.text("handoff", language, contact=self._options.contact), "handoff", question)
            return

        standalone = self._standalone(question, history or [])
        timings["rewrite"] = time.perf_counter() - started
        passages = self._retriever.retrieve(standalone, self._options.top_k)
        timings["retrieval"] = time.perf_counter() - started - timings["rewrite"]
        if not passages or passages[0].similarity < self._options.min_relevance:
            yield result(messages.text("no_answer", language), "no_answer", standalone)
            return

        raw = ""
        held = ""
        for piece in self._model.stream(answer_messages(standalone, passages, language),
                                        self._options.max_tokens, cancel=cancel):
            if "first_token" not in timings:
                timings["first_token"] = time.perf_counter() - started
            raw += piece
            held += piece
            # Hold back text that may still become the no-answer token, so it never shows.
            if NO_ANSWER_TOKEN.startswith(held.strip()) or NO_ANSWER_TOKEN in raw:
                continue
            yield held
            held = ""
        if cancel is not None and cancel.is_set():
            return
        timings["generation"] = time.perf_counter() - started - timings["rewrite"] - timings["retrieval"]

        if NO_ANSWER_TOKEN in raw:
            yield result(messages.text("no_answer", language), "no_answer", standalone)
            return
        checked = self._checker.check(raw, passages)
        if not any(s.verdict in ("supported", "fixed") for s in checked):
            yield result(messages.text("no_answer", language), "no_answer", standalone, sentences=checked)
            return
        yield result(render(checked), "answered", standalone, self._citations(checked, passages), checked)

    def _standalone(self, question: str, history: list[Turn]) -> str:
        """Rewrite a follow-up ("Und was kostet das?") into a question retrieval can answer alone."""
        recent = history[-self._options.max_history_turns:] if self._options.max_history_turns else []
        if not recent:
            return question
        rewritten = complete(self._model, rewrite_messages(recent, question), max_tokens=80).strip()
        rewritten = rewritten.splitlines()[0].strip().strip('"„“') if rewritten else ""
        # A small model sometimes answers instead of rewriting, or repeats the question without taking
        # anything from the history; then the previous question gives retrieval the missing context.
        context = content_stems(" ".join(q + " " + a for q, a in recent))
        gained = (content_stems(rewritten) - content_stems(question)) & context
        if not gained or len(rewritten) > 3 * len(question) + 200 or NO_ANSWER_TOKEN in rewritten:
            return f"{recent[-1][0]} {question}"
        return rewritten

    @staticmethod
    def _citations(checked: list[CheckedSentence], passages: list[Passage]) -> list[Citation]:
        citations: dict[int, Citation] = {}
        for sentence in checked:
            if sentence.verdict not in ("supported", "fixed"):
                continue
            for number in sentence.markers:
                if number in citations:
                    continue
                p = passages[number - 1]
                citations[number] = Citation(number=number, title=p.title, url=p.url, location=p.location,
                                             snippet=sentence.snippet or p.text[:300], source_id=p.source_id)
        return [citations[n] for n in sorted(citations)]
