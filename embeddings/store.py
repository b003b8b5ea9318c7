"""The vector store: Chroma embedded on disk (default) or a Chroma server, behind one small class.

SiWi computes all vectors itself; Chroma's default embedding function would download a model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from siwi.settings import Settings

log = logging.getLogger(__name__)

# Chroma's HNSW defaults recall poorly on small, dense collections; cosine fits normalised embeddings.
HNSW_CONFIGURATION = {"space": "cosine", "ef_construction": 200, "ef_search": 128, "max_neighbors": 32}


# Chroma's embedded store answers a `get` through SQLite, which refuses more than 32,766 bound variables:
# an unpaged `get` of all chunks fails above that size. Every scan below reads pages of this many chunks.
PAGE_SIZE = 5000
# How long the store's size, read to notice another process's writes, is trusted before it is read again.
COUNT_TTL_S = 2.0


class StoreError(RuntimeError):
    pass


class WriteListener(Protocol):
    """Told about this process's writes, so that derived indexes (BM25) update by the write, not the store."""

    def upserted(self, ids: Sequence[str], texts: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None: ...

    def deleted(self, ids: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    text: str
    metadata: dict[str, Any]
    similarity: float


class ChromaStore:
    def __init__(self, client: Any, collection: str, embedder_name: str, path: Path | None = None):
        self._client = client
        self._name = collection
        self._path = path
        """The embedded store's folder (None for a Chroma server): its files show another process's writes."""
        self._listeners: list[WriteListener] = []
        self._counted: tuple[float, int] | None = None
        self._writes = 0
        self._collection = client.get_or_create_collection(
            collection,
            embedding_function=None,
            configuration={"hnsw": HNSW_CONFIGURATION},
            metadata={"embedder": embedder_name},
        )
        stored = (self._collection.metadata or {}).get("embedder")
        if stored and stored != embedder_name:
            raise StoreError(
                f"The index in collection {collection!r} was built with {stored}, but the configured embedding "
                f"model is {embedder_name}. Re-index with `siwi ingest --rebuild` or set SIWI_COLLECTION.")

    def count(self) -> int:
        return self._collection.count()

    def recent_count(self) -> int:
        """The size, read at most every COUNT_TTL_S seconds (and after each write of this process): a query
        must not pay a count of the whole store, yet another process's writes show within seconds."""
        now = time.monotonic()
        if self._counted is None or now - self._counted[0] > COUNT_TTL_S:
            self._counted = (now, self.count())
        return self._counted[1]

    def version(self) -> tuple[int, int, int]:
        """Changes with every write: this process's at once; another process's at once on the embedded store
        (its database files' modification times), within COUNT_TTL_S on a server (the store's size)."""
        stamp = 0
        if self._path is not None:
            for name in ("chroma.sqlite3", "chroma.sqlite3-wal"):
                try:
                    stamp = max(stamp, (self._path / name).stat().st_mtime_ns)
                except OSError:
                    pass
        return self._writes, self.recent_count(), stamp

    def subscribe(self, listener: WriteListener) -> None:
        self._listeners.append(listener)

    def pages(self, include: list[str], where: dict[str, Any] | None = None,
              page_size: int = PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """The chunks (matching `where`) in pages: no request grows with the store."""
        offset = 0
        while True:
            got = self._collection.get(where=where, include=include, limit=page_size, offset=offset)
            if not got["ids"]:
                return
            yield got
            if len(got["ids"]) < page_size:
                return
            offset += page_size

    def all_chunks(self) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        ids: list[str] = []
        texts: list[str] = []
        metadatas: list[dict[str, Any]] = []
        for got in self.pages(["documents", "metadatas"]):
            ids += got["ids"]
            texts += got["documents"] or []
            metadatas += got["metadatas"] or []
        return ids, texts, metadatas

    def get(self, ids: Sequence[str], query_vector: np.ndarray | None = None) -> list[Hit]:
        """Chunks by id, in the given order; similarity to `query_vector` when one is given (else 0)."""
        if not ids:
            return []
        include = ["documents", "metadatas"] + (["embeddings"] if query_vector is not None else [])
        got = self._collection.get(ids=list(ids), include=include)
        found: dict[str, Hit] = {}
        embeddings = got.get("embeddings") if query_vector is not None else None
        for n, cid in enumerate(got["ids"]):
            similarity = float(np.dot(np.asarray(embeddings[n]), query_vector)) if embeddings is not None else 0.0
            found[cid] = Hit(cid, got["documents"][n], got["metadatas"][n], similarity)
        return [found[cid] for cid in ids if cid in found]

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, texts: Sequence[str],
               metadatas: Sequence[dict[str, Any]]) -> None:
        if ids:
            self._wrote()
            self._collection.upsert(ids=list(ids), embeddings=vectors.tolist(), documents=list(texts),
                                    metadatas=list(metadatas))
            for listener in self._listeners:
                listener.upserted(ids, texts, metadatas)

    def delete_source(self, source_id: str) -> None:
        self.delete_ids([cid for cid, _ in self.ids_for_source(source_id)])

    def delete_ids(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), PAGE_SIZE):
            page = list(ids[start:start + PAGE_SIZE])
            self._wrote()
            self._collection.delete(ids=page)
            for listener in self._listeners:
                listener.deleted(page)

    def _wrote(self) -> None:
        self._counted = None
        self._writes += 1

    def source_hashes(self) -> dict[str, set[str]]:
        """source id → document hashes present. More than one, or a hash marked "partial:", only after an
        interrupted ingest: then the document is not current and the next ingest replaces it."""
        stored: dict[tuple[str, str], int] = {}
        expected: dict[tuple[str, str], int] = {}
        for meta in (m for got in self.pages(["metadatas"]) for m in got["metadatas"] or []):
            key = (meta["source_id"], meta["doc_hash"])
            stored[key] = stored.get(key, 0) + 1
            expected[key] = int(meta.get("doc_chunks") or 0)  # 0: written before chunk counts were kept
        result: dict[str, set[str]] = {}
        for (source_id, doc_hash), count in stored.items():
            complete = count >= expected[(source_id, doc_hash)]
            result.setdefault(source_id, set()).add(doc_hash if complete else f"partial:{doc_hash}")
        return result

    def chunks_of(self, source_id: str, where: dict[str, Any] | None = None) -> list[Hit]:
        """All chunks of one document (that also match `where`), in chunk order; similarity 0."""
        condition: dict[str, Any] = {"source_id": source_id}
        if where:
            condition = {"$and": [condition, where]}
        hits = [Hit(cid, doc, meta, 0.0) for got in self.pages(["documents", "metadatas"], condition)
                for cid, doc, meta in zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True)]
        return sorted(hits, key=lambda h: int(h.metadata.get("position", 0) or 0))

    def ids_for_source(self, source_id: str) -> list[tuple[str, str]]:
        return [(cid, meta["doc_hash"]) for got in self.pages(["metadatas"], {"source_id": source_id})
                for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=True)]

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None,
              accept: Callable[[dict[str, Any]], bool] | None = None) -> list[Hit]:
        """The k nearest chunks matching `where`. With `accept` (the same condition as a predicate) the search
        first runs unfiltered on a few more neighbours and filters them here: Chroma's metadata filter costs
        time in proportion to the store (0.4 s at 100 k chunks). Only when too few neighbours pass does the
        filtered search run, so the result is the same either way."""
        if accept is not None and where is not None:
            wider = self._query(vector, 2 * k, None)
            passing = [h for h in wider if accept(h.metadata)]
            if len(passing) >= k or len(wider) < 2 * k:
                return passing[:k]
        return self._query(vector, k, where)

    def _query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None) -> list[Hit]:
        res = self._collection.query(query_embeddings=[vector.tolist()], n_results=k, where=where,
                                     include=["documents", "metadatas", "distances"])
        if not res["ids"] or not res["ids"][0]:
            return []
        return [
            Hit(cid, doc, meta, 1.0 - float(dist))
            for cid, doc, meta, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0],
                                            res["distances"][0], strict=True)
        ]

    def reset(self) -> None:
        self._client.delete_collection(self._name)


def open_store(settings: Settings, embedder_name: str) -> ChromaStore:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.store_backend == "http":
        try:
            client = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port,
                                         settings=chroma_settings)
        except Exception as exc:
            raise StoreError(f"Cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port} "
                             f"(SIWI_CHROMA_HOST / SIWI_CHROMA_PORT): {exc}") from exc
    else:
        path = settings.chroma_dir
        try:
            path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        except Exception as exc:
            raise StoreError(f"Cannot open the index at {path} (SIWI_DATA_DIR): {exc}") from exc
    return ChromaStore(client, settings.collection, embedder_name,
                       path=settings.chroma_dir if settings.store_backend != "http" else None)
