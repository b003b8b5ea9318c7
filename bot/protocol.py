"""The chat protocol (version 1) as pydantic models: what crosses the WebSocket and the HTTP API.
docs/protocol.md describes it for client authors; keep the two in step."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from bot.redaction import OptionalPersonalText, PersonalText

PROTOCOL_VERSION = 1

Outcome = Literal["answered", "no_answer", "handoff", "emergency"]


def has_lone_surrogate(text: str) -> bool:
    """Half of a UTF-16 pair on its own ("\\ud800" in JSON): no text, and no encoder accepts it."""
    return any("\ud800" <= character <= "\udfff" for character in text)


def _not_a_bool(value: object) -> object:
    """JSON `true` equals 1 in Python; it is still no protocol version."""
    if isinstance(value, bool):
        raise ValueError("v must be the number 1")
    return value


Version = Annotated[Literal[1], BeforeValidator(_not_a_bool)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: Version = PROTOCOL_VERSION


# --- client → server --------------------------------------------------------------------------------

class UserMessage(_Message):
    type: Literal["user_message"]
    text: PersonalText
    """Redacted as it is parsed (bot/redaction.py): personal data becomes placeholders such as [IBAN]."""
    conversation_id: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    client_message_id: str | None = Field(None, max_length=64)


class Ping(_Message):
    type: Literal["ping"]


class Cancel(_Message):
    type: Literal["cancel"]


MAX_FEEDBACK_COMMENT_CHARS = 1000


class Feedback(_Message):
    """The citizen's rating of one answer, named by the client_message_id of the question it answers."""

    type: Literal["feedback"]
    client_message_id: str = Field(min_length=1, max_length=64)
    conversation_id: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    rating: Literal["up", "down"]
    comment: OptionalPersonalText = Field(None, max_length=MAX_FEEDBACK_COMMENT_CHARS)


class HandoffRequest(_Message):
    """The widget's "talk to a person" button."""

    type: Literal["handoff_request"]
    language: str | None = Field(None, pattern=r"^[a-z]{2}$")
    """The widget's language: the handoff texts use it until the citizen has written something."""


class CallbackRequest(_Message):
    """Please call (or write) me back: stored only with consent=true and a phone number or e-mail address."""

    type: Literal["callback_request"]
    language: str | None = Field(None, pattern=r"^[a-z]{2}$")
    """As in handoff_request."""
    consent: bool = Field(strict=True)
    """The citizen agreed that the contact details are stored to call them back."""
    # The contact details are given for the callback, with consent: kept as written, in their own columns.
    name: str | None = Field(None, max_length=120)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    message: OptionalPersonalText = Field(None, max_length=2000)


class EndHandoff(_Message):
    """The citizen ends the conversation with staff; SiWi answers again."""

    type: Literal["end_handoff"]


AnyClientMessage = UserMessage | Ping | Cancel | Feedback | HandoffRequest | CallbackRequest | EndHandoff
ClientMessage = Annotated[AnyClientMessage, Field(discriminator="type")]
client_message_adapter: TypeAdapter[AnyClientMessage] = TypeAdapter(ClientMessage)


# --- the answer -------------------------------------------------------------------------------------

class Citation(BaseModel):
    number: int
    title: str
    url: str | None
    location: str
    """The URL, or the source path where there is no URL."""
    snippet: str
    """The source sentence that supports the (first) cited claim, verbatim."""
    source_id: str
    visibility: Literal["public", "internal"] = "public"
    """internal only in the staff workspace's answers; citizens' answers never cite internal documents."""
    passage: str = ""
    """The retrieved passage the number stands for."""
    spans: list[list[int]] = []
    """[start, end) offsets in `passage` of every sentence that supports a claim citing it: for highlighting."""


class SentenceVerdict(BaseModel):
    text: str
    """As shown (for `quoted`: the source sentence that replaced the model's wording)."""
    markers: list[int]
    verdict: Literal["supported", "fixed", "quoted", "selected", "unsupported", "neutral"]
    support: float
    original: str = ""
    """What the model wrote."""
    reason: str = ""
    snippet: str | None = None


class RetrievedSource(BaseModel):
    rank: int
    source_id: str
    title: str
    url: str | None
    similarity: float
    chunk_id: str = ""
    headings: str = ""
    text: str = ""
    """The passage as the model saw it: with `model_answer`, enough to re-run the citation check offline
    (eval/calibrate.py)."""


