"""Discord's attachment option on /generate, /variation and /upscale: discord.py's own tree
reads the raw interaction data (an ATTACHMENT option and its ``resolved`` entry), the file is
downloaded from its URL on a local HTTP server standing for Discord's CDN, and the job is
stored; bad attachments are answered in the user's language. No engine, no network."""

from __future__ import annotations

import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from bot.app import App
from bot.i18n import t
from bot.models import JobState
from tests.test_discord_commands import (
    FakeInteraction,
    discord_config,
    invoke,
    make_bot,
    member,
    option_data,
)

ATTACHMENT = 11


class FakeCDN:
    """Serves ``files`` (path → bytes) on 127.0.0.1; ``delay_s`` slows every answer."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.hits: list[str] = []
        self.delay_s = 0.0
        cdn = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                cdn.hits.append(self.path)
                time.sleep(cdn.delay_s)
                data = cdn.files.get(self.path)
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                try:
                    self.wfile.write(data or b"")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, name: str, data: bytes) -> str:
        path = f"/attachments/1/2/{name}"
        self.files[path] = data
        return self.base + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cdn():
    server = FakeCDN()
    yield server
    server.close()


@pytest.fixture
async def app(tmp_path):
    app = await App.open(discord_config(tmp_path, limits={"picture_download_timeout_s": 1,
                                                          "picture_max_mb": 0.5}))
    yield app
    await app.close()


@pytest.fixture
async def bot(app):
    bot = await make_bot(app)
    yield bot
    await bot.frontend.close()


def png(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


async def invoke_with(bot, name: str, interaction, url: str, size: int, **options):
    """A slash command with a picture attached, as Discord delivers it."""
    command = bot.tree.get_command(name)
    data = option_data(command, options)
    data.append({"name": "image", "type": ATTACHMENT, "value": "555"})
    interaction.data = {"type": 1, "name": name, "id": "1", "options": data,
                        "resolved": {"attachments": {"555": {
                            "id": "555", "filename": url.rsplit("/", 1)[1], "size": size,
                            "url": url, "proxy_url": url, "content_type": "image/png"}}}}
    await bot.tree._call(interaction)
    return interaction


async def test_generate_variation_upscale_with_an_attachment(bot, app, cdn):
    picture = png(Image.new("RGB", (96, 64), "orange"))
    url = cdn.add("photo.png", picture)
    ia = await invoke_with(bot, "generate", FakeInteraction(bot, member(1)), url,
                           len(picture), prompt="kucing oranye", seed=4, strength=0.7)
    assert ia.text == t("en", "queued_next")
    assert cdn.hits == ["/attachments/1/2/photo.png"]
    await invoke_with(bot, "variation", FakeInteraction(bot, member(1)), url, len(picture))
    await invoke_with(bot, "upscale", FakeInteraction(bot, member(1)), url, len(picture),
                      factor="4")
    jobs = sorted(await app.store.jobs_in(JobState.QUEUED), key=lambda j: j.id)
    assert [(j.kind, j.strength) for j in jobs] == [
        ("img2img", 0.7), ("variation", app.config.limits.variation_strength),
        ("upscale", app.config.limits.upscale_strength)]
    assert jobs[0].source == jobs[1].source == jobs[2].source
    stored = Image.open(jobs[0].source)
    assert stored.size == (96, 64) and stored.mode == "RGB"
    assert (jobs[2].width, jobs[2].height) == (384, 256)
    assert jobs[0].aspect == "3:2" and jobs[0].prompt == "kucing oranye"


async def test_bad_attachments_are_answered_and_nothing_is_queued(bot, app, cdn):
    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "blue")]
    gif = png(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    cases = [
        ("en-US", "en", cdn.add("notes.png", b"just text"), 9, "picture_not_image", {}),
        ("id", "id", cdn.add("moving.png", gif), len(gif), "picture_animated", {}),
        ("en-US", "en", cdn.add("gone.png", b"")[:-8] + "nope.png", 10,
         "picture_unavailable", {}),
        ("id", "id", cdn.add("huge.png", b"x"), 10 * 2**20, "picture_too_big",
         {"size": "10.0", "limit": "0.5"}),
    ]
    for locale, lang, url, size, key, values in cases:
        ia = await invoke_with(bot, "generate", FakeInteraction(bot, member(1), locale=locale),
                               url, size, prompt="a cat")
        assert ia.text == t(lang, key, **values), key
    assert "/attachments/1/2/huge.png" not in cdn.hits  # refused by its size, unread
    cdn.delay_s = 2.5
    slow = cdn.add("slow.png", png(Image.new("RGB", (40, 40))))
    ia = await invoke_with(bot, "generate", FakeInteraction(bot, member(1)), slow, 100,
                           prompt="a cat")
    assert ia.text == t("en", "picture_unavailable")
    cdn.delay_s = 0
    assert not await app.store.jobs_in(JobState.QUEUED)
    # /variation with nothing attached says what it needs; the bot still takes jobs
    ia = FakeInteraction(bot, member(1))
    await invoke(bot, "variation", ia)
    assert ia.text == t("en", "picture_needed")
    await invoke(bot, "generate", FakeInteraction(bot, member(1)), prompt="a cat")
    assert len(await app.store.jobs_in(JobState.QUEUED)) == 1


async def test_the_reference_option_shows_only_with_unclip(tmp_path):
    from bot.config import load_config
    from bot.frontends.discord.bot import PelukisBot
    from bot.frontends.discord.sync import tree_payload
    from tests.conftest import write_config

    seen = {}
    for name, engine in (("without", {}), ("with", {"variations_model": "tiny"})):
        folder = tmp_path / name
        folder.mkdir()
        bot = PelukisBot(load_config(write_config(folder, engine=engine)), sync_on_start=False)
        payload = {c["name"]: c for c in await tree_payload(bot)}
        seen[name] = [o["name"] for o in payload["generate"]["options"]]
    assert "reference" not in seen["without"] and "reference" in seen["with"]
    assert "image" in seen["without"] and "image" in seen["with"]


async def test_a_picture_over_the_attachment_limit_goes_out_as_a_jpeg(bot, app, tmp_path,
                                                                      monkeypatch):
    from bot.caption import Caption
    from bot.frontends.base import Button, Picture
    from bot.frontends.discord import frontend
    from bot.models import Result
    from tests.test_discord_commands import queued_job

    job, ia = await queued_job(bot, app)
    path = tmp_path / "big.png"
    path.write_bytes(png(Image.effect_noise((120, 80), 60).convert("RGB")))
    caption = Caption("p", "p", "none", "none", 1, 7.5, 2, 10.0, True, "en")
    shown = Picture(Result(job.id, 1, 10.0, str(path), 120, 80), caption,
                    [Button("🎲", f"job:reroll:{job.id}")])
    # Discord's 10 MiB brought down to what this test's picture weighs
    monkeypatch.setattr(frontend, "ATTACHMENT_MAX", path.stat().st_size - 1)
    await bot.frontend.finish(job, job.status_ref, shown)
    done = ia.last("edit_original_response")
    name = f"pelukis-{job.id}-1.jpg"
    assert [f.filename for f in done["attachments"]] == [name]
    assert done["embed"].image.url == f"attachment://{name}"
    jpeg = Image.open(tmp_path / "big.jpg")
    assert jpeg.format == "JPEG" and jpeg.size == (120, 80)
    assert path.exists()  # the PNG stays, for the original-file button
