"""Hybrid retrieval over a real Chroma store: BM25 with German tokens, vector search, fusion and filters."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.services import build_index
from embeddings.lexical import compound_parts, reciprocal_rank_fusion, tokenize
from embeddings.retrieval import Filters
from knowledge.sources import FileSource
from tests.conftest import FIXTURES

SECRET = "INTERN-GEHEIM-7Q4X"

ZULASSUNG = """---
title: Kfz-Zulassungsstelle Lindenau
url: https://www.kreis-lindenau.example/zulassung
---
# Kfz-Zulassungsstelle Lindenau

## Standort
Die Kfz-Zulassungsstelle befindet sich im Kreishaus, Gebäude B, Erdgeschoss.

## Wunschkennzeichen
Ein Wunschkennzeichen reservieren Sie online für 12,80 Euro; die Reservierung gilt 90 Tage.
"""


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(FIXTURES / "kb", target)
    (target / "zulassung.md").write_text(ZULASSUNG, encoding="utf-8")
    return target


@pytest.fixture
def index(settings, embedder, kb):
    index = build_index(settings, embedder)
    report = index.ingestor(settings).ingest([kb])
    assert not report.failed
    return index


def test_tokens_fold_umlauts_split_hyphens_and_compounds():
    assert tokenize("Führerschein") == tokenize("fuehrerschein".replace("ue", "ü"))
    assert {"kfz", "zulass", "stell"} <= set(tokenize("Kfz-Zulassungsstelle"))
    # A compound and its parts meet: the question's "Zulassung" finds the text's "Zulassungsstelle".
    assert set(tokenize("Zulassung")) & set(tokenize("Zulassungsstelle"))
    assert set(tokenize("Gebühren")) & set(tokenize("Abfallgebührensatzung"))
    assert tokenize("der die das und oder") == []
    assert "3" in tokenize("§ 3 Abs. 2")
    # Not every long word is a compound: low-confidence splits are refused.
    assert compound_parts("satzung") == ()


def test_rrf_rewards_agreement():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]])
    assert [item for item, _ in fused][:2] == ["a", "c"]
    assert {item for item, _ in fused} == {"a", "b", "c", "d"}


def test_bm25_finds_the_exact_term(index, settings):
    hits = index.retriever(settings).retrieve("Zulassungsstelle Gebäude", k=3, mode="bm25")
    assert hits and hits[0].title == "Kfz-Zulassungsstelle Lindenau" and "Gebäude B" in hits[0].text
    # Similarity is the real cosine to the question, also for passages only BM25 found.
    assert 0.5 < hits[0].similarity <= 1.0


@pytest.mark.parametrize("mode", ["hybrid", "vector", "bm25"])
def test_every_mode_ranks_the_right_service_first(index, settings, mode):
    retriever = index.retriever(settings)
    assert retriever.retrieve("Was kostet ein Wunschkennzeichen?", k=3, mode=mode)[0].title == \
        "Kfz-Zulassungsstelle Lindenau"
    assert retriever.retrieve("Hundesteuer für den zweiten Hund", k=3, mode=mode)[0].title == \
        "Hundesteuer in Lindenau"


def test_hybrid_is_the_default_and_fuses_both_rankings(index, settings):
    retriever = index.retriever(settings)
    assert retriever.mode == "hybrid"
    question = "Wie viel kostet der Personalausweis?"
    hybrid = retriever.retrieve(question, k=5)
    vector = retriever.retrieve(question, k=5, mode="vector")
    bm25 = retriever.retrieve(question, k=5, mode="bm25")
    ids = {p.chunk_id for p in hybrid}
    assert vector[0].chunk_id in ids and bm25[0].chunk_id in ids
    assert all(p.score > 0 for p in hybrid)
    assert [p.score for p in hybrid] == sorted((p.score for p in hybrid), reverse=True)


@pytest.mark.parametrize("mode", ["hybrid", "vector", "bm25"])
def test_internal_documents_never_reach_citizens(index, settings, mode):
    retriever = index.retriever(settings)
    question = f"Dienstanweisung Chat-Übergabe internes Kennwort {SECRET}"
    citizen = retriever.retrieve(question, k=20, mode=mode)
    assert all(p.visibility == "public" and SECRET not in p.text for p in citizen)
    staff = retriever.retrieve(question, k=20, include_internal=True, mode=mode)
    assert any(SECRET in p.text for p in staff)


def test_source_and_type_filters(settings, embedder, kb, tmp_path):
    index = build_index(settings, embedder)
    ingestor = index.ingestor(settings)
    ingestor.ingest_source(FileSource([kb / "hundesteuer.md", kb / "zulassung.md"], name="seiten"))
    ingestor.ingest_source(FileSource([kb / "personalausweis.yaml"], name="leistungen"))
    retriever = index.retriever(settings)
    for mode in ("hybrid", "vector", "bm25"):
        only_services = retriever.retrieve("Wie viel Euro kostet das?", k=10, mode=mode,
                                           filters=Filters(sources=["leistungen"]))
        assert only_services and {p.source for p in only_services} == {"leistungen"}, mode
        pages = retriever.retrieve("Wie viel Euro kostet das?", k=10, mode=mode, filters=Filters(doc_types=["page"]))
        assert pages and {p.doc_type for p in pages} == {"page"}, mode


def test_lexical_index_follows_changes_to_the_store(index, settings, kb):
    retriever = index.retriever(settings)
    assert retriever.retrieve("Wunschkennzeichen", k=3, mode="bm25")
    page = kb / "zulassung.md"
    page.write_text(ZULASSUNG.replace("Wunschkennzeichen", "Saisonkennzeichen"), encoding="utf-8")
    index.ingestor(settings).ingest([kb])
    hits = retriever.retrieve("Saisonkennzeichen", k=3, mode="bm25")
    assert hits and "Saisonkennzeichen" in hits[0].text
    assert all("Wunschkennzeichen" not in p.text for p in retriever.retrieve("Wunschkennzeichen", k=10, mode="bm25"))
    page.unlink()
    index.ingestor(settings).ingest([kb], prune=True)
    assert retriever.retrieve("Saisonkennzeichen", k=3, mode="bm25") == []


def test_empty_index_and_unknown_words_give_no_hits(settings, embedder):
    retriever = build_index(settings, embedder).retriever(settings)
    assert retriever.retrieve("Was kostet ein Wunschkennzeichen?") == []
    assert retriever.retrieve("Wunschkennzeichen", mode="bm25") == []
