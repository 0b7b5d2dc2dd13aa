"""The three styles' looks, as restylings of a world scene: the pictures their tiny LoRAs are
trained on (``python -m engine.world.train``), and what the measurements expect of them.

- retro-anime: a pastel palette (lower saturation, lifted shadows) and film grain;
- kancil: bright saturated colours and soft dark outlines;
- fantasy-landscape: a gradient sky (dusk violet above, warm light below) and a glow.
"""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from engine.world.scene import Scene, reduce, render_layers

LOOKS = ("retro-anime", "kancil", "fantasy-landscape")


def _retro(bg: Image.Image, fg: Image.Image, seed: int) -> Image.Image:
    bg.paste(fg, mask=fg)
    img = reduce(bg)
    img = Image.blend(img, Image.new("RGB", img.size, (215, 205, 190)), 0.38)  # pastel, warm
    rng = np.random.default_rng(seed)
    px = np.asarray(img, dtype=np.float32)
    px += rng.normal(0.0, 8.0, px.shape[:2])[..., None]  # monochrome film grain
    return Image.fromarray(np.clip(px, 0, 255).astype(np.uint8))


def _kancil(bg: Image.Image, fg: Image.Image, seed: int) -> Image.Image:
    alpha = fg.getchannel("A")
    ring = alpha.filter(ImageFilter.MaxFilter(7)).filter(ImageFilter.GaussianBlur(1.5))
    bg.paste(Image.new("RGB", bg.size, (55, 35, 25)), mask=ring)  # a soft dark outline
    bg.paste(fg, mask=fg)
    img = ImageEnhance.Color(reduce(bg)).enhance(1.6)
    return ImageEnhance.Brightness(img).enhance(1.05)


def _fantasy(bg: Image.Image, fg: Image.Image, seed: int) -> Image.Image:
    w, h = bg.size
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    top, bottom = np.array([45, 20, 95], np.float32), np.array([250, 175, 95], np.float32)
    sky = np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3))
    base = np.asarray(bg, dtype=np.float32)
    bg = Image.fromarray(np.clip(0.45 * base + 0.55 * sky, 0, 255).astype(np.uint8))
    glow = fg.getchannel("A").filter(ImageFilter.MaxFilter(9)).filter(
        ImageFilter.GaussianBlur(7)).point(lambda v: int(v * 0.8))
    bg.paste(Image.new("RGB", bg.size, (255, 240, 200)), mask=glow)
    bg.paste(fg, mask=fg)
    return reduce(bg)


_RESTYLE = {"retro-anime": _retro, "kancil": _kancil, "fantasy-landscape": _fantasy}


def render_look(scene: Scene, look: str) -> Image.Image:
    """``scene`` drawn in ``look`` (one of LOOKS), 64×64 RGB."""
    bg, fg = render_layers(scene)
    return _RESTYLE[look](bg, fg, random.Random(scene.texture_seed).randrange(2**31))


__all__ = ["LOOKS", "render_look"]
