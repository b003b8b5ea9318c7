"""Documents → chunks that follow headings and sentences, each carrying its heading path."""

from __future__ import annotations

from langchain_text_splitters import RecursiveCharacterTextSplitter

from knowledge.documents import Chunk, Document, content_hash

# Split at paragraphs, then list items and lines, then sentence ends. A sentence end needs two lower-case
# letters before the stop, so "z. B.", "Nr. 5" and "17. März" are never cut apart.
SEPARATORS = [r"\n\n", r"\n(?=[-*] |\d+\. )", r"\n", r"(?<=[a-zäöüß]{2}[.!?])\s+(?=[A-ZÄÖÜ])", r"; ", r" "]


# Bump when the splitting changes, so that existing indexes are re-chunked on the next ingest.
CHUNKER_VERSION = 2


class Chunker:
    def __init__(self, chunk_size: int, chunk_overlap: int):
        overlap = min(chunk_overlap, chunk_size // 2)
        # keep_separator must not be False with regex separators: langchain would then join merged pieces
        # with the separator *pattern* as literal text.
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_size, chunk_overlap=overlap,
            separators=SEPARATORS, is_separator_regex=True, keep_separator="end", strip_whitespace=True,
        )
        self.signature = f"v{CHUNKER_VERSION}:{chunk_size}:{overlap}"

    def index_hash(self, document: Document) -> str:
        """What the index stores per document: content and chunking settings, so a change of either
        re-indexes it."""
        return content_hash(f"{document.hash}|{self.signature}")

    def split(self, document: Document) -> list[Chunk]:
        # Ids carry source and content, so a changed document's new chunks never overwrite the old ones
        # before they are complete (see ingest.py).
        doc_hash = self.index_hash(document)
        prefix = f"{content_hash(document.source_id)[:12]}:{doc_hash[:12]}"
        pieces: list[tuple[tuple[str, ...], str]] = []
        for section in document.sections:
            heading = " > ".join(section.headings)
            for piece in self._splitter.split_text(section.text):
                pieces.append((section.headings, f"{heading}\n{piece}" if heading else piece))
        return [Chunk(f"{prefix}:{n}", document, text, headings, n, len(pieces), doc_hash)
                for n, (headings, text) in enumerate(pieces)]
