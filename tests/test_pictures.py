"""bot/pictures.py: real good and bad files, made by Pillow here, checked and normalised."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib

import pytest
from PIL import Image

from bot.config import LimitsSection
from bot.errors import UserError
from bot.i18n import t
from bot.pictures import fit_upscale, load_picture, normalise

LIMITS = LimitsSection()


def saved(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def refused(data: bytes, limits: LimitsSection = LIMITS) -> UserError:
    with pytest.raises(UserError) as err:
        normalise(data, limits)
    for lang in ("en", "id"):  # every refusal has its sentence in both languages
        assert t(lang, err.value.key, **err.value.values)
    return err.value


def test_a_plain_photo_becomes_an_rgb_png_within_max_side() -> None:
    pic = normalise(saved(Image.new("RGB", (300, 200), "teal"), "JPEG"), LIMITS)
    image = decoded(pic.png)
    assert image.format == "PNG" and image.mode == "RGB"
    assert (pic.width, pic.height) == image.size
    assert pic.width % 8 == 0 and pic.height % 8 == 0
    assert pic.aspect == "3:2" and pic.source_size == (300, 200)
    assert pic.png == normalise(saved(Image.new("RGB", (300, 200), "teal"), "JPEG"),
                                LIMITS).png  # the same picture, the same bytes
    big = normalise(saved(Image.new("RGB", (3000, 2000), "teal")), LIMITS)
    assert (big.width, big.height) == (1024, 680)  # within max_side, multiples of 8


def test_not_an_image() -> None:
    assert refused(b"hello, this is a text file\n").key == "picture_not_image"
    assert refused(b"").key == "picture_not_image"
    png = saved(Image.new("RGB", (50, 50), "red"))
    assert refused(png[: len(png) // 2]).key == "picture_not_image"  # truncated


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animated_pictures_are_refused(fmt: str) -> None:
    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "blue", "green")]
    data = saved(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100,
                 loop=0)
    assert refused(data).key == "picture_animated"


def test_a_one_frame_gif_is_a_still_picture() -> None:
    pic = normalise(saved(Image.new("P", (40, 40), 3), "GIF"), LIMITS)
    assert decoded(pic.png).mode == "RGB"


def test_cmyk_is_converted_not_refused() -> None:
    data = saved(Image.new("CMYK", (40, 40), (255, 0, 0, 0)), "JPEG", quality=100)
    r, g, b = decoded(normalise(data, LIMITS).png).getpixel((20, 20))
    assert r < 20 and g > 235 and b > 235  # cyan, not inverted


def test_16_bit_grey_is_scaled_not_clipped() -> None:
    # left half mid grey (32768 of 65535), right half black
    row = (32768).to_bytes(2, "little") * 20 + b"\x00\x00" * 20
    image = Image.frombytes("I;16", (40, 40), row * 40)
    assert image.convert("L").getpixel((5, 20)) == 255  # what a plain convert would give
    pic = decoded(normalise(saved(image), LIMITS).png)
    left, right = pic.getpixel((5, 20)), pic.getpixel((30, 20))
    assert 120 <= left[0] <= 136 and left[0] == left[1] == left[2]
    assert right == (0, 0, 0)


def test_alpha_is_composited_on_white() -> None:
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    image.paste((200, 0, 0, 255), (0, 0, 20, 40))
    pic = decoded(normalise(saved(image), LIMITS).png)
    assert pic.mode == "RGB"
    assert pic.getpixel((30, 20)) == (255, 255, 255)
    r, g, b = pic.getpixel((5, 20))
    assert r > 180 and g < 20 and b < 20


def test_exif_rotation_is_applied() -> None:
    image = Image.new("RGB", (80, 40), "white")
    image.paste((0, 0, 255), (0, 0, 40, 40))  # blue on the left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    pic = normalise(saved(image, "JPEG", exif=exif.tobytes(), quality=95), LIMITS)
    assert pic.source_size == (40, 80) and pic.aspect == "1:2"
    shown = decoded(pic.png)
    assert shown.height > shown.width
    top, bottom = shown.getpixel((shown.width // 2, 4)), shown.getpixel(
        (shown.width // 2, shown.height - 4))
    assert top[2] > 200 and top[0] < 60  # the stored left (blue) is now on top
    assert bottom[0] > 200


def test_one_pixel_is_too_small() -> None:
    err = refused(saved(Image.new("RGB", (1, 1), "red")))
    assert err.key == "picture_too_small" and err.values["width"] == 1


def _bomb_png(width: int, height: int) -> bytes:
    """A real PNG of ``width`` × ``height`` black pixels, a few KB on disk."""
    raw = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * width
    data = b"".join(raw.compress(row) for _ in range(16)) + raw.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(
        b"IEND", b"")


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = _bomb_png(20000, 20000)
    assert len(bomb) < 10_000
    assert refused(bomb).key == "picture_too_large"
    # also under Pillow's own bomb limit, over ours
    assert refused(_bomb_png(8000, 8000)).key == "picture_too_large"


def test_over_the_file_size_cap() -> None:
    limits = LimitsSection(picture_max_mb=0.01)
    noisy = Image.effect_noise((200, 200), 80).convert("RGB")
    err = refused(saved(noisy), limits)
    assert err.key == "picture_too_big" and err.values["limit"] == "0.01"


def test_a_panorama_is_cropped_to_the_widest_aspect() -> None:
    pic = normalise(saved(Image.new("RGB", (1000, 100), "red")), LIMITS)
    assert pic.aspect == "3:1"


def test_loading_runs_off_the_event_loop() -> None:
    data = saved(Image.new("RGB", (64, 64), "red"))

    async def main() -> tuple:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        pic = await load_picture(data, LIMITS)
        task.cancel()
        return pic, ticks

    pic, ticks = asyncio.run(main())
    assert pic.width == 64 and ticks > 0


def test_fit_upscale() -> None:
    assert fit_upscale(512, 512, 2, 2048) == (1024, 1024)
    assert fit_upscale(768, 512, 4, 2048) == (2048, 1360)
    assert fit_upscale(64, 64, 4, 2048) == (256, 256)
