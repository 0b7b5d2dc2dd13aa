"""Small training data made at test time with Pillow, and a config on the tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import MODEL_CACHE


def make_images(folder: Path, n: int, *, captions: bool = True, size=(80, 72)) -> list[Path]:
    """``n`` distinct structured images (gradients and a coloured square), with captions."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        a = np.zeros((size[1], size[0], 3), np.uint8)
        a[..., 0] = np.linspace(0, 255, size[0], dtype=np.uint8)[None, :]
        a[..., 1] = (i * 47) % 256
        a[10 + i: 40 + i, 20:50, 2] = 255
        path = folder / f"img{i:02d}.png"
        Image.fromarray(a).save(path)
        if captions:
            path.with_suffix(".txt").write_text(f"a blue square on a red gradient, number {i}")
        paths.append(path)
    return paths


def write_train_config(folder: Path, adapters: Path) -> Path:
    adapters.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(f'[engine]\nmodel = "tiny"\ncache = "{MODEL_CACHE}"\n'
                    f'adapters = "{adapters}"\nthreads = 1\n')
    return path
