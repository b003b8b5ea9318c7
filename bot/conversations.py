"""Conversation histories for follow-up questions, held in memory (bounded, least recently used out)."""

from __future__ import annotations

import secrets
from collections import OrderedDict

from bot.pipeline import Turn


def new_conversation_id() -> str:
    return secrets.token_urlsafe(16)


class ConversationStore:
    def __init__(self, max_conversations: int = 10_000, max_turns: int = 20):
        self._histories: OrderedDict[str, list[Turn]] = OrderedDict()
        self._max_conversations = max_conversations
        self._max_turns = max_turns

    def history(self, conversation_id: str) -> list[Turn]:
        turns = self._histories.get(conversation_id, [])
        if conversation_id in self._histories:
            self._histories.move_to_end(conversation_id)
        return list(turns)

    def append(self, conversation_id: str, question: str, answer: str) -> None:
        turns = self._histories.setdefault(conversation_id, [])
        turns.append((question, answer))
        del turns[:-self._max_turns]
        self._histories.move_to_end(conversation_id)
        while len(self._histories) > self._max_conversations:
            self._histories.popitem(last=False)
