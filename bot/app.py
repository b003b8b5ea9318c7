"""The chat service: WebSocket chat, HTTP API, operator endpoints and the browser page, built by one
app factory from components that the caller constructs (and so can replace in tests)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

import widget
from bot import messages, retention
from bot.answer_cache import AnswerCache
from bot.conversations import ConversationStore, new_conversation_id
from bot.fair_use import ClientGate, FairUseLimits, origin_allowed
from bot.handoff_service import CitizenLink
from bot.pipeline import AnswerPipeline
from bot.protocol import (
    AnswerResult,
    AskRequest,
    AskResponse,
    CallbackRequest,
    Cancel,
    Delta,
    EndHandoff,
    ErrorMessage,
    Feedback,
    FeedbackAck,
    Final,
    HandoffRequest,
    Ping,
    Pong,
    Queued,
    Ready,
    Started,
    UserMessage,
    client_message_adapter,
    has_lone_surrogate,
)
from bot.security_headers import SecurityHeaders
from bot.services import Index
from bot.staff_api import StaffWorkspace, build_workspace, staff_router
from bot.worker import ClientQueueFull, GenerationWorker, Job, Position, QueueFull
from siwi import __version__
from siwi.settings import Settings
from siwi.validation import describe
from widget import STATIC_DIR

log = logging.getLogger(__name__)


class Refused(Exception):
    """The conversation exists, and the caller did not show its resume token."""


@dataclass
class Chat:
    """What every request handler needs, built once per app."""

    settings: Settings
    index: Index
    pipeline: AnswerPipeline
    worker: GenerationWorker
    conversations: ConversationStore = field(default_factory=ConversationStore)
    answers: OrderedDict[tuple[str, str], dict[str, Any]] = field(default_factory=OrderedDict)
    """Recent answers by (conversation id, client_message_id), so that feedback can name what it rates."""
    _feedback_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    staff: StaffWorkspace | None = None
    """The human handoff and the staff workspace (bot/staff_api.py)."""
    gate: ClientGate = field(default_factory=lambda: ClientGate(FairUseLimits()))
    """Per-client limits on sockets and questions (bot/fair_use.py)."""
    cache: AnswerCache | None = None
    """Checked answers for repeated first questions (bot/answer_cache.py)."""

    def origin_allowed(self, headers: Any, secure: bool) -> bool:
        return origin_allowed(headers.get("origin"), headers.get("host", ""), secure,
                              self.settings.allowed_origins)


    async def admit(self, conversation_id: str | None, token: str | None) -> tuple[str, str, bool]:
        """The conversation a client may continue: (id, resume token, with staff now). A new id when none is
        named or the named one is unknown here; `Refused` when it exists and the token does not open it —
        a conversation's history and transcript are reachable only with its resume token."""
        if not conversation_id:
            conversation_id = new_conversation_id()
            return conversation_id, self.conversations.start(conversation_id), False
        assert self.staff is not None
        handoff = await self.staff.service.access(conversation_id, token)
        known = self.conversations.opens(conversation_id, token)
        if handoff is False or known is False:
            raise Refused(conversation_id)
        if known is None:  # unknown here (e.g. after a restart): begun anew, under the handoff's token if it had one
            token = self.conversations.start(conversation_id, token if handoff else None)
        assert token is not None
        return conversation_id, token, bool(handoff) and await self.staff.service.active(conversation_id) is not None

    def validate_text(self, text: str) -> ErrorMessage | None:
        """Refused before anything reaches the model: empty, too long (in characters, as a person counts
        them: an emoji is one), or not text at all (a lone UTF-16 surrogate, which no encoder accepts)."""
        if not text.strip():
            return ErrorMessage(code="empty_message", message="Die Nachricht ist leer.")
        if has_lone_surrogate(text):
            return ErrorMessage(code="invalid_text", message="Die Nachricht enthält ungültige Zeichen.")
        if len(text) > self.settings.max_message_chars:
            return ErrorMessage(code="message_too_long",
                                message=f"Die Nachricht ist zu lang (höchstens {self.settings.max_message_chars} "
                                        f"Zeichen).")
        return None

    def submit(self, question: str, conversation_id: str, include_internal: bool = False, client: str = "") -> Job:
        """Queue the question for the model, or answer at once where no model is needed (emergencies)."""
        immediate = self.pipeline.immediate(question)
        if immediate is not None:
            return Job.finished(immediate)
        history = self.conversations.history(conversation_id)
        if history or self.cache is None:  # a follow-up's answer belongs to its conversation: never cached
            return self.worker.submit(partial(self.pipeline.run, question, history,
                                              include_internal=include_internal), client)
        if (cached := self.cache.get(question, include_internal)) is not None:
            return Job.finished(cached.text, cached)  # no queue, no model: the checked answer again
        return self.worker.submit(partial(self._run_and_keep, question, include_internal), client)

    def _run_and_keep(self, question: str, include_internal: bool,
                      cancel: threading.Event | None = None) -> Iterator[str | AnswerResult]:
        """The pipeline's events for a first question; its checked answer goes into the cache."""
        assert self.cache is not None
        for event in self.pipeline.run(question, [], cancel=cancel, include_internal=include_internal):
            if isinstance(event, AnswerResult):
                self.cache.put(question, event, include_internal)
            yield event

    async def answer(self, question: str, conversation_id: str, include_internal: bool = False, client: str = "",
                     gone: Callable[[], Awaitable[bool]] | None = None) -> AnswerResult | None:
        """The final answer alone, for the HTTP APIs; None when `gone` said the caller left, which also stops
        the work (waiting or generating). Raises QueueFull."""
        job = self.submit(question, conversation_id, include_internal, client)
        watch = asyncio.create_task(_cancel_when_gone(gone, job)) if gone is not None else None
        try:
            async for event in job.results():
                if isinstance(event, AnswerResult):
                    return event
        finally:
            if watch is not None:
                watch.cancel()
        if job.cancel.is_set():
            return None
        raise RuntimeError("the pipeline produced no answer")

    def remember(self, conversation_id: str, answer: AnswerResult, client_message_id: str | None = None) -> None:
        self.conversations.append(conversation_id, answer.question, answer.text)
        if client_message_id:
            self.answers[(conversation_id, client_message_id)] = {
                "question": answer.question, "text": answer.text, "outcome": answer.outcome,
                "sources": [c.source_id for c in answer.citations]}
            while len(self.answers) > 10_000:
                self.answers.popitem(last=False)

    def record_feedback(self, feedback: Feedback, conversation_id: str) -> None:
        """Append one line to DATA_DIR/feedback.jsonl: the rating, the comment and the answer it rates (if this
        process still knows it). A later line for the same answer replaces an earlier one."""
        comment = (feedback.comment or "").strip() or None
        record = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "conversation_id": conversation_id,
                  "client_message_id": feedback.client_message_id, "rating": feedback.rating, "comment": comment,
                  "answer": self.answers.get((conversation_id, feedback.client_message_id))}
        path = self.settings.data_dir / "feedback.jsonl"
        with self._feedback_lock, retention.feedback_file(path) as file:  # 0600, locked against a purge
            file.write(json.dumps(record, ensure_ascii=False) + "\n")


