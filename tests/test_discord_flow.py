"""Jobs to images on Discord: three members queueing in one channel with the real engine
(tiny model, CPU), and a restart: finished jobs are sent to the channel as a reply to the
stored status message (through discord.py and dpytest's fake Discord), and the persistent
buttons on them are resolved by discord.py's view store and answered by the core."""

import asyncio
import io
import time

import discord
import discord.ext.test as dpytest
import pytest
from discord.ext.test import backend as dpytest_backend
from PIL import Image

from bot.app import App
from bot.frontends.discord import views
from bot.frontends.discord.bot import PelukisBot
from bot.i18n import t
from bot.models import JobState, Result
from tests.test_discord_commands import (
    CHANNEL,
    FakeInteraction,
    FakeMessage,
    discord_config,
    invoke,
    make_bot,
    member,
)


async def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("waited too long")
        await asyncio.sleep(0.05)


async def delivered(app: App, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while await app.store.undelivered("discord"):
        if time.monotonic() > deadline:
            raise TimeoutError("waited too long for the deliveries")
        await asyncio.sleep(0.05)


def finished(ia: FakeInteraction) -> dict | None:
    done = [kw for name, kw in ia.calls if name == "edit_original_response" and "embed" in kw]
    return done[-1] if done else None


@pytest.mark.slow
async def test_three_members_queue_in_one_channel(tmp_path):
    app = await App.open(discord_config(tmp_path, engine={"max_batch": 1}))
    bot = await make_bot(app)
    try:
        users = [member(uid) for uid in (11, 12, 13)]
        asks = []
        for n, user in enumerate(users, 1):
            ia = FakeInteraction(bot, user)
            await invoke(bot, "generate", ia, prompt=f"kucing nomor {n}", seed=n, steps=2)
            asks.append(ia)
        assert [ia.text for ia in asks] == [t("en", "queued_next"),
                                            t("en", "queued", position=2),
                                            t("en", "queued", position=3)]
        app.start()  # the dispatcher and the engine process
        await wait_for(lambda: all(finished(ia) for ia in asks))
        await delivered(app)  # each marked delivered once shown

        jobs = sorted(await app.store.jobs_in(JobState.DONE), key=lambda j: j.id)
        assert [j.user_id for j in jobs] == ["11", "12", "13"]
        assert await app.store.undelivered("discord") == []  # each marked delivered
        for n, (ia, job) in enumerate(zip(asks, jobs, strict=True), 1):
            # the status message moved through the queue, then became the image
            texts = [kw["content"] for name, kw in ia.calls
                     if name == "edit_original_response" and "embed" not in kw]
            # "Painting…", or its progress ("Painting… 50%"): the board keeps the latest
            assert any(text.startswith(t("en", "painting")) for text in texts), texts
            done = finished(ia)
            assert done["content"] is None
            fields = {f.name: f.value for f in done["embed"].fields}
            assert fields["Prompt"] == f"kucing nomor {n}"
            assert fields["English"].startswith("cat")  # translated offline
            # tiny's own guidance (test_model_cfg), not SD 2.1's 7.5
            assert (fields["Seed"], fields["Steps"], fields["CFG"]) == (str(n), "2", "2")
            assert fields["CLIP"].endswith("(test model)")
            (file,) = done["attachments"]
            assert file.filename == f"pelukis-{job.id}-{n}.png"
            assert done["embed"].image.url == f"attachment://{file.filename}"
            assert [c.item.custom_id for c in done["view"].children] == [
                f"job:reroll:{job.id}", f"job:seed:{job.id}", f"job:vary:{job.id}",
                f"job:up2:{job.id}", f"job:up4:{job.id}", f"job:del:{job.id}"]
            assert job.status_ref not in bot.frontend.interactions  # nothing left behind
        # the last in line was told when it moved up
        assert t("en", "queued_next") in [kw.get("content") for _, kw in asks[2].calls]
    finally:
        await bot.frontend.close()
        await app.close()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 100, 50)).save(out, format="PNG")
    return out.getvalue()


async def finish_without_sending(app: App, job_id: int) -> None:
    """What the engine and dispatcher leave behind when the bot dies just before sending."""
    job = await app.store.job(job_id)
    await app.store.mark_running([job])
    path = str(app.store.image_path(job))
    await app.store.store_result(job, png(), Result(job.id, job.seed, 30.0, path, 8, 8))


