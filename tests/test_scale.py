"""Ingest and hybrid retrieval on a store of 100 k chunks (issue 15: "works at any size").

Chroma's embedded store answers `get` through SQLite, which refuses more than 32,766 bound variables: before
the store read in pages, ingest (`source_hashes`) and BM25 (`all_chunks`) failed above that size. The store
here is built through SiWi's own store class from real sentences of the sample knowledge base with perturbed
real vectors (embedding 100 k chunks would take hours on two cores); a tenth of its chunks are internal.
SIWI_SCALE_CHUNKS sets another size (anything above 32,766 shows the old failure)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from bot.services import Index
from embeddings.store import COUNT_TTL_S, ChromaStore, open_store
from knowledge.sources import FileSource
from siwi.settings import Settings

SAMPLE = Path(__file__).resolve().parent.parent / "knowledge" / "sample"
CHUNKS = int(os.environ.get("SIWI_SCALE_CHUNKS", "100000"))
CHUNKS_PER_DOCUMENT = 10
BATCH = 5000

NEW_PAGE = """---
title: Fundbüro Lindenau
url: https://www.kreis-lindenau.example/fundbuero
---
# Fundbüro Lindenau

Fundsachen geben Sie im Bürgerbüro ab; nach sechs Monaten Aufbewahrung darf der Finder sie behalten.
Verlorene Fahrräder bewahrt das Fundbüro im Fahrradkeller Quittenweg auf.
"""


def real_sentences() -> list[str]:
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(SAMPLE.rglob("*.md")))
    text = re.sub(r"^---.*?---", " ", text, flags=re.S)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if 40 <= len(s.strip()) <= 300]
    return list(dict.fromkeys(s for s in sentences if not s.startswith(("#", "|", "title:", "url:"))))


def build_store(store: ChromaStore, embedder, n: int) -> None:
    """n chunks of three real sentences each, the first one's vector plus noise, in documents of ten."""
    sentences = real_sentences()
    vectors = embedder.embed_passages(sentences)
    rng = np.random.default_rng(15)
    for start in range(0, n, BATCH):
        size = min(BATCH, n - start)
        picks = rng.integers(0, len(sentences), size=(size, 3))
        texts = [" ".join(sentences[j] for j in row) + f" (Vorgang {start + i})" for i, row in enumerate(picks)]
        # The first sentence's vector, clearly perturbed (cosine ≈ 0.7 to it): with a few hundred real sentences
        # behind 100 k chunks, slightly perturbed copies would fill every vector ranking with near-duplicates,
        # which a real store does not have.
        noisy = vectors[picks[:, 0]] + rng.normal(scale=0.05, size=(size, vectors.shape[1]))
        noisy = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
        metadatas = []
        for i in range(size):
            number = start + i
            document = number // CHUNKS_PER_DOCUMENT
            metadatas.append({"source_id": f"synthetic/{document}", "doc_hash": "synthetic",
                              "doc_chunks": CHUNKS_PER_DOCUMENT, "title": f"Vorgang {document}",
                              "visibility": "internal" if document % 10 == 0 else "public",
                              "source": "synthetic", "doc_type": "page",
                              "position": number % CHUNKS_PER_DOCUMENT})
        store.upsert([f"synthetic-{start + i}" for i in range(size)], noisy, texts, metadatas)


@pytest.fixture(scope="module")
def big_index(tmp_path_factory: pytest.TempPathFactory, embedder) -> tuple[Index, Settings]:
    data = tmp_path_factory.mktemp("scale")
    settings = Settings(data_dir=data)
    store = open_store(settings, embedder.name)
    build_store(store, embedder, CHUNKS)
    return Index(embedder, store), settings


