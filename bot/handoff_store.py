"""The persistent part of the human handoff: queue, transcripts, callback requests, feedback, staff accounts
and login sessions, in one relational database through SQLAlchemy 2.x.

SQLite under DATA_DIR by default, PostgreSQL (or anything SQLAlchemy speaks) by SIWI_DATABASE_URL. Every
change is committed before anyone is told about it, so a restart of the service loses nothing: the queue,
who holds which conversation, and every message with its sequence number are in the database, and the
in-memory side (sockets, presence) is rebuilt as people reconnect.

Only conversations that reached a person are stored. Ordinary chats with the bot stay in memory, as before.

The methods are synchronous and short; the async callers run them in a thread (asyncio.to_thread).
Tables are created on start-up (`create_all`), and new nullable columns added to an existing database; any
other schema change needs a migration (Alembic) before release.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from bot.protocol import Citation
from bot.staff_protocol import (
    CallbackInfo,
    ConversationDetail,
    ConversationSummary,
    FeedbackInfo,
    TranscriptMessage,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every backend (SQLite keeps no time zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    pass


class StaffAccount(Base):
    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    team: Mapped[str | None] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    """None for accounts that sign in through an external identity provider."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffSession(Base):
    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 of the cookie value: a copy of the database does not give anyone a session."""
    account_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginFailure(Base):
    __tablename__ = "staff_login_failures"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The lower-cased name and a hash of the client address ("name@3f2a…"): a lockout holds for that pair,
    so strangers cannot lock staff out. Kept for names that do not exist too: it must not reveal which do."""
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HandoffConversation(Base):
    __tablename__ = "handoff_conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The chat's conversation id."""
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    topic: Mapped[str | None] = mapped_column(String(120))
    resume_token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assigned_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", ondelete="SET NULL"))
    closed_by: Mapped[str | None] = mapped_column(String(16))
    close_note: Mapped[str | None] = mapped_column(Text)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class HandoffMessage(Base):
    __tablename__ = "handoff_messages"
    __table_args__ = (UniqueConstraint("conversation_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("handoff_conversations.id", ondelete="CASCADE"),
                                                 index=True)
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    outcome: Mapped[str | None] = mapped_column(String(16))
    event: Mapped[str | None] = mapped_column(String(16))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", ondelete="SET NULL"))
    staff_name: Mapped[str | None] = mapped_column(String(120))
    """The name the citizen was shown, as it was then."""
    client_message_id: Mapped[str | None] = mapped_column(String(64))
    """The citizen client's id of the message: a message sent again after a lost connection is stored once."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CallbackRequestRow(Base):
    __tablename__ = "callback_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    message: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    consent: Mapped[bool] = mapped_column(Boolean)
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    context: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(8), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)


class FeedbackRow(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str | None] = mapped_column(String(64), index=True)
    rating: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text)
    question: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DatabaseError(RuntimeError):
    """The database cannot be opened: one line that names SIWI_DATABASE_URL."""


class NotFound(LookupError):
    pass


class Conflict(RuntimeError):
    """The conversation is not in a state that allows this (already claimed, already closed …)."""


class Forbidden(PermissionError):
    pass


class Database:
    """Engine and sessions for one URL; creates the tables on first use."""

    def __init__(self, url: str):
        try:
            parsed = make_url(url)
            options: dict[str, Any] = {}
            if parsed.get_backend_name() == "sqlite":
                if parsed.database and parsed.database != ":memory:":
                    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                    # Transcripts and callback numbers: readable by SiWi's user only (SQLite gives its
                    # journal and WAL files the database file's permissions).
                    os.close(os.open(parsed.database, os.O_CREAT | os.O_WRONLY, 0o600))
                    os.chmod(parsed.database, 0o600)
                options["connect_args"] = {"check_same_thread": False, "timeout": 30}
            else:
                options["pool_pre_ping"] = True
            self.engine: Engine = create_engine(parsed, **options)
            if parsed.get_backend_name() == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            Base.metadata.create_all(self.engine)
            _add_missing_columns(self.engine)
        except (ArgumentError, NoSuchModuleError, OperationalError, OSError, ValueError) as exc:
            shown = make_url(url).render_as_string(hide_password=True) if "://" in url else url
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise DatabaseError(f"SIWI_DATABASE_URL={shown} cannot be opened: {reason}") from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()


def _add_missing_columns(engine: Engine) -> None:
    """Nullable columns added since a database was created are added to it (create_all makes only missing
    tables). Anything beyond that needs a real migration."""
    existing = inspect(engine)
    with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            if not existing.has_table(table.name):
                continue
            present = {c["name"] for c in existing.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present and column.nullable:
                    kind = column.type.compile(dialect=engine.dialect)
                    connection.execute(sql_text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'))


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # What retention or an erasure deletes is overwritten, not left in the file's free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


@dataclass(frozen=True)
class Turn:
    """One exchange with the bot before the handoff: copied into the transcript when staff take over."""

    question: str
    answer: str
    outcome: str
    citations: list[dict[str, Any]]


@dataclass(frozen=True)
class HandoffRecord:
    id: str
    state: str
    reason: str
    language: str
    topic: str | None
    resume_token_hash: str
    assigned_staff_id: int | None
    last_seq: int
    closed_by: str | None = None


class HandoffStore:
    """The queue and everything said in handed-off conversations."""

    def __init__(self, database: Database):
        self.db = database

    # --- conversations ---------------------------------------------------------------------------------

    def get(self, conversation_id: str) -> HandoffRecord | None:
        with self.db.session() as s:
            row = s.get(HandoffConversation, conversation_id)
            return _record(row) if row else None

    def open(self, conversation_id: str, reason: str, language: str, topic: str | None, token_hash: str,
             turns: Sequence[Turn]) -> tuple[HandoffRecord, list[TranscriptMessage], bool]:
        """Queue the conversation (new, or again after it was closed) with the bot turns before it.
        Returns the record, the messages added, and whether anything changed (False: already open)."""
        now = utcnow()
        with self.db.session() as s:
            row = s.get(HandoffConversation, conversation_id, with_for_update=True)
            if row is not None and row.state in ("waiting", "assigned"):
                return _record(row), [], False
            if row is None:
                row = HandoffConversation(id=conversation_id, state="waiting", reason=reason, language=language,
                                          topic=topic, resume_token_hash=token_hash, created_at=now,
                                          updated_at=now, queued_at=now, last_seq=0)
                s.add(row)
                s.flush()
            else:
                row.state, row.reason, row.language = "waiting", reason, language
                row.topic = topic or row.topic
                row.queued_at = row.updated_at = now
                row.assigned_at = row.closed_at = row.assigned_staff_id = None
                row.closed_by = row.close_note = None
            added = []
            for turn in turns:
                added.append(self._append(s, row, "citizen", turn.question, now=now))
                added.append(self._append(s, row, "bot", turn.answer, now=now, outcome=turn.outcome,
                                          citations=turn.citations))
            added.append(self._append(s, row, "system", f"queued: {reason}" + (f" ({topic})" if topic else ""),
                                      now=now, event="queued"))
            return _record(row), [_message(m, None) for m in added], True

    def append(self, conversation_id: str, role: str, text: str, *, staff_id: int | None = None,
               staff_name: str | None = None, event: str | None = None, client_message_id: str | None = None,
               require_states: Sequence[str] = ("waiting", "assigned")) -> TranscriptMessage:
        with self.db.session() as s:
            row = s.get(HandoffConversation, conversation_id, with_for_update=True)
            if row is None:
                raise NotFound(conversation_id)
            if row.state not in require_states:
                raise Conflict(f"conversation is {row.state}")
            row.updated_at = utcnow()
            message = self._append(s, row, role, text, staff_id=staff_id, staff_name=staff_name, event=event,
                                   client_message_id=client_message_id)
            return _message(message, _username(s, staff_id))

    def citizen_message(self, conversation_id: str, client_message_id: str) -> TranscriptMessage | None:
        """The citizen's message with this client id, if stored: a client that lost the connection before the
        `delivered` came sends the message again with the same id."""
        with self.db.session() as s:
            earlier = s.scalar(select(HandoffMessage).where(
                HandoffMessage.conversation_id == conversation_id, HandoffMessage.role == "citizen",
                HandoffMessage.client_message_id == client_message_id))
            return _message(earlier, None) if earlier is not None else None

    @staticmethod
    def _append(s: Session, row: HandoffConversation, role: str, text: str, *, now: datetime | None = None,
                **fields: Any) -> HandoffMessage:
        """The next sequence number of the conversation; the caller holds the row (FOR UPDATE)."""
        row.last_seq += 1
        message = HandoffMessage(conversation_id=row.id, seq=row.last_seq, role=role, text=text,
                                 created_at=now or utcnow(), **fields)
        s.add(message)
        s.flush()
        return message

    def messages(self, conversation_id: str, after: int = 0,
                 roles: Sequence[str] | None = None) -> list[TranscriptMessage]:
        with self.db.session() as s:
            query = (select(HandoffMessage, StaffAccount.username)
                     .outerjoin(StaffAccount, StaffAccount.id == HandoffMessage.staff_id)
                     .where(HandoffMessage.conversation_id == conversation_id, HandoffMessage.seq > after)
                     .order_by(HandoffMessage.seq))
            if roles:
                query = query.where(HandoffMessage.role.in_(roles))
            return [_message(m, username) for m, username in s.execute(query)]

    def claim(self, conversation_id: str, staff_id: int, staff_name: str) -> TranscriptMessage:
        with self.db.session() as s:
            row = self._locked(s, conversation_id)
            if row.state != "waiting":
                raise Conflict("Das Gespräch ist nicht mehr in der Warteschlange." if row.state == "assigned"
                               else "Das Gespräch ist bereits beendet.")
            now = utcnow()
            row.state, row.assigned_staff_id, row.assigned_at, row.updated_at = "assigned", staff_id, now, now
            message = self._append(s, row, "system", f"assigned: {staff_name}", event="assigned",
                                   staff_id=staff_id, staff_name=staff_name)
            return _message(message, _username(s, staff_id))

    def transfer(self, conversation_id: str, actor_id: int, actor_admin: bool, to_id: int | None,
                 to_name: str | None, note: str | None) -> TranscriptMessage:
        with self.db.session() as s:
            row = self._locked(s, conversation_id)
            if row.state == "closed":
                raise Conflict("Das Gespräch ist bereits beendet.")
            if row.state == "assigned" and row.assigned_staff_id != actor_id and not actor_admin:
                raise Forbidden("Das Gespräch ist einer Kollegin oder einem Kollegen zugewiesen.")
            now = utcnow()
            row.updated_at = now
            if to_id is None:
                row.state, row.assigned_staff_id, row.assigned_at, row.queued_at = "waiting", None, None, now
                text = "transferred: queue"
            else:
                row.state, row.assigned_staff_id, row.assigned_at = "assigned", to_id, now
                text = f"transferred: {to_name}"
            if note:
                text += f" — {note}"
            message = self._append(s, row, "system", text, event="transferred", staff_id=to_id, staff_name=to_name)
            return _message(message, _username(s, to_id))

    def close(self, conversation_id: str, closed_by: str, note: str | None, actor_id: int | None = None,
              actor_admin: bool = False) -> TranscriptMessage:
        with self.db.session() as s:
            row = self._locked(s, conversation_id)
            if row.state == "closed":
                raise Conflict("Das Gespräch ist bereits beendet.")
            if (actor_id is not None and row.state == "assigned" and row.assigned_staff_id != actor_id
                    and not actor_admin):
                raise Forbidden("Das Gespräch ist einer Kollegin oder einem Kollegen zugewiesen.")
            now = utcnow()
            row.state, row.closed_at, row.updated_at, row.closed_by = "closed", now, now, closed_by
            row.close_note = note
            message = self._append(s, row, "system", f"closed by {closed_by}" + (f": {note}" if note else ""),
                                   event="closed", staff_id=actor_id)
            return _message(message, _username(s, actor_id))

    def check_reply(self, conversation_id: str, staff_id: int, admin: bool) -> None:
        with self.db.session() as s:
            row = s.get(HandoffConversation, conversation_id)
            if row is None:
                raise NotFound(conversation_id)
            if row.state == "waiting":
                raise Conflict("Bitte übernehmen Sie das Gespräch zuerst.")
            if row.state == "closed":
                raise Conflict("Das Gespräch ist bereits beendet.")
            if row.assigned_staff_id != staff_id and not admin:
                raise Forbidden("Das Gespräch ist einer Kollegin oder einem Kollegen zugewiesen.")

    @staticmethod
    def _locked(s: Session, conversation_id: str) -> HandoffConversation:
        row = s.get(HandoffConversation, conversation_id, with_for_update=True)
        if row is None:
            raise NotFound(conversation_id)
        return row

    def position(self, conversation_id: str) -> int | None:
        with self.db.session() as s:
            row = s.get(HandoffConversation, conversation_id)
            if row is None or row.state != "waiting":
                return None
            return _position(s, row)

    def waiting_positions(self) -> dict[str, int]:
        with self.db.session() as s:
            ids = s.scalars(select(HandoffConversation.id).where(HandoffConversation.state == "waiting")
                            .order_by(HandoffConversation.queued_at, HandoffConversation.id)).all()
            return {cid: n for n, cid in enumerate(ids, 1)}

    def summary(self, conversation_id: str) -> ConversationSummary:
        with self.db.session() as s:
            row = s.get(HandoffConversation, conversation_id)
            if row is None:
                raise NotFound(conversation_id)
            return self._summaries(s, [row])[0]

    def detail(self, conversation_id: str) -> ConversationDetail:
        summary = self.summary(conversation_id)
        return ConversationDetail(**summary.model_dump(), messages=self.messages(conversation_id))

    def inbox(self) -> list[ConversationSummary]:
        """Waiting (in queue order) and assigned conversations."""
        with self.db.session() as s:
            rows = s.scalars(select(HandoffConversation).where(HandoffConversation.state.in_(("waiting",
                                                                                             "assigned")))
                             .order_by(HandoffConversation.queued_at, HandoffConversation.id)).all()
            return self._summaries(s, rows)

    def closed(self, since: datetime | None = None) -> list[ConversationDetail]:
        with self.db.session() as s:
            query = select(HandoffConversation).where(HandoffConversation.state == "closed")
            if since is not None:
                query = query.where(HandoffConversation.closed_at >= since)
            rows = s.scalars(query.order_by(HandoffConversation.closed_at)).all()
            summaries = self._summaries(s, rows)
        return [ConversationDetail(**c.model_dump(), messages=self.messages(c.id)) for c in summaries]

    def _summaries(self, s: Session, rows: Sequence[HandoffConversation]) -> list[ConversationSummary]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        staff = {a.id: a for a in s.scalars(select(StaffAccount).where(
            StaffAccount.id.in_({r.assigned_staff_id for r in rows if r.assigned_staff_id})))}
        latest = (select(HandoffMessage.conversation_id, func.max(HandoffMessage.seq).label("seq"))
                  .where(HandoffMessage.conversation_id.in_(ids), HandoffMessage.role == "citizen")
                  .group_by(HandoffMessage.conversation_id).subquery())
        previews = dict(s.execute(select(HandoffMessage.conversation_id, HandoffMessage.text).join(
            latest, (latest.c.conversation_id == HandoffMessage.conversation_id) & (latest.c.seq == HandoffMessage.seq)
        )).all())
        positions = {}
        if any(r.state == "waiting" for r in rows):
            waiting = s.scalars(select(HandoffConversation.id).where(HandoffConversation.state == "waiting")
                                .order_by(HandoffConversation.queued_at, HandoffConversation.id)).all()
            positions = {cid: n for n, cid in enumerate(waiting, 1)}
        result = []
        for r in rows:
            account = staff.get(r.assigned_staff_id) if r.assigned_staff_id else None
            preview = previews.get(r.id, "")
            result.append(ConversationSummary(
                id=r.id, state=r.state, reason=r.reason, language=r.language, topic=r.topic,
                created_at=r.created_at, updated_at=r.updated_at, queued_at=r.queued_at, assigned_at=r.assigned_at,
                closed_at=r.closed_at, assigned_to=account.username if account else None,
                assigned_name=account.display_name if account else None, position=positions.get(r.id),
                last_seq=r.last_seq, preview=preview if len(preview) <= 160 else preview[:159] + "…",
                closed_by=r.closed_by, close_note=r.close_note))
        return result

    def recent_claim_waits(self, since: timedelta, limit: int = 20) -> list[float]:
        """Seconds from queueing to claim of the latest claims: the basis of the wait estimate."""
        with self.db.session() as s:
            rows = s.execute(select(HandoffConversation.queued_at, HandoffConversation.assigned_at)
                             .where(HandoffConversation.assigned_at.is_not(None),
                                    HandoffConversation.assigned_at >= utcnow() - since)
                             .order_by(HandoffConversation.assigned_at.desc()).limit(limit)).all()
            return [max(0.0, (assigned - queued).total_seconds()) for queued, assigned in rows]

    # --- callbacks and feedback -------------------------------------------------------------------------

    def add_callback(self, conversation_id: str | None, name: str | None, phone: str | None, email: str | None,
                     message: str | None, language: str, context: list[dict[str, Any]]) -> CallbackInfo:
        now = utcnow()
        with self.db.session() as s:
            row = CallbackRequestRow(conversation_id=conversation_id, name=name, phone=phone, email=email,
                                     message=message, language=language, consent=True, consent_at=now,
                                     context=context, state="open", created_at=now)
            s.add(row)
            s.flush()
            return _callback(row, None)

    def callbacks(self, state: str | None = None) -> list[CallbackInfo]:
        with self.db.session() as s:
            query = (select(CallbackRequestRow, StaffAccount.username)
                     .outerjoin(StaffAccount, StaffAccount.id == CallbackRequestRow.done_by_id)
                     .order_by(CallbackRequestRow.created_at))
            if state:
                query = query.where(CallbackRequestRow.state == state)
            return [_callback(row, username) for row, username in s.execute(query)]

    def open_callbacks(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(CallbackRequestRow)
                            .where(CallbackRequestRow.state == "open")) or 0

    def callback_done(self, callback_id: int, staff_id: int, note: str | None) -> CallbackInfo:
        with self.db.session() as s:
            row = s.get(CallbackRequestRow, callback_id, with_for_update=True)
            if row is None:
                raise NotFound(str(callback_id))
            if row.state == "done":
                raise Conflict("Der Rückruf ist bereits erledigt.")
            row.state, row.done_at, row.done_by_id, row.note = "done", utcnow(), staff_id, note
            return _callback(row, _username(s, staff_id))

    def add_feedback(self, conversation_id: str | None, rating: str, comment: str | None, question: str | None,
                     answer: str | None, outcome: str | None) -> FeedbackInfo:
        with self.db.session() as s:
            row = FeedbackRow(conversation_id=conversation_id, rating=rating, comment=comment, question=question,
                              answer=answer, outcome=outcome, created_at=utcnow())
            s.add(row)
            s.flush()
            return _feedback(row)

    def feedback(self, rating: str | None = None, since: datetime | None = None) -> list[FeedbackInfo]:
        with self.db.session() as s:
            query = select(FeedbackRow).order_by(FeedbackRow.created_at)
            if rating:
                query = query.where(FeedbackRow.rating == rating)
            if since is not None:
                query = query.where(FeedbackRow.created_at >= since)
            return [_feedback(row) for row in s.scalars(query)]

    # --- retention and the rights of data subjects (bot/retention.py) ------------------------------------

    def purge(self, before: datetime) -> dict[str, int]:
        """Delete what is older than `before`: handed-off conversations that ended (or last changed) before
        it, with their messages; callback requests and feedback created before it."""
        with self.db.session() as s:
            ended = func.coalesce(HandoffConversation.closed_at, HandoffConversation.updated_at)
            old = select(HandoffConversation.id).where(ended < before)
            messages = s.execute(delete(HandoffMessage).where(HandoffMessage.conversation_id.in_(old))).rowcount
            conversations = s.execute(delete(HandoffConversation).where(HandoffConversation.id.in_(old))).rowcount
            callbacks = s.execute(delete(CallbackRequestRow).where(CallbackRequestRow.created_at < before)).rowcount
            feedback = s.execute(delete(FeedbackRow).where(FeedbackRow.created_at < before)).rowcount
        return {"conversations": conversations, "messages": messages, "callbacks": callbacks, "feedback": feedback}

    def export(self, conversation_id: str) -> dict[str, Any]:
        """Everything stored about one conversation (Art. 15 DSGVO): the handoff, its messages, callback
        requests and feedback."""
        with self.db.session() as s:
            row = s.get(HandoffConversation, conversation_id)
            handoff = None if row is None else {
                "state": row.state, "reason": row.reason, "language": row.language, "topic": row.topic,
                "created_at": row.created_at, "closed_at": row.closed_at, "close_note": row.close_note,
                "messages": [{"seq": m.seq, "role": m.role, "text": m.text, "staff_name": m.staff_name,
                              "created_at": m.created_at, "event": m.event}
                             for m in s.scalars(select(HandoffMessage).where(
                                 HandoffMessage.conversation_id == conversation_id).order_by(HandoffMessage.seq))]}
            callbacks = [_callback(c, None).model_dump(exclude={"done_by"}) for c in s.scalars(
                select(CallbackRequestRow).where(CallbackRequestRow.conversation_id == conversation_id))]
            feedback = [_feedback(f).model_dump() for f in s.scalars(
                select(FeedbackRow).where(FeedbackRow.conversation_id == conversation_id))]
        return {"handoff": handoff, "callbacks": callbacks, "feedback": feedback}

    def erase(self, conversation_id: str) -> dict[str, int]:
        """Delete everything stored about one conversation (Art. 17 DSGVO)."""
        with self.db.session() as s:
            messages = s.execute(delete(HandoffMessage).where(
                HandoffMessage.conversation_id == conversation_id)).rowcount
            conversations = s.execute(delete(HandoffConversation).where(
                HandoffConversation.id == conversation_id)).rowcount
            callbacks = s.execute(delete(CallbackRequestRow).where(
                CallbackRequestRow.conversation_id == conversation_id)).rowcount
            feedback = s.execute(delete(FeedbackRow).where(FeedbackRow.conversation_id == conversation_id)).rowcount
        return {"conversations": conversations, "messages": messages, "callbacks": callbacks, "feedback": feedback}

    def ratings(self) -> dict[str, str]:
        """The latest rating per conversation, for the export of closed conversations."""
        with self.db.session() as s:
            rows = s.execute(select(FeedbackRow.conversation_id, FeedbackRow.rating)
                             .where(FeedbackRow.conversation_id.is_not(None)).order_by(FeedbackRow.id)).all()
            return {cid: rating for cid, rating in rows}


def _record(row: HandoffConversation) -> HandoffRecord:
    return HandoffRecord(row.id, row.state, row.reason, row.language, row.topic, row.resume_token_hash,
                         row.assigned_staff_id, row.last_seq, row.closed_by)


def _position(s: Session, row: HandoffConversation) -> int:
    ahead = s.scalar(select(func.count()).select_from(HandoffConversation).where(
        HandoffConversation.state == "waiting",
        (HandoffConversation.queued_at < row.queued_at)
        | ((HandoffConversation.queued_at == row.queued_at) & (HandoffConversation.id < row.id))))
    return (ahead or 0) + 1


def _username(s: Session, staff_id: int | None) -> str | None:
    if staff_id is None:
        return None
    account = s.get(StaffAccount, staff_id)
    return account.username if account else None


def _message(m: HandoffMessage, username: str | None) -> TranscriptMessage:
    return TranscriptMessage(seq=m.seq, role=m.role, text=m.text, created_at=m.created_at,
                             citations=[Citation(**c) for c in m.citations or []], outcome=m.outcome,
                             event=m.event, staff_username=username, staff_name=m.staff_name)


def _callback(row: CallbackRequestRow, done_by: str | None) -> CallbackInfo:
    return CallbackInfo(id=row.id, conversation_id=row.conversation_id, name=row.name, phone=row.phone,
                        email=row.email, message=row.message, language=row.language, consent_at=row.consent_at,
                        state=row.state, created_at=row.created_at, done_at=row.done_at, done_by=done_by,
                        note=row.note, context=row.context or [])


def _feedback(row: FeedbackRow) -> FeedbackInfo:
    return FeedbackInfo(id=row.id, conversation_id=row.conversation_id, rating=row.rating, comment=row.comment,
                        question=row.question, answer=row.answer, outcome=row.outcome, created_at=row.created_at)


def citations_json(citations: Sequence[Citation]) -> list[dict[str, Any]]:
    return [json.loads(c.model_dump_json()) for c in citations]
