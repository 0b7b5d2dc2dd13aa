"""Shared fixtures: a config in a temp folder, with the tiny model cached once per machine."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The tiny model is built deterministically on first use; share it between runs.
MODEL_CACHE = Path(os.environ.get("PELUKIS_TEST_CACHE", ROOT / "var" / "models"))


def write_config(folder: Path, **sections: dict) -> Path:
    """A config.toml in ``folder`` using its own database and images, the repo's styles."""
    base = {
        "engine": {"model": "tiny", "adapters": str(ROOT / "adapters"),
                   "cache": str(MODEL_CACHE), "threads": 1, "batch_window_ms": 0},
        "storage": {"database": str(folder / "pelukis.db"), "images": str(folder / "images")},
        "limits": {"default_steps": 4},
        "translation": {"providers": []},  # tests never reach the internet
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    lines = []
    for name, values in base.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            if isinstance(value, str):
                lines.append(f"{key} = {value!r}".replace("'", '"'))
            elif isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, list):
                items = ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in value)
                lines.append(f"{key} = [{items}]")
            else:
                lines.append(f"{key} = {value}")
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def python() -> str:
    return sys.executable
