"""Ingestion into a real Chroma store on disk with the real embedding model."""

import shutil
from pathlib import Path

import pytest

from bot.services import build_index
from embeddings.store import StoreError
from tests.conftest import FIXTURES

KB = FIXTURES / "kb"


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(KB, target)
    return target


def test_ingest_is_incremental(settings, embedder, kb):
    index = build_index(settings, embedder)
    ingestor = index.ingestor(settings)

    first = ingestor.ingest([kb])
    assert len(first.added) == 4 and first.chunks_written > 0 and not first.failed
    total = index.store.count()

    again = ingestor.ingest([kb])
    assert again.chunks_written == 0 and len(again.unchanged) == 4
    assert index.store.count() == total

    page = kb / "hundesteuer.md"
    page.write_text(page.read_text().replace("144 Euro", "150 Euro"))
    changed = ingestor.ingest([kb])
    assert changed.updated == [page.resolve().as_posix()] and len(changed.unchanged) == 3
    hits = index.retriever(settings).retrieve("Hundesteuer für den zweiten Hund", k=10)
    texts = " ".join(h.text for h in hits)
    assert "150 Euro" in texts and "144 Euro" not in texts
    assert index.store.count() == total


def test_prune_removes_documents_gone_from_the_source(settings, embedder, kb):
    index = build_index(settings, embedder)
    ingestor = index.ingestor(settings)
    ingestor.ingest([kb])
    (kb / "oeffnungszeiten.html").unlink()

    kept = ingestor.ingest([kb])
    assert kept.removed == []
    pruned = ingestor.ingest([kb], prune=True)
    assert pruned.removed == [(kb / "oeffnungszeiten.html").resolve().as_posix()]
    hits = index.retriever(settings).retrieve("Öffnungszeiten Kreishaus Donnerstag", k=10)
    assert all("Öffnungszeiten" not in h.title for h in hits)


def test_index_survives_a_restart(settings, embedder, kb):
    build_index(settings, embedder).ingestor(settings).ingest([kb])
    reopened = build_index(settings, embedder)
    assert reopened.store.count() > 0
    assert reopened.retriever(settings).retrieve("Was kostet der Personalausweis?")[0].title == \
        "Personalausweis beantragen"


def test_a_broken_file_is_reported_and_the_rest_indexed(settings, embedder, kb):
    shutil.copy(FIXTURES / "broken-service.yaml", kb)
    report = build_index(settings, embedder).ingestor(settings).ingest([kb])
    assert len(report.added) == 4
    assert [source for source, _ in report.failed] == [(kb / "broken-service.yaml").resolve().as_posix()]


def test_internal_documents_never_reach_the_citizen_retriever(settings, embedder, kb):
    index = build_index(settings, embedder)
    index.ingestor(settings).ingest([kb])
    retriever = index.retriever(settings)
    question = "Wie lautet das interne Kennwort der Dienstanweisung Chat-Übergabe?"
    citizen = retriever.retrieve(question, k=20)
    assert citizen and all("INTERN-GEHEIM-7Q4X" not in p.text for p in citizen)
    assert all(p.visibility == "public" for p in citizen)
    staff = retriever.retrieve(question, k=20, include_internal=True)
    assert any("INTERN-GEHEIM-7Q4X" in p.text for p in staff)


def test_changing_the_embedding_model_is_refused(settings, embedder, kb):
    from embeddings.store import open_store

    build_index(settings, embedder).ingestor(settings).ingest([kb])
    with pytest.raises(StoreError, match="Re-index"):
        open_store(settings, "some-other-model")