def create_app(settings: Settings, index: Index, pipeline: AnswerPipeline,
               staff: StaffWorkspace | None = None) -> FastAPI:
    chat = Chat(settings, index, pipeline, GenerationWorker(settings.max_queue, settings.client_queue_share),
                gate=ClientGate(FairUseLimits(settings.client_connections, settings.client_questions)),
                cache=AnswerCache(settings.answer_cache_size, settings.answer_cache_ttl_s, index.store.version))
    chat.staff = staff = staff or build_workspace(settings, index.retriever(settings), index.store)
    # The workspace's ask mode: the citizens' pipeline and queue, over public and internal documents.
    staff.ask = partial(chat.answer, include_internal=True)

    async def purge_on_schedule() -> None:
        """Retention (bot/retention.py): what is older than SIWI_RETENTION_DAYS goes, every hour."""
        while True:
            before = datetime.now(UTC) - timedelta(days=settings.retention_days)
            try:
                removed = await asyncio.to_thread(retention.purge, staff.store, settings.data_dir / "feedback.jsonl",
                                                  before)
                if any(removed.values()):
                    log.info("retention: removed %s", removed)
            except Exception:
                log.exception("retention purge failed")
            await asyncio.sleep(3600)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        chat.worker.start()
        purging = asyncio.create_task(purge_on_schedule(), name="siwi-retention")
        yield
        purging.cancel()
        await chat.worker.stop()
        staff.close()

    # Swagger UI loads its script from a CDN, which nothing here may do at run time: off unless asked for;
    # /openapi.json is always there for tools.
    docs = "/docs" if settings.api_docs else None
    app = FastAPI(title="SiWi", version=__version__, lifespan=lifespan, docs_url=docs, redoc_url=None,
                  description="Grounded answers with citations from the district's knowledge base.")
    app.add_middleware(SecurityHeaders)
    app.state.chat = chat
    app.include_router(staff_router(staff))

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, Any]:
        """The process is up."""
        return {"status": "ok", "version": __version__}

    @app.get("/ready", tags=["operations"],
             responses={503: {"description": "Not ready: the index holds no documents (same body)."}})
    async def ready() -> JSONResponse:
        """The model is loaded and the index holds documents: SiWi can answer."""
        chunks = await asyncio.to_thread(chat.index.store.count)
        ok = chunks > 0
        body = {"ready": ok, "model": True, "index_chunks": chunks, "queue": chat.worker.waiting}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.post("/api/ask", response_model=AskResponse, tags=["chat"], responses={
        400: {"description": "The body cannot be read as JSON text (e.g. it is not UTF-8)."},
        403: {"description": "The conversation exists and `resume_token` does not open it, or the request "
                            "comes from a page that is not allowed (SIWI_ALLOWED_ORIGINS)."},
        409: {"description": "The conversation is with staff: continue it in the chat."},
        422: {"description": "The question is empty, too long or not valid."},
        429: {"description": "This client asked too many questions (rate_limited, with Retry-After) or "
                            "already has its share of the queue waiting (too_many_waiting)."},
        503: {"description": "Too many questions are waiting for the model."}})
    async def ask(request: AskRequest, http: Request) -> AskResponse | Response:
        """The same final answer as the WebSocket chat, as one JSON response. A follow-up names the
        `conversation_id` and the `resume_token` of the first response. A request whose client has gone
        is dropped from the queue or stopped mid-answer."""
        if not chat.origin_allowed(http.headers, http.url.scheme == "https"):
            raise HTTPException(status_code=403, detail=ErrorMessage(
                code="origin_not_allowed", message=messages.text("origin_not_allowed", "de")).model_dump())
        error = chat.validate_text(request.question)
        if error:
            raise HTTPException(status_code=422, detail=error.model_dump())
        client = http.client.host if http.client else "unknown"
        try:
            conversation_id, token, with_staff = await chat.admit(request.conversation_id, request.resume_token)
        except Refused:
            raise HTTPException(status_code=403, detail=ErrorMessage(
                code="forbidden", message=messages.text("conversation_not_yours", "de")).model_dump()) from None
        if with_staff:
            raise HTTPException(status_code=409, detail=ErrorMessage(
                code="with_staff", message=messages.text("conversation_with_staff", "de")).model_dump())
        if (wait := chat.gate.question(client)) is not None:
            raise HTTPException(status_code=429, detail=rate_limited(wait).model_dump(),
                                headers={"Retry-After": str(wait)})
        try:
            answer = await chat.answer(request.question, conversation_id, client=client, gone=http.is_disconnected)
        except ClientQueueFull:
            raise HTTPException(status_code=429, detail=ErrorMessage(
                code="too_many_waiting", message=messages.text("too_many_waiting", "de")).model_dump()) from None
        except QueueFull:
            raise HTTPException(status_code=503, detail="busy") from None
        if answer is None:  # the client has gone; nobody reads this
            return Response(status_code=499)
        chat.remember(conversation_id, answer)
        return AskResponse(conversation_id=conversation_id, resume_token=token, answer=answer)

    @app.websocket("/ws/chat")
    async def chat_socket(websocket: WebSocket, conversation_id: str | None = None, resume_token: str | None = None,
                          after: int | None = None) -> None:
        await ChatSession(websocket, chat).run(conversation_id, resume_token, after)

    @app.get("/", include_in_schema=False)
    async def index_page() -> FileResponse:
        """The demo page: a fictitious district homepage with the widget embedded."""
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/widget/siwi.js", include_in_schema=False, response_model=None)
    async def widget_script() -> FileResponse | PlainTextResponse:
        """The chat widget, built from widget/src by `make setup` (npm run build)."""
        bundle = widget.BUNDLE
        if not bundle.is_file():
            return PlainTextResponse(
                f"// The SiWi widget is not built: {bundle} is missing. Run `make setup`, or "
                f"`cd widget && npm ci && npm run build`.\n",
                status_code=404, media_type="text/javascript")
        return FileResponse(bundle, media_type="text/javascript; charset=utf-8",
                            headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


class ChatSession:
    """One WebSocket connection. A reader task answers protocol errors, pings and cancels at once, while
    user messages are answered one after another; a disconnect stops the running generation."""

    def __init__(self, websocket: WebSocket, chat: Chat):
        self._ws = websocket
        self._chat = chat
        self._send_lock = asyncio.Lock()
        self._inbox: asyncio.Queue[UserMessage | None] = asyncio.Queue()
        self._current: Job | None = None
        self._conversation_id = ""
        self._client = websocket.client.host if websocket.client else "unknown"
        assert chat.staff is not None
        self._link = CitizenLink(chat.staff.service, self.send)

    async def send(self, message: Any) -> None:
        async with self._send_lock:
            await self._ws.send_text(message.model_dump_json())

    async def run(self, conversation_id: str | None, resume_token: str | None = None,
                  after: int | None = None) -> None:
        if not self._chat.origin_allowed(self._ws.headers, self._ws.url.scheme in ("wss", "https")):
            await self._ws.close(code=4403)  # before accepting: the browser sees the handshake refused (403)
            return
        if not self._chat.gate.connect(self._client):
            await self._ws.accept()
            await self.send(ErrorMessage(code="too_many_connections",
                                         message=messages.text("too_many_connections", "de")))
            await self._ws.close(code=1008)
            return
        try:
            await self._converse(conversation_id, resume_token, after)
        finally:
            self._chat.gate.disconnect(self._client)

    async def _converse(self, conversation_id: str | None, resume_token: str | None, after: int | None) -> None:
        await self._ws.accept()
        cid = conversation_id if conversation_id and _valid_id(conversation_id) else None
        refused = None
        try:
            cid, token, _ = await self._chat.admit(cid, resume_token)
        except Refused:  # someone else's conversation: a new one, and the citizen is told why
            refused = ErrorMessage(code="forbidden", message=messages.text("conversation_forbidden", "de"))
            cid, token, _ = await self._chat.admit(None, None)
        self._link.adopt(cid, token)
        self._conversation_id = cid
        await self.send(Ready(conversation_id=cid, resume_token=token))
        if refused:
            await self.send(refused)
        await self._link.resume(after)
        reader = asyncio.create_task(self._read())
        try:
            while (message := await self._inbox.get()) is not None:
                await self._answer(message, cid)
        except WebSocketDisconnect:
            pass
        finally:
            if self._current:
                self._current.cancel.set()
            reader.cancel()
            await self._link.close()

    async def _read(self) -> None:
        limit = self._chat.settings.max_message_chars
        try:
            while True:
                try:
                    frame = await asyncio.wait_for(self._ws.receive(), self._chat.settings.idle_timeout_s)
                except TimeoutError:
                    if self._current is not None or not self._inbox.empty():
                        continue  # the client waits for an answer: that is not idle
                    await self.send(ErrorMessage(code="idle_timeout", message=messages.text("idle_timeout", "de")))
                    await self._ws.close(code=1000)
                    break
                if frame["type"] == "websocket.disconnect":
                    break
                if frame.get("text") is None:
                    await self.send(ErrorMessage(code="unsupported_frame",
                                                 message="Binary frames are not supported; send JSON text."))
                    continue
                raw = frame["text"]
                # The frame is JSON: "\ud83d\ude00" is one emoji in twelve characters. The cap on the raw
                # frame only keeps a flood out; the message's own length is checked in characters below.
                if len(raw) > 12 * limit + 1024:
                    await self.send(ErrorMessage(code="message_too_long",
                                                 message=f"Die Nachricht ist zu lang (höchstens {limit} Zeichen)."))
                    continue
                try:
                    message = client_message_adapter.validate_python(json.loads(raw))
                except json.JSONDecodeError:
                    await self.send(ErrorMessage(code="invalid_json", message="The frame is not valid JSON."))
                    continue
                except ValidationError as exc:
                    await self.send(ErrorMessage(code="invalid_message",
                                                 message=f"Invalid message: {describe(exc, limit=1)}"))
                    continue
                if isinstance(message, Ping):
                    await self.send(Pong())
                elif isinstance(message, Cancel):
                    if self._current:
                        self._current.cancel.set()
                elif getattr(message, "conversation_id", None) not in (None, self._conversation_id):
                    # One socket, one conversation: another one's history is reachable only by connecting
                    # with its resume token.
                    await self.send(ErrorMessage(code="forbidden",
                                                 message=messages.text("conversation_not_yours", "de")))
                elif isinstance(message, Feedback):
                    await self._feedback(message)
                elif isinstance(message, HandoffRequest | CallbackRequest | EndHandoff):
                    await self._link.handle(message)
                elif error := self._chat.validate_text(message.text):
                    await self.send(error)
                elif await self._link.to_staff(message):  # with staff, messages go to them, not the bot
                    pass
                elif (wait := self._chat.gate.question(self._client)) is not None:
                    await self.send(rate_limited(wait))
                else:
                    await self._inbox.put(message)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if self._current:
                self._current.cancel.set()
            self._inbox.put_nowait(None)

    async def _feedback(self, message: Feedback) -> None:
        try:
            await asyncio.to_thread(self._chat.record_feedback, message, self._conversation_id)
        except OSError:
            log.exception("storing feedback failed")
            await self.send(ErrorMessage(code="internal_error", message="Die Rückmeldung konnte nicht gespeichert "
                                                                        "werden."))
            return
        await self.send(FeedbackAck(client_message_id=message.client_message_id))
        cid = self._conversation_id
        await self._link.feedback(message, cid, self._chat.answers.get((cid, message.client_message_id)))

    async def _answer(self, message: UserMessage, conversation_id: str) -> None:
        if await self._link.intercept(message, conversation_id):  # an always-human topic: straight to staff
            return
        try:
            self._current = self._chat.submit(message.text, conversation_id, client=self._client)
        except ClientQueueFull:
            await self.send(ErrorMessage(code="too_many_waiting", message=messages.text("too_many_waiting", "de")))
            return
        except QueueFull:
            await self.send(ErrorMessage(code="busy", message="Im Moment sind viele Anfragen in Bearbeitung. "
                                                              "Bitte versuchen Sie es gleich noch einmal."))
            return
        await self.send(Started(conversation_id=conversation_id, client_message_id=message.client_message_id))
        try:
            async for event in self._current.results():
                if isinstance(event, Position):
                    await self.send(Queued(position=event.position))
                elif isinstance(event, str):
                    await self.send(Delta(text=event))
                elif isinstance(event, AnswerResult):
                    self._chat.remember(conversation_id, event, message.client_message_id)
                    # Citation verdicts are for staff and evaluation (HTTP API), not for citizens.
                    citizen = event.model_copy(update={"sentences": [], "retrieved": [], "model_answer": ""})
                    await self.send(Final(conversation_id=conversation_id,
                                          client_message_id=message.client_message_id, answer=citizen))
                    await self._link.answered(conversation_id, event)
        except WebSocketDisconnect:
            raise
        except Exception:
            log.exception("answering failed")
            await self.send(ErrorMessage(code="internal_error",
                                         message="Die Antwort konnte nicht erstellt werden. Bitte versuchen Sie es "
                                                 "erneut."))
        finally:
            self._current = None


def _valid_id(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)

def rate_limited(wait: int) -> ErrorMessage:
    """The client asked too many questions in the window: how long to wait."""
    return ErrorMessage(code="rate_limited",
                        message=messages.text("rate_limited", "de", wait=messages.wait_text(wait, "de")))


async def _cancel_when_gone(gone: Callable[[], Awaitable[bool]], job: Job, every: float = 0.25) -> None:
    """Stop the job (waiting or generating) once its HTTP client has disconnected."""
    while not job.cancel.is_set():
        if await gone():
            job.cancel.set()
            return
        await asyncio.sleep(every)
