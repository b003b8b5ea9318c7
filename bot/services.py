"""Wiring: settings → the components of one SiWi process. The app factory and the CLI use these builders;
tests pass their own settings (and may share heavy parts such as the loaded model)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bot.citations import CitationChecker
from bot.language import LanguageDetector
from bot.llm import ChatModel, make_chat_model
from bot.pipeline import AnswerPipeline, PipelineOptions
from bot.ranking import SentenceRanker
from bot.selection import SelectionOptions
from embeddings.encoders import Embedder, make_embedder
from embeddings.lexical import LexicalIndex
from embeddings.retrieval import Retriever
from embeddings.store import ChromaStore, open_store
from knowledge.chunking import Chunker
from knowledge.ingest import Ingestor
from siwi.settings import Settings


class StartupError(RuntimeError):
    """Why the service cannot start, in one line that names the setting to fix."""


def check_data_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"SIWI_DATA_DIR={path} cannot be created: {exc.strerror}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise StartupError(f"SIWI_DATA_DIR={path} is not writable")


@dataclass
class Index:
    """Embedder, store and the BM25 index derived from it: enough to ingest and retrieve."""

    embedder: Embedder
    store: ChromaStore
    lexical: LexicalIndex = field(init=False)

    def __post_init__(self) -> None:
        self.lexical = LexicalIndex(self.store.all_chunks, self.store.recent_count)
        self.store.subscribe(self.lexical)

    def ingestor(self, settings: Settings) -> Ingestor:
        return Ingestor(Chunker(settings.chunk_size, settings.chunk_overlap), self.embedder, self.store)

    def retriever(self, settings: Settings) -> Retriever:
        return Retriever(self.embedder, self.store, settings.top_k, self.lexical, settings.retrieval_mode,
                         settings.retrieval_candidates, settings.retrieval_lexical_weight)


def build_index(settings: Settings, embedder: Embedder | None = None) -> Index:
    if settings.store_backend == "embedded":
        check_data_dir(settings.data_dir)
    embedder = embedder or make_embedder(settings)
    return Index(embedder, open_store(settings, embedder.name))


def contact_line(settings: Settings) -> str:
    return f"Telefon: {settings.contact_phone} ({settings.contact_hours}), E-Mail: {settings.contact_email}"


def build_pipeline(settings: Settings, index: Index, model: ChatModel | None = None) -> AnswerPipeline:
    options = PipelineOptions(top_k=settings.top_k, min_relevance=settings.min_relevance,
                              min_relevance_other_language=settings.min_relevance_other_language,
                              max_tokens=settings.llm_max_tokens, max_history_turns=settings.max_history_turns,
                              contact=contact_line(settings), answer_mode=settings.answer_mode,
                              select_top_k=settings.select_top_k, prompt_lines=settings.prompt_lines,
                              select_fallback=settings.select_fallback)
    checker = CitationChecker(settings.check_min_overlap, settings.check_min_similarity,
                              settings.check_min_quote_overlap, similarity=embedding_similarity(index.embedder))
    selection = SelectionOptions(min_score=settings.select_min_score, min_terms=settings.select_min_terms,
                                 keep_ratio=settings.select_keep_ratio, max_lines=settings.select_max_lines)
    return AnswerPipeline(index.retriever(settings), model or make_chat_model(settings), checker,
                          LanguageDetector(), options, SentenceRanker(question_similarity(index.embedder)), selection)


def question_similarity(embedder: Embedder):
    """Cosine similarity of a question to source lines (query and passage embeddings, as in retrieval)."""

    def similarity(question: str, lines: list[str]) -> list[float]:
        if not lines:
            return []
        query = embedder.embed_queries([question])[0]
        return [float(v) for v in embedder.embed_passages(list(lines)) @ query]

    return similarity


def embedding_similarity(embedder: Embedder):
    """Cosine similarity of a sentence to candidate source sentences, with the index's own embedder."""

    def similarity(sentence: str, candidates: list[str]) -> list[float]:
        vectors = embedder.embed_passages([sentence, *candidates])
        return [float(v) for v in vectors[1:] @ vectors[0]]

    return similarity
