"""Sources → documents: read files of the supported kinds into Documents with sections and metadata.
PDF and Word files can also be read from bytes, for the crawler."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import docx
import frontmatter
from docx.document import Document as WordDocument
from docx.table import Table
from docx.text.paragraph import Paragraph
from langchain_text_splitters import MarkdownHeaderTextSplitter
from pypdf import PdfReader
from pypdf.errors import DependencyError

from knowledge.documents import Document, Section
from knowledge.html import extract_main_content
from knowledge.services import ServiceFileError, load_service_file

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".yaml", ".yml", ".json", ".pdf", ".docx"}
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
            # "~$name.docx" is the lock file Word leaves beside an open document.
            if path.suffix.lower() in SUPPORTED_SUFFIXES and not path.name.startswith((".", "~$")) \
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
        # The splitter joins lines with "  \n" (a Markdown hard break); plain line breaks are what we want.
        text = re.sub(r"[ \t]+\n", "\n", part.page_content).strip()
        if text:
            sections.append(Section((title, *headings), text))
    return sections


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).date().isoformat()


# Lines a page starts with that are no title: a date, a table-of-contents label, a credit line.
_MONTHS = ("januar", "februar", "märz", "april", "mai", "juni", "juli", "august", "september", "oktober",
           "november", "dezember")
_NOT_TITLES = {"inhalt", "inhaltsverzeichnis", "navigation", "menü", "startseite", "seitenanfang", "drucken"}


def _reads_like_a_title(line: str) -> bool:
    if line.lower() in _NOT_TITLES or line.startswith(("©", "Datum:", "Stand:", "Foto:", "Bild:")):
        return False
    words = [w for w in re.findall(r"[^\W\d_]{3,}", line) if w.lower() not in _MONTHS]
    return bool(words)


def _first_line(text: str, fallback: str) -> str:
    """The first line that reads like a title ("18. Oktober 2023" or "Inhalt" above the headline is none):
    the title is every chunk's context, for retrieval and for the citation check."""
    lines = [line.strip().lstrip("# ").strip() for line in text.splitlines() if line.strip()]
    for line in lines[:5]:
        if _reads_like_a_title(line):
            return line[:200]
    return lines[0][:200] if lines else fallback


def _check_size(data: bytes, where: object) -> None:
    if len(data) > MAX_FILE_BYTES:
        raise LoadError(f"{where}: {len(data):,} bytes is over the limit of {MAX_FILE_BYTES:,}")


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    _check_size(data, path)
    return data


def _read_text(path: Path) -> str:
    data = _read_bytes(path)
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
    title = str(meta.get("title") or meta.get("titel") or _first_line(post.content, path.stem))
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


def _useful_title(title: object) -> str | None:
    """Office tools fill the title field with file names and placeholders; those make bad titles."""
    text = " ".join(str(title or "").split())
    if not text or text.lower() in {"untitled", "unbenannt", "titel"} \
            or re.search(r"\.(docx?|pdf|odt|rtf)$", text, re.IGNORECASE) or text.startswith("Microsoft Word - "):
        return None
    return text[:200]


def _clean_pdf_text(text: str) -> str:
    """Undo line-end hyphenation of lower-case word parts ("Antrag-\nsteller"), keep "Kfz-\nZulassung"."""
    text = re.sub(r"(\w)-\n([a-zäöüß])", r"\1\2", text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def pdf_document(data: bytes, source_id: str, url: str | None = None, path: str | None = None,
                 last_modified: str | None = None) -> Document:
    """One section per page (a single-page PDF has one section under its title), titled from the metadata
    or the first line. Page numbers in the heading path let a citation say where to look."""
    where = url or path or source_id
    _check_size(data, where)
    # Parsers of damaged PDFs fail in many ways (KeyError, TypeError, ...); every one is a broken file to us.
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):  # an empty user password only restricts editing
            raise LoadError(f"{where}: the PDF is password-protected")
        pages = [_clean_pdf_text(page.extract_text() or "") for page in reader.pages]
        meta = reader.metadata
        meta_title = _useful_title(meta.title if meta else None)
        modified = meta.modification_date if meta else None
    except LoadError:
        raise
    except DependencyError as exc:  # AES encryption needs the optional `cryptography` package
        raise LoadError(f"{where}: the PDF is encrypted (password-protected) and cannot be read: {exc}") from exc
    except Exception as exc:
        raise LoadError(f"{where}: not a readable PDF ({type(exc).__name__}: {exc})") from exc
    if not any(pages):
        raise LoadError(f"{where}: the PDF contains no text (scanned image?)")
    title = meta_title or _first_line(next(p for p in pages if p), Path(path).stem if path else source_id)
    if len(pages) == 1:
        sections = (Section((title,), pages[0]),)
    else:
        sections = tuple(Section((title, f"Seite {n}"), text) for n, text in enumerate(pages, 1) if text)
    return Document(source_id, title, sections, url=url, path=path, doc_type="pdf",
                    last_modified=last_modified or (modified.date().isoformat() if modified else None))


