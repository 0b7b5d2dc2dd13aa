"""The Discord bot: a ``commands.Bot`` that loads one cog per feature, and the front end the
dispatcher talks to (status edits, progress, the finished image).

No command logic lives here: slash commands become the core's text commands (see the cogs);
buttons are ``DynamicItem`` templates over stored jobs (see ``views.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.caption import Caption
from bot.config import Config
from bot.core import Core
from bot.frontend import Reply
from bot.frontends.discord import checks, embeds, views
from bot.frontends.discord.embeds import clip
from bot.i18n import CATALOGS, t
from bot.models import Incoming, Job, Result

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("pelukis.discord")
# The bot never joins voice: discord.py's warnings about missing voice libraries are noise.
logging.getLogger("discord.client").addFilter(
    lambda record: "voice will NOT be supported" not in record.getMessage())

PLATFORM = "discord"
COGS = ("generate", "settings", "styles", "info")
TOKEN_LIFETIME = timedelta(minutes=14)  # interaction tokens live 15 minutes
READY_TIMEOUT_S = 60.0  # a delivery waits this long for the login before giving up


def loc(key: str) -> app_commands.locale_str:
    """A command/option/choice string: English here, Indonesian through the translator."""
    return app_commands.locale_str(CATALOGS["en"][key], key=key)


class CatalogTranslator(app_commands.Translator):
    """Indonesian names and descriptions for the command tree, from ``bot/i18n/id.py``."""

    async def translate(self, string: app_commands.locale_str, locale: discord.Locale,
                        context: app_commands.TranslationContextTypes) -> str | None:
        key = string.extras.get("key")
        if locale is not discord.Locale.indonesian or key is None:
            return None
        return CATALOGS["id"].get(key)


def parse_ref(ref: str) -> tuple[int, int] | None:
    """``"channel_id:message_id"`` (a job's status_ref) → ids, or None."""
    channel, _, message = ref.partition(":")
    return (int(channel), int(message)) if channel.isdigit() and message.isdigit() else None


def progress_text(lang: str, step: int, total: int) -> str:
    percent = int(100 * step / total) if total else 0
    filled = percent // 10
    return f"{t(lang, 'progress', percent=percent)}\n`{'█' * filled}{'░' * (10 - filled)}`"


@dataclass(eq=False)
class Status:
    """A job's status message: the interaction that made it (while its token lives) and
    the channel message itself (for edits after the token expired or a restart)."""

    channel_id: int
    message_id: int | None = None
    interaction: discord.Interaction | None = None
    wanted: str | None = None  # the latest text asked for
    shown: str | None = None  # the text the message has
    last_edit: float = 0.0
    finished: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def fresh(self) -> bool:
        created = getattr(self.interaction, "created_at", None)
        return created is not None and discord.utils.utcnow() - created < TOKEN_LIFETIME


class DiscordFrontEnd:
    """What the dispatcher calls for Discord jobs (``bot.frontend.FrontEnd``)."""

    platform = PLATFORM

    def __init__(self, bot: PelukisBot):
        self.bot = bot
        self.interval = bot.config.discord.edit_interval_s
        self.statuses: dict[int, Status] = {}
        self.ready = asyncio.Event()  # set once logged in: REST calls work from then on
        self._tasks: set[asyncio.Task] = set()

    # -- the status message of a queued job ------------------------------------------------
    async def announce(self, interaction: discord.Interaction, reply: Reply, *,
                       sent: bool = False) -> None:
        """A job was queued; the interaction's original response is its status message
        (``sent``: it already says ``reply.text``)."""
        assert reply.job_id is not None
        status = self.statuses.setdefault(
            reply.job_id, Status(channel_id=interaction.channel_id or 0))
        status.interaction = interaction
        if status.wanted is None:  # the dispatcher may have spoken first
            status.wanted = reply.text
            if sent:
                status.shown = clip(reply.text)
        await self._flush(status)
        message = await interaction.original_response()
        status.message_id = message.id
        await self.bot.app.store.set_status_ref(reply.job_id, f"{message.channel.id}:{message.id}")

    def _status(self, job: Job) -> Status:
        status = self.statuses.get(job.id)
        if status is None:
            ids = parse_ref(job.status_ref)
            status = self.statuses[job.id] = (
                Status(channel_id=ids[0], message_id=ids[1]) if ids
                else Status(channel_id=int(job.chat_id)))  # no message yet: remember the text
        return status

    async def _flush(self, status: Status) -> None:
        """Bring the message to the latest wanted text; one edit at a time per message."""
        async with status.lock:
            if status.finished or status.wanted is None or status.wanted == status.shown:
                return
            text = clip(status.wanted)
            status.last_edit = time.monotonic()
            if status.interaction is not None and status.fresh():
                await status.interaction.edit_original_response(content=text)
            elif status.message_id is not None:
                channel = await self._channel(status.channel_id)
                await channel.get_partial_message(status.message_id).edit(content=text)
            else:
                return
            status.shown = text

    async def job_status(self, job: Job, text: str) -> None:
        status = self._status(job)
        status.wanted = text
        if self.ready.is_set():  # never hold the dispatcher up waiting for a login
            await self._flush(status)

    def job_progress(self, job: Job, step: int, total: int) -> None:
        status = self._status(job)
        now = time.monotonic()
        if (not self.ready.is_set() or status.finished or status.lock.locked()
                or now - status.last_edit < self.interval):
            return
        status.wanted = progress_text(job.lang, step, total)
        status.last_edit = now  # reserve the slot before the edit runs
        task = asyncio.get_running_loop().create_task(self._quiet_flush(status, job.id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _quiet_flush(self, status: Status, job_id: int) -> None:
        try:
            await self._flush(status)
        except discord.HTTPException as exc:  # progress is best effort
            log.debug("progress edit for job %d failed: %s", job_id, exc)

    # -- the end of a job ------------------------------------------------------------------
    async def job_done(self, job: Job, result: Result, caption: Caption) -> None:
        name = f"pelukis-{job.id}-{result.seed}.png"
        embed = embeds.image_embed(caption, name)
        view = views.buttons_view(Core.job_buttons(job, job.lang))

        def file() -> discord.File:  # a File is spent once sent: make one per attempt
            return discord.File(result.image_path, filename=name)

        await self._finish(job, dict(embed=embed, view=view), file)

    async def job_failed(self, job: Job, text: str) -> None:
        await self._finish(job, dict(content=clip(text)), None)

    async def _finish(self, job: Job, parts: dict, file) -> None:
        """Edit the status message into the answer while the interaction lives; otherwise
        (a restart, a long queue) reply to it in the channel. Raises when nothing was sent."""
        await self._ready()
        status = self._status(job)
        async with status.lock:
            status.finished = True
            if status.interaction is not None and status.fresh():
                try:
                    await status.interaction.edit_original_response(
                        content=parts.get("content"), embed=parts.get("embed"),
                        attachments=[file()] if file else [], view=parts.get("view"))
                    self.statuses.pop(job.id, None)
                    return
                except discord.HTTPException as exc:
                    log.info("job %d: editing the response failed (%s); replying in the "
                             "channel instead", job.id, exc.status)
            if await self._edit_in_channel(job, status, parts, file):
                self.statuses.pop(job.id, None)
                return
            await self._reply_in_channel(job, status, parts, file)
        self.statuses.pop(job.id, None)

    async def _edit_in_channel(self, job: Job, status: Status, parts: dict, file) -> bool:
        """The status message becomes the answer through the channel (the interaction has
        expired, or the bot restarted). An edit repeated after a crash changes nothing, so
        the user sees one answer; a reply would be a second one."""
        if status.message_id is None:
            return False
        try:
            channel = await self._channel(status.channel_id)
            message = channel.get_partial_message(status.message_id)
            await message.edit(content=parts.get("content"), embed=parts.get("embed"),
                               attachments=[file()] if file else [], view=parts.get("view"))
            return True
        except Exception as exc:  # gone, not ours, no access: reply instead
            log.info("job %d: editing the status message failed (%s); replying instead",
                     job.id, exc.__class__.__name__)
            return False

    async def _reply_in_channel(self, job: Job, status: Status, parts: dict, file) -> None:
        channel = await self._channel(status.channel_id)
        reference = None
        if status.message_id is not None:
            reference = discord.MessageReference(message_id=status.message_id,
                                                 channel_id=status.channel_id,
                                                 fail_if_not_exists=False)
        mention = f"<@{job.user_id}>" if job.user_id.isdigit() else ""
        content = "\n".join(p for p in (mention, parts.get("content") or "") if p)
        kwargs = {key: parts[key] for key in ("embed", "view") if parts.get(key) is not None}
        if file:
            kwargs["file"] = file()
        await channel.send(
            content=clip(content) or None, reference=reference,
            allowed_mentions=discord.AllowedMentions(
                users=[discord.Object(int(job.user_id))] if mention else False,
                everyone=False, roles=False, replied_user=False),
            **kwargs)
        if status.message_id is not None and "embed" in parts:
            # the stale "Painting… 50%"; the image is out, so a failure here must not raise
            # (the dispatcher would send the image again at the next start)
            try:
                await channel.get_partial_message(status.message_id).edit(
                    content=t(job.lang, "dc_sent_below"))
            except Exception as exc:
                log.debug("job %d: status message not updated: %s", job.id, exc)

    # -- helpers ---------------------------------------------------------------------------
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

    async def answer(self, interaction: discord.Interaction, replies: list[Reply]) -> None:
        """Render the core's replies to a deferred interaction: the first edits the original
        response, the rest follow up. A queued job's reply becomes its status message."""
        for i, reply in enumerate(replies):
            if i == 0 and reply.job_id is not None:
                await self.announce(interaction, reply)
                continue
            view = views.buttons_view(reply.buttons)
            if i == 0:
                await interaction.edit_original_response(content=clip(reply.text),
                                                         view=view)
            else:
                await interaction.followup.send(clip(reply.text),
                                                view=view or discord.utils.MISSING)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class PelukisBot(commands.Bot):
    """Default intents only (no privileged ones): slash commands and buttons need none."""

    def __init__(self, config: Config, app: App | None = None, *, sync_on_start: bool = True):
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),  # user text never pings anyone
            max_ratelimit_timeout=30.0,  # longer waits raise discord.RateLimited instead
        )
        self.config = config
        self.app = app
        self.sync_on_start = sync_on_start
        self.frontend = DiscordFrontEnd(self)
        self._built = False

    async def build(self) -> None:
        """The command tree, cogs and persistent buttons; needs no token or network."""
        if self._built:
            return
        self._built = True
        await self.tree.set_translator(CatalogTranslator())
        for name in COGS:
            await self.load_extension(f"bot.frontends.discord.cogs.{name}")
        self.add_dynamic_items(views.JobButton, views.StyleButton)

    async def setup_hook(self) -> None:
        await self.build()
        if self.sync_on_start:
            for guild_id in self.config.discord.sync_guilds:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                log.info("synced %d commands to guild %d", len(synced), guild_id)
        self.frontend.ready.set()
        if self.app is not None:  # jobs that ended while we were away
            await self.app.dispatcher.deliver_pending(PLATFORM)

    async def on_ready(self) -> None:
        log.info("Discord: logged in as %s (%s), %d servers", self.user,
                 getattr(self.user, "id", "?"), len(self.guilds))

    async def close(self) -> None:
        await self.frontend.close()
        await super().close()

    # -- who is asking ---------------------------------------------------------------------
    def incoming(self, interaction: discord.Interaction, text: str) -> Incoming:
        user = interaction.user
        message = getattr(interaction, "message", None)
        return Incoming(
            platform=PLATFORM,
            chat_id=str(interaction.channel_id),
            group_id=str(interaction.guild_id) if interaction.guild_id else "",
            user_id=str(user.id),
            user_name=getattr(user, "display_name", "") or user.name,
            message_id=str(message.id) if message is not None else "",
            text=text,
            private=interaction.guild_id is None,
            is_admin=checks.is_moderator(interaction, self.config.discord.moderator_roles),
            locale=interaction.locale.value if interaction.locale else None,
        )


async def run_discord(app: App, token: str) -> None:
    """Serve Discord until cancelled (or the login fails), beside any other front end in this
    event loop. Registers the front end itself; the order against ``app.start()`` does not
    matter (finished jobs waiting for Discord are sent once logged in)."""
    bot = PelukisBot(app.config, app)
    app.add_frontend(bot.frontend)
    async with bot:
        await bot.start(token)  # not bot.run(): it would install its own log handler
