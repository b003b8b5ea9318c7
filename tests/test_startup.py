"""The service refuses to start on a broken set-up, with one line that names the setting to fix.
Runs the real `siwi` command in a subprocess, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, MODELS_DIR, SMALL_MODEL, model_file

SIWI = [sys.executable, "-m", "siwi.cli"]


def siwi(args: list[str], timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SIWI_")}
    environment.update({"SIWI_MODELS_DIR": str(MODELS_DIR), "SIWI_LLM_MODEL": SMALL_MODEL, **env})
    return subprocess.run(SIWI + args, capture_output=True, text=True, env=environment, timeout=timeout)


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def indexed_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    result = siwi(["ingest", str(FIXTURES / "kb")], SIWI_DATA_DIR=str(data))
    assert result.returncode == 0, result.stderr
    assert "4 added" in result.stdout
    return data


def test_empty_index_is_refused(tmp_path: Path):
    one_line_error(siwi(["serve"], SIWI_DATA_DIR=str(tmp_path / "empty")), "empty", "SIWI_DATA_DIR", "siwi ingest")


def test_unwritable_data_dir_is_refused(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    one_line_error(siwi(["serve"], SIWI_DATA_DIR=str(blocker / "data")), "SIWI_DATA_DIR")


def test_missing_model_file_is_refused(indexed_data: Path, tmp_path: Path):
    result = siwi(["serve"], SIWI_DATA_DIR=str(indexed_data), SIWI_LLM_MODEL=str(tmp_path / "nope.gguf"))
    one_line_error(result, "SIWI_LLM_MODEL", "nope.gguf")


def test_packaged_model_not_installed_is_refused(indexed_data: Path, tmp_path: Path):
    result = siwi(["serve"], SIWI_DATA_DIR=str(indexed_data), SIWI_MODELS_DIR=str(tmp_path / "no-models"))
    one_line_error(result, "siwi models install")


def test_file_that_is_not_gguf_is_refused(indexed_data: Path, tmp_path: Path):
    fake = tmp_path / "model.gguf"
    fake.write_text("<html>404 Not Found</html>")
    one_line_error(siwi(["serve"], SIWI_DATA_DIR=str(indexed_data), SIWI_LLM_MODEL=str(fake)),
                   "not a GGUF", "SIWI_LLM_MODEL")


def test_truncated_gguf_is_refused(indexed_data: Path, tmp_path: Path):
    truncated = tmp_path / "truncated.gguf"
    with model_file(SMALL_MODEL).open("rb") as source:
        truncated.write_bytes(source.read(2_000_000))
    one_line_error(siwi(["serve"], SIWI_DATA_DIR=str(indexed_data), SIWI_LLM_MODEL=str(truncated)),
                   "Cannot load the model", "SIWI_LLM_MODEL")


def test_invalid_setting_is_refused(tmp_path: Path):
    result = siwi(["serve"], SIWI_DATA_DIR=str(tmp_path), SIWI_PORT="not-a-port")
    assert result.returncode == 2 and "port" in result.stderr


def test_ingest_of_a_missing_path_is_refused(tmp_path: Path):
    one_line_error(siwi(["ingest", str(tmp_path / "missing")], SIWI_DATA_DIR=str(tmp_path)), "no such file")


def test_every_package_is_installed_not_just_found_in_the_checkout(tmp_path: Path):
    """The `siwi` command runs outside the checkout; a package missing from the installed distribution
    (pyproject's package list) works in tests run from the repository and fails for users."""
    result = subprocess.run([sys.executable, "-c", "import bot.app, eval.runner, knowledge.ingest, "
                             "embeddings.retrieval, widget, siwi.cli"], cwd=tmp_path, capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert result.returncode == 0, result.stderr