_HEADING_STYLE = re.compile(r"^(?:Heading|Überschrift)\s*([1-4])$", re.IGNORECASE)


def _docx_markdown(document: WordDocument) -> tuple[str, str | None]:
    """Word body → Markdown (headings, list items, tables as " | " rows) and the text of a Title paragraph."""
    lines: list[str] = []
    title = None
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells, seen = [], set()
                for cell in row.cells:  # a merged cell appears once per grid column it spans
                    if id(cell._tc) not in seen:
                        seen.add(id(cell._tc))
                        cells.append(" ".join(cell.text.split()))
                if any(cells):
                    lines.append(" | ".join(cells))
            lines.append("")
            continue
        if not isinstance(block, Paragraph):
            continue
        text = " ".join(block.text.split())
        if not text:
            continue
        style = block.style.name if block.style is not None else ""
        level = _HEADING_STYLE.match(style or "")
        if style == "Title" and title is None:
            title = text
        elif level:
            lines += ["", "#" * int(level.group(1)) + " " + text, ""]
        elif (style or "").startswith("List"):
            lines.append("- " + text)
        else:
            lines += [text, ""]
    return "\n".join(lines).strip(), title


def docx_document(data: bytes, source_id: str, url: str | None = None, path: str | None = None,
                  last_modified: str | None = None) -> Document:
    """Word (.docx): Heading 1..4 become the heading path, tables stay as one " | " row per line."""
    where = url or path or source_id
    _check_size(data, where)
    try:  # a damaged package raises zip, XML or key errors; all mean the same to us
        document = docx.Document(io.BytesIO(data))
        markdown, title_paragraph = _docx_markdown(document)
        props = document.core_properties
        meta_title, modified = _useful_title(props.title), props.modified
    except Exception as exc:
        raise LoadError(f"{where}: not a readable Word file ({type(exc).__name__}: {exc})") from exc
    if not markdown:
        raise LoadError(f"{where}: the Word file contains no text")
    title = meta_title or title_paragraph or _first_line(markdown, Path(path).stem if path else source_id)
    sections = markdown_sections(markdown, title)
    return Document(source_id, title, tuple(sections), url=url, path=path, doc_type="docx",
                    last_modified=last_modified or (modified.date().isoformat() if modified else None))


def load_pdf(path: Path, source_id: str) -> Document:
    return pdf_document(_read_bytes(path), source_id, path=str(path), last_modified=_mtime(path))


def load_docx(path: Path, source_id: str) -> Document:
    return docx_document(_read_bytes(path), source_id, path=str(path), last_modified=_mtime(path))


def load_file(source: SourceFile) -> Document:
    suffix = source.path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml", ".json"):
            return load_service_file(source.path, source.source_id)
        if suffix in (".md", ".markdown"):
            return load_markdown(source.path, source.source_id)
        if suffix in (".html", ".htm"):
            return load_html(source.path, source.source_id)
        if suffix == ".txt":
            return load_text(source.path, source.source_id)
        if suffix == ".pdf":
            return load_pdf(source.path, source.source_id)
        if suffix == ".docx":
            return load_docx(source.path, source.source_id)
    except (LoadError, ServiceFileError) as exc:
        raise LoadError(str(exc)) from exc  # these already name the file
    except (OSError, ValueError) as exc:
        raise LoadError(f"{source.path}: {exc}") from exc
    raise LoadError(f"{source.path}: unsupported file type {suffix!r}")
