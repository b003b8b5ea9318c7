"""The language model behind one small interface, two implementations: llama-cpp-python in-process
(default) or any OpenAI-compatible server (llama.cpp server, vLLM, Ollama) by URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol, TypedDict

import httpx

from bot.model_files import ModelFileError, check_gguf, resolve_model_path
from siwi.settings import Settings


class Message(TypedDict):
    role: str
    content: str


class ModelError(RuntimeError):
    pass


class ChatModel(Protocol):
    name: str

    def stream(self, messages: list[Message], max_tokens: int, stop: list[str] | None = None,
               cancel: threading.Event | None = None, grammar: str | None = None) -> Iterator[str]:
        """Yield text pieces as the model writes them; stop early when `cancel` is set. `grammar` (GBNF)
        constrains what the model can write, where the backend supports it."""
        ...


def complete(model: ChatModel, messages: list[Message], max_tokens: int, stop: list[str] | None = None,
             grammar: str | None = None) -> str:
    return "".join(model.stream(messages, max_tokens, stop, grammar=grammar))


class LlamaCppChatModel:
    """A GGUF model in this process; the chat template is the one stored in the GGUF file."""

    def __init__(self, model_path: str, n_ctx: int, threads: int | None, temperature: float, seed: int):
        from llama_cpp import Llama

        try:
            self._llm = Llama(model_path=model_path, n_ctx=n_ctx, n_threads=threads, seed=seed, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"Cannot load the model {model_path} (SIWI_LLM_MODEL): {exc}") from exc
        self.name = model_path.rsplit("/", 1)[-1]
        self._temperature = temperature
        self._seed = seed

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False))

    def stream(self, messages: list[Message], max_tokens: int, stop: list[str] | None = None,
               cancel: threading.Event | None = None, grammar: str | None = None) -> Iterator[str]:
        constraint = None
        if grammar is not None:
            from llama_cpp import LlamaGrammar

            constraint = LlamaGrammar.from_string(grammar, verbose=False)
        chunks = self._llm.create_chat_completion(
            messages=list(messages), max_tokens=max_tokens, temperature=self._temperature, seed=self._seed,
            stop=stop, stream=True, grammar=constraint)
        try:
            for chunk in chunks:
                if cancel is not None and cancel.is_set():
                    return
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()


class OpenAIChatModel:
    """Any server that speaks the OpenAI chat-completions API."""

    def __init__(self, base_url: str, model: str, api_key: str, temperature: float, seed: int, timeout: float):
        import openai

        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=2)
        self._openai = openai
        self.name = model
        self._temperature = temperature
        self._seed = seed

    def stream(self, messages: list[Message], max_tokens: int, stop: list[str] | None = None,
               cancel: threading.Event | None = None, grammar: str | None = None) -> Iterator[str]:
        # llama.cpp's server takes a GBNF `grammar` beside the OpenAI fields; servers without it ignore the
        # field, and the caller's parser still accepts only well-formed output.
        extra = {"grammar": grammar} if grammar is not None else None
        try:
            response = self._client.chat.completions.create(
                model=self.name, messages=list(messages), max_tokens=max_tokens,  # type: ignore[arg-type]
                temperature=self._temperature, seed=self._seed, stop=stop, stream=True, extra_body=extra)
        except self._openai.OpenAIError as exc:
            raise ModelError(f"The LLM server at SIWI_LLM_URL failed: {exc}") from exc
        # A server that dies mid-answer fails inside the iteration, not in create(): same error for callers.
        try:
            with response:
                for event in response:
                    if cancel is not None and cancel.is_set():
                        return
                    if event.choices and event.choices[0].delta.content:
                        yield event.choices[0].delta.content
        except (self._openai.OpenAIError, httpx.HTTPError) as exc:
            raise ModelError(f"The LLM server at SIWI_LLM_URL broke off the answer: {exc}") from exc


def make_chat_model(settings: Settings) -> ChatModel:
    if settings.llm_backend == "openai":
        if not settings.llm_url:
            raise ModelError("SIWI_LLM_URL must be set for SIWI_LLM_BACKEND=openai")
        return OpenAIChatModel(settings.llm_url, settings.llm_model, settings.llm_api_key,
                               settings.llm_temperature, settings.llm_seed, settings.llm_timeout)
    try:
        path = resolve_model_path(settings.llm_model, settings.resolved_models_dir)
        check_gguf(path)
    except (ModelFileError, OSError) as exc:
        raise ModelError(str(exc)) from exc
    return LlamaCppChatModel(str(path), settings.llm_context, settings.llm_threads, settings.llm_temperature,
                             settings.llm_seed)
