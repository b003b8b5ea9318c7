"""Where documents come from. A source yields Documents (or says a document is unchanged, or failed); the
Ingestor does the rest the same way for every kind. `knowledge/sources.yaml` lists an installation's sources
declaratively: local folders, websites to crawl, service catalogues to import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from knowledge.documents import Document, Visibility
from knowledge.loaders import LoadError, SourceFile, discover, load_file
from siwi.validation import describe


@dataclass(frozen=True)
class Unchanged:
    """The source knows without loading that the indexed version is current (e.g. HTTP 304)."""

    source_id: str


@dataclass(frozen=True)
class Failed:
    """Could not be read this time; whatever is indexed for it stays."""

    source_id: str
    reason: str


Item = Document | Unchanged | Failed


class Source(Protocol):
    name: str

    def items(self, indexed: Mapping[str, set[str]]) -> Iterator[Item]:
        """Yield every document of the source. `indexed` maps source ids already in the index to their
        document hashes, so that a source can skip work (conditional requests) for what is current."""
        ...

    def gone(self, indexed: Mapping[str, set[str]], seen: set[str]) -> list[str]:
        """Indexed source ids that this source owns and that no longer exist (called after `items`)."""
        ...

    def estimate(self) -> int | None:
        """How many items to expect, for the progress bar; None when unknown (a crawl)."""
        ...


def restrict(document: Document, visibility: Visibility | None) -> Document:
    """A source declared internal makes all of its documents internal; the stricter setting always wins."""
    if visibility == "internal" and document.visibility != "internal":
        return dataclasses.replace(document, visibility="internal")
    return document


class FileSource:
    """Files and folders on disk (HTML, Markdown, text, PDF, DOCX, service YAML)."""

    def __init__(self, paths: list[Path], name: str = "files", visibility: Visibility | None = None):
        self.name = name
        self._paths = [p.expanduser() for p in paths]
        self._visibility = visibility
        self._files: list[SourceFile] | None = None

    def files(self) -> list[SourceFile]:
        if self._files is None:
            self._files = list(discover(self._paths))
        return self._files

    def estimate(self) -> int | None:
        return len(self.files())

    def items(self, indexed: Mapping[str, set[str]]) -> Iterator[Item]:
        for source in self.files():
            try:
                yield restrict(load_file(source), self._visibility)
            except LoadError as exc:
                yield Failed(source.source_id, str(exc))

    def gone(self, indexed: Mapping[str, set[str]], seen: set[str]) -> list[str]:
        roots = [p.resolve().as_posix().rstrip("/") for p in self._paths]
        return [source_id for source_id in indexed if source_id not in seen
                and any(source_id == r or source_id.startswith(r + "/") for r in roots)]


# --- declarative configuration (knowledge/sources.yaml) ---------------------------------------------------


class _SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Short id, used by `siwi ingest --source`.")
    visibility: Visibility | None = Field(
        None, description="`internal` makes every document of the source staff-only, whatever it says itself.")


class FilesConfig(_SourceConfig):
    type: Literal["files"]
    paths: list[Path] = Field(min_length=1, description="Files or folders, relative to the sources file.")


class WebsiteConfig(_SourceConfig):
    type: Literal["website"]
    start_urls: list[str] = Field(default_factory=list, description="Pages to start the crawl from.")
    sitemaps: list[str] = Field(default_factory=list, description="sitemap.xml URLs (index files allowed).")
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Hosts the crawler may fetch; default: the hosts of the start URLs.")
    path_prefixes: list[str] = Field(default_factory=lambda: ["/"], description="Only URLs below these paths.")
    max_pages: int = Field(500, ge=1, description="Page budget per crawl.")
    delay_seconds: float = Field(1.0, ge=0, description="Pause between two requests to the same host.")
    timeout_seconds: float = Field(20.0, gt=0)
    max_bytes: int = Field(10_000_000, gt=0, description="Larger responses are skipped and reported.")
    user_agent: str = "SiWi-Crawler/1.0 (+https://github.com/siwi)"

    @field_validator("start_urls", "sitemaps")
    @classmethod
    def _http_only(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return urls


class MunichConfig(_SourceConfig):
    type: Literal["munich"]
    services: Path = Field(description="services_de.json of the Munich appointment-system export.")
    locations: Path | None = Field(None, description="locations_de.json (offices with address, phone, e-mail).")


SourceConfig = Annotated[FilesConfig | WebsiteConfig | MunichConfig, Field(discriminator="type")]


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sources: list[SourceConfig]


class SourcesError(ValueError):
    pass


def load_sources(path: Path) -> list[SourceConfig]:
    """Read and validate a sources file; relative paths in it are relative to the file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = SourcesFile.model_validate(raw)
    except OSError as exc:
        raise SourcesError(f"{path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SourcesError(f"{path}: not a valid sources file: {' '.join(str(exc).split())}") from exc
    except ValidationError as exc:
        raise SourcesError(f"{path}: not a valid sources file: {describe(exc)}") from exc
    names = [s.name for s in parsed.sources]
    if len(names) != len(set(names)):
        raise SourcesError(f"{path}: source names must be unique, got {names}")
    base = path.parent
    for config in parsed.sources:
        if isinstance(config, FilesConfig):
            config.paths = [p if p.is_absolute() else base / p for p in config.paths]
        elif isinstance(config, MunichConfig):
            config.services = config.services if config.services.is_absolute() else base / config.services
            if config.locations and not config.locations.is_absolute():
                config.locations = base / config.locations
    return parsed.sources


def missing_paths(configs: list[SourceConfig]) -> list[Path]:
    """Local files or folders the sources name that do not exist (a website is never "missing")."""
    paths: list[Path] = []
    for config in configs:
        if isinstance(config, FilesConfig):
            paths += config.paths
        elif isinstance(config, MunichConfig):
            paths += [config.services] + ([config.locations] if config.locations else [])
    return [p for p in paths if not p.exists()]


def build_source(config: SourceConfig, state_dir: Path) -> Source:
    """`state_dir` holds what a source remembers between runs (a crawler's ETags)."""
    if isinstance(config, FilesConfig):
        return FileSource(config.paths, config.name, config.visibility)
    if isinstance(config, WebsiteConfig):
        from knowledge.crawler import WebsiteSource

        return WebsiteSource(config, state_dir / f"crawl-{config.name}.sqlite3")
    from knowledge.munich import MunichSource

    return MunichSource(config)
