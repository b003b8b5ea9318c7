"""One settings object from environment and TOML; packaged model assembly."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.model_files import (
    CATALOGUE,
    ModelFileError,
    PackagedModel,
    check_gguf,
    install,
    resolve_model_path,
    sha256_of,
)
from siwi.settings import Settings, load_settings


def test_environment_variables_set_values(monkeypatch):
    monkeypatch.setenv("SIWI_DATA_DIR", "/srv/siwi")
    monkeypatch.setenv("SIWI_TOP_K", "5")
    monkeypatch.setenv("SIWI_LLM_BACKEND", "openai")
    s = load_settings()
    assert s.data_dir == Path("/srv/siwi") and s.top_k == 5 and s.llm_backend == "openai"
    assert s.resolved_models_dir == Path("/srv/siwi/models")


def test_toml_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    config = tmp_path / "siwi.toml"
    config.write_text(textwrap.dedent("""
        data_dir = "/var/lib/siwi"
        top_k = 2
        contact_phone = "0271 333-0"
    """))
    monkeypatch.setenv("SIWI_TOP_K", "6")
    s = load_settings(config)
    assert s.data_dir == Path("/var/lib/siwi") and s.contact_phone == "0271 333-0" and s.top_k == 6
    monkeypatch.setenv("SIWI_CONFIG", str(config))
    assert load_settings().data_dir == Path("/var/lib/siwi")


def test_unknown_and_invalid_settings_are_errors(tmp_path):
    config = tmp_path / "siwi.toml"
    config.write_text('tpo_k = 3\n')
    with pytest.raises(ValidationError, match="tpo_k"):
        load_settings(config)
    with pytest.raises(ValidationError):
        Settings(top_k=0)
    with pytest.raises(FileNotFoundError, match="nowhere.toml"):
        load_settings(tmp_path / "nowhere.toml")


def _fake_parts(tmp_path: Path, monkeypatch, chunks: list[bytes]) -> PackagedModel:
    """Part packages shaped like the real ones (a module with get_part_path()), made on the fly."""
    packages = tmp_path / "pkgs"
    for i, data in enumerate(chunks, 1):
        pkg = packages / f"siwitest_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
        (pkg / "__init__.py").write_text(
            "import os\ndef get_part_path():\n"
            f"    return os.path.join(os.path.dirname(__file__), 'data', 'part{i:02d}.bin')\n")
    monkeypatch.syspath_prepend(str(packages))
    whole = b"".join(chunks)
    import hashlib

    return PackagedModel("test", "test.gguf", "siwitest_part", len(chunks), hashlib.sha256(whole).hexdigest(),
                         len(whole), "test model")


def test_install_joins_parts_verifies_and_is_idempotent(tmp_path, monkeypatch):
    model = _fake_parts(tmp_path, monkeypatch, [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 7])
    target = install(model, tmp_path / "models")
    assert target.read_bytes() == b"GGUF" + b"a" * 100 + b"b" * 50 + b"c" * 7
    mtime = target.stat().st_mtime_ns
    assert install(model, tmp_path / "models") == target
    assert target.stat().st_mtime_ns == mtime
    check_gguf(target)


def test_install_rejects_a_checksum_mismatch(tmp_path, monkeypatch):
    model = _fake_parts(tmp_path, monkeypatch, [b"GGUF1", b"2"])
    broken = PackagedModel(**{**model.__dict__, "sha256": "0" * 64})
    with pytest.raises(ModelFileError, match="checksum"):
        install(broken, tmp_path / "models")
    assert not (tmp_path / "models" / "test.gguf").exists()


def test_missing_part_package_names_the_install_command():
    model = PackagedModel("x", "x.gguf", "siwi_no_such_part", 1, "0" * 64, 1, "")
    with pytest.raises(ModelFileError, match="requirements-models.txt"):
        model.part_paths()


def test_resolve_model_path(tmp_path):
    with pytest.raises(ModelFileError, match="siwi models install"):
        resolve_model_path("qwen2.5-coder-0.5b", tmp_path)
    with pytest.raises(ModelFileError, match="neither a packaged model"):
        resolve_model_path("/no/such/model.gguf", tmp_path)
    own = tmp_path / "own.gguf"
    own.write_bytes(b"GGUF")
    assert resolve_model_path(str(own), tmp_path) == own


def test_installed_packaged_models_match_their_pinned_checksums():
    """`make test` ran `siwi models install`; the files must be exactly the pinned ones."""
    from tests.conftest import MODELS_DIR

    model = CATALOGUE["qwen2.5-coder-0.5b"]
    assert sha256_of(MODELS_DIR / model.filename) == model.sha256
