"""What the status board and the delivery call for Discord jobs (``bot.frontends.base
.FrontEnd``), and the rendering of the core's replies to an interaction.

A queued job's status message is the interaction's original response. While the
interaction's token lives (15 minutes) it is edited through the token; after that, or after a
restart, through the channel. The board (``bot/jobs/status.py``) stores its ref, throttles and
coalesces the edits; this module only renders them.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord
from PIL import Image

from bot.frontends.base import Note, Picture, Reply
from bot.frontends.discord import embeds, views
from bot.frontends.discord.embeds import clip
from bot.i18n import t
from bot.jobs.budget import Budget, Rate
from bot.jobs.status import parse_ref
from bot.jobs.status import ref as make_ref
from bot.models import Job

if TYPE_CHECKING:
    from bot.frontends.discord.bot import PelukisBot

log = logging.getLogger("pelukis.discord")

PLATFORM = "discord"
TOKEN_LIFETIME = timedelta(minutes=14)  # interaction tokens live 15 minutes
READY_TIMEOUT_S = 60.0  # a delivery waits this long for the login before giving up
# what a bot may upload to a server without boosts; a bigger PNG (an upscale) is sent as a
# high-quality JPEG beside it (``pelukis-…jpg``), the PNG kept for the file button
ATTACHMENT_MAX = 10 * 2**20
PROGRESS_STEP = 10  # percent; one bar cell each


def fresh(interaction: discord.Interaction) -> bool:
    """Whether the interaction's token still edits its response."""
    created = getattr(interaction, "created_at", None)
    return created is not None and discord.utils.utcnow() - created < TOKEN_LIFETIME


