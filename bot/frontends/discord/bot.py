"""The Discord bot: a ``commands.Bot`` whose slash tree is generated from the command specs
(``slash.py``), with persistent buttons (``views.py``) and one error handler (``errors.py``).
What the status board calls lives in ``frontend.py``."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING

import aiohttp
import discord
from discord.ext import commands

from bot import metrics
from bot.commands.catalog import COMMANDS
from bot.commands.spec import Command
from bot.config import Config
from bot.frontends.discord import checks, views
from bot.frontends.discord.errors import report_error
from bot.frontends.discord.frontend import PLATFORM, DiscordFrontEnd
from bot.frontends.discord.i18n import CatalogTranslator
from bot.models import Incoming
from engine.styles import StyleRegistry

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("pelukis.discord")

EXTENSIONS = ("bot.frontends.discord.slash",)  # loaded in setup_hook (``build``)


def quiet_voice_warning(record: logging.LogRecord) -> bool:
    """The bot never joins voice: discord.py's warning about missing voice libraries is
    noise."""
    return "voice will NOT be supported" not in record.getMessage()


def counting_trace() -> aiohttp.TraceConfig:
    """Counts each request of discord.py's HTTP session, which carries REST calls and
    interaction responses alike (discord.py has no other hook for both)."""

    async def sent(session, context, params: aiohttp.TraceRequestEndParams) -> None:
        metrics.message_sent(PLATFORM, metrics.discord_route(params.method, params.url.path))

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(sent)
    return trace


class PelukisBot(commands.Bot):
    """Default intents only (no privileged ones): slash commands and buttons need none."""

    def __init__(self, config: Config, app: App | None = None, *, sync_on_start: bool = True):
        client_log = logging.getLogger("discord.client")  # warns in Client.__init__
        if quiet_voice_warning not in client_log.filters:
            client_log.addFilter(quiet_voice_warning)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),  # user text never pings anyone
            max_ratelimit_timeout=30.0,  # longer waits raise discord.RateLimited instead
            http_trace=counting_trace(),  # every REST call and interaction response (metrics)
        )
        self.config = config
        self.app = app
        self.sync_on_start = sync_on_start
        self.frontend = DiscordFrontEnd(self)
        self._built = False

    @property
    def specs(self) -> tuple[Command, ...]:
        """The commands the tree offers: the core's, or the catalogue without an app
        (``sync-commands --dry-run``)."""
        return self.app.commands.specs if self.app is not None else COMMANDS

    @cached_property
    def styles(self) -> StyleRegistry:
        """The loaded styles (style autocomplete)."""
        if self.app is not None:
            return self.app.styles
        return StyleRegistry.load(self.config.path(self.config.engine.adapters))

    async def build(self) -> None:
        """The command tree, its translator and error handler, the persistent buttons;
        needs no token or network."""
        if self._built:
            return
        self._built = True
        await self.tree.set_translator(CatalogTranslator())
        self.tree.error(report_error)
        for name in EXTENSIONS:
            await self.load_extension(name)
        self.add_dynamic_items(*views.DYNAMIC_ITEMS)

    async def setup_hook(self) -> None:
        await self.build()
        if self.sync_on_start:
            for guild_id in self.config.discord.sync_guilds:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                log.info("Discord: %d commands synced to server %s", len(synced), guild_id)
        self.frontend.ready.set()
        if self.app is not None:  # jobs that ended while we were away go out now
            await self.app.board.ready(PLATFORM)

    async def on_ready(self) -> None:
        log.info("Discord: logged in as %s (%s), %d servers", self.user,
                 getattr(self.user, "id", "?"), len(self.guilds))

    async def close(self) -> None:
        await self.frontend.close()
        await super().close()

    # -- who is asking ---------------------------------------------------------------------
    def incoming(self, interaction: discord.Interaction, text: str = "") -> Incoming:
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
            request_id=str(getattr(interaction, "id", "") or ""),  # one job per interaction
        )


async def run_discord(app: App, token: str) -> None:
    """Serve Discord until cancelled (or the login fails), beside any other front end in this
    event loop. Registers the front end itself; the order against ``app.start()`` does not
    matter (finished jobs waiting for Discord are sent once logged in)."""
    bot = PelukisBot(app.config, app)
    app.add_frontend(bot.frontend)
    async with bot:
        await bot.start(token)  # not bot.run(): it would install its own log handler