@pytest.mark.slow
def test_ingest_and_hybrid_retrieval_work_on_a_big_store(big_index, tmp_path: Path) -> None:
    index, settings = big_index
    assert index.store.count() == CHUNKS
    kb = tmp_path / "kb"
    kb.mkdir()
    page = kb / "fundbuero.md"
    page.write_text(NEW_PAGE, encoding="utf-8")
    ingestor = index.ingestor(settings)
    retriever = index.retriever(settings)

    report = ingestor.ingest([kb])
    assert (len(report.added), report.failed) == (1, [])
    assert index.store.count() == CHUNKS + report.chunks_written

    question = "Wie lange wird eine Fundsache aufbewahrt, bis der Finder sie behalten darf?"
    # Among 100 k chunks of the same real sentences some synthetic ones score close to any question: the
    # new document must be found, not necessarily first.
    passages = retriever.retrieve(question, 5)
    found = [p for p in passages if p.title == "Fundbüro Lindenau"]
    assert found and "sechs Monaten" in found[0].text, [p.title for p in passages]
    # Citizens never see the internal tenth of the store, whichever search found a passage.
    wide = retriever.retrieve("Vorgang Antrag Gebühr Ausweis", 60)
    assert len(wide) == 60 and all(p.visibility == "public" for p in wide)
    staff = retriever.retrieve("Vorgang Antrag Gebühr Ausweis", 60, include_internal=True)
    assert any(p.visibility == "internal" for p in staff)
    for mode in ("vector", "bm25"):
        only = retriever.retrieve(question, 60, mode=mode)
        assert "Fundbüro Lindenau" in [p.title for p in only[:5]], mode
        assert all(p.visibility == "public" for p in only), mode
    assert retriever.retrieve("Fahrradkeller Quittenweg", 1, mode="bm25")[0].title == "Fundbüro Lindenau"

    # An unchanged source costs no embedding; a changed one is replaced, and BM25 follows the write.
    again = ingestor.ingest([kb])
    assert (len(again.unchanged), again.chunks_written) == (1, 0)
    page.write_text(NEW_PAGE.replace("Fahrradkeller Quittenweg", "Lagerhalle Mispelstraße"), encoding="utf-8")
    report = ingestor.ingest([kb])
    assert len(report.updated) == 1
    assert retriever.retrieve("Lagerhalle Mispelstraße", 1, mode="bm25")[0].title == "Fundbüro Lindenau"
    assert all("Quittenweg" not in p.text for p in retriever.retrieve("Fahrradkeller Quittenweg", 60, mode="bm25"))

    # A source that is gone is pruned from both searches.
    shutil.rmtree(kb)
    kb.mkdir()
    report = index.ingestor(settings).ingest_source(FileSource([kb]), prune=True)
    assert len(report.removed) == 1
    assert index.store.count() == CHUNKS
    assert all(p.title != "Fundbüro Lindenau" for p in retriever.retrieve(question, 60))
    assert all(p.title != "Fundbüro Lindenau" for p in retriever.retrieve(question, 60, mode="bm25"))


@pytest.mark.slow
def test_another_process_writing_is_noticed(big_index, tmp_path: Path) -> None:
    """A second store object stands for another process (the CLI ingesting while the server runs): its
    writes reach this index through the store's size, not through this process's write listener."""
    index, settings = big_index
    retriever = index.retriever(settings)
    page = NEW_PAGE.replace("Fundbüro Lindenau", "Fundbüro Birkenfeld").replace("Quittenweg", "Holunderweg")
    assert all("Holunderweg" not in p.text for p in retriever.retrieve("Fahrradkeller Holunderweg", 5, mode="bm25"))
    other = Index(index.embedder, open_store(settings, index.embedder.name))
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "fundbuero-birkenfeld.md").write_text(page, encoding="utf-8")
    assert len(other.ingestor(settings).ingest([kb]).added) == 1
    time.sleep(COUNT_TTL_S + 0.5)  # how long the store's size is trusted before it is read again
    assert retriever.retrieve("Fahrradkeller Holunderweg", 1, mode="bm25")[0].title == "Fundbüro Birkenfeld"
