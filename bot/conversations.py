"""Conversation histories for follow-up questions, held in memory (bounded, least recently used out).

A conversation's history is reachable only with its resume token: the id names a conversation, the token
proves that the caller is the one who started it (ids travel in URLs, logs and staff screens; tokens are
given once, to the citizen's client, and kept here only as a hash)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

from bot.pipeline import Turn


def new_conversation_id() -> str:
    return secrets.token_urlsafe(16)


def new_resume_token() -> str:
    return secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_opens(token: str | None, stored_hash: str) -> bool:
    """Does this resume token open the conversation whose token hash is stored (constant-time)?"""
    return bool(token) and hmac.compare_digest(token_hash(token or ""), stored_hash)


@dataclass
class _Conversation:
    token_hash: str
    turns: list[Turn] = field(default_factory=list)


class ConversationStore:
    def __init__(self, max_conversations: int = 10_000, max_turns: int = 20):
        self._conversations: OrderedDict[str, _Conversation] = OrderedDict()
        self._max_conversations = max_conversations
        self._max_turns = max_turns

    def start(self, conversation_id: str, token: str | None = None) -> str:
        """Register a new conversation under this id; returns its resume token (the given one, if any: a
        conversation handed to staff keeps the token the handoff issued)."""
        token = token or new_resume_token()
        self._conversations[conversation_id] = _Conversation(token_hash(token))
        self._trim()
        return token

    def opens(self, conversation_id: str, token: str | None) -> bool | None:
        """None: no such conversation here; True: the token opens it; False: it exists, the token does not."""
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return None
        return token_opens(token, conversation.token_hash)

    def history(self, conversation_id: str) -> list[Turn]:
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return []
        self._conversations.move_to_end(conversation_id)
        return list(conversation.turns)

    def append(self, conversation_id: str, question: str, answer: str) -> None:
        """Only conversations started here get a history (an unknown id is ignored, never created)."""
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return
        conversation.turns.append((question, answer))
        del conversation.turns[:-self._max_turns]
        self._conversations.move_to_end(conversation_id)

    def _trim(self) -> None:
        while len(self._conversations) > self._max_conversations:
            self._conversations.popitem(last=False)
