"""Documents → chunks → index, incrementally: unchanged sources cost no embedding work, changed ones
replace their chunks only once the new ones are stored, and `prune` removes sources that are gone."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from embeddings.encoders import Embedder
from embeddings.store import ChromaStore
from knowledge.chunking import Chunker
from knowledge.documents import Document
from knowledge.sources import Failed, FileSource, Source, Unchanged

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
        """Files and folders; a missing path raises LoadError before anything is touched."""
        source = FileSource(paths)
        source.files()
        return self.ingest_source(source, prune=prune, progress=progress)

    def ingest_source(self, source: Source, prune: bool = False,
                      progress: Callable[[str], None] | None = None) -> IngestReport:
        report = IngestReport()
        indexed = self._store.source_hashes()
        seen: set[str] = set()
        for item in source.items(indexed):
            if progress:
                progress(item.source_id)
            seen.add(item.source_id)
            if isinstance(item, Failed):
                log.warning("skipped: %s", item.reason)
                report.failed.append((item.source_id, item.reason))
                continue
            if isinstance(item, Document) and not item.source:
                item = dataclasses.replace(item, source=source.name)
            known = indexed.get(item.source_id)
            if isinstance(item, Unchanged) or known == {self._chunker.index_hash(item)}:
                report.unchanged.append(item.source_id)
                continue
            report.chunks_written += self._replace(item)
            (report.updated if known else report.added).append(item.source_id)
        if prune:
            for source_id in source.gone(indexed, seen):
                self._store.delete_source(source_id)
                report.removed.append(source_id)
        return report

    def _replace(self, document: Document) -> int:
        chunks = self._chunker.split(document)
        new_hash = self._chunker.index_hash(document)
        old_ids = [cid for cid, doc_hash in self._store.ids_for_source(document.source_id) if doc_hash != new_hash]
        for start in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[start:start + EMBED_BATCH]
            vectors = self._embedder.embed_passages([c.text for c in batch])
            self._store.upsert([c.chunk_id for c in batch], vectors, [c.text for c in batch],
                               [c.metadata() for c in batch])
        self._store.delete_ids(old_ids)
        return len(chunks)
