"""Sources → documents: read files of the supported kinds into Documents with sections and metadata."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import frontmatter
from langchain_text_splitters import MarkdownHeaderTextSplitter

from knowledge.documents import Document, Section
from knowledge.html import extract_main_content
from knowledge.services import load_service_file

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".yaml", ".yml"}
MAX_FILE_BYTES = 5_000_000

_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")]


class LoadError(ValueError):
    """A source that cannot be turned into a document; the message says which file and why."""


@dataclass(frozen=True)
class SourceFile:
    path: Path
    source_id: str


def discover(paths: list[Path]) -> Iterator[SourceFile]:
    """Expand files and folders into supported files, each with a stable source id."""
    for root in paths:
        root = root.expanduser()
        if not root.exists():
            raise LoadError(f"{root}: no such file or folder")
        if root.is_file():
            yield SourceFile(root, root.resolve().as_posix())
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if path.suffix.lower() in SUPPORTED_SUFFIXES and not path.name.startswith(".") \
                    and path.name.lower() != "readme.md":
                yield SourceFile(path, path.resolve().as_posix())


def markdown_sections(markdown: str, title: str) -> list[Section]:
    """Split Markdown at its headings; each section carries its heading path below the title."""
    splitter = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=True)
    sections = []
    for part in splitter.split_text(markdown):
        headings = tuple(part.metadata[key] for _, key in _HEADERS if key in part.metadata)
        if headings and headings[0] == title:
            headings = headings[1:]
        if part.page_content.strip():
            sections.append(Section((title, *headings), part.page_content.strip()))
    return sections


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).date().isoformat()


def _first_line(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip().lstrip("# ").strip()[:200]
    return fallback


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise LoadError(f"{path}: {len(data):,} bytes is over the limit of {MAX_FILE_BYTES:,}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Older administration pages are often Windows-1252; it decodes every byte, so no data is lost.
        return data.decode("cp1252", errors="replace")


def load_text(path: Path, source_id: str) -> Document:
    text = _read_text(path).strip()
    title = _first_line(text, path.stem)
    return Document(source_id, title, (Section((title,), text),), path=str(path),
                    doc_type="text", last_modified=_mtime(path))


def load_markdown(path: Path, source_id: str) -> Document:
    post = frontmatter.loads(_read_text(path))
    meta = {k: v for k, v in post.metadata.items() if v is not None}
    title = str(meta.get("title") or _first_line(post.content, path.stem))
    visibility = str(meta.get("visibility", "public"))
    if visibility not in ("public", "internal"):
        raise LoadError(f"{path}: visibility must be 'public' or 'internal', not {visibility!r}")
    extra = {k: str(v) for k, v in meta.items() if k not in {"title", "url", "visibility", "language",
                                                             "last_modified", "type"}}
    return Document(
        source_id, title, tuple(markdown_sections(post.content, title)),
        url=meta.get("url"), path=str(path), language=str(meta.get("language", "de")),
        visibility=visibility,  # type: ignore[arg-type]
        doc_type=str(meta.get("type", "page")), last_modified=str(meta.get("last_modified") or _mtime(path)),
        extra=extra,
    )


def html_document(html: str, source_id: str, url: str | None = None, path: str | None = None,
                  last_modified: str | None = None) -> Document:
    page = extract_main_content(html, url)
    if not page.markdown:
        raise LoadError(f"{url or path or source_id}: no main content found in the HTML")
    title = page.title or _first_line(page.markdown, Path(path).stem if path else source_id)
    return Document(source_id, title, tuple(markdown_sections(page.markdown, title)),
                    url=url or page.url, path=path, language=page.language or "de", doc_type="page",
                    last_modified=page.date or last_modified)


def load_html(path: Path, source_id: str, url: str | None = None) -> Document:
    return html_document(_read_text(path), source_id, url=url, path=str(path), last_modified=_mtime(path))


def load_file(source: SourceFile) -> Document:
    suffix = source.path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            return load_service_file(source.path, source.source_id)
        if suffix in (".md", ".markdown"):
            return load_markdown(source.path, source.source_id)
        if suffix in (".html", ".htm"):
            return load_html(source.path, source.source_id)
        if suffix == ".txt":
            return load_text(source.path, source.source_id)
    except LoadError:
        raise
    except (OSError, ValueError) as exc:
        raise LoadError(f"{source.path}: {exc}") from exc
    raise LoadError(f"{source.path}: unsupported file type {suffix!r}")
