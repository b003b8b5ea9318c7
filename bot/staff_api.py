"""The staff workspace's back end under /staff: login, the inbox and its live WebSocket, transcripts,
claim / reply / transfer / close, callback requests, feedback, admin exports and the knowledge search over
public and internal documents. JSON only; the pages are built on it (docs/staff.md).

Security in one place: every route but login needs the session cookie (HttpOnly, SameSite=Strict, Path
/staff, Secure behind TLS); every POST also needs the session's CSRF token in X-CSRF-Token; the WebSocket
checks the cookie and the Origin; exports are for admins. Nothing here is reachable from the citizen socket.

No `from __future__ import annotations` here: FastAPI must see the dependency annotations of the routes,
which are built inside `staff_router`, as objects.
"""

import asyncio
import csv
import io
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, PlainTextResponse
from pydantic import ValidationError

import widget
from bot.fair_use import origin_allowed
from bot.handoff_service import HandoffService, Outbox
from bot.handoff_store import Conflict, Database, Forbidden, HandoffStore, NotFound, utcnow
from bot.login_throttle import LoginThrottle
from bot.protocol import AnswerResult, has_lone_surrogate
from bot.staff_auth import LocalAccounts, LockedOut, LoginRefused, SessionInfo, Sessions, StaffIdentity
from bot.staff_protocol import (
    Ack,
    ActionResult,
    AskStaffRequest,
    CallbackDoneRequest,
    CallbackInfo,
    Claim,
    Close,
    CloseRequest,
    ConversationDetail,
    ConversationSummary,
    FeedbackInfo,
    LoginRequest,
    LoginResponse,
    Reply,
    ReplyRequest,
    SearchHit,
    SearchResponse,
    SetPresence,
    StaffError,
    StaffInfo,
    StaffPing,
    StaffPong,
    TranscriptMessage,
    Transfer,
    TransferRequest,
    staff_message_adapter,
)
from bot.worker import QueueFull
from embeddings.lexical import tokenize
from embeddings.retrieval import Filters, Retriever
from embeddings.store import ChromaStore
from siwi.settings import Settings
from siwi.validation import describe

log = logging.getLogger(__name__)

COOKIE = "siwi_staff"
CSRF_HEADER = "X-CSRF-Token"


class KnowledgeSearch:
    """Hybrid search over public and internal documents for staff, with highlighted snippets. The only
    place where internal documents are shown."""

    def __init__(self, retriever: Retriever, store: ChromaStore):
        self._retriever = retriever
        self._store = store

    def search(self, query: str, visibility: Literal["all", "public", "internal"] = "all",
               sources: list[str] | None = None, doc_types: list[str] | None = None,
               modified_after: date | None = None, k: int = 10) -> SearchResponse:
        filters = Filters(include_internal=visibility != "public", sources=sources or None,
                          doc_types=doc_types or None)
        wide = visibility == "internal" or modified_after is not None
        passages = self._retriever.retrieve(query, k * 5 if wide else k, filters=filters)
        metadata = {hit.chunk_id: hit.metadata for hit in self._store.get([p.chunk_id for p in passages])}
        terms = set(tokenize(query))
        results: list[SearchHit] = []
        for passage in passages:
            modified = str(metadata.get(passage.chunk_id, {}).get("last_modified") or "")
            if visibility == "internal" and passage.visibility != "internal":
                continue
            if modified_after and (not modified or modified[:10] < modified_after.isoformat()):
                continue
            snippet, highlights = _snippet(passage.text, terms)
            results.append(SearchHit(
                rank=len(results) + 1, title=passage.title, url=passage.url, location=passage.location,
                source_id=passage.source_id, source=passage.source, doc_type=passage.doc_type,
                visibility=passage.visibility, headings=passage.headings, last_modified=modified,
                similarity=round(passage.similarity, 4), score=round(passage.score, 6), text=passage.text,
                snippet=snippet, highlights=highlights))
            if len(results) == k:
                break
        return SearchResponse(query=query, results=results)


