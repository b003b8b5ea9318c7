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


class Interrupted(Exception):
    pass


class InterruptingEmbedder:
    """The real embedder, with the process 'killed' (an exception) before the n-th batch: how a crash,
    Ctrl-C or a full disk in the middle of an ingest looks to the Ingestor."""

    def __init__(self, embedder, batches_before_interrupt: int):
        self._embedder = embedder
        self._left = batches_before_interrupt
        self.name = embedder.name

    def embed_queries(self, texts):
        return self._embedder.embed_queries(texts)

    def embed_passages(self, texts):
        if self._left == 0:
            raise Interrupted
        self._left -= 1
        return self._embedder.embed_passages(texts)


def long_page(version: str) -> str:
    paragraphs = [f"## Abschnitt {n}\nRegel {n} in Fassung {version}: Anträge werden binnen {n} Wochen "
                  f"bearbeitet, die Gebühr beträgt {n * 5} Euro je Vorgang." for n in range(1, 41)]
    return "---\ntitle: Gebührenordnung\n---\n# Gebührenordnung\n\n" + "\n\n".join(paragraphs)


@pytest.mark.parametrize("first_time", [True, False])
def test_an_interrupted_ingest_is_consistent_and_resumes(settings, embedder, tmp_path, first_time):
    from bot.services import Index

    folder = tmp_path / "kb"
    folder.mkdir()
    page = folder / "gebuehren.md"
    index = build_index(settings, embedder)
    if not first_time:
        page.write_text(long_page("alt"), encoding="utf-8")
        index.ingestor(settings).ingest([folder])
    page.write_text(long_page("neu"), encoding="utf-8")
    complete = build_index(settings.model_copy(update={"data_dir": tmp_path / "reference"}), embedder)
    expected = complete.ingestor(settings).ingest([folder]).chunks_written
    assert expected > 2 * 16  # more than two embedding batches, so the interruption falls in the middle

    broken = Index(InterruptingEmbedder(embedder, batches_before_interrupt=1), index.store)
    with pytest.raises(Interrupted):
        broken.ingestor(settings).ingest([folder])
    # Mid-way the index is consistent: the old version complete (if there was one), the new one not counted
    # as current.
    hashes = index.store.source_hashes()[page.resolve().as_posix()]
    assert any(h.startswith("partial:") for h in hashes)
    if not first_time:
        texts = " ".join(p.text for p in index.retriever(settings).retrieve("Regel 40 Fassung", k=10))
        assert "Fassung alt" in texts

    resumed = index.ingestor(settings).ingest([folder])
    assert resumed.chunks_written == expected
    assert (resumed.updated if not first_time else resumed.updated + resumed.added) == [page.resolve().as_posix()]
    assert index.store.count() == expected
    assert len(index.store.source_hashes()[page.resolve().as_posix()]) == 1
    assert index.ingestor(settings).ingest([folder]).chunks_written == 0
