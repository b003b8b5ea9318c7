"""Lexical retrieval: BM25 (bm25s) over German-aware tokens.

Embeddings miss exact terms that citizens type ("Wunschkennzeichen", "§ 3", a town's name); BM25 catches
them. German needs three things beyond whitespace splitting: hyphenated compounds split into parts
("Kfz-Zulassungsstelle"), closed compounds split too ("Zulassungsstelle" → "zulassung" + "stelle", via the
CharSplit n-gram model of compound-split), and Snowball stemming, which also folds umlauts. The index is
derived from the vector store's texts (the single source of truth) and rebuilt when the store changes.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_GERMAN

# bm25s sets its own logger to DEBUG on import, which would print its progress notes to every user.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOPWORDS = frozenset(STOPWORDS_GERMAN) | frozenset(STOPWORDS_EN)
_STEMMER = Stemmer.Stemmer("german")
# Below this CharSplit score a split is usually wrong ("Satzung" → "Satz" + "ung").
_SPLIT_CONFIDENCE = 0.3
_MIN_COMPOUND = 8
_MIN_PART = 3


@lru_cache(maxsize=1)
def _char_split():
    """compound-split's module, imported on first use: its n-gram tables take seconds to import, which every
    CLI run (an unchanged re-ingest, `siwi --help`) would pay otherwise."""
    from compound_split import char_split

    return char_split


@lru_cache(maxsize=200_000)
def compound_parts(word: str) -> tuple[str, ...]:
    """Parts of a German closed compound, recursively ("abfallgebührensatzung" → abfall, gebühren, satzung);
    empty when the word does not look like one."""
    if len(word) < _MIN_COMPOUND or not word.isalpha():
        return ()
    best = _char_split().split_compound(word)[0]
    score, head, tail = best[0], best[1].lower(), best[2].lower()
    if score < _SPLIT_CONFIDENCE or len(head) < _MIN_PART or len(tail) < _MIN_PART:
        return ()
    parts: list[str] = []
    for part in (head, tail):
        parts.extend(compound_parts(part) or (part,))
    return tuple(parts)


@lru_cache(maxsize=200_000)
def _analyse(word: str) -> tuple[str, ...]:
    terms = [word, *compound_parts(word)]
    return tuple(dict.fromkeys(_STEMMER.stemWord(t) for t in terms if t not in _STOPWORDS))


def tokenize(text: str) -> list[str]:
    """Stemmed terms of a text, with the parts of compounds added beside the whole word."""
    text = unicodedata.normalize("NFKC", text).lower().replace("ß", "ss")
    tokens: list[str] = []
    for word in _WORD.findall(text):
        if word in _STOPWORDS or (len(word) == 1 and not word.isdigit()):
            continue
        tokens.extend(_analyse(word))
    return tokens


@dataclass(frozen=True)
class LexicalHit:
    chunk_id: str
    score: float


class LexicalIndex:
    """BM25 over all chunks of the store, kept current as the store changes. This process's writes arrive
    through `upserted` / `deleted` (the store's write listener) and cost tokenising what was written; a
    store size that differs from what the index holds means another process wrote, and the index reloads
    from the store (paged). `load` gives (ids, texts, metadatas), `size` the store's current size."""

    def __init__(self, load: Callable[[], tuple[list[str], list[str], list[dict[str, Any]]]],
                 size: Callable[[], int]):
        self._load = load
        self._size = size
        self._lock = threading.Lock()
        self._loaded = False
        self._stale = True
        self._tokens: dict[str, list[str]] = {}
        self._metadata: dict[str, dict[str, Any]] = {}
        self._ids: list[str] = []
        self._metadatas: list[dict[str, Any]] = []
        self._masks: dict[Hashable, np.ndarray] = {}
        self._bm25: bm25s.BM25 | None = None

    def upserted(self, ids: Sequence[str], texts: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        tokens = [tokenize(t) for t in texts]  # outside the lock: searches go on meanwhile
        with self._lock:
            if not self._loaded:
                return  # the first search loads the whole store anyway
            for cid, terms, meta in zip(ids, tokens, metadatas, strict=True):
                self._tokens[cid] = terms
                self._metadata[cid] = meta
            self._stale = True

    def deleted(self, ids: Sequence[str]) -> None:
        with self._lock:
            for cid in ids:
                if self._tokens.pop(cid, None) is not None:
                    self._metadata.pop(cid, None)
                    self._stale = True

    def _ensure_current(self) -> None:
        with self._lock:
            if not self._loaded or self._size() != len(self._tokens):
                ids, texts, metadatas = self._load()
                self._tokens = {cid: tokenize(t) for cid, t in zip(ids, texts, strict=True)}
                self._metadata = dict(zip(ids, metadatas, strict=True))
                self._loaded, self._stale = True, True
            if not self._stale:
                return
            # bm25s has no incremental update; indexing the kept tokens is fast (no re-tokenising).
            self._ids = list(self._tokens)
            self._metadatas = [self._metadata[cid] for cid in self._ids]
            self._masks = {}
            self._bm25 = None
            if self._ids:
                bm25 = bm25s.BM25()
                bm25.index([self._tokens[cid] for cid in self._ids], show_progress=False)
                self._bm25 = bm25
            self._stale = False

    def _mask(self, where: Callable[[dict[str, Any]], bool], key: Hashable | None) -> np.ndarray:
        """Which chunks pass the filter; computed once per filter and index state when the filter has a key."""
        if key is not None and key in self._masks:
            return self._masks[key]
        mask = np.fromiter((1.0 if where(m) else 0.0 for m in self._metadatas), dtype=np.float32,
                           count=len(self._metadatas))
        if key is not None:
            self._masks[key] = mask
        return mask

    def search(self, query: str, k: int, where: Callable[[dict[str, Any]], bool] | None = None,
               where_key: Hashable | None = None) -> list[LexicalHit]:
        """The k best chunks for `query` among those `where` accepts. `where_key` names the filter (equal keys,
        equal filters), so that its mask is computed once, not per query."""
        self._ensure_current()
        with self._lock:
            bm25, ids = self._bm25, self._ids
            if bm25 is None:
                return []
            terms = [t for t in tokenize(query) if t in bm25.vocab_dict]
            if not terms:
                return []
            mask = self._mask(where, where_key) if where is not None else None
        if mask is not None and not mask.any():
            return []
        k = min(k, len(ids))
        docs, scores = bm25.retrieve([terms], k=k, show_progress=False, weight_mask=mask)
        return [LexicalHit(ids[int(i)], float(s)) for i, s in zip(docs[0], scores[0], strict=True) if s > 0]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = 30,
                           weights: Sequence[float] | None = None) -> list[tuple[str, float]]:
    """Fuse ranked id lists by weighted RRF (Cormack et al. 2009): robust without calibrating the score
    scales. k and the weights were chosen on half of the BW statute questions (bench/retrieval.py)."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank + 1)
    return sorted(scores.items(), key=lambda pair: pair[1], reverse=True)
