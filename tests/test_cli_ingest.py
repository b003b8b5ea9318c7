"""`siwi ingest` as an operator runs it: from a sources file or from paths, in a subprocess, then the index
is inspected in-process."""

from __future__ import annotations

import shutil
import stat
import textwrap
from pathlib import Path

import pytest

from bot.services import build_index
from siwi.settings import Settings
from tests.conftest import FIXTURES
from tests.test_startup import one_line_error, siwi

SECRET = "INTERN-GEHEIM-7Q4X"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A sources file with a public folder and a folder declared internal."""
    root = tmp_path / "site"
    shutil.copytree(FIXTURES / "kb", root / "public")
    (root / "public" / "intern-dienstanweisung.md").unlink()
    (root / "staff").mkdir()
    (root / "staff" / "notfall.md").write_text(
        f"# Notfallplan Telefonanlage\n\nBei Ausfall der Telefonanlage gilt das Kennwort {SECRET}.\n",
        encoding="utf-8")
    (root / "sources.yaml").write_text(textwrap.dedent("""\
        sources:
          - name: buergerinfo
            type: files
            paths: [public]
          - name: intern
            type: files
            paths: [staff]
            visibility: internal
        """), encoding="utf-8")
    return root


def test_sources_file_is_ingested_source_by_source(site: Path, tmp_path: Path, embedder):
    data = tmp_path / "data"
    result = siwi(["ingest"], SIWI_DATA_DIR=str(data), SIWI_SOURCES_FILE=str(site / "sources.yaml"))
    assert result.returncode == 0, result.stderr
    assert "buergerinfo: 3 added" in result.stdout and "intern: 1 added" in result.stdout
    # Everything the CLI writes is readable by SiWi's user only (it may hold personal data; issue 16).
    written = [p for p in data.rglob("*")]
    assert written and all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in written), \
        [(str(p), oct(p.stat().st_mode)) for p in written if p.stat().st_mode & 0o077]

    settings = Settings(data_dir=data)
    retriever = build_index(settings, embedder).retriever(settings)
    question = "Kennwort bei Ausfall der Telefonanlage"
    # The staff file says nothing about visibility; its source makes it internal.
    assert all(SECRET not in p.text for p in retriever.retrieve(question, k=10))
    staff = retriever.retrieve(question, k=10, include_internal=True)
    assert staff[0].source == "intern" and SECRET in staff[0].text
    assert {p.source for p in retriever.retrieve("Hundesteuer", k=10)} == {"buergerinfo"}

    again = siwi(["ingest", "--source", "intern"], SIWI_DATA_DIR=str(data),
                 SIWI_SOURCES_FILE=str(site / "sources.yaml"))
    assert again.returncode == 0 and "intern: 0 added, 0 updated, 1 unchanged" in again.stdout
    assert "buergerinfo" not in again.stdout


def test_unknown_source_is_refused(site: Path, tmp_path: Path):
    one_line_error(siwi(["ingest", "--source", "webseite"], SIWI_DATA_DIR=str(tmp_path),
                        SIWI_SOURCES_FILE=str(site / "sources.yaml")), "webseite", "buergerinfo, intern")


def test_invalid_sources_file_is_refused(tmp_path: Path):
    bad = tmp_path / "sources.yaml"
    bad.write_text("sources:\n  - name: web\n    type: website\n    start_urls: [ftp://example.org]\n")
    one_line_error(siwi(["ingest"], SIWI_DATA_DIR=str(tmp_path), SIWI_SOURCES_FILE=str(bad)),
                   str(bad), "not a valid sources file")
    one_line_error(siwi(["ingest"], SIWI_DATA_DIR=str(tmp_path), SIWI_SOURCES_FILE=str(tmp_path / "none.yaml")),
                   "none.yaml")


def test_broken_file_is_reported_and_the_rest_indexed(tmp_path: Path, embedder):
    kb = tmp_path / "kb"
    shutil.copytree(FIXTURES / "kb", kb)
    data = tmp_path / "data"
    assert siwi(["ingest", str(kb)], SIWI_DATA_DIR=str(data)).returncode == 0
    shutil.copy(FIXTURES / "broken-service.yaml", kb / "broken-service.yaml")
    (kb / "hundesteuer.md").write_text("---\nvisibility: geheim\n---\n# Hundesteuer\n", encoding="utf-8")

    result = siwi(["ingest", str(kb)], SIWI_DATA_DIR=str(data))
    assert result.returncode == 0, result.stderr
    assert "2 failed" in result.stdout and "broken-service.yaml" in result.stderr
    assert "could not be read" in result.stderr
    # The earlier good version of the now broken page is still answerable.
    settings = Settings(data_dir=data)
    hits = build_index(settings, embedder).retriever(settings).retrieve("Hundesteuer zweiter Hund", k=3)
    assert any("144 Euro" in p.text for p in hits)


def test_internal_flag_marks_paths_staff_only(tmp_path: Path, embedder):
    data = tmp_path / "data"
    result = siwi(["ingest", "--internal", str(FIXTURES / "kb" / "hundesteuer.md")], SIWI_DATA_DIR=str(data))
    assert result.returncode == 0, result.stderr
    settings = Settings(data_dir=data)
    retriever = build_index(settings, embedder).retriever(settings)
    assert retriever.retrieve("Hundesteuer", k=5) == []
    hits = retriever.retrieve("Hundesteuer", k=5, include_internal=True)
    assert hits and all(p.visibility == "internal" and p.source_id.endswith("hundesteuer.md") for p in hits), hits


def test_service_schema_is_printed():
    result = siwi(["service-schema"])
    assert result.returncode == 0
    assert '"kosten"' in result.stdout and '"zustaendige_stelle"' in result.stdout
