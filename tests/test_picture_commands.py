"""The picture commands in the core, on a real SQLite store (no engine): /help says which
picture features this bot has, --ref needs Stable unCLIP, picture jobs carry their kind."""

from __future__ import annotations

import dataclasses
import io

from PIL import Image

from bot.config import Config, EngineSection
from bot.i18n import t
from bot.models import JobState
from engine.protocol import ReadyInfo
from tests.test_core import commands_for, core, msg  # noqa: F401 (the fixture)


def with_picture(text: str, data: bytes | None = None, **kw):
    if data is None:
        buf = io.BytesIO()
        Image.new("RGB", (48, 32), "purple").save(buf, "PNG")
        data = buf.getvalue()

    async def fetch() -> bytes:
        return data

    return dataclasses.replace(msg(text, **kw), fetch_picture=fetch)


def ready(**extra) -> ReadyInfo:
    return ReadyInfo("tiny", "cpu", "float32", 64, 64, [], [], True, **extra)


async def test_help_says_which_picture_features_there_are(core):  # noqa: F811
    text = (await core.handle(msg("/help")))[0].text
    assert text.endswith(t("en", "help_available", variations=t("en", "help_img2img"),
                           upscale=t("en", "help_hires"), reference=t("en", "help_no")))
    core.engine_info = lambda: ready(upscale_model="tiny", variations_model="tiny")
    text = (await core.handle(msg("/bantuan", locale="id")))[0].text
    assert text.endswith(t("id", "help_available", variations=t("id", "help_unclip"),
                           upscale=t("id", "help_x4"), reference=t("id", "help_yes")))


async def test_reference_needs_unclip_and_a_picture(core):  # noqa: F811
    replies = await core.handle(with_picture("/generate a castle --ref"))
    assert replies[0].text == t("en", "reference_unavailable")
    core.engine_info = lambda: ready(variations_model="tiny")
    replies = await core.handle(msg("/generate a castle --ref"))
    assert replies[0].text == t("en", "picture_needed")
    replies = await core.handle(with_picture("/generate a castle --ref"))
    assert replies[0].job_id is not None
    job = await core.store.job(replies[0].job_id)
    assert (job.kind, job.state, job.aspect) == ("reference", JobState.QUEUED, "3:2")


async def test_the_config_decides_before_the_engine_is_ready(tmp_path):
    from bot.config import StorageSection
    from bot.storage import Store

    config = Config(storage=StorageSection(database=str(tmp_path / "db"),
                                           images=str(tmp_path / "img")),
                    engine=EngineSection(variations_model="tiny"))
    store = await Store.open(tmp_path / "db", tmp_path / "img")
    try:
        core = commands_for(config, store)
        replies = await core.handle(with_picture("/generate a castle --ref"))
        assert (await core.store.job(replies[0].job_id)).kind == "reference"
    finally:
        await store.close()


async def test_picture_commands_make_their_kinds(core):  # noqa: F811
    for text, kind in (("/generate a cat --strength 0.4", "img2img"),
                       ("/variation", "variation"), ("/variasi kucing", "variation"),
                       ("/upscale 4", "upscale"), ("/perbesar", "upscale")):
        replies = await core.handle(with_picture(text))
        job = await core.store.job(replies[0].job_id)
        assert job.kind == kind, text
        await core.store.cancel("console", "chat", "u1")
    up = [j for j in await core.store.jobs_in(JobState.CANCELLED) if j.kind == "upscale"]
    assert [(j.width, j.height) for j in up] == [(192, 128), (96, 64)]
    replies = await core.handle(with_picture("/upscale 3"))
    assert replies[0].text == t("en", "upscale_factor", value="3", choices="2, 4")
    replies = await core.handle(msg("/upscale 2"))
    assert replies[0].text == t("en", "picture_needed")


async def test_a_reroll_keeps_the_picture_and_an_upscale_its_size(core):  # noqa: F811
    for text in ("/upscale 2", "/generate a cat"):
        first = await core.handle(with_picture(text))
        job = await core.store.job(first[0].job_id)
        again = await core.press(msg(""), f"job:reroll:{job.id}")
        new = await core.store.job(again[0].job_id)
        assert (new.kind, new.source, new.strength) == (job.kind, job.source, job.strength)
        assert (new.width, new.height) == (job.width, job.height)  # upscale: 96×64; else 0
        await core.store.cancel("console", "chat", "u1")
