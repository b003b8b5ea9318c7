"""The vector store: Chroma embedded on disk (default) or a Chroma server, behind one small class.

SiWi computes all vectors itself; Chroma's default embedding function would download a model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from siwi.settings import Settings

log = logging.getLogger(__name__)

# Chroma's HNSW defaults recall poorly on small, dense collections; cosine fits normalised embeddings.
HNSW_CONFIGURATION = {"space": "cosine", "ef_construction": 200, "ef_search": 128, "max_neighbors": 32}


class StoreError(RuntimeError):
    pass


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    text: str
    metadata: dict[str, Any]
    similarity: float


class ChromaStore:
    def __init__(self, client: Any, collection: str, embedder_name: str):
        self._client = client
        self._name = collection
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

    def version(self) -> tuple[int, int]:
        """Changes whenever the collection does (writes from this process, or a different size after another
        process wrote): derived indexes such as BM25 rebuild on it."""
        return self._writes, self.count()

    def all_chunks(self) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        got = self._collection.get(include=["documents", "metadatas"])
        return list(got["ids"]), list(got["documents"] or []), list(got["metadatas"] or [])

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
            self._writes += 1
            self._collection.upsert(ids=list(ids), embeddings=vectors.tolist(), documents=list(texts),
                                    metadatas=list(metadatas))

    def delete_source(self, source_id: str) -> None:
        self._writes += 1
        self._collection.delete(where={"source_id": source_id})

    def delete_ids(self, ids: Sequence[str]) -> None:
        if ids:
            self._writes += 1
            self._collection.delete(ids=list(ids))

    def source_hashes(self) -> dict[str, set[str]]:
        """source id → document hashes present. More than one, or a hash marked "partial:", only after an
        interrupted ingest: then the document is not current and the next ingest replaces it."""
        stored: dict[tuple[str, str], int] = {}
        expected: dict[tuple[str, str], int] = {}
        got = self._collection.get(include=["metadatas"])
        for meta in got["metadatas"] or []:
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
        got = self._collection.get(where=condition, include=["documents", "metadatas"])
        hits = [Hit(cid, doc, meta, 0.0) for cid, doc, meta in
                zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True)]
        return sorted(hits, key=lambda h: int(h.metadata.get("position", 0) or 0))

    def ids_for_source(self, source_id: str) -> list[tuple[str, str]]:
        got = self._collection.get(where={"source_id": source_id}, include=["metadatas"])
        return [(cid, meta["doc_hash"]) for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=True)]

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[Hit]:
        if self.count() == 0:
            return []
        res = self._collection.query(query_embeddings=[vector.tolist()], n_results=k, where=where,
                                     include=["documents", "metadatas", "distances"])
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
    return ChromaStore(client, settings.collection, embedder_name)
