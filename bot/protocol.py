"""The chat protocol (version 1) as pydantic models: what crosses the WebSocket and the HTTP API.
docs/protocol.md describes it for client authors; keep the two in step."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

PROTOCOL_VERSION = 1

Outcome = Literal["answered", "no_answer", "handoff", "emergency"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: Literal[1] = PROTOCOL_VERSION


# --- client → server --------------------------------------------------------------------------------

class UserMessage(_Message):
    type: Literal["user_message"]
    text: str
    conversation_id: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    client_message_id: str | None = Field(None, max_length=64)


class Ping(_Message):
    type: Literal["ping"]


class Cancel(_Message):
    type: Literal["cancel"]


ClientMessage = Annotated[UserMessage | Ping | Cancel, Field(discriminator="type")]
client_message_adapter: TypeAdapter[UserMessage | Ping | Cancel] = TypeAdapter(ClientMessage)


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
    passage: str = ""
    """The retrieved passage the number stands for."""
    spans: list[list[int]] = []
    """[start, end) offsets in `passage` of every sentence that supports a claim citing it: for highlighting."""


class SentenceVerdict(BaseModel):
    text: str
    """As shown (for `quoted`: the source sentence that replaced the model's wording)."""
    markers: list[int]
    verdict: Literal["supported", "fixed", "quoted", "unsupported", "neutral"]
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
                  "busy", "internal_error", "unknown_conversation"]
    message: str


class Pong(_Message):
    type: Literal["pong"] = "pong"


# --- HTTP -------------------------------------------------------------------------------------------

class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str
    conversation_id: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class AskResponse(BaseModel):
    conversation_id: str
    answer: AnswerResult
