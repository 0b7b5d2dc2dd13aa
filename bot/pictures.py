"""Pictures users send in: checked and normalised in ONE place, for every front end.

``load_picture(data, limits)`` runs Pillow in a worker thread (never on the event loop) and
either returns an ``InputPicture`` (a plain 8-bit RGB PNG, EXIF rotation applied, sides a
multiple of 8 and none above ``[limits] max_side``) or raises ``UserError`` with the user's
sentence (bot/i18n):

* not an image (or a format Pillow cannot read)        → ``picture_not_image``
* over ``[limits] picture_max_mb`` (the bytes)          → ``picture_too_big``
* more than ``picture_max_pixels`` (a decompression
  bomb such as 20000×20000 is refused before decoding) → ``picture_too_large``
* a side under ``picture_min_side`` (1×1)               → ``picture_too_small``
* animated (GIF, WebP, APNG)                            → ``picture_animated``

What is merely unusual is converted, correctly: CMYK through Pillow's CMYK→RGB, 16-bit
grey scaled down (Pillow's own ``convert`` clips it to white), an alpha channel composited
on white, palette and grey images expanded; a picture wider than ``[limits] max_aspect`` is
cropped to it around the centre.

The stored size depends on the picture and the config only, never on whether the engine
has said its native size yet, so the same picture always gives the same bytes; the engine
fits it to the job's size (the model's pixel count at the picture's aspect).
"""

from __future__ import annotations

import asyncio
import io
import math
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from bot.config import LimitsSection
from bot.errors import UserError

MULTIPLE = 8  # the VAE's scale factor: sides are multiples of it


@dataclass(frozen=True, slots=True)
class InputPicture:
    png: bytes  # 8-bit RGB PNG, width × height
    width: int
    height: int
    aspect: str  # "W:H" of the picture (after any crop): the job's aspect
    source_size: tuple[int, int]  # as it came (after the EXIF rotation)


async def load_picture(data: bytes, limits: LimitsSection) -> InputPicture:
    """``data`` checked and normalised (see the module doc), in a worker thread."""
    return await asyncio.to_thread(normalise, data, limits)


def normalise(data: bytes, limits: LimitsSection) -> InputPicture:
    """The blocking part of ``load_picture``: call it from a thread."""
    if len(data) > limits.picture_max_mb * 2**20:
        raise UserError("picture_too_big", size=f"{len(data) / 2**20:.1f}",
                        limit=f"{limits.picture_max_mb:g}")
    if not data:
        raise UserError("picture_not_image")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise UserError("picture_too_large", limit=_megapixels(limits)) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise UserError("picture_not_image") from None
        with image:
            w, h = image.size
            if w * h > limits.picture_max_pixels:  # checked before a pixel is decoded
                raise UserError("picture_too_large", limit=_megapixels(limits))
            if min(w, h) < limits.picture_min_side:
                raise UserError("picture_too_small", width=w, height=h,
                                limit=limits.picture_min_side)
            if getattr(image, "is_animated", False) or getattr(image, "n_frames", 1) > 1:
                raise UserError("picture_animated")
            try:
                image.load()
                rgb = _to_rgb(ImageOps.exif_transpose(image))
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise UserError("picture_too_large", limit=_megapixels(limits)) from None
            except (OSError, ValueError, SyntaxError):  # truncated or corrupt data
                raise UserError("picture_not_image") from None
    source = rgb.size
    rgb = _crop_to_aspect(rgb, limits.max_aspect)
    aspect = _ratio(*rgb.size)
    size = _stored_size(*rgb.size, limits.max_side)
    if rgb.size != size:
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    rgb.save(buf, "PNG")
    return InputPicture(buf.getvalue(), size[0], size[1], aspect, source)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any still image as 8-bit RGB: alpha on white, 16/32-bit grey scaled, CMYK converted."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        top = 65535 if mode.startswith("I;16") else max(image.getextrema()[1], 1)
        grey = image.point(lambda v: v * (255 / top), "F") if mode == "I" else (
            image.convert("I").point(lambda v: v * (255 / top), "F"))
        return grey.convert("L").convert("RGB")
    if mode == "F":
        low, high = image.getextrema()
        scale = 255 / (high - low) if high > low else 0.0
        return image.point(lambda v: (v - low) * scale).convert("L").convert("RGB")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        white = Image.new("RGB", image.size, "white")
        white.paste(image, mask=image.getchannel("A"))
        return white
    return image.convert("RGB") if image.mode != "RGB" else image.copy()


def _crop_to_aspect(image: Image.Image, max_aspect: float) -> Image.Image:
    w, h = image.size
    if w > h * max_aspect:
        keep = int(h * max_aspect)
        left = (w - keep) // 2
        return image.crop((left, 0, left + keep, h))
    if h > w * max_aspect:
        keep = int(w * max_aspect)
        top = (h - keep) // 2
        return image.crop((0, top, w, top + keep))
    return image


def _stored_size(w: int, h: int, max_side: int) -> tuple[int, int]:
    """Sides multiples of 8, none above ``max_side``; never enlarged."""
    scale = min(1.0, max_side / max(w, h))
    return (max(MULTIPLE, round(w * scale / MULTIPLE) * MULTIPLE),
            max(MULTIPLE, round(h * scale / MULTIPLE) * MULTIPLE))


def _ratio(w: int, h: int) -> str:
    """A short W:H close to the picture's (a few hundredths off at most)."""
    r = Fraction(w, h).limit_denominator(32)
    return f"{r.numerator}:{r.denominator}"


def _megapixels(limits: LimitsSection) -> str:
    return f"{limits.picture_max_pixels / 1e6:g}"


async def read_picture_file(path: str | Path, limits: LimitsSection) -> bytes:
    """A picture file's bytes (the console's ``--image PATH``), off the event loop; the
    size cap is checked before reading. UserError when it cannot be read."""
    def read() -> bytes:
        p = Path(path).expanduser()
        size = p.stat().st_size
        if size > limits.picture_max_mb * 2**20:
            raise UserError("picture_too_big", size=f"{size / 2**20:.1f}",
                            limit=f"{limits.picture_max_mb:g}")
        return p.read_bytes()

    try:
        return await asyncio.to_thread(read)
    except OSError:
        raise UserError("picture_unavailable") from None


def fit_upscale(width: int, height: int, factor: int, max_side: int) -> tuple[int, int]:
    """The size an upscale by ``factor`` gives, its sides multiples of 8 and none above
    ``max_side`` (the factor is reduced to fit)."""
    scale = min(float(factor), max_side / max(width, height))
    return (max(MULTIPLE, math.floor(width * scale / MULTIPLE) * MULTIPLE),
            max(MULTIPLE, math.floor(height * scale / MULTIPLE) * MULTIPLE))


__all__ = ["InputPicture", "fit_upscale", "load_picture", "normalise", "read_picture_file"]
