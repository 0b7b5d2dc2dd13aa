"""Pictures in on Telegram, through a real python-telegram-bot Application and the fake Bot
API: a photo with a /generate caption, /generate as a reply to a photo (the bot's own too),
real getFile downloads, and every bad picture answered in the user's language."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from bot.config import load_config
from bot.i18n import t
from bot.models import JobState
from tests.conftest import write_config
from tests.fake_telegram import FakeBotAPI
from tests.test_telegram import picture, replies_to, start, status_photo, stop, until

pytestmark = pytest.mark.slow

USER = 7


def png(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def photo() -> bytes:
    image = Image.new("RGB", (120, 80), "white")
    ImageDraw.Draw(image).ellipse((10, 10, 70, 70), fill="red")
    return png(image, "JPEG", quality=90)


@pytest.fixture
def fake():
    server = FakeBotAPI()
    yield server
    server.close()


def config_for(tmp_path, fake, **limits):
    return load_config(write_config(
        tmp_path,
        telegram={"base_url": fake.base_url, "base_file_url": fake.base_file_url,
                  "poll_timeout_s": 1, "edit_interval_s": 0.2, "rate_limit": False},
        bot={"language": "id"},
        limits={"picture_download_timeout_s": 2, **limits},
    ), must_exist=True)


async def answer(fake: FakeBotAPI, message: dict) -> str:
    sent = await until(lambda: replies_to(fake, "sendMessage", message["message_id"]),
                       what="an answer")
    return sent[0].params["text"]


async def test_a_photo_with_a_caption_and_a_reply_to_the_bots_picture(tmp_path, fake):
    app, service = await start(config_for(tmp_path, fake), fake)
    try:
        sent = fake.send_photo(USER, USER, photo(), caption="/gambar kucing merah --seed 5 "
                               "--steps 4 --strength 0.5")
        status = await status_photo(fake, sent["message_id"])
        edit, _ = await picture(fake, status)
        # a real download of the largest size: getFile, then the file URL
        biggest = sent["photo"][-1]["file_id"]
        assert [c.params["file_id"] for c in fake.calls_to("getFile")] == [biggest]
        assert [c.params["file_path"] for c in fake.calls_to("download")] == \
            [f"photos/{biggest}"]
        first = (await app.store.jobs_in(JobState.DONE))[0]
        assert (first.kind, first.strength, first.seed) == ("img2img", 0.5, 5)
        stored = Image.open(first.source)
        assert stored.mode == "RGB" and stored.format == "PNG"
        assert first.aspect == "3:2"

        # the same photo, prompt and seed again: the same picture
        again = fake.send_photo(USER, USER, photo(), caption="/gambar kucing merah --seed 5 "
                                "--steps 4 --strength 0.5")
        edit2, _ = await picture(fake, await status_photo(fake, again["message_id"]))
        media = edit.params["media"]["media"].removeprefix("attach://")
        media2 = edit2.params["media"]["media"].removeprefix("attach://")
        assert edit.files[media] == edit2.files[media2]

        # /generate as a reply to the bot's own picture: that picture is redrawn
        shown = fake.message(USER, status.result["message_id"])
        reply = fake.send_text(USER, USER, "/generate a blue cat --seed 9 --steps 4",
                               reply_to=shown)
        await picture(fake, await status_photo(fake, reply["message_id"]))
        job = max(await app.store.jobs_in(JobState.DONE), key=lambda j: j.id)
        assert job.kind == "img2img" and job.prompt == "a blue cat"
        assert fake.calls_to("getFile")[-1].params["file_id"] == shown["photo"][-1]["file_id"]
        result = await app.store.result(first.id)
        mine = Image.open(result.image_path)
        assert Image.open(job.source).size == mine.size  # the bot's picture, as it was

        # a photo sent as a file (a document) works the same
        doc = fake.send_photo(USER, USER, png(Image.new("RGB", (64, 64), "teal")),
                              caption="/generate teal sea --steps 4", as_document=True)
        await picture(fake, await status_photo(fake, doc["message_id"]))
    finally:
        await stop(app, service)


async def test_every_bad_picture_is_answered_and_the_bot_stays_up(tmp_path, fake):
    app, service = await start(config_for(tmp_path, fake, picture_max_mb=0.05), fake)
    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "blue")]
    gif = png(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    noise = png(Image.effect_noise((300, 300), 90).convert("RGB"))
    cases = [
        ("id", b"%PDF-1.4 not a picture", "image/png", "picture_not_image", {}),
        ("en", gif, "image/gif", "picture_animated", {}),
        ("id", png(Image.new("RGB", (1, 1))), "image/png", "picture_too_small",
         {"width": 1, "height": 1, "limit": 16}),
        ("en", noise, "image/png", "picture_too_big",
         {"size": f"{len(noise) / 2**20:.1f}", "limit": "0.05"}),
    ]
    try:
        for lang, data, mime, key, values in cases:
            sent = fake.send_photo(USER, USER, data, caption="/generate a cat", lang=lang,
                                   as_document=True, mime_type=mime)
            assert await answer(fake, sent) == t(lang, key, **values), key
        # Telegram will not hand the file over (an unknown file id): said so
        missing = {"message_id": 1, "date": 0, "chat": fake.chat(USER),
                   "photo": [{"file_id": "nope", "file_unique_id": "n", "width": 9,
                              "height": 9, "file_size": 9}]}
        sent = fake.send_text(USER, USER, "/generate a cat", lang="en", reply_to=missing)
        assert await answer(fake, sent) == t("en", "picture_unavailable")
        # a download that takes longer than the timeout
        fake.download_delay_s = 4
        slow = fake.send_photo(USER, USER, photo(), caption="/generate a cat", lang="id")
        assert await answer(fake, slow) == t("id", "picture_unavailable")
        fake.download_delay_s = 0
        # nothing was queued for any of them, and the bot still paints
        assert not await app.store.jobs_in(JobState.QUEUED, JobState.RUNNING)
        ok = fake.send_text(USER, USER, "/generate a cat --steps 2")
        await picture(fake, await status_photo(fake, ok["message_id"]))
    finally:
        await stop(app, service)


def test_reading_the_stored_picture_is_the_normalised_png(tmp_path):
    """Store.save_input keeps one file per content."""
    from bot.storage import Store

    async def main():
        store = await Store.open(tmp_path / "db.sqlite", tmp_path / "images")
        try:
            a = await store.save_input(b"\x89PNG one")
            b = await store.save_input(b"\x89PNG one")
            c = await store.save_input(b"\x89PNG two")
        finally:
            await store.close()
        return a, b, c

    a, b, c = asyncio.run(main())
    assert a == b != c and Path(a).read_bytes() == b"\x89PNG one"
    assert Path(a).parent == tmp_path / "images" / "inputs"


async def test_variation_and_upscale_buttons_under_a_picture(tmp_path, fake):
    app, service = await start(config_for(tmp_path, fake), fake)
    try:
        request = fake.send_text(USER, USER, "/generate a red boat --seed 5 --steps 4",
                                 lang="en")
        status = await status_photo(fake, request["message_id"])
        edit, _ = await picture(fake, status)
        data = [b["callback_data"] for row in edit.params["reply_markup"]["inline_keyboard"]
                for b in row]
        job_id = int(data[0].rsplit(":", 1)[1])
        assert {f"job:vary:{job_id}", f"job:up2:{job_id}", f"job:up4:{job_id}"} <= set(data)
        assert all(len(d.encode()) <= 64 for d in data)
        first = await app.store.result(job_id)
        shown = fake.message(USER, status.result["message_id"])

        fake.press(USER, USER, shown, f"job:vary:{job_id}")
        varied = await until(lambda: [c for c in replies_to(fake, "sendPhoto",
                                                            shown["message_id"])],
                             what="the variation's status")
        await picture(fake, varied[0])
        fake.press(USER, USER, shown, f"job:up2:{job_id}")
        await until(lambda: len(replies_to(fake, "sendPhoto", shown["message_id"])) == 2,
                    what="the upscale's status")
        up_status = replies_to(fake, "sendPhoto", shown["message_id"])[1]
        await picture(fake, up_status)
        jobs = sorted(await app.store.jobs_in(JobState.DONE), key=lambda j: j.id)
        assert [j.kind for j in jobs] == ["text", "variation", "upscale"]
        vary, up = jobs[1], jobs[2]
        assert vary.prompt == up.prompt == "a red boat" and vary.seed != 5 and up.seed == 5
        assert vary.source == up.source == first.image_path  # the picture itself
        big = await app.store.result(up.id)
        assert (big.width, big.height) == (first.width * 2, first.height * 2)
        assert Image.open(big.image_path).size == (big.width, big.height)
        # a picture that big offers no upscale buttons that would not fit
        keyboard = fake.calls_to("editMessageMedia")[-1].params["reply_markup"]
        up_data = [b["callback_data"] for row in keyboard["inline_keyboard"] for b in row]
        assert f"job:vary:{up.id}" in up_data
        limits = app.config.limits
        assert (f"job:up4:{up.id}" in up_data) == (
            max(big.width, big.height) * 4 <= limits.upscale_max_side)
    finally:
        await stop(app, service)


async def test_a_picture_over_the_photo_limits_goes_out_as_a_document(tmp_path, fake,
                                                                     monkeypatch):
    from bot.frontends.telegram import frontend

    assert frontend.fits_photo(5 * 2**20, 2048, 2048)
    assert not frontend.fits_photo(11 * 2**20, 2048, 2048)
    assert not frontend.fits_photo(1000, 6000, 5000) and not frontend.fits_photo(1, 2100, 100)
    # Telegram's 10,000 (width + height) brought down to what the tiny model upscales to
    monkeypatch.setattr(frontend, "PHOTO_MAX_SIDES", 300)
    app, service = await start(config_for(tmp_path, fake), fake)
    try:
        sent = fake.send_photo(USER, USER, photo(), caption="/upscale 2", lang="en")
        status = await status_photo(fake, sent["message_id"])
        doc = await until(lambda: fake.calls_to("sendDocument"), what="the document")
        assert doc[0].files["document"][:4] == b"\x89PNG"
        assert int(doc[0].params["reply_parameters"]["message_id"]) == sent["message_id"]
        assert "reply_markup" in doc[0].params and doc[0].params["parse_mode"] == "HTML"
        await until(lambda: any(int(c.params["message_id"]) == status.result["message_id"]
                                for c in fake.calls_to("deleteMessage")),
                    what="the placeholder removed")
        job = (await app.store.jobs_in(JobState.DONE))[0]
        assert job.kind == "upscale" and job.width + job.height > 300
        assert Image.open(io.BytesIO(doc[0].files["document"])).size == (job.width, job.height)
    finally:
        await stop(app, service)