class AnswerResult(BaseModel):
    text: str
    outcome: Outcome
    citations: list[Citation]
    language: str
    question: str
    standalone_question: str
    sentences: list[SentenceVerdict] = []
    """Per-sentence verdicts of the citation check: in the HTTP API for staff and evaluation, never sent to
    citizens over the WebSocket."""
    retrieved: list[RetrievedSource] = []
    """The passages retrieval ranked for the question (HTTP API only, like `sentences`)."""
    model_answer: str = ""
    """What the model wrote, markers and all, before the check (HTTP API only, like `sentences`)."""
    timings: dict[str, float] = {}


# --- server → client --------------------------------------------------------------------------------

class Ready(_Message):
    type: Literal["ready"] = "ready"
    conversation_id: str
    resume_token: str | None = None
    """Keep it to continue this conversation on another connection (`?conversation_id=…&resume_token=…`)."""


class Queued(_Message):
    type: Literal["queued"] = "queued"
    position: int
    """1 = next in line. Generation is serial; this tells the client why it waits."""


class Started(_Message):
    type: Literal["started"] = "started"
    conversation_id: str
    client_message_id: str | None = None


class Delta(_Message):
    type: Literal["delta"] = "delta"
    text: str
    """Checked text, appended sentence by sentence as each passes the citation check. `final.answer.text`
    repeats the whole answer and is what to keep."""


class Final(_Message):
    type: Literal["final"] = "final"
    conversation_id: str
    client_message_id: str | None = None
    answer: AnswerResult


class ErrorMessage(_Message):
    type: Literal["error"] = "error"
    code: Literal["invalid_json", "invalid_message", "unsupported_frame", "empty_message", "message_too_long",
                  "busy", "internal_error", "unknown_conversation", "forbidden", "consent_required",
                  "invalid_contact", "not_in_handoff", "with_staff", "invalid_text", "rate_limited",
                  "too_many_waiting", "too_many_connections", "idle_timeout", "origin_not_allowed"]
    message: str


class Pong(_Message):
    type: Literal["pong"] = "pong"


class FeedbackAck(_Message):
    """The feedback for this answer is stored."""

    type: Literal["feedback_ack"] = "feedback_ack"
    client_message_id: str


# --- human handoff (docs/protocol.md, "Talking to a person") ----------------------------------------

class ContactOptions(BaseModel):
    phone: str | None = None
    email: str | None = None
    hours: str | None = None
    appointment_url: str | None = None


class Handoff(_Message):
    """Where the conversation with a person stands. Sent when it changes and again after a reconnect."""

    type: Literal["handoff"] = "handoff"
    conversation_id: str
    state: Literal["waiting", "assigned", "closed", "offline"]
    """offline: nobody is on duty, nothing was queued; `contact` and a callback are offered instead."""
    reason: Literal["requested", "button", "no_answer", "check_failed", "topic", "feedback"] | None = None
    text: str
    """What to show, in the conversation's language."""
    position: int | None = None
    """waiting: place in the queue, 1 = next."""
    wait_minutes: int | None = None
    """waiting: estimated minutes; null when nobody is on duty to estimate for."""
    staff_name: str | None = None
    team: str | None = None
    contact: ContactOptions | None = None
    callback_offered: bool = False
    closed_by: Literal["citizen", "staff"] | None = None
    resume_token: str | None = None
    """Keep it with the conversation id: reconnecting to a conversation with staff needs both."""


class StaffMessage(_Message):
    """What a member of staff wrote. `seq` orders everything in the conversation; report the highest one
    seen as `after` when reconnecting, and only what is newer is sent again."""

    type: Literal["staff_message"] = "staff_message"
    conversation_id: str
    seq: int
    text: str
    staff_name: str | None = None
    sent_at: datetime


class Delivered(_Message):
    """A message to staff is stored and on its way (it carries no bot answer)."""

    type: Literal["delivered"] = "delivered"
    conversation_id: str
    seq: int
    client_message_id: str | None = None


class CallbackReceived(_Message):
    type: Literal["callback_received"] = "callback_received"
    text: str


# --- HTTP -------------------------------------------------------------------------------------------

class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: PersonalText
    conversation_id: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    resume_token: str | None = Field(None, max_length=128)
    """Required with `conversation_id` for a conversation that exists: the token of its first response."""


class AskResponse(BaseModel):
    conversation_id: str
    resume_token: str
    """Send it with `conversation_id` to ask a follow-up in this conversation."""
    answer: AnswerResult
