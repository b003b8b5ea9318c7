"""What the staff workspace exchanges with SiWi: the staff WebSocket (/staff/ws) and the JSON API
(/staff/api/…), as pydantic models. docs/staff.md describes them for the authors of the staff pages.

Kept apart from bot/protocol.py (the citizen protocol): a citizen socket validates against that module only,
so none of these messages can ever be sent over /ws/chat.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from bot.protocol import Citation, Version
from bot.redaction import PersonalText

Role = Literal["agent", "admin"]
ConversationState = Literal["waiting", "assigned", "closed"]
HandoffReason = Literal["requested", "button", "no_answer", "topic", "feedback"]
MessageRole = Literal["citizen", "bot", "staff", "system"]
Presence = Literal["available", "away"]

_ID = Field(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


# --- records (HTTP responses and WebSocket payloads) -----------------------------------------------------

class StaffInfo(BaseModel):
    username: str
    display_name: str
    team: str | None
    role: Role
    active: bool = True
    status: Literal["available", "away", "offline"] = "offline"


class TranscriptMessage(BaseModel):
    seq: int
    """Per conversation, from 1, without gaps: the order of everything said in it."""
    role: MessageRole
    text: str
    created_at: datetime
    citations: list[Citation] = []
    """Bot answers: the sources shown to the citizen."""
    outcome: str | None = None
    event: str | None = None
    """System messages: queued, assigned, transferred, closed."""
    staff_username: str | None = None
    staff_name: str | None = None


class ConversationSummary(BaseModel):
    id: str
    state: ConversationState
    reason: HandoffReason
    language: str
    topic: str | None
    created_at: datetime
    updated_at: datetime
    queued_at: datetime
    assigned_at: datetime | None
    closed_at: datetime | None
    assigned_to: str | None
    """Username of the staff member who has it."""
    assigned_name: str | None
    position: int | None
    """Place in the queue while waiting (1 = next)."""
    last_seq: int
    preview: str
    """The citizen's latest words, shortened."""
    closed_by: str | None
    close_note: str | None


class ConversationDetail(ConversationSummary):
    messages: list[TranscriptMessage]


class CallbackInfo(BaseModel):
    id: int
    conversation_id: str | None
    name: str | None
    phone: str | None
    email: str | None
    message: str | None
    language: str
    consent_at: datetime
    state: Literal["open", "done"]
    created_at: datetime
    done_at: datetime | None
    done_by: str | None
    note: str | None
    context: list[dict[str, Any]] = []
    """The chat before the request: [{"role": "citizen"|"bot", "text": …}]."""


class FeedbackInfo(BaseModel):
    id: int
    conversation_id: str | None
    rating: Literal["up", "down"]
    comment: str | None
    question: str | None
    answer: str | None
    outcome: str | None
    created_at: datetime


class SearchHit(BaseModel):
    rank: int
    title: str
    url: str | None
    location: str
    source_id: str
    source: str
    doc_type: str
    visibility: str
    headings: str
    last_modified: str
    similarity: float
    score: float
    text: str
    snippet: str
    highlights: list[list[int]]
    """[start, end) offsets in `snippet` of words that match the query."""


class SearchResponse(BaseModel):
    query: str
    results: list[SearchHit]


# --- HTTP request bodies ---------------------------------------------------------------------------------

class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(_Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(BaseModel):
    staff: StaffInfo
    csrf_token: str
    """Send it as the X-CSRF-Token header with every POST."""
    expires_at: datetime


class ReplyRequest(_Body):
    text: str = Field(min_length=1, max_length=4000)
    client_message_id: str | None = Field(None, max_length=64)


class AskStaffRequest(_Body):
    question: PersonalText = Field(min_length=1, max_length=2000)


class TransferRequest(_Body):
    to: str | None = Field(None, max_length=64)
    """Username of the colleague; null puts the conversation back into the queue."""
    note: str | None = Field(None, max_length=2000)


class CloseRequest(_Body):
    note: str | None = Field(None, max_length=2000)


class CallbackDoneRequest(_Body):
    note: str | None = Field(None, max_length=2000)


class ActionResult(BaseModel):
    conversation: ConversationSummary
    seq: int | None = None


# --- staff WebSocket: staff → server ---------------------------------------------------------------------

class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: Version = 1


class Claim(_Frame):
    type: Literal["claim"]
    conversation_id: str = _ID
    request_id: str | None = Field(None, max_length=64)


class Reply(_Frame):
    type: Literal["reply"]
    conversation_id: str = _ID
    text: str = Field(min_length=1, max_length=4000)
    request_id: str | None = Field(None, max_length=64)


class Transfer(_Frame):
    type: Literal["transfer"]
    conversation_id: str = _ID
    to: str | None = Field(None, max_length=64)
    note: str | None = Field(None, max_length=2000)
    request_id: str | None = Field(None, max_length=64)


class Close(_Frame):
    type: Literal["close"]
    conversation_id: str = _ID
    note: str | None = Field(None, max_length=2000)
    request_id: str | None = Field(None, max_length=64)


class SetPresence(_Frame):
    type: Literal["presence"]
    status: Presence


class StaffPing(_Frame):
    type: Literal["ping"]


StaffClientMessage = Annotated[Claim | Reply | Transfer | Close | SetPresence | StaffPing,
                               Field(discriminator="type")]
staff_message_adapter: TypeAdapter[Claim | Reply | Transfer | Close | SetPresence | StaffPing] = \
    TypeAdapter(StaffClientMessage)


# --- staff WebSocket: server → staff ---------------------------------------------------------------------

class Hello(_Frame):
    type: Literal["hello"] = "hello"
    staff: StaffInfo
    inbox: list[ConversationSummary]
    open_callbacks: int
    on_duty: bool


class ConversationEvent(_Frame):
    type: Literal["conversation"] = "conversation"
    event: Literal["queued", "claimed", "transferred", "closed", "message", "updated"]
    conversation: ConversationSummary


class MessageEvent(_Frame):
    type: Literal["message"] = "message"
    conversation_id: str
    message: TranscriptMessage


class CallbackEvent(_Frame):
    type: Literal["callback"] = "callback"
    event: Literal["new", "done"]
    callback: CallbackInfo


class PresenceEvent(_Frame):
    type: Literal["presence"] = "presence"
    on_duty: bool
    staff: list[StaffInfo]


class Ack(_Frame):
    type: Literal["ack"] = "ack"
    request_id: str | None
    action: Literal["claim", "reply", "transfer", "close"]
    conversation_id: str
    seq: int | None = None


class StaffError(_Frame):
    type: Literal["error"] = "error"
    code: Literal["invalid_json", "invalid_message", "unsupported_frame", "not_found", "conflict", "forbidden",
                  "session_expired"]
    message: str
    request_id: str | None = None


class StaffPong(_Frame):
    type: Literal["pong"] = "pong"