async def fake_discord(bot) -> None:
    """dpytest's Discord: a guild, channels and the members Ani and Budi. dpytest keeps
    members only in the member cache, which needs the members intent: the test bot gets it
    (the real one does not: interactions carry their member)."""
    assert not bot.intents.members
    bot._connection._intents.members = True
    bot._connection.member_cache_flags = discord.MemberCacheFlags.all()
    await bot._async_setup_hook()  # what login() does first: the bot gets its event loop
    dpytest.configure(bot, members=["Ani", "Budi"])


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # dpytest writes the files it "uploads" to the working dir
    return tmp_path


async def test_after_a_restart_the_image_is_a_reply_and_its_buttons_work(in_tmp, monkeypatch):
    config = discord_config(in_tmp)
    # -- before: a member asks, the bot stores the status message's handle, then dies
    first = await App.open(config)
    bot = await make_bot(first)
    await fake_discord(bot)
    guild = dpytest.get_config().guilds[0]
    channel = dpytest_backend.make_text_channel("lukisan", guild, id_num=CHANNEL + 5)
    ani = dpytest.get_config().members[0]
    status = await channel.send("Queued: you're next.")  # the deferred response, as Discord has it
    ia = FakeInteraction(bot, member(ani.id), channel_id=channel.id, guild_id=guild.id)
    ia.original = status
    await invoke(bot, "generate", ia, prompt="kucing di pasar", seed=9, steps=2)
    (job,) = await first.store.jobs_in(JobState.QUEUED)
    assert job.status_ref == f"{channel.id}:{status.id}"
    await bot.frontend.close()
    await first.close()
    await dpytest.empty_queue()

    # -- restart: a fresh App and bot on the same files; the job ended while we were away
    app = await App.open(config)
    await finish_without_sending(app, job.id)
    bot = PelukisBot(config, app)
    app.add_frontend(bot.frontend)
    await fake_discord(bot)
    guild = dpytest.get_config().guilds[0]
    channel = dpytest_backend.make_text_channel("lukisan", guild, id_num=CHANNEL + 5)
    sent = []
    send = discord.abc.Messageable.send

    async def spy(self, *args, **kwargs):
        sent.append(kwargs)
        return await send(self, *args, **kwargs)

    monkeypatch.setattr(discord.abc.Messageable, "send", spy)
    try:
        await bot.setup_hook()  # builds the tree, registers buttons, sends what is pending
        await delivered(app)

        message = dpytest.get_message()
        assert message.channel.id == channel.id
        assert message.attachments[0].filename == f"pelukis-{job.id}-9.png"
        assert message.attachments[0].size == len(png())
        # dpytest keeps only the file of a multipart message: the rest from the call itself
        image = next(kw for kw in sent if "embed" in kw)
        assert image["content"] == f"<@{ani.id}>"
        assert {f.name: f.value for f in image["embed"].fields}["Seed"] == "9"
        assert image["reference"].message_id == status.id  # a reply to the status message
        assert image["allowed_mentions"].users == [discord.Object(int(ani.id))]
        assert [c.item.custom_id for c in image["view"].children] == [
            f"job:reroll:{job.id}", f"job:seed:{job.id}", f"job:vary:{job.id}",
            f"job:up2:{job.id}", f"job:up4:{job.id}", f"job:del:{job.id}"]
        # the board keeps the reply as the job's message: a repeated delivery edits it
        assert (await app.store.job(job.id)).status_ref == f"{channel.id}:{message.id}"

        # -- a press on that message's button after the restart: discord.py's view store
        # matches the template registered at start; the core looks the job up
        custom_id = f"job:seed:{job.id}"
        carrier = FakeMessage(channel.id, [])
        carrier.flags = discord.MessageFlags()
        carrier.components = [discord.ActionRow({"type": 1, "components": [
            {"type": 2, "style": 2, "label": "📌", "custom_id": custom_id}]})]
        budi = dpytest.get_config().members[1]
        press = FakeInteraction(bot, member(budi.id), channel_id=channel.id,
                                guild_id=guild.id, message=carrier)
        press.data = {"custom_id": custom_id, "component_type": 2}
        resolved = []
        original = views.JobButton.from_custom_id.__func__

        async def watch(cls, interaction, item, match):
            resolved.append(await original(cls, interaction, item, match))
            return resolved[-1]

        monkeypatch.setattr(views.JobButton, "from_custom_id", classmethod(watch))
        bot._connection._view_store.dispatch_view(2, custom_id, press)
        await wait_for(lambda: press.calls, 5)
        (item,) = resolved
        assert (item.action, item.job_id) == ("seed", job.id)
        assert press.last("send_message")["content"] == t("en", "seed_set", seed=9)
        settings = await app.store.user_settings("discord", str(guild.id), str(budi.id))
        assert settings.seed == 9
    finally:
        await bot.frontend.close()
        await app.close()
        await dpytest.empty_queue()