class DiscordFrontEnd:
    platform = PLATFORM

    settle_s = 0.0  # every request has its own response already (the interaction's)
    shared_interval_s = 10.0

    def __init__(self, bot: PelukisBot):
        self.bot = bot
        self.ready = asyncio.Event()  # set once logged in: REST calls work from then on
        self.interactions: dict[str, discord.Interaction] = {}  # status ref → its interaction
        cfg = bot.config.discord
        channel = Rate(burst=cfg.channel_messages_per_5s, per_s=cfg.channel_messages_per_5s / 5)
        # every edit and message the bot sends through a channel is spent from its budget,
        # so status edits are dropped there before a picture would wait (bot/jobs/budget.py);
        # edits through a live interaction token are not the channel's (a webhook's own)
        self.budget: Budget | None = Budget(lambda chat: channel) \
            if cfg.status == "budget" else None
        self._spent = self.budget or Budget(lambda chat: channel)

    def _spend(self, status: str | int) -> None:
        ids = parse_ref(status) if isinstance(status, str) else (status, 0)
        if ids is not None:
            self._spent.spend(str(ids[0]))

    # -- the status message ----------------------------------------------------------------
    async def open_response(self, interaction: discord.Interaction, message: discord.Message,
                            reply: Reply) -> str:
        """``message`` (the interaction's response) shows ``reply``, a queued job: it is the
        job's status message from now on."""
        assert reply.job_id is not None
        self._forget_expired()
        status = make_ref(message.channel.id, message.id)
        self.interactions[status] = interaction
        await self.bot.app.board.opened(reply.job_id, status, reply.text)
        return status

    def edit_interval(self, ref: str) -> float:
        return self.bot.config.discord.edit_interval_s

    def progress_step(self, ref: str) -> int:
        return PROGRESS_STEP

    @staticmethod
    def progress_text(lang: str, percent: int) -> str:
        """The progress sentence with a bar below it, one cell per step."""
        filled = min(percent, 100) // PROGRESS_STEP
        bar = "█" * filled + "░" * (100 // PROGRESS_STEP - filled)
        return f"{t(lang, 'progress', percent=percent)}\n`{bar}`"

    async def open_status(self, job: Job, text: str) -> str:
        """A status message for a job queued without an interaction (after a restart)."""
        await self._ready()
        channel = await self._channel(int(job.chat_id))
        self._spend(int(job.chat_id))
        sent = await channel.send(clip(text))
        return make_ref(sent.channel.id, sent.id)

    async def send_shared(self, chat_id: str, text: str) -> str:
        await self._ready()
        channel = await self._channel(int(chat_id))
        self._spend(int(chat_id))
        sent = await channel.send(clip(text))
        return make_ref(sent.channel.id, sent.id)

    async def edit_shared(self, ref: str, text: str) -> None:
        await self.edit_status(ref, text)

    async def delete_status(self, ref: str) -> None:
        await self._ready()
        interaction = self.interactions.pop(ref, None)
        try:
            if interaction is not None and fresh(interaction):
                await interaction.delete_original_response()
                return
            channel_id, message_id = self._ids(ref)
            channel = await self._channel(channel_id)
            self._spend(ref)
            await channel.get_partial_message(message_id).delete()
        except discord.NotFound:
            return  # already gone

    async def edit_status(self, ref: str, text: str) -> None:
        if not self.ready.is_set():  # never hold anyone up waiting for the login
            raise RuntimeError("not logged in to Discord yet")
        content = clip(text)
        interaction = self.interactions.get(ref)
        if interaction is not None and fresh(interaction):
            await interaction.edit_original_response(content=content)
            return
        channel_id, message_id = self._ids(ref)
        channel = await self._channel(channel_id)
        self._spend(ref)
        await channel.get_partial_message(message_id).edit(content=content)

    def on_progress(self, job: Job, step: int, total: int) -> None:
        return None  # the bar is drawn by edit_status

    # -- the end of a job ------------------------------------------------------------------
    async def finish(self, job: Job, ref: str, outcome: Picture | Note) -> str:
        """The status message becomes the answer: through the interaction while it lives,
        else through the channel; a reply in the channel when neither works. Raises when
        nothing was sent (the job is delivered again later)."""
        await self._ready()
        sendable = None
        if isinstance(outcome, Picture):
            sendable = await asyncio.to_thread(_fitting_file, outcome.result.image_path)
        parts, file = self._outcome(job, outcome, sendable)
        interaction = self.interactions.pop(ref, None)
        if interaction is not None and fresh(interaction):
            try:
                await interaction.edit_original_response(
                    attachments=[file()] if file else [], **parts)
                return ref
            except discord.HTTPException as exc:
                log.info("job %d: editing the response failed (%s); trying the channel",
                         job.id, exc.status)
        ids = parse_ref(ref)
        if ids is not None and await self._edit_in_channel(job, ids, parts, file):
            return ref
        return await self._reply_in_channel(job, ids, parts, file,
                                            picture=isinstance(outcome, Picture))

    def _outcome(self, job: Job, outcome: Picture | Note, sendable: str | None = None
                 ) -> tuple[dict[str, Any], Callable[[], discord.File] | None]:
        """The message's parts (content, embed, view) and a maker of its file, if any
        (``sendable``: the file to attach instead of the PNG, when that is too big)."""
        if isinstance(outcome, Note):
            return dict(content=clip(outcome.text), embed=None, view=None), None
        path = sendable or outcome.result.image_path
        suffix = ".jpg" if path.endswith(".jpg") else ".png"
        name = f"pelukis-{job.id}-{outcome.result.seed}{suffix}"

        def file() -> discord.File:  # a File is spent once sent: make one per attempt
            return discord.File(path, filename=name)

        return dict(content=None, embed=embeds.image_embed(outcome.caption, name),
                    view=views.buttons_view(outcome.buttons)), file

    async def _edit_in_channel(self, job: Job, ids: tuple[int, int], parts: dict,
                               file: Callable[[], discord.File] | None) -> bool:
        """The status message becomes the answer through the channel (the interaction has
        expired, or the bot restarted). An edit repeated after a crash changes nothing, so
        the user sees one answer; a reply would be a second one."""
        try:
            channel = await self._channel(ids[0])
            self._spend(ids[0])
            await channel.get_partial_message(ids[1]).edit(
                attachments=[file()] if file else [], **parts)
            return True
        except Exception as exc:  # gone, not ours, no access: reply instead
            log.info("job %d: editing the status message failed (%s); replying instead",
                     job.id, exc.__class__.__name__)
            return False

    async def _reply_in_channel(self, job: Job, ids: tuple[int, int] | None, parts: dict,
                                file: Callable[[], discord.File] | None, *,
                                picture: bool) -> str:
        channel = await self._channel(ids[0] if ids else int(job.chat_id))
        reference = None
        if ids is not None:
            reference = discord.MessageReference(message_id=ids[1], channel_id=ids[0],
                                                 fail_if_not_exists=False)
        mention = f"<@{job.user_id}>" if job.user_id.isdigit() else ""
        content = "\n".join(p for p in (mention, parts.get("content") or "") if p)
        kwargs = {key: parts[key] for key in ("embed", "view") if parts.get(key) is not None}
        if file:
            kwargs["file"] = file()
        self._spend(int(job.chat_id))
        sent = await channel.send(
            content=clip(content) or None, reference=reference,
            allowed_mentions=discord.AllowedMentions(
                users=[discord.Object(int(job.user_id))] if mention else False,
                everyone=False, roles=False, replied_user=False),
            **kwargs)
        if ids is not None and picture:
            # the stale "Painting… 50%"; the image is out, so a failure here must not raise
            # (the image would be sent again at the next start)
            try:
                self._spend(ids[0])
                await channel.get_partial_message(ids[1]).edit(
                    content=t(job.lang, "dc_sent_below"))
            except Exception as exc:
                log.debug("job %d: status message not updated: %s", job.id, exc)
        return make_ref(sent.channel.id, sent.id)

    # -- replies to an interaction ---------------------------------------------------------
    async def answer(self, interaction: discord.Interaction, replies: list[Reply], *,
                     private: bool = False) -> None:
        """Render the core's replies to a deferred interaction: the first edits the original
        response, the rest follow up. A queued job's reply becomes its status message."""
        for i, reply in enumerate(replies):
            content = clip(reply.text) if reply.text else None
            view = views.buttons_view(reply.buttons)
            files = views.reply_files(reply)
            if i == 0:
                message = await interaction.edit_original_response(
                    content=content, view=view, **({"attachments": files} if files else {}))
            else:
                message = await interaction.followup.send(
                    content, view=view or discord.utils.MISSING,
                    files=files or discord.utils.MISSING,
                    ephemeral=private and reply.job_id is None, wait=reply.job_id is not None)
            if reply.job_id is not None:
                await self.open_response(interaction, message, reply)

    # -- helpers ---------------------------------------------------------------------------
    def _forget_expired(self) -> None:
        for key in [k for k, ia in self.interactions.items() if not fresh(ia)]:
            del self.interactions[key]

    @staticmethod
    def _ids(status: str) -> tuple[int, int]:
        ids = parse_ref(status)
        if ids is None:
            raise ValueError(f"not a Discord status message: {status!r}")
        return ids

    async def _ready(self) -> None:
        try:
            await asyncio.wait_for(self.ready.wait(), READY_TIMEOUT_S)
        except TimeoutError:
            raise RuntimeError("not logged in to Discord yet") from None

    async def _channel(self, channel_id: int) -> discord.abc.Messageable:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            channel = await self.bot.fetch_channel(channel_id)
        return channel  # type: ignore[return-value]

    async def close(self) -> None:
        self.interactions.clear()


def _fitting_file(png_path: str) -> str:
    """``png_path``, or a JPEG copy of it (made once, beside it) when the PNG is over
    ``ATTACHMENT_MAX``."""
    if os.path.getsize(png_path) <= ATTACHMENT_MAX:
        return png_path
    jpeg = os.path.splitext(png_path)[0] + ".jpg"
    if not os.path.exists(jpeg):
        with Image.open(png_path) as image:
            tmp = jpeg + ".tmp"
            image.convert("RGB").save(tmp, "JPEG", quality=92)
            os.replace(tmp, jpeg)
    return jpeg

