"""Documents → chunks that follow headings and sentences, each carrying its heading path."""

from __future__ import annotations

from langchain_text_splitters import RecursiveCharacterTextSplitter

from knowledge.documents import Chunk, Document, content_hash

# Split at paragraphs, then list items and lines, then sentence ends. A sentence end needs two lower-case
# letters before the stop, so "z. B.", "Nr. 5" and "17. März" are never cut apart.
SEPARATORS = [r"\n\n", r"\n(?=[-*] |\d+\. )", r"\n", r"(?<=[a-zäöüß]{2}[.!?])\s+(?=[A-ZÄÖÜ])", r"; ", r" "]


class Chunker:
    def __init__(self, chunk_size: int, chunk_overlap: int):
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_size, chunk_overlap=min(chunk_overlap, chunk_size // 2),
            separators=SEPARATORS, is_separator_regex=True, keep_separator=False, strip_whitespace=True,
        )

    def split(self, document: Document) -> list[Chunk]:
        # Ids carry source and content, so a changed document's new chunks never overwrite the old ones
        # before they are complete (see ingest.py).
        prefix = f"{content_hash(document.source_id)[:12]}:{document.hash[:12]}"
        pieces: list[tuple[tuple[str, ...], str]] = []
        for section in document.sections:
            heading = " > ".join(section.headings)
            for piece in self._splitter.split_text(section.text):
                pieces.append((section.headings, f"{heading}\n{piece}" if heading else piece))
        return [Chunk(f"{prefix}:{n}", document, text, headings, n, len(pieces))
                for n, (headings, text) in enumerate(pieces)]
