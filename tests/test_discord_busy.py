"""A busy Discord channel: 30 requests at once through the interaction doubles, the real
engine (tiny model). Half-way the interaction tokens expire (simulated: their 15 minutes
are over), then the bot restarts. Every status message (each interaction's response) must
end as its picture, none showing "queued" or "painting", and no picture twice."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import timedelta
from types import SimpleNamespace

import discord
import pytest

from bot.app import App
from bot.frontends.discord.bot import PelukisBot
from bot.models import JobState
from tests.test_discord_commands import FakeInteraction, discord_config, invoke, make_bot, member

pytestmark = pytest.mark.slow

CHANNEL = 7070
REQUESTS = 30
_ids = itertools.count(900_000)


class Message:
    """A message in the channel, as Discord keeps it."""

    def __init__(self, channel: Channel, **parts):
        self.id = next(_ids)
        self.channel = channel
        self.parts = {"content": None, "embed": None, "attachments": []} | parts
        self.edits = 0

    @property
    def content(self):
        return self.parts["content"]

    @content.setter
    def content(self, value):
        self.parts["content"] = value

    def shows_picture(self) -> bool:
        return self.parts.get("embed") is not None and bool(self.parts.get("attachments"))


class Channel:
    """The channel's REST side the front end uses after a token expired or a restart:
    partial messages to edit or delete, and send (a reply). Records every message."""

    def __init__(self):
        self.id = CHANNEL
        self.messages: dict[int, Message] = {}
        self.calls: list[str] = []

    def post(self, **parts) -> Message:
        message = Message(self, **parts)
        self.messages[message.id] = message
        return message

    async def send(self, content=None, **kwargs):
        self.calls.append("send")
        files = [kwargs.pop("file")] if "file" in kwargs else []
        return self.post(content=content, embed=kwargs.get("embed"), attachments=files)

    def get_partial_message(self, message_id: int):
        channel = self

        class Partial:
            async def edit(self, **parts):
                channel.calls.append("edit")
                message = channel.messages.get(message_id)
                if message is None:
                    raise discord.NotFound(SimpleNamespace(status=404, reason="gone"), "gone")
                message.parts.update(parts)
                message.edits += 1

            async def delete(self):
                channel.calls.append("delete")
                channel.messages.pop(message_id, None)

        return Partial()


class Interaction(FakeInteraction):
    """The interaction double, whose response is a message of the channel."""

    def __init__(self, bot, user, channel: Channel):
        super().__init__(bot, user, channel_id=CHANNEL)
        self.original = channel.post(content=None)

    async def edit_original_response(self, **kwargs):
        assert discord.utils.utcnow() - self.created_at < timedelta(minutes=15), \
            "edited through an expired interaction token"
        await super().edit_original_response(**kwargs)
        self.original.parts.update(kwargs)
        self.original.edits += 1
        return self.original


async def delivered(app: App, count: int, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        waiting = await app.store.jobs_in(JobState.QUEUED, JobState.RUNNING)
        done = REQUESTS - len(waiting) - len(await app.store.undelivered("discord"))
        if done >= count:
            return
        assert time.monotonic() < deadline, f"{done} of {count} delivered"
        await asyncio.sleep(0.1)


async def serving(app: App, channel: Channel, monkeypatch) -> PelukisBot:
    bot = await make_bot(app)
    monkeypatch.setattr(bot, "get_channel", lambda channel_id: channel)
    return bot


async def test_thirty_requests_expired_tokens_and_a_restart_leave_nothing_behind(
        tmp_path, monkeypatch):
    config = discord_config(tmp_path, engine={"max_batch": 4})
    channel = Channel()
    app = await App.open(config)
    bot = await serving(app, channel, monkeypatch)
    asks = []
    try:
        for n in range(REQUESTS):
            ia = Interaction(bot, member(100 + n), channel)
            await invoke(bot, "generate", ia, prompt=f"rumah merah nomor {n}", seed=n,
                         steps=2)
            asks.append(ia)
        app.start()
        await delivered(app, 8)
        for ia in asks:  # their 15 minutes are over: only the channel reaches them now
            ia.created_at -= timedelta(minutes=16)
        await delivered(app, 14)
        await bot.frontend.close()
    finally:
        await app.close()

    # -- the restart: a new process on the same files; no interaction is known any more
    app = await App.open(config)
    try:
        bot = await serving(app, channel, monkeypatch)
        app.start()
        await delivered(app, REQUESTS)
        await asyncio.sleep(1.0)  # a late duplicate would show now
        await bot.frontend.close()
    finally:
        await app.close()

    statuses = {ia.original.id for ia in asks}
    for message in channel.messages.values():
        if message.id in statuses:
            assert message.shows_picture(), message.parts  # none left "queued"/"painting"
    assert all(channel.messages.get(i) for i in statuses), "a status message was lost"
    # a picture once each: the status messages became the pictures, nothing was sent twice
    pictures = [m for m in channel.messages.values() if m.shows_picture()]
    assert len(pictures) == REQUESTS
    assert channel.calls.count("send") == 0
    expired = [ia for ia in asks if "embed" not in str(ia.calls)]
    assert len(expired) >= REQUESTS - 14  # those reached through the channel only
