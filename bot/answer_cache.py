"""Checked answers for repeated questions: many citizens ask the same thing ("Was kostet ein Reisepass?"), and
the second one need not wait for the model.

Keyed by the normalised question (Unicode form, case, spacing, end punctuation) and whether internal
documents were searched (staff), and valid for one version of the index: any write to it, by this process or
another, empties the cache. Only a conversation's first question is answered from it or stored in it — a
follow-up's answer depends on the turns before it, which belong to that conversation alone.

Near-duplicates by embedding similarity were measured and left out: over the evaluation sets' questions, pairs
with different answers ("Bewohnerparkausweis für die Altstadt" / "… für 12 Monate", similarity 0.975) lie
above every pair of paraphrases with the same answer (at most 0.94), so no threshold merges paraphrases
without also merging neighbouring items (README, "Repeated questions").
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Hashable

from bot.protocol import AnswerResult


def normalise(question: str) -> str:
    text = unicodedata.normalize("NFKC", question).casefold()
    return re.sub(r"\s+", " ", text).strip(" ?!.,;:")


class AnswerCache:
    """At most `size` answers, each for at most `ttl_s` seconds, for the index version `version()` returns."""

    def __init__(self, size: int, ttl_s: float, version: Callable[[], Hashable]):
        self._size = size
        self._ttl_s = ttl_s
        self._version = version
        self._seen: Hashable = None
        self._entries: OrderedDict[tuple[str, bool], tuple[float, AnswerResult]] = OrderedDict()
        self._lock = threading.Lock()

    def _current(self) -> None:
        """Empty the cache when the index has changed since it was last looked at."""
        version = self._version()
        if version != self._seen:
            self._entries.clear()
            self._seen = version

    def get(self, question: str, include_internal: bool = False) -> AnswerResult | None:
        if self._size <= 0:
            return None
        with self._lock:
            self._current()
            key = (normalise(question), include_internal)
            entry = self._entries.get(key)
            if entry is None:
                return None
            if time.monotonic() - entry[0] > self._ttl_s:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1].model_copy(update={"question": question.strip(), "standalone_question": question.strip(),
                                               "timings": {"cached": 1.0}})

    def put(self, question: str, answer: AnswerResult, include_internal: bool = False) -> None:
        """Keep a checked answer (outcome `answered`); anything else is asked anew next time."""
        if self._size <= 0 or answer.outcome != "answered":
            return
        with self._lock:
            self._current()
            key = (normalise(question), include_internal)
            self._entries[key] = (time.monotonic(), answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
