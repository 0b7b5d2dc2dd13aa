"""Image sizes: an aspect ratio and the model's native size → width and height."""

from __future__ import annotations

import math


def size_for(aspect: str, native: tuple[int, int], max_side: int, multiple: int = 8,
             min_side: int = 32) -> tuple[int, int]:
    """The image size for ``aspect`` with about the native pixel count, sides a multiple
    of ``multiple`` and none above ``max_side``."""
    w, h = (float(x) for x in aspect.split(":"))
    area = native[0] * native[1]
    width = math.sqrt(area * w / h)
    height = width * h / w
    scale = min(1.0, max_side / max(width, height))

    def snap(x: float) -> int:
        return max(min_side, int(round(x * scale / multiple)) * multiple)

    return snap(width), snap(height)
