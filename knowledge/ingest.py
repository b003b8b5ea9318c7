"""Documents → chunks → index, incrementally: unchanged sources cost no embedding work, changed ones
replace their chunks only once the new ones are stored, and `prune` removes sources that are gone."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from embeddings.encoders import Embedder
from embeddings.store import ChromaStore
from knowledge.chunking import Chunker
from knowledge.documents import Document
from knowledge.loaders import LoadError, SourceFile, discover, load_file

log = logging.getLogger(__name__)

EMBED_BATCH = 16


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks_written: int = 0

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
                f"{len(self.removed)} removed, {len(self.failed)} failed; {self.chunks_written} chunks embedded")


class Ingestor:
    def __init__(self, chunker: Chunker, embedder: Embedder, store: ChromaStore):
        self._chunker = chunker
        self._embedder = embedder
        self._store = store

    def ingest(self, paths: list[Path], prune: bool = False,
               progress: Callable[[str], None] | None = None) -> IngestReport:
        report = IngestReport()
        indexed = self._store.source_hashes()
        sources = list(discover(paths))
        for source in sources:
            if progress:
                progress(source.source_id)
            try:
                document = load_file(source)
            except LoadError as exc:
                log.warning("skipped: %s", exc)
                report.failed.append((source.source_id, str(exc)))
                continue
            known = indexed.get(source.source_id)
            if known == {document.hash}:
                report.unchanged.append(source.source_id)
                continue
            report.chunks_written += self._replace(document)
            (report.updated if known else report.added).append(source.source_id)
        if prune:
            report.removed = self._prune(paths, sources, indexed)
        return report

    def _replace(self, document: Document) -> int:
        chunks = self._chunker.split(document)
        old_ids = [cid for cid, doc_hash in self._store.ids_for_source(document.source_id)
                   if doc_hash != document.hash]
        for start in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[start:start + EMBED_BATCH]
            vectors = self._embedder.embed_passages([c.text for c in batch])
            self._store.upsert([c.chunk_id for c in batch], vectors, [c.text for c in batch],
                               [c.metadata() for c in batch])
        self._store.delete_ids(old_ids)
        return len(chunks)

    def _prune(self, roots: list[Path], seen: list[SourceFile], indexed: dict[str, set[str]]) -> list[str]:
        prefixes = [r.expanduser().resolve().as_posix() for r in roots]
        seen_ids = {s.source_id for s in seen}
        removed = []
        for source_id in indexed:
            under_root = any(source_id == p or source_id.startswith(p.rstrip("/") + "/") for p in prefixes)
            if under_root and source_id not in seen_ids:
                self._store.delete_source(source_id)
                removed.append(source_id)
        return removed
