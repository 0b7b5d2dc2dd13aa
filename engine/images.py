"""Images out of the engine: PNG bytes that depend on the pixels only, and the blur that
replaces an image the safety check flags (``unsafe_action = "blur"``)."""

from __future__ import annotations

import io

from PIL import Image, ImageFilter

# a blurred image is first shrunk so that its longer side has this many pixels
BLUR_CELLS = 8


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes with no metadata (no time, no text chunks): same pixels → same bytes."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def blur(image: Image.Image) -> Image.Image:
    """A heavy Gaussian blur (radius max(w, h) / 8), shrunk to a few pixels and blown up
    again (smoothly), so nothing recognisable is left; same size, RGB, deterministic."""
    image = image.convert("RGB")
    w, h = image.size
    radius = max(w, h) / 8
    blurred = image.filter(ImageFilter.GaussianBlur(radius))
    scale = BLUR_CELLS / max(w, h)
    small = blurred.resize((max(1, round(w * scale)), max(1, round(h * scale))),
                           Image.Resampling.BOX)
    big = small.resize((w, h), Image.Resampling.BICUBIC)
    return big.filter(ImageFilter.GaussianBlur(radius / 2))


__all__ = ["BLUR_CELLS", "blur", "encode_png"]
