"""The human handoff at run time: who is on duty, the queue's state pushed live to citizens and staff, and
the citizen's side of it on the chat socket (`CitizenLink`).

Every change goes to the database first (bot/handoff_store.py) and is then pushed to the sockets that
follow the conversation. Changes are made one at a time under one lock, so sequence numbers and pushes
come in the same order; each socket has its own outbox, so a slow client holds up nobody else.

A conversation with staff is reachable only with its resume token, which the socket that started the
handoff receives: a conversation id alone (ids may be chosen by clients) never opens someone else's chat.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import statistics
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from bot import messages
from bot.conversations import new_resume_token, token_hash, token_opens
from bot.emergency import is_emergency
from bot.handoff import HumanTopics
from bot.handoff_store import (
    Conflict,
    Forbidden,
    HandoffRecord,
    HandoffStore,
    NotFound,
    StaffAccount,
    Turn,
    citations_json,
    utcnow,
)
from bot.language import LanguageDetector
from bot.office_hours import OfficeHours
from bot.protocol import (
    AnswerResult,
    CallbackReceived,
    CallbackRequest,
    ContactOptions,
    Delivered,
    EndHandoff,
    ErrorMessage,
    Feedback,
    Final,
    Handoff,
    HandoffRequest,
    StaffMessage,
    Started,
    UserMessage,
)
from bot.redaction import redact
from bot.staff_auth import StaffIdentity
from bot.staff_protocol import (
    CallbackEvent,
    CallbackInfo,
    ConversationEvent,
    Hello,
    MessageEvent,
    PresenceEvent,
    StaffInfo,
    TranscriptMessage,
)
from siwi.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
Send = Callable[[BaseModel], Awaitable[None]]

_PHONE = re.compile(r"^\+?[0-9][0-9 ()/.\-]{3,38}$")
_EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[^@\s<>\"]+\.[^@\s<>\".]{2,}$")
CITIZEN_MESSAGE_ROLES = ("staff",)


class Outbox:
    """Frames for one socket, sent in order by the socket's own task."""

    def __init__(self, send: Send):
        self._queue: asyncio.Queue[BaseModel] = asyncio.Queue()
        self._task = asyncio.create_task(self._pump(send))

    def put(self, frame: BaseModel) -> None:
        self._queue.put_nowait(frame)

    async def _pump(self, send: Send) -> None:
        while True:
            frame = await self._queue.get()
            try:
                await send(frame)
            except Exception:  # the socket is gone; its reader ends the session
                return

    async def drain(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and not self._task.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def close(self) -> None:
        self._task.cancel()


@dataclass
class _StaffSocket:
    identity: StaffIdentity
    session_hash: str
    status: str = "available"
    close: Callable[[], Awaitable[None]] | None = None


@dataclass
class _Pending:
    """A conversation's turns with the bot before any handoff (memory only, like the chat history)."""

    turns: list[Turn] = field(default_factory=list)
    no_answers: int = 0
    language: str = "de"


class HandoffService:
    def __init__(self, settings: Settings, store: HandoffStore,
                 directory: Callable[[str], StaffIdentity | None],
                 detector: LanguageDetector | None = None):
        self.settings = settings
        self.store = store
        self._directory = directory
        self._detector = detector or LanguageDetector()
        self.hours = OfficeHours.parse(settings.office_hours, settings.office_timezone)
        self.topics = HumanTopics(settings.always_human_topics)
        self.check_topics = HumanTopics(settings.handoff_on_failed_check_topics)
        self._lock = asyncio.Lock()
        self._citizens: dict[str, set[Outbox]] = {}
        self._staff: dict[Outbox, _StaffSocket] = {}
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._waiting_shown: dict[str, tuple[Any, ...]] = {}
        self._waits_cache: tuple[float, list[float]] = (0.0, [])

    @staticmethod
    async def db(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(function, *args, **kwargs)

    # --- presence and office hours ----------------------------------------------------------------------

    def available_staff(self) -> int:
        return len({s.identity.account_id for s in self._staff.values() if s.status == "available"})

    def on_duty(self, now: datetime | None = None) -> bool:
        return self.hours.is_open(now or utcnow()) and self.available_staff() > 0

    def presence(self) -> PresenceEvent:
        people: dict[int, StaffInfo] = {}
        for socket in self._staff.values():
            known = people.get(socket.identity.account_id)
            if known is None or socket.status == "available":
                people[socket.identity.account_id] = socket.identity.info(socket.status)  # type: ignore[arg-type]
        return PresenceEvent(on_duty=self.on_duty(), staff=sorted(people.values(), key=lambda p: p.username))

    # --- what citizens are told ---------------------------------------------------------------------------

    def contact(self) -> ContactOptions:
        s = self.settings
        return ContactOptions(phone=s.contact_phone or None, email=s.contact_email or None,
                              hours=s.contact_hours or None, appointment_url=s.contact_appointment_url or None)

    def _contact_text(self, language: str) -> str:
        s = self.settings
        parts = []
        if s.contact_phone:
            parts.append(messages.text("contact_phone", language, phone=s.contact_phone, hours=s.contact_hours))
        if s.contact_email:
            parts.append(messages.text("contact_email", language, email=s.contact_email))
        if s.contact_appointment_url:
            parts.append(messages.text("contact_appointment", language, url=s.contact_appointment_url))
        return ", ".join(parts) + ("." if parts else "")

    def _opening(self, language: str) -> str:
        when = self.hours.describe_opening(utcnow(), language)
        return messages.text("opening", language, when=when) + " " if when else ""

    def staff_label(self, identity: StaffIdentity) -> tuple[str | None, str | None]:
        """(name, team) as citizens see them, per SIWI_STAFF_DISPLAY_FORMAT."""
        team = identity.team or self.settings.staff_team
        form = self.settings.staff_display_format
        return (None if form == "team" else identity.display_name), (None if form == "name" else team)

    def _assigned_text(self, name: str | None, team: str | None, language: str) -> str:
        if name and team:
            return messages.text("handoff_assigned_name_and_team", language, name=name, team=team)
        if name:
            return messages.text("handoff_assigned_name", language, name=name)
        return messages.text("handoff_assigned_team", language, team=team or self.settings.staff_team)

    def _wait_minutes(self, position: int) -> int | None:
        """Honest, not optimistic: the median time from queueing to claim over the last claims (two weeks),
        per place in the queue, shared among the staff available; the configured default while there is no
        history yet. None when nobody is available to estimate for."""
        available = self.available_staff()
        if available == 0 or not self.hours.is_open(utcnow()):
            return None
        waits = self._waits_cache[1]
        per_position = statistics.median(waits) / 60 if len(waits) >= 3 else self.settings.handoff_default_wait_minutes
        return max(1, math.ceil(per_position * position / available))

    async def _refresh_wait_history(self) -> None:
        if time.monotonic() - self._waits_cache[0] > 60:
            self._waits_cache = (time.monotonic(), await self.db(self.store.recent_claim_waits, timedelta(days=14)))

    def _state_frame(self, record: HandoffRecord, *, position: int | None = None,
                     assigned: StaffIdentity | None = None, closed_by: str | None = None) -> Handoff:
        language = record.language
        if record.state == "waiting":
            position = position or 1
            minutes = self._wait_minutes(position)
            if minutes is None:
                text = messages.text("handoff_waiting_unstaffed", language, position=str(position),
                                     opening=self._opening(language))
                return Handoff(conversation_id=record.id, state="waiting", reason=record.reason, text=text,
                               position=position, contact=self.contact(), callback_offered=True)
            wait = messages.text("minutes_one" if minutes == 1 else "minutes_many", language, n=str(minutes))
            text = messages.text("handoff_waiting", language, position=str(position), wait=wait)
            return Handoff(conversation_id=record.id, state="waiting", reason=record.reason, text=text,
                           position=position, wait_minutes=minutes)
        if record.state == "assigned":
            name, team = self.staff_label(assigned) if assigned else (None, self.settings.staff_team)
            return Handoff(conversation_id=record.id, state="assigned", reason=record.reason,
                           text=self._assigned_text(name, team, language), staff_name=name, team=team)
        who = "citizen" if (closed_by or record.closed_by) == "citizen" else "staff"
        return Handoff(conversation_id=record.id, state="closed", reason=record.reason, closed_by=who,
                       text=messages.text(f"handoff_closed_{who}", language))

    def offline_frame(self, conversation_id: str, reason: str, language: str) -> Handoff:
        text = messages.text("handoff_offline", language, opening=self._opening(language),
                             contact=self._contact_text(language))
        return Handoff(conversation_id=conversation_id, state="offline", reason=reason, text=re.sub(r"\s+", " ", text),
                       contact=self.contact(), callback_offered=True)

    async def _frame_for(self, record: HandoffRecord, closed_by: str | None = None) -> Handoff:
        await self._refresh_wait_history()
        position = await self.db(self.store.position, record.id) if record.state == "waiting" else None
        assigned = None
        if record.state == "assigned" and record.assigned_staff_id is not None:
            assigned = await self._identity(record.assigned_staff_id)
        return self._state_frame(record, position=position, assigned=assigned, closed_by=closed_by)

    async def _identity(self, account_id: int) -> StaffIdentity | None:
        for socket in self._staff.values():
            if socket.identity.account_id == account_id:
                return socket.identity
        def load() -> StaffIdentity | None:
            with self.store.db.session() as s:
                account = s.get(StaffAccount, account_id)
                if account is None:
                    return None
                return StaffIdentity(account.id, account.username, account.display_name, account.team,
                                     account.role)  # type: ignore[arg-type]

        return await self.db(load)

    # --- pushing --------------------------------------------------------------------------------------

    def _to_citizen(self, conversation_id: str, frame: BaseModel, but: Outbox | None = None) -> None:
        for outbox in self._citizens.get(conversation_id, ()):
            if outbox is not but:
                outbox.put(frame)

    def _to_staff(self, frame: BaseModel) -> None:
        for outbox in self._staff:
            outbox.put(frame)

    async def _staff_update(self, conversation_id: str, event: str, *new: TranscriptMessage) -> None:
        summary = await self.db(self.store.summary, conversation_id)
        for message in new:
            self._to_staff(MessageEvent(conversation_id=conversation_id, message=message))
        self._to_staff(ConversationEvent(event=event, conversation=summary))  # type: ignore[arg-type]

    async def _refresh_waiting(self) -> None:
        """Tell every waiting citizen whose place or estimate changed."""
        if not any(self._citizens.values()):
            return
        await self._refresh_wait_history()
        positions = await self.db(self.store.waiting_positions)
        for conversation_id, position in positions.items():
            if not self._citizens.get(conversation_id):
                continue
            record = await self.db(self.store.get, conversation_id)
            if record is None:
                continue
            frame = self._state_frame(record, position=position)
            key = (frame.position, frame.wait_minutes, frame.text)
            if self._waiting_shown.get(conversation_id) != key:
                self._waiting_shown[conversation_id] = key
                self._to_citizen(conversation_id, frame)

    # --- citizens -----------------------------------------------------------------------------------

    def subscribe(self, conversation_id: str, outbox: Outbox) -> None:
        self._citizens.setdefault(conversation_id, set()).add(outbox)

    def unsubscribe(self, conversation_id: str, outbox: Outbox) -> None:
        followers = self._citizens.get(conversation_id)
        if followers is not None:
            followers.discard(outbox)
            if not followers:
                del self._citizens[conversation_id]
                self._waiting_shown.pop(conversation_id, None)

    def detect_language(self, text: str) -> str:
        return self._detector.detect(text)

    async def access(self, conversation_id: str, token: str | None) -> bool | None:
        """None: no handoff ever (anyone may use the id, as before); True: the token opens it; False: refused."""
        record = await self.db(self.store.get, conversation_id)
        if record is None:
            return None
        return token_opens(token, record.resume_token_hash)

    async def resume(self, conversation_id: str, outbox: Outbox, after: int | None, token: str | None) -> None:
        """A reconnecting citizen (who showed the token) gets the staff messages after `after` and the current
        state, then follows the conversation live — under the lock, so that nothing is sent twice or slips
        in between."""
        async with self._lock:
            record = await self.db(self.store.get, conversation_id)
            if record is None:
                return
            self.subscribe(conversation_id, outbox)
            missed = await self.db(self.store.messages, conversation_id, after or 0, ("staff", "system"))
            for message in missed:
                if message.role == "staff":
                    outbox.put(_staff_frame(conversation_id, message))
            if record.state != "closed" or any(m.event == "closed" for m in missed):
                frame = await self._frame_for(record)
                outbox.put(frame.model_copy(update={"resume_token": token}))
                if frame.state == "waiting":
                    self._waiting_shown[conversation_id] = (frame.position, frame.wait_minutes, frame.text)

    def record_turn(self, conversation_id: str, answer: AnswerResult) -> _Pending:
        pending = self._pending.setdefault(conversation_id, _Pending())
        self._pending.move_to_end(conversation_id)
        pending.turns.append(Turn(answer.question, answer.text, answer.outcome, citations_json(answer.citations)))
        del pending.turns[:-20]
        pending.language = answer.language
        pending.no_answers = pending.no_answers + 1 if answer.outcome == "no_answer" else 0
        while len(self._pending) > 10_000:
            self._pending.popitem(last=False)
        return pending

    def language_of(self, conversation_id: str, default: str | None = None) -> str:
        """The language of the conversation's last turn; before the first, the client's (or German)."""
        pending = self._pending.get(conversation_id)
        if pending:
            return pending.language
        return default or "de"

    async def active(self, conversation_id: str) -> HandoffRecord | None:
        record = await self.db(self.store.get, conversation_id)
        return record if record and record.state in ("waiting", "assigned") else None

    async def request(self, conversation_id: str, reason: str, language: str, topic: str | None,
                      requester: Outbox, token: str | None) -> tuple[Handoff, str | None]:
        """Start a handoff (or report the one under way) for a socket that may use the conversation (`token`:
        the one it holds, if any). Returns the frame for it, with the resume token it must keep. Nobody on
        duty: the offline frame, and nothing is queued."""
        async with self._lock:
            record = await self.db(self.store.get, conversation_id)
            if record is not None and not token_opens(token, record.resume_token_hash):
                raise Forbidden(conversation_id)
            if record is not None and record.state in ("waiting", "assigned"):
                return await self._frame_for(record), token
            if not self.on_duty():
                return self.offline_frame(conversation_id, reason, language), token
            token = token or new_resume_token()
            pending = self._pending.pop(conversation_id, None)
            record, added, _ = await self.db(self.store.open, conversation_id, reason, language, topic,
                                             token_hash(token), pending.turns if pending else [])
            self.subscribe(conversation_id, requester)
            frame = await self._frame_for(record)
            self._waiting_shown[conversation_id] = (frame.position, frame.wait_minutes, frame.text)
            self._to_citizen(conversation_id, frame, but=requester)
            await self._staff_update(conversation_id, "queued", *added)
            return frame, token

    async def citizen_message(self, conversation_id: str, text: str, client_message_id: str | None) -> Delivered:
        async with self._lock:  # also between the look-up of a resent message and the append
            message = None
            if client_message_id:
                message = await self.db(self.store.citizen_message, conversation_id, client_message_id)
            if message is None:  # not a resend: stored, and staff see it
                message = await self.db(self.store.append, conversation_id, "citizen", text,
                                        client_message_id=client_message_id)
                await self._staff_update(conversation_id, "message", message)
            return Delivered(conversation_id=conversation_id, seq=message.seq, client_message_id=client_message_id)

    async def end(self, conversation_id: str) -> None:
        async with self._lock:
            message = await self.db(self.store.close, conversation_id, "citizen", None)
            record = await self.db(self.store.get, conversation_id)
            assert record is not None
            self._to_citizen(conversation_id, self._state_frame(record, closed_by="citizen"))
            await self._staff_update(conversation_id, "closed", message)
            await self._refresh_waiting()

    async def callback(self, conversation_id: str, request: CallbackRequest, language: str) -> CallbackReceived:
        context: list[dict[str, Any]]
        record = await self.db(self.store.get, conversation_id)
        if record is not None:
            transcript = await self.db(self.store.messages, conversation_id, 0, ("citizen", "bot", "staff"))
            context = [{"role": m.role, "text": m.text} for m in transcript[-20:]]
        else:
            pending = self._pending.get(conversation_id)
            context = [item for t in (pending.turns if pending else [])
                       for item in ({"role": "citizen", "text": t.question}, {"role": "bot", "text": t.answer})]
        info = await self.db(self.store.add_callback, conversation_id, _clean(request.name), _clean(request.phone),
                             _clean(request.email), _clean(request.message), language, context)
        self._to_staff(CallbackEvent(event="new", callback=info))
        return CallbackReceived(text=messages.text("callback_received", language))

    async def feedback(self, conversation_id: str, message: Feedback, answer: dict[str, Any] | None) -> None:
        await self.db(self.store.add_feedback, conversation_id, message.rating, _clean(message.comment),
                      (answer or {}).get("question"), (answer or {}).get("text"), (answer or {}).get("outcome"))

    # --- staff ----------------------------------------------------------------------------------------

    async def staff_connected(self, outbox: Outbox, identity: StaffIdentity, session_hash: str,
                              close: Callable[[], Awaitable[None]]) -> None:
        """Greet the socket with the inbox as it is now and follow every change from there (under the lock:
        nothing happens between the snapshot and the first update)."""
        async with self._lock:
            inbox = await self.db(self.store.inbox)
            callbacks = await self.db(self.store.open_callbacks)
            self._staff[outbox] = _StaffSocket(identity, session_hash, close=close)
            outbox.put(Hello(staff=identity.info("available"), inbox=inbox, open_callbacks=callbacks,
                             on_duty=self.on_duty()))
            self._to_staff(self.presence())
            await self._refresh_waiting()

    async def staff_disconnected(self, outbox: Outbox) -> None:
        async with self._lock:
            if self._staff.pop(outbox, None) is not None:
                self._to_staff(self.presence())
                await self._refresh_waiting()

    async def set_presence(self, outbox: Outbox, status: str) -> None:
        async with self._lock:
            socket = self._staff.get(outbox)
            if socket is not None and socket.status != status:
                socket.status = status
                self._to_staff(self.presence())
                await self._refresh_waiting()

    async def end_sessions(self, session_hash: str) -> None:
        """After logout: close the sockets of that session."""
        for socket in [s for s in self._staff.values() if s.session_hash == session_hash]:
            if socket.close is not None:
                await socket.close()

    async def claim(self, staff: StaffIdentity, conversation_id: str) -> TranscriptMessage:
        async with self._lock:
            name, _ = self.staff_label(staff)
            message = await self.db(self.store.claim, conversation_id, staff.account_id,
                                    name or staff.display_name)
            record = await self.db(self.store.get, conversation_id)
            assert record is not None
            self._waiting_shown.pop(conversation_id, None)
            self._to_citizen(conversation_id, self._state_frame(record, assigned=staff))
            await self._staff_update(conversation_id, "claimed", message)
            self._waits_cache = (0.0, [])
            await self._refresh_waiting()
            return message

    def _staff_text(self, staff: StaffIdentity, text: str | None) -> str | None:
        """A staff member's reply or note, redacted (bot/redaction.py) but for their own name."""
        if not text:
            return text
        own = frozenset(f"{staff.display_name} {self.staff_label(staff)[0] or ''}".split())
        return redact(text, keep=own)

    async def reply(self, staff: StaffIdentity, conversation_id: str, text: str) -> TranscriptMessage:
        text = (self._staff_text(staff, text) or "").strip()
        if not text:
            raise Conflict("Die Nachricht ist leer.")
        async with self._lock:
            await self.db(self.store.check_reply, conversation_id, staff.account_id, staff.admin)
            name, _ = self.staff_label(staff)
            message = await self.db(self.store.append, conversation_id, "staff", text, staff_id=staff.account_id,
                                    staff_name=name, require_states=("assigned",))
            self._to_citizen(conversation_id, _staff_frame(conversation_id, message))
            await self._staff_update(conversation_id, "message", message)
            return message

    async def transfer(self, staff: StaffIdentity, conversation_id: str, to: str | None,
                       note: str | None) -> TranscriptMessage:
        target = None
        if to:
            target = await self.db(self._directory, to)
            if target is None:
                raise NotFound(f"Kein aktives Konto {to!r}.")
        async with self._lock:
            name = self.staff_label(target)[0] or target.display_name if target else None
            message = await self.db(self.store.transfer, conversation_id, staff.account_id, staff.admin,
                                    target.account_id if target else None, name,
                                    _clean(self._staff_text(staff, note)))
            record = await self.db(self.store.get, conversation_id)
            assert record is not None
            if target is not None:
                self._to_citizen(conversation_id, self._state_frame(record, assigned=target))
            await self._staff_update(conversation_id, "transferred", message)
            await self._refresh_waiting()
            return message

    async def close(self, staff: StaffIdentity, conversation_id: str, note: str | None) -> TranscriptMessage:
        async with self._lock:
            message = await self.db(self.store.close, conversation_id, "staff", _clean(self._staff_text(staff, note)),
                                    staff.account_id, staff.admin)
            record = await self.db(self.store.get, conversation_id)
            assert record is not None
            self._waiting_shown.pop(conversation_id, None)
            self._to_citizen(conversation_id, self._state_frame(record, closed_by="staff"))
            await self._staff_update(conversation_id, "closed", message)
            await self._refresh_waiting()
            return message

    async def callback_done(self, staff: StaffIdentity, callback_id: int, note: str | None) -> CallbackInfo:
        info = await self.db(self.store.callback_done, callback_id, staff.account_id,
                             _clean(self._staff_text(staff, note)))
        self._to_staff(CallbackEvent(event="done", callback=info))
        return info


def _staff_frame(conversation_id: str, message: TranscriptMessage) -> StaffMessage:
    return StaffMessage(conversation_id=conversation_id, seq=message.seq, text=message.text,
                        staff_name=message.staff_name, sent_at=message.created_at)


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


class CitizenLink:
    """The handoff side of one citizen chat socket: the chat session (bot/app.py) calls these hooks.

    The socket follows one conversation at a time. It may use a conversation that was ever handed to staff
    only if it connected with that conversation's resume token, or started the handoff itself."""

    def __init__(self, service: HandoffService, send: Send):
        self._service = service
        self._send = send
        self._outbox = Outbox(send)
        self.conversation_id = ""
        self._token: str | None = None
        self._allowed: set[str] = set()

    def adopt(self, conversation_id: str, token: str) -> None:
        """The conversation this socket follows, admitted with its resume token (bot/app.py): a handoff started
        here keeps that token, so one token opens the conversation and its transcript."""
        self._token = token
        self._allowed.add(conversation_id)
        self.conversation_id = conversation_id

    async def resume(self, after: int | None) -> None:
        if self.conversation_id in self._allowed:
            await self._service.resume(self.conversation_id, self._outbox, after, self._token)

    async def close(self) -> None:
        self._service.unsubscribe(self.conversation_id, self._outbox)
        await self._outbox.drain(timeout=0.5)
        self._outbox.close()

    async def _use(self, conversation_id: str | None) -> str | None:
        """The conversation a message is for, if this socket may use it; None (and an error sent) if not.
        A socket that names another conversation follows it, as before the handoff existed."""
        cid = conversation_id or self.conversation_id
        if cid not in self._allowed and await self._service.access(cid, None) is False:
            await self._send(ErrorMessage(code="forbidden", message=messages.text("conversation_not_yours", "de")))
            return None
        if cid != self.conversation_id:
            self._service.unsubscribe(self.conversation_id, self._outbox)
            self.conversation_id = cid
            if cid in self._allowed:
                self._service.subscribe(cid, self._outbox)
        return cid

    async def _start(self, conversation_id: str, reason: str, language: str, topic: str | None = None) -> None:
        token = self._token if conversation_id in self._allowed else None
        try:
            frame, token = await self._service.request(conversation_id, reason, language, topic, self._outbox, token)
        except Forbidden:
            await self._send(ErrorMessage(code="forbidden", message=messages.text("conversation_not_yours", "de")))
            return
        if token:
            self._token = token
            self._allowed.add(conversation_id)
        self._outbox.put(frame.model_copy(update={"resume_token": token}) if token else frame)

    # --- hooks -----------------------------------------------------------------------------------------

    async def handle(self, message: HandoffRequest | CallbackRequest | EndHandoff) -> None:
        """The handoff's own client messages."""
        cid = await self._use(None)
        if cid is None:
            return
        language = self._service.language_of(cid, getattr(message, "language", None))
        if isinstance(message, HandoffRequest):
            await self._start(cid, "button", language)
        elif isinstance(message, CallbackRequest):
            error = _check_callback(message, language)
            if error is not None:
                await self._send(error)
                return
            self._outbox.put(await self._service.callback(cid, message, language))
        elif isinstance(message, EndHandoff):
            try:
                await self._service.end(cid)
            except (NotFound, Conflict):
                await self._send(ErrorMessage(code="not_in_handoff",
                                              message=messages.text("handoff_not_active", language)))

    async def to_staff(self, message: UserMessage) -> bool:
        """True when the message was consumed here: refused, or delivered to staff (the conversation is
        waiting for or talking to a person, so the bot stays out of it)."""
        cid = await self._use(message.conversation_id)
        if cid is None:
            return True
        if await self._service.active(cid) is None:
            return False
        try:
            delivered = await self._service.citizen_message(cid, message.text.strip(), message.client_message_id)
        except (NotFound, Conflict):
            return False  # closed just now: the bot answers
        self._outbox.put(delivered)
        return True

    async def intercept(self, message: UserMessage, conversation_id: str) -> bool:
        """Before the bot: a configured always-human topic goes to staff without an answer from the model
        (emergencies still get the emergency numbers first, from the pipeline)."""
        topic = self._service.topics.match(message.text)
        if topic is None or is_emergency(message.text):
            return False
        language = self._service.detect_language(message.text)
        answer = AnswerResult(text=messages.text("handoff_topic", language), outcome="handoff", citations=[],
                              language=language, question=message.text.strip(),
                              standalone_question=message.text.strip())
        await self._send(Started(conversation_id=conversation_id, client_message_id=message.client_message_id))
        await self._send(Final(conversation_id=conversation_id, client_message_id=message.client_message_id,
                               answer=answer))
        self._service.record_turn(conversation_id, answer)
        await self._start(conversation_id, "topic", language, topic)
        return True

    async def answered(self, conversation_id: str, answer: AnswerResult) -> None:
        """After the bot's final answer: keep the turn for the transcript, and hand over when the person
        asked for someone, the topic needs a person, the citation check rejected the answer to a question that
        matters (deadlines, legal remedies, money owed, benefits), or SiWi could not answer twice in a row."""
        pending = self._service.record_turn(conversation_id, answer)
        limit = self._service.settings.handoff_after_no_answers
        if answer.outcome == "handoff":
            await self._start(conversation_id, "requested", answer.language)
        elif topic := self._service.topics.match(answer.question):
            await self._start(conversation_id, "topic", answer.language, topic)
        elif check_failed(answer) and (topic := self._service.check_topics.match(answer.standalone_question
                                                                             or answer.question)):
            pending.no_answers = 0
            await self._start(conversation_id, "check_failed", answer.language, topic)
        elif limit and answer.outcome == "no_answer" and pending.no_answers >= limit:
            pending.no_answers = 0
            await self._start(conversation_id, "no_answer", answer.language)

    async def feedback(self, message: Feedback, conversation_id: str, answer: dict[str, Any] | None) -> None:
        """Keep the rating for the staff's feedback view; a thumbs-down hands the conversation to staff."""
        if conversation_id not in self._allowed and await self._service.access(conversation_id, None) is False:
            return  # not this socket's conversation: its ratings are not touched
        await self._service.feedback(conversation_id, message, answer)
        if (message.rating == "down" and self._service.settings.handoff_on_negative_feedback
                and conversation_id == self.conversation_id and await self._service.active(conversation_id) is None):
            await self._start(conversation_id, "feedback", self._service.language_of(conversation_id))


def check_failed(answer: AnswerResult) -> bool:
    """The model answered, and the citation check took the answer away: a no_answer with a rejected
    sentence, not one where retrieval found nothing (the model was never asked then)."""
    return answer.outcome == "no_answer" and any(s.verdict == "unsupported" for s in answer.sentences)


def _check_callback(message: CallbackRequest, language: str) -> ErrorMessage | None:
    if not message.consent:
        return ErrorMessage(code="consent_required", message=messages.text("callback_consent_required", language))
    phone, email = _clean(message.phone), _clean(message.email)
    if not phone and not email:
        return ErrorMessage(code="invalid_contact", message=messages.text("callback_contact_required", language))
    if phone and (not _PHONE.match(phone) or sum(c.isdigit() for c in phone) < 5):
        return ErrorMessage(code="invalid_contact", message=messages.text("callback_invalid_phone", language))
    if email and not _EMAIL.match(email):
        return ErrorMessage(code="invalid_contact", message=messages.text("callback_invalid_email", language))
    return None
