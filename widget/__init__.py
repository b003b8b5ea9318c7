"""Browser-side files served by `siwi serve`."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
