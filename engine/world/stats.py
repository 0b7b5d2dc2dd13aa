"""Pixel statistics: what a 64×64 picture shows, read from its pixels alone (no model), so a
picture can be checked against the caption it was painted from.

- background: the median colour of the picture's border, named by the nearest background
  (a plain colour or sky / grass / night / sea);
- foreground: the pixels far from that colour, less specks (a pixel stays when most of its
  neighbours are foreground too); its colour is the palette colour most of them are nearest;
- position: the third of the picture (column and row) the foreground's centroid falls in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.world.scene import BACKGROUNDS, COLOURS, POSITIONS, Scene

FOREGROUND_DISTANCE = 60.0  # a pixel this far from the background colour is foreground
_BORDER = 3
_BG_NAMES = list(BACKGROUNDS)
_BG_RGB = np.array([BACKGROUNDS[n] for n in _BG_NAMES], dtype=np.float32)
_FG_NAMES = list(COLOURS)
_FG_RGB = np.array([COLOURS[n] for n in _FG_NAMES], dtype=np.float32)
_ROWS, _COLS = ("top", "", "bottom"), ("left", "", "right")


@dataclass(frozen=True, slots=True)
class Reading:
    background: str
    colour: str | None  # None: no foreground found
    position: str | None
    foreground_share: float  # of the picture's pixels
    centroid: tuple[float, float] | None  # (x, y) in pixels


def _position_name(x: float, y: float, size: int) -> str:
    col = _COLS[min(2, int(3 * x / size))]
    row = _ROWS[min(2, int(3 * y / size))]
    name = " ".join(w for w in (row, col) if w) or "centre"
    assert name in POSITIONS
    return name


def read(image: Image.Image) -> Reading:
    px = np.asarray(image.convert("RGB"), dtype=np.float32)
    h, w, _ = px.shape
    border = np.concatenate([px[:_BORDER].reshape(-1, 3), px[-_BORDER:].reshape(-1, 3),
                             px[:, :_BORDER].reshape(-1, 3), px[:, -_BORDER:].reshape(-1, 3)])
    bg_rgb = np.median(border, axis=0)
    background = _BG_NAMES[int(np.argmin(((_BG_RGB - bg_rgb) ** 2).sum(-1)))]
    far = np.sqrt(((px - bg_rgb) ** 2).sum(-1)) > FOREGROUND_DISTANCE
    padded = np.pad(far, 1)
    neighbours = sum(padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w].astype(np.int32)
                     for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
    mask = far & (neighbours >= 5)
    share = float(mask.mean())
    if mask.sum() < 6:
        return Reading(background, None, None, share, None)
    fg = px[mask]
    nearest = np.argmin(((fg[:, None, :] - _FG_RGB[None]) ** 2).sum(-1), axis=1)
    colour = _FG_NAMES[int(np.bincount(nearest, minlength=len(_FG_NAMES)).argmax())]
    ys, xs = np.nonzero(mask)
    cx, cy = float(xs.mean()) + 0.5, float(ys.mean()) + 0.5
    return Reading(background, colour, _position_name(cx, cy, w), share, (cx, cy))


@dataclass(frozen=True, slots=True)
class Match:
    colour: bool
    background: bool
    position: bool

    @property
    def all(self) -> bool:
        return self.colour and self.background and self.position


def match(image: Image.Image, scene: Scene) -> Match:
    r = read(image)
    return Match(colour=r.colour == scene.colour, background=r.background == scene.background,
                 position=r.position == scene.position)


def saturation(image: Image.Image) -> float:
    """Mean HSV saturation in [0, 1]."""
    hsv = np.asarray(image.convert("RGB").convert("HSV"), dtype=np.float32)
    return float(hsv[..., 1].mean() / 255.0)


def vertical_gradient(image: Image.Image) -> float:
    """Mean brightness of the bottom quarter less the top quarter's, in [-1, 1]."""
    grey = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    q = grey.shape[0] // 4
    return float(grey[-q:].mean() - grey[:q].mean())


def grain(image: Image.Image) -> float:
    """High-frequency energy: the mean absolute difference of horizontally adjacent pixels."""
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    return float(np.abs(np.diff(grey, axis=1)).mean())


def brightness(image: Image.Image) -> float:
    return float(np.asarray(image.convert("L"), dtype=np.float32).mean() / 255.0)


__all__ = ["Match", "Reading", "brightness", "grain", "match", "read", "saturation",
           "vertical_gradient"]
