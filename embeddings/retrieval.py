"""Query → ranked passages. Citizen-facing callers get public documents only: the filter is applied in the
store query itself, so an internal document can never enter a citizen's prompt."""

from __future__ import annotations

from dataclasses import dataclass

from embeddings.encoders import Embedder
from embeddings.store import ChromaStore, Hit


@dataclass(frozen=True)
class Passage:
    chunk_id: str
    text: str
    title: str
    source_id: str
    location: str
    url: str | None
    headings: str
    visibility: str
    similarity: float

    @classmethod
    def from_hit(cls, hit: Hit) -> Passage:
        meta = hit.metadata
        return cls(hit.chunk_id, hit.text, meta.get("title", ""), meta.get("source_id", ""),
                   meta.get("location", ""), meta.get("url") or None, meta.get("headings", ""),
                   meta.get("visibility", "public"), hit.similarity)


class Retriever:
    def __init__(self, embedder: Embedder, store: ChromaStore, top_k: int):
        self._embedder = embedder
        self._store = store
        self.top_k = top_k

    def retrieve(self, query: str, k: int | None = None, include_internal: bool = False) -> list[Passage]:
        vector = self._embedder.embed_queries([query])[0]
        where = None if include_internal else {"visibility": "public"}
        hits = self._store.query(vector, k or self.top_k, where=where)
        return [Passage.from_hit(h) for h in hits]
