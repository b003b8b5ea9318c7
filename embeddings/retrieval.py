"""Query → ranked passages. Vector search and BM25 are fused by reciprocal rank fusion (hybrid, the
default). Citizen-facing callers get public documents only: the visibility filter is applied inside both
searches, so an internal document can never enter a citizen's prompt."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from embeddings.encoders import Embedder
from embeddings.lexical import LexicalIndex, reciprocal_rank_fusion
from embeddings.store import ChromaStore, Hit

Mode = Literal["hybrid", "vector", "bm25"]


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
    """Cosine similarity to the question, whichever search found the passage: the relevance gate uses it."""
    score: float = 0.0
    """Rank score of the mode that found it (fused RRF score in hybrid mode)."""
    doc_type: str = ""
    source: str = ""

    @classmethod
    def from_hit(cls, hit: Hit, score: float | None = None) -> Passage:
        meta = hit.metadata
        return cls(hit.chunk_id, hit.text, meta.get("title", ""), meta.get("source_id", ""),
                   meta.get("location", ""), meta.get("url") or None, meta.get("headings", ""),
                   meta.get("visibility", "public"), hit.similarity,
                   hit.similarity if score is None else score, meta.get("doc_type", ""), meta.get("source", ""))


@dataclass(frozen=True)
class Filters:
    """Metadata filters, applied in the store query and in the BM25 search alike."""

    include_internal: bool = False
    sources: Sequence[str] | None = None
    doc_types: Sequence[str] | None = None

    def chroma_where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if not self.include_internal:
            clauses.append({"visibility": "public"})
        if self.sources:
            clauses.append({"source": {"$in": list(self.sources)}})
        if self.doc_types:
            clauses.append({"doc_type": {"$in": list(self.doc_types)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def key(self) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
        """Equal keys, equal filters: derived indexes cache what a filter selects under it."""
        return self.include_internal, tuple(self.sources or ()), tuple(self.doc_types or ())

    def matches(self, meta: dict[str, Any]) -> bool:
        return ((self.include_internal or meta.get("visibility") == "public")
                and (not self.sources or meta.get("source") in self.sources)
                and (not self.doc_types or meta.get("doc_type") in self.doc_types))


class Retriever:
    def __init__(self, embedder: Embedder, store: ChromaStore, top_k: int, lexical: LexicalIndex | None = None,
                 mode: Mode = "hybrid", candidates: int = 60, lexical_weight: float = 0.5):
        if mode != "vector" and lexical is None:
            raise ValueError(f"retrieval mode {mode!r} needs a lexical index")
        self._embedder = embedder
        self._store = store
        self._lexical = lexical
        self.top_k = top_k
        self.mode = mode
        self._candidates = candidates
        self._lexical_weight = lexical_weight

    def retrieve(self, query: str, k: int | None = None, include_internal: bool = False,
                 filters: Filters | None = None, mode: Mode | None = None) -> list[Passage]:
        k = k or self.top_k
        mode = mode or self.mode
        filters = filters or Filters(include_internal=include_internal)
        vector = self._embedder.embed_queries([query])[0]
        n = max(k, self._candidates)
        if mode == "vector":
            return [Passage.from_hit(h) for h in self._store.query(vector, k, filters.chroma_where(), filters.matches)]
        assert self._lexical is not None
        lexical = self._lexical.search(query, n if mode == "hybrid" else k, filters.matches, filters.key())
        if mode == "bm25":
            scores = {h.chunk_id: h.score for h in lexical}
            return [Passage.from_hit(h, scores[h.chunk_id])
                    for h in self._store.get([h.chunk_id for h in lexical], vector)]
        dense = self._store.query(vector, n, filters.chroma_where(), filters.matches)
        fused = reciprocal_rank_fusion([[h.chunk_id for h in dense], [h.chunk_id for h in lexical]],
                                       weights=[1.0, self._lexical_weight])[:k]
        known = {h.chunk_id: h for h in dense}
        missing = self._store.get([cid for cid, _ in fused if cid not in known], vector)
        known.update({h.chunk_id: h for h in missing})
        return [Passage.from_hit(known[cid], score) for cid, score in fused if cid in known]

    def sections(self, passages: Sequence[Passage], wanted: Callable[[str], bool], include_internal: bool = False,
                 documents: int = 2) -> list[Passage]:
        """The sections of the best documents among `passages` whose heading path `wanted` accepts, when
        retrieval did not bring them: a question about the fee of a service needs the service's fee section,
        even when its description ranked higher. Ordered by document rank, then position in the document."""
        have = {p.chunk_id for p in passages}
        where = Filters(include_internal=include_internal).chroma_where()
        found: list[Passage] = []
        for source_id in list(dict.fromkeys(p.source_id for p in passages))[:documents]:
            for hit in self._store.chunks_of(source_id, where):
                if hit.chunk_id not in have and wanted(hit.metadata.get("headings", "")):
                    found.append(Passage.from_hit(hit))
        return found
