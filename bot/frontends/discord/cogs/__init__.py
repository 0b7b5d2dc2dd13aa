"""One cog per feature. Each slash command turns its typed options into the core's text
command (``/generate kucing --seed 5``) and hands it to ``Core.handle``; every answer and
every check of a value comes from the core. What the cogs share lives here: ``ask`` and the
one error handler."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.frontends.discord.checks import NotModerator
from bot.i18n import t

if TYPE_CHECKING:
    from bot.frontends.discord.bot import PelukisBot

log = logging.getLogger("pelukis.discord")
DEFERRED = discord.InteractionResponseType.deferred_channel_message


def option(value: object) -> str:
    """A typed option as the core's text reads it (``7.5``, not ``7.500``)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


class PelukisCog(commands.Cog):
    """A feature's slash commands; errors in any of them end in ``cog_app_command_error``."""

    def __init__(self, bot: PelukisBot):
        self.bot = bot

    async def ask(self, interaction: discord.Interaction, text: str, *,
                  ephemeral: bool = False) -> None:
        """Defer (Discord wants an answer within 3 s), ask the core, show its replies."""
        await interaction.response.defer(thinking=True, ephemeral=ephemeral)
        replies = await self.bot.app.core.handle(self.bot.incoming(interaction, text))
        await self.bot.frontend.answer(interaction, replies)

    async def cog_app_command_error(self, interaction: discord.Interaction,
                                    error: app_commands.AppCommandError) -> None:
        await report_error(interaction, error)


async def report_error(interaction: discord.Interaction, error: Exception) -> None:
    """Log what the operator must see, then tell the user in their language."""
    original = getattr(error, "original", error)  # CommandInvokeError wraps the real one
    key, values = "dc_error", {}
    if isinstance(error, NotModerator):
        key = "dc_style_moderators_only"
    elif isinstance(original, discord.RateLimited):
        key, values = "dc_rate_limited", {"seconds": max(1, round(original.retry_after))}
        log.warning("rate limited by Discord for %.0f s", original.retry_after)
    elif isinstance(original, discord.HTTPException) and original.status == 429:
        key, values = "dc_rate_limited", {"seconds": 5}
        log.warning("rate limited by Discord (429)")
    elif isinstance(error, app_commands.CheckFailure):
        key = "dc_style_moderators_only"
    else:
        command = getattr(interaction.command, "qualified_name", "?")
        log.error("command /%s failed: %s", command, original.__class__.__name__,
                  exc_info=original)
    bot = interaction.client
    try:
        lang = await bot.app.core.language(bot.incoming(interaction, ""))  # type: ignore[attr-defined]
    except Exception:
        lang = bot.config.bot.language  # type: ignore[attr-defined]
    text = t(lang, key, **values)
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
        elif interaction.response.type is DEFERRED:  # still "thinking…": replace that
            await interaction.edit_original_response(content=text)
        else:
            await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException as exc:  # the interaction may be gone; nothing more to do
        log.warning("could not tell the user about the error: %s", exc)


def declare_range(command: app_commands.Command, name: str, low: float, high: float) -> None:
    """Tell Discord an option's limits from config (known only at run time; the core still
    checks them). The cog's command is its own copy, so this touches no other bot."""
    params = command._params  # discord.py offers no public setter for a built command
    params[name] = dataclasses.replace(params[name], min_value=low, max_value=high)
