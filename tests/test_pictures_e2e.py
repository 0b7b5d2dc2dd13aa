"""Pictures in through the console chat, end to end: bot process + engine process + SQLite.
``--image PATH`` with /generate, /variation and /upscale; bad pictures answered, the chat
alive after them."""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from bot.i18n import t
from tests.conftest import write_config
from tests.test_console_e2e import SAVED, chat

pytestmark = pytest.mark.slow


def write(path: Path, image: Image.Image, fmt: str = "PNG", **options) -> Path:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    path.write_bytes(buf.getvalue())
    return path


def test_console_redraws_varies_and_upscales_a_picture(tmp_path):
    photo = Image.new("RGB", (120, 80), "white")
    ImageDraw.Draw(photo).ellipse((10, 10, 70, 70), fill="red")
    pic = write(tmp_path / "my photo.jpg", photo, "JPEG", quality=90)
    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "blue")]
    gif = write(tmp_path / "moving.gif", frames[0], "GIF", save_all=True,
                append_images=frames[1:], duration=50)
    dot = write(tmp_path / "dot.png", Image.new("RGB", (1, 1)))
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    config = write_config(tmp_path, limits={"default_steps": 4, "max_queued_per_user": 20})
    script = "\n".join([
        "/lang en",
        f'/generate a red cat --seed 3 --steps 4 --image "{pic}"',
        f'/generate a red cat --seed 3 --steps 4 --image "{pic}"',
        f'/generate a red cat --seed 3 --steps 4 --image "{pic}" --strength 0.9',
        f'/variation --image "{pic}"',
        f'/upscale 2 --image "{pic}"',
        f"/generate a cat --image {text}",
        f"/generate a cat --image {gif}",
        f"/generate a cat --image {dot}",
        f"/generate a cat --image {tmp_path / 'missing.png'}",
        "/variation",
        "/generate a cat --steps 2 --strength 0.5",
        "/generate a cat --steps 2",
    ]) + "\n"
    run = chat(config, script)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    for key, values in (("picture_not_image", {}), ("picture_animated", {}),
                        ("picture_too_small", {"width": 1, "height": 1, "limit": 16}),
                        ("picture_unavailable", {}), ("picture_needed", {}),
                        ("strength_needs_picture", {})):
        assert t("en", key, **values) in out, key
    saved = {int(i): Path(p) for i, p in SAVED.findall(out)}
    assert sorted(saved) == [1, 2, 3, 4, 5, 6], out  # the bad ones queued nothing
    same, again, stronger = (saved[i].read_bytes() for i in (1, 2, 3))
    assert same == again  # the same picture, prompt and seed
    assert stronger != same
    db = sqlite3.connect(tmp_path / "pelukis.db")
    kinds = dict(db.execute("SELECT id, kind FROM jobs"))
    assert kinds == {1: "img2img", 2: "img2img", 3: "img2img", 4: "variation",
                     5: "upscale", 6: "text"}
    up = Image.open(saved[5])
    assert up.size == (240, 160)  # the stored picture (120×80), twice as big
    assert Image.open(saved[4]).size == Image.open(saved[1]).size
    assert re.search(r"Saved: .*", out)


def test_one_shot_generate_redraws_a_picture(tmp_path):
    from tests.test_cli import run

    photo = Image.new("RGB", (96, 64), "white")
    ImageDraw.Draw(photo).rectangle((8, 8, 60, 40), fill="green")
    pic = write(tmp_path / "p.png", photo)
    config = str(write_config(tmp_path, bot={"language": "en"}))
    outs = []
    for name in ("a.png", "b.png"):
        out = run("generate", "a green box", "--image", str(pic), "--seed", "3", "--steps",
                  "4", "--strength", "0.5", "--out", str(tmp_path / name), "--config", config)
        assert out.returncode == 0, out.stderr[-2000:]
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1]
    assert Image.open(tmp_path / "a.png").size[0] > Image.open(tmp_path / "a.png").size[1]
    bad = run("generate", "a cat", "--image", str(tmp_path / "nope.png"), "--config", config,
              timeout=60)
    assert bad.returncode == 2 and t("en", "picture_unavailable") in bad.stderr
    lone = run("generate", "a cat", "--strength", "0.5", "--config", config, timeout=60)
    assert lone.returncode == 2 and t("en", "strength_needs_picture") in lone.stderr


async def test_a_job_whose_stored_picture_vanished_fails_with_a_note(tmp_path):
    """The dispatcher reads each picture job's input before the batch; one that is gone
    (removed by hand, a full disk) ends that job with picture_unavailable, the others run."""
    import asyncio
    import dataclasses
    import os

    from bot.app import App
    from bot.config import load_config
    from bot.models import Incoming, JobState

    app = await App.open(load_config(write_config(tmp_path), must_exist=True))
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buf, "PNG")

    async def fetch() -> bytes:
        return buf.getvalue()

    base = Incoming(platform="console", chat_id="c", user_id="u", text="", private=True,
                    fetch_picture=fetch)
    try:
        gone = await app.commands.handle(dataclasses.replace(
            base, text="/generate a red cat --steps 2 --seed 1"))
        job = await app.store.job(gone[0].job_id)
        await asyncio.to_thread(os.remove, job.source)
        plain = await app.commands.handle(dataclasses.replace(
            base, text="/generate a cat --steps 2", fetch_picture=None))
        app.start()
        for _ in range(600):
            states = {j.id: j for j in await app.store.jobs_in(JobState.FAILED, JobState.DONE)}
            if len(states) == 2:
                break
            await asyncio.sleep(0.1)
        failed, done = states[gone[0].job_id], states[plain[0].job_id]
        assert (failed.state, failed.error_key) == (JobState.FAILED, "picture_unavailable")
        assert done.state == JobState.DONE
    finally:
        await app.close()