def _snippet(text: str, terms: set[str], width: int = 360) -> tuple[str, list[list[int]]]:
    """A window of the passage around the first matching word, with the [start, end) of every word whose
    German-aware terms (stems, compound parts) meet the query's."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"\w[\w-]*", text) if terms & set(tokenize(m.group()))]
    start = 0
    if len(text) > width and spans:
        start = max(0, spans[0][0] - width // 3)
        start = text.rfind(" ", 0, start) + 1 if start else 0
    end = min(len(text), start + width)
    if end < len(text):
        end = max(text.rfind(" ", start, end), start + width // 2)
    prefix = "…" if start > 0 else ""
    snippet = prefix + text[start:end].strip() + ("…" if end < len(text) else "")
    lead = len(text[start:end]) - len(text[start:end].lstrip())
    shift = len(prefix) - start - lead
    return snippet, [[a + shift, b + shift] for a, b in spans if a >= start + lead and b <= end]


@dataclass
class StaffWorkspace:
    """Everything the staff routes need, built once per app (tests may pass their own)."""

    settings: Settings
    database: Database
    store: HandoffStore
    accounts: LocalAccounts
    sessions: Sessions
    service: HandoffService
    search: KnowledgeSearch | None
    ask: Callable[[str, str], Awaitable[AnswerResult]] | None = None
    """(question, conversation id) → a checked answer from public and internal documents; set by the app
    factory, which owns the model."""

    def close(self) -> None:
        self.database.close()


def build_workspace(settings: Settings, retriever: Retriever | None = None, store: ChromaStore | None = None,
                    database: Database | None = None) -> StaffWorkspace:
    database = database or Database(settings.resolved_database_url)
    accounts = LocalAccounts(database, settings.staff_lockout_attempts, settings.staff_lockout_minutes)
    handoff_store = HandoffStore(database)
    service = HandoffService(settings, handoff_store, accounts.by_username)
    search = KnowledgeSearch(retriever, store) if retriever is not None and store is not None else None
    return StaffWorkspace(settings, database, handoff_store, accounts,
                          Sessions(database, accounts, settings.staff_session_minutes), service, search)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail={"code": code, "message": message}, headers=headers)


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


def staff_router(workspace: StaffWorkspace) -> APIRouter:
    settings, service, sessions = workspace.settings, workspace.service, workspace.sessions
    store = workspace.store
    router = APIRouter(prefix="/staff", tags=["staff"], dependencies=[Depends(_no_store)], responses={
        401: {"description": "No valid session: sign in first (unauthenticated)."}})
    # Status codes besides 200 / 401 / 422, documented per route (OpenAPI; checked by tests/test_api_schema.py).
    bad_json = {400: {"description": "The body cannot be read as JSON text (e.g. it is not UTF-8)."}}
    csrf = {403: {"description": "The session's CSRF token is missing from X-CSRF-Token or wrong (csrf)."}}
    acting = {403: {"description": "The CSRF token is missing or wrong (csrf), or the conversation is assigned "
                                   "to a colleague (forbidden)."},
              404: {"description": "No such conversation, or no such active account to transfer to (not_found)."},
              409: {"description": "Not possible in the conversation's state, e.g. already claimed or closed "
                                   "(conflict)."}}
    admins = {403: {"description": "For administrators only (forbidden)."}}
    hashing = asyncio.Semaphore(2)  # argon2 is deliberately expensive: bound what a login flood can cost
    throttle = LoginThrottle(settings.staff_login_limit_per_address, settings.staff_login_limit_overall)

    async def current(request: Request) -> SessionInfo:
        session = await asyncio.to_thread(sessions.resolve, request.cookies.get(COOKIE))
        if session is None:
            raise _error(401, "unauthenticated", "Bitte melden Sie sich an.")
        return session

    async def checked(request: Request, session: Annotated[SessionInfo, Depends(current)]) -> SessionInfo:
        """State-changing requests: the CSRF token of this session must come along (synchronizer token)."""
        if not session.csrf_ok(request.headers.get(CSRF_HEADER)):
            raise _error(403, "csrf", "Das Sicherheitstoken fehlt oder ist falsch. Bitte laden Sie die Seite neu.")
        return session

    async def admin(session: Annotated[SessionInfo, Depends(current)]) -> SessionInfo:
        if not session.identity.admin:
            raise _error(403, "forbidden", "Nur für Administratorinnen und Administratoren.")
        return session

    Staff = Annotated[SessionInfo, Depends(current)]
    Checked = Annotated[SessionInfo, Depends(checked)]
    Admin = Annotated[SessionInfo, Depends(admin)]

    async def act(call: Callable[[], Any]) -> Any:
        try:
            return await call()
        except NotFound as exc:
            raise _error(404, "not_found", str(exc) or "Nicht gefunden.") from None
        except Conflict as exc:
            raise _error(409, "conflict", str(exc)) from None
        except Forbidden as exc:
            raise _error(403, "forbidden", str(exc)) from None

    # --- login ---------------------------------------------------------------------------------------

    @router.post("/api/login", response_model=LoginResponse, responses={
        **bad_json,
        401: {"description": "Wrong username or password, alike for an unknown name (login_failed)."},
        429: {"description": "Too many failed logins: this name from this address is locked (locked), or this "
                             "address or all together are throttled (throttled); with Retry-After."}})
    async def login(body: LoginRequest, request: Request, response: Response) -> LoginResponse:
        """Username and password → session cookie and CSRF token. Repeated failures lock the name for the
        address they come from; too many failures from one address, or from all together, are throttled."""
        address = request.client.host if request.client else "unknown"
        if (wait := throttle.retry_after(address)) is not None:
            raise _error(429, "throttled", "Zu viele Fehlversuche. Bitte warten Sie einen Moment.",
                         {"Retry-After": str(wait)})
        try:
            async with hashing:
                identity = await asyncio.to_thread(workspace.accounts.authenticate, body.username, body.password,
                                                   address)
        except LockedOut as exc:
            seconds = max(1, int((exc.until - utcnow()).total_seconds()) + 1)
            minutes = max(1, -(-seconds // 60))
            raise _error(429, "locked", f"Zu viele Fehlversuche. Bitte versuchen Sie es in {minutes} "
                         f"Minute{'n' if minutes != 1 else ''} erneut.", {"Retry-After": str(seconds)}) from None
        except LoginRefused:
            throttle.failed(address)
            raise _error(401, "login_failed", "Benutzername oder Passwort ist falsch.") from None
        token, info = await asyncio.to_thread(sessions.create, identity)
        secure = settings.staff_cookie_secure
        response.set_cookie(COOKIE, token, max_age=int(settings.staff_session_minutes * 60), path="/staff",
                            httponly=True, samesite="strict",
                            secure=request.url.scheme == "https" if secure is None else secure)
        return LoginResponse(staff=identity.info(), csrf_token=info.csrf_token, expires_at=info.expires_at)

    @router.post("/api/logout", status_code=204, responses=csrf)
    async def logout(session: Checked, response: Response) -> Response:
        await asyncio.to_thread(sessions.revoke, session.token_hash)
        await service.end_sessions(session.token_hash)
        result = Response(status_code=204, headers={"Cache-Control": "no-store"})
        result.delete_cookie(COOKIE, path="/staff", httponly=True, samesite="strict")
        return result

    @router.get("/api/me", response_model=LoginResponse)
    async def me(session: Staff) -> LoginResponse:
        """Who is signed in, and the CSRF token for this session (for a page that was reloaded)."""
        return LoginResponse(staff=session.identity.info(), csrf_token=session.csrf_token,
                             expires_at=session.expires_at)

    # --- inbox and conversations --------------------------------------------------------------------

    @router.get("/api/inbox", response_model=list[ConversationSummary])
    async def inbox(session: Staff) -> list[ConversationSummary]:
        """Waiting conversations in queue order, then those being answered."""
        return await service.db(store.inbox)

    @router.get("/api/conversations/{conversation_id}", response_model=ConversationDetail,
                responses={404: {"description": "No such conversation (not_found)."}})
    async def conversation(conversation_id: str, session: Staff) -> ConversationDetail:
        """The whole transcript: the bot's answers with their citations, citizen, staff and system messages."""
        return await act(lambda: service.db(store.detail, conversation_id))

    @router.post("/api/conversations/{conversation_id}/claim", response_model=ActionResult, responses=acting)
    async def claim(conversation_id: str, session: Checked) -> ActionResult:
        message = await act(lambda: service.claim(session.identity, conversation_id))
        return ActionResult(conversation=await service.db(store.summary, conversation_id), seq=message.seq)

    @router.post("/api/conversations/{conversation_id}/reply", response_model=ActionResult,
                 responses={**bad_json, **acting})
    async def reply(conversation_id: str, body: ReplyRequest, session: Checked) -> ActionResult:
        message = await act(lambda: service.reply(session.identity, conversation_id, body.text))
        return ActionResult(conversation=await service.db(store.summary, conversation_id), seq=message.seq)

    @router.post("/api/conversations/{conversation_id}/transfer", response_model=ActionResult,
                 responses={**bad_json, **acting})
    async def transfer(conversation_id: str, body: TransferRequest, session: Checked) -> ActionResult:
        message = await act(lambda: service.transfer(session.identity, conversation_id, body.to, body.note))
        return ActionResult(conversation=await service.db(store.summary, conversation_id), seq=message.seq)

    @router.post("/api/conversations/{conversation_id}/close", response_model=ActionResult,
                 responses={**bad_json, **acting})
    async def close(conversation_id: str, body: CloseRequest, session: Checked) -> ActionResult:
        message = await act(lambda: service.close(session.identity, conversation_id, body.note))
        return ActionResult(conversation=await service.db(store.summary, conversation_id), seq=message.seq)

    @router.get("/api/staff", response_model=list[StaffInfo])
    async def staff_list(session: Staff) -> list[StaffInfo]:
        """Colleagues (for transfers) with their presence."""
        online = {p.username: p.status for p in service.presence().staff}
        return [a.model_copy(update={"status": online.get(a.username, "offline")})
                for a in await service.db(workspace.accounts.list) if a.active]

    # --- callbacks and feedback ---------------------------------------------------------------------

    @router.get("/api/callbacks", response_model=list[CallbackInfo])
    async def callbacks(session: Staff, state: Literal["open", "done"] | None = "open") -> list[CallbackInfo]:
        return await service.db(store.callbacks, state)

    @router.post("/api/callbacks/{callback_id}/done", response_model=CallbackInfo, responses={
        **bad_json, **csrf, 404: {"description": "No such callback request (not_found)."},
        409: {"description": "The callback is done already (conflict)."}})
    async def callback_done(callback_id: Annotated[int, Path(ge=1, le=2**31 - 1)],  # an INTEGER column
                            body: CallbackDoneRequest, session: Checked) -> CallbackInfo:
        return await act(lambda: service.callback_done(session.identity, callback_id, body.note))

    @router.get("/api/feedback", response_model=list[FeedbackInfo])
    async def feedback(session: Staff, rating: Literal["up", "down"] | None = None,
                       since: date | None = None) -> list[FeedbackInfo]:
        return await service.db(store.feedback, rating, _day(since))

    # --- exports (admins) ---------------------------------------------------------------------------

    @router.get("/api/export/conversations", responses=admins)
    async def export_conversations(session: Admin, format: Literal["json", "csv"] = "json",
                                   since: date | None = None) -> Response:
        """Closed conversations for audit: id, times, question, answer, sources, outcome, rating (JSON also
        with the whole transcript)."""
        closed = await service.db(store.closed, _day(since))
        ratings = await service.db(store.ratings)
        rows = [_conversation_row(c, ratings.get(c.id)) for c in closed]
        if format == "csv":
            return _csv(rows, "siwi-conversations.csv")
        body = [{**row, "sources": row["sources"].split(" | ") if row["sources"] else [],
                 "messages": [json.loads(m.model_dump_json()) for m in c.messages]}
                for row, c in zip(rows, closed, strict=True)]
        return _download(json.dumps(body, ensure_ascii=False, indent=1), "siwi-conversations.json",
                         "application/json")

    @router.get("/api/export/feedback", responses=admins)
    async def export_feedback(session: Admin, format: Literal["json", "csv"] = "json",
                              since: date | None = None) -> Response:
        items = [json.loads(f.model_dump_json()) for f in await service.db(store.feedback, None, _day(since))]
        if format == "csv":
            return _csv(items, "siwi-feedback.csv")
        return _download(json.dumps(items, ensure_ascii=False, indent=1), "siwi-feedback.json", "application/json")

    # --- knowledge search ---------------------------------------------------------------------------

    @router.get("/api/search", response_model=SearchResponse, responses={
        422: {"description": "Invalid parameters (`detail`: the validation errors), or a blank query (`detail`: "
                             "code and message)."},
        503: {"description": "This server has no knowledge search (unavailable)."}})
    async def search(session: Staff, q: Annotated[str, Query(min_length=1, max_length=500)],
                     visibility: Literal["all", "public", "internal"] = "all",
                     source: Annotated[list[str] | None, Query()] = None,
                     doc_type: Annotated[list[str] | None, Query()] = None,
                     modified_after: date | None = None,
                     k: Annotated[int, Query(ge=1, le=50)] = 10) -> SearchResponse:
        """Hybrid search over public and internal documents (filters: visibility, source, document type,
        modified after), with snippets and the offsets of matching words."""
        if workspace.search is None or not q.strip():
            raise _error(503 if workspace.search is None else 422, "unavailable", "Die Suche ist nicht verfügbar.")
        return await asyncio.to_thread(workspace.search.search, q.strip(), visibility, source, doc_type,
                                       modified_after, k)

    @router.post("/api/ask", response_model=AnswerResult, responses={
        **bad_json, **csrf,
        422: {"description": "An invalid body (`detail`: the validation errors), or a blank question or one that "
                             "is not text (`detail`: code and message)."},
        503: {"description": "No model here (unavailable), or too many questions are waiting for it (busy)."}})
    async def ask(body: AskStaffRequest, session: Checked) -> AnswerResult:
        """An answer from public and internal documents, with citations, the citation check's verdict per
        sentence and the retrieved passages. Each question stands alone (no conversation history)."""
        if workspace.ask is None:
            raise _error(503, "unavailable", "Fragen an die Wissensbasis sind nicht verfügbar.")
        if not body.question.strip():
            raise _error(422, "empty", "Bitte geben Sie eine Frage ein.")
        if has_lone_surrogate(body.question):
            raise _error(422, "invalid_text", "Die Frage enthält ungültige Zeichen.")
        try:
            return await workspace.ask(body.question.strip(), f"staff-{secrets.token_hex(8)}")
        except QueueFull:
            raise _error(503, "busy", "Im Moment sind viele Anfragen in Bearbeitung. Bitte versuchen Sie es "
                                      "gleich noch einmal.") from None

    # --- the live inbox -----------------------------------------------------------------------------

    @router.websocket("/ws")
    async def staff_socket(websocket: WebSocket) -> None:
        await StaffConnection(websocket, workspace).run()

    # --- the pages (widget/staff/index.html; script and stylesheet built by `npm run build`) ------------

    async def staff_page(request: Request) -> FileResponse:
        """One page for every view; its script picks the view by the path and asks /api/me who is there."""
        socket = f"{'wss' if request.url.scheme == 'https' else 'ws'}://{request.url.netloc}"
        return FileResponse(widget.STAFF_PAGE, media_type="text/html; charset=utf-8", headers={
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
            "Content-Security-Policy": f"default-src 'none'; script-src 'self'; style-src 'self'; "
                                       f"img-src 'self' data:; connect-src 'self' {socket}; base-uri 'none'; "
                                       f"form-action 'self'; frame-ancestors 'none'"})

    for page in ("", "/", "/login", "/inbox", "/callbacks", "/feedback", "/search", "/export"):
        router.add_api_route(page, staff_page, methods=["GET"], include_in_schema=False)

    @router.get("/assets/{name}", include_in_schema=False, response_model=None)
    async def staff_asset(name: str) -> FileResponse | PlainTextResponse:
        media_type = widget.STAFF_ASSETS.get(name)
        if media_type is None:
            raise _error(404, "not_found", "Nicht gefunden.")
        path = widget.WIDGET_DIR / "dist" / name
        if not path.is_file():
            return PlainTextResponse(f"/* {path} is missing: run `make setup` (or `cd widget && npm ci && npm run "
                                     f"build`). */\n", status_code=404, media_type=media_type)
        return FileResponse(path, media_type=media_type,
                            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    return router


class StaffConnection:
    """One staff WebSocket: the inbox pushed live, and claim / reply / transfer / close / presence."""

    def __init__(self, websocket: WebSocket, workspace: StaffWorkspace):
        self._ws = websocket
        self._workspace = workspace
        self._service = workspace.service
        self._lock = asyncio.Lock()

    async def send(self, frame: Any) -> None:
        async with self._lock:
            await self._ws.send_text(frame.model_dump_json())

    def _origin_ok(self) -> bool:
        """Browsers always send Origin on WebSockets; cookies alone would let any page open this socket."""
        return origin_allowed(self._ws.headers.get("origin"), self._ws.headers.get("host", ""),
                              self._ws.url.scheme in ("wss", "https"), self._workspace.settings.staff_allowed_origins,
                              required=True)

    async def run(self) -> None:
        if not self._origin_ok():
            await self._ws.close(code=4403)
            return
        session = await asyncio.to_thread(self._workspace.sessions.resolve, self._ws.cookies.get(COOKIE))
        if session is None:
            await self._ws.close(code=4401)
            return
        await self._ws.accept()
        outbox = Outbox(self.send)
        identity = session.identity

        async def end(code: str = "session_expired", message: str = "Die Sitzung ist abgelaufen. Bitte melden "
                                                                      "Sie sich erneut an.") -> None:
            try:
                await self.send(StaffError(code=code, message=message))  # type: ignore[arg-type]
                await self._ws.close(code=4401)
            except Exception:
                pass

        async def expire() -> None:
            await asyncio.sleep(max(0.0, (session.expires_at - utcnow()).total_seconds()))
            await end()

        watchdog = asyncio.create_task(expire())
        await self._service.staff_connected(outbox, identity, session.token_hash, end)
        try:
            while True:
                frame = await self._ws.receive()
                if frame["type"] == "websocket.disconnect":
                    break
                if frame.get("text") is None:
                    outbox.put(StaffError(code="unsupported_frame", message="Send JSON text frames."))
                    continue
                if not await asyncio.to_thread(self._workspace.sessions.still_valid, session):
                    await end()
                    break
                await self._handle(frame["text"], identity, outbox)
        except (WebSocketDisconnect, RuntimeError, ConnectionError):
            pass  # the socket is closed
        except Exception:
            log.exception("staff socket failed")
        finally:
            watchdog.cancel()
            await self._service.staff_disconnected(outbox)
            await outbox.drain(timeout=0.5)
            outbox.close()

    async def _handle(self, raw: str, identity: StaffIdentity, outbox: Outbox) -> None:
        if len(raw) > 64_000:
            outbox.put(StaffError(code="invalid_message", message="The frame is too large."))
            return
        try:
            message = staff_message_adapter.validate_python(json.loads(raw))
        except json.JSONDecodeError:
            outbox.put(StaffError(code="invalid_json", message="The frame is not valid JSON."))
            return
        except ValidationError as exc:
            outbox.put(StaffError(code="invalid_message", message=f"Invalid message: {describe(exc, limit=1)}"))
            return
        if isinstance(message, StaffPing):
            outbox.put(StaffPong())
            return
        if isinstance(message, SetPresence):
            await self._service.set_presence(outbox, message.status)
            return
        request_id = message.request_id
        try:
            result: TranscriptMessage
            if isinstance(message, Claim):
                result = await self._service.claim(identity, message.conversation_id)
            elif isinstance(message, Reply):
                result = await self._service.reply(identity, message.conversation_id, message.text)
            elif isinstance(message, Transfer):
                result = await self._service.transfer(identity, message.conversation_id, message.to, message.note)
            elif isinstance(message, Close):
                result = await self._service.close(identity, message.conversation_id, message.note)
            else:  # pragma: no cover - the adapter admits nothing else
                return
        except NotFound as exc:
            outbox.put(StaffError(code="not_found", message=str(exc) or "Nicht gefunden.", request_id=request_id))
            return
        except Conflict as exc:
            outbox.put(StaffError(code="conflict", message=str(exc), request_id=request_id))
            return
        except Forbidden as exc:
            outbox.put(StaffError(code="forbidden", message=str(exc), request_id=request_id))
            return
        outbox.put(Ack(request_id=request_id, action=message.type, conversation_id=message.conversation_id,
                       seq=result.seq))


# --- exports ------------------------------------------------------------------------------------------

def _day(value: date | None) -> datetime | None:
    return datetime(value.year, value.month, value.day, tzinfo=UTC) if value else None


def _conversation_row(c: ConversationDetail, rating: str | None) -> dict[str, Any]:
    citizen = [m for m in c.messages if m.role == "citizen"]
    bot = [m for m in c.messages if m.role == "bot"]
    sources = []
    for m in bot:
        for citation in m.citations:
            label = f"{citation.title} <{citation.location}>"
            if label not in sources:
                sources.append(label)
    return {"id": c.id, "state": c.state, "reason": c.reason, "topic": c.topic, "language": c.language,
            "created_at": c.created_at.isoformat(), "queued_at": c.queued_at.isoformat(),
            "assigned_at": c.assigned_at.isoformat() if c.assigned_at else None,
            "closed_at": c.closed_at.isoformat() if c.closed_at else None, "assigned_to": c.assigned_to,
            "closed_by": c.closed_by, "close_note": c.close_note,
            "question": citizen[0].text if citizen else None, "answer": bot[0].text if bot else None,
            "sources": " | ".join(sources), "outcome": bot[-1].outcome if bot else None, "rating": rating,
            "staff_messages": sum(m.role == "staff" for m in c.messages)}


def _cell(value: Any) -> Any:
    """Spreadsheets run cells that start with = + - @ as formulas: such text is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(rows: list[dict[str, Any]], filename: str) -> Response:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    return _download("\ufeff" + buffer.getvalue(), filename, "text/csv; charset=utf-8")


def _download(body: str, filename: str, media_type: str) -> Response:
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                                          "Cache-Control": "no-store"})


__all__ = ["COOKIE", "CSRF_HEADER", "KnowledgeSearch", "StaffWorkspace", "build_workspace", "staff_router"]
