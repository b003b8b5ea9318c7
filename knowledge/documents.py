"""The two records that flow from sources to the index: a Document (one source text) and its Chunks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

Visibility = Literal["public", "internal"]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path, e.g. ("Fahrzeug zulassen", "Kosten")."""

    headings: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Document:
    source_id: str
    """Stable id of the source text (relative path or URL); re-ingesting the same source replaces it."""
    title: str
    sections: tuple[Section, ...]
    url: str | None = None
    path: str | None = None
    language: str = "de"
    visibility: Visibility = "public"
    doc_type: str = "page"
    last_modified: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    source: str = ""
    """Name of the configured source it came from (sources.yaml), for filtering; set by the Ingestor."""

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)

    @property
    def hash(self) -> str:
        """Covers text and metadata, so that a changed title or visibility re-indexes the document too."""
        meta = (f"{self.title}|{self.url}|{self.visibility}|{self.language}|{self.doc_type}|{self.source}|"
                f"{sorted(self.extra.items())}")
        return content_hash(meta + "\n" + "\n".join(f"{s.headings}:{s.text}" for s in self.sections))

    @property
    def location(self) -> str:
        return self.url or self.path or self.source_id


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    document: Document
    text: str
    """The passage as stored and shown: heading path first, then the section text."""
    headings: tuple[str, ...]
    position: int
    total: int
    """How many chunks the document has: lets the index tell a completely stored document from one whose
    ingest was interrupted."""
    doc_hash: str
    """The document's hash together with the chunking settings (see Chunker.index_hash)."""

    def metadata(self) -> dict[str, str | int | bool]:
        """Flat metadata for the vector store (Chroma accepts only scalars)."""
        doc = self.document
        meta: dict[str, str | int | bool] = {
            "source_id": doc.source_id,
            "title": doc.title,
            "location": doc.location,
            "url": doc.url or "",
            "path": doc.path or "",
            "language": doc.language,
            "visibility": doc.visibility,
            "doc_type": doc.doc_type,
            "source": doc.source,
            "headings": " > ".join(self.headings),
            "doc_hash": self.doc_hash,
            "position": self.position,
            "doc_chunks": self.total,
            "last_modified": doc.last_modified or "",
        }
        meta.update({f"x_{k}": v for k, v in doc.extra.items()})
        return meta
