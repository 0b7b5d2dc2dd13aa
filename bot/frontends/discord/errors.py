"""The one error handler: every slash command (``CommandTree.error``) and every button
ends here. The operator gets the log line, the user a sentence in their language."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.i18n import t

log = logging.getLogger("pelukis.discord")
DEFERRED = discord.InteractionResponseType.deferred_channel_message


def error_key(error: Exception, command: str = "?") -> tuple[str, dict]:
    """The i18n key (and values) that answers ``error``; logs what the operator must see."""
    original = getattr(error, "original", error)  # CommandInvokeError wraps the real one
    if isinstance(original, discord.RateLimited):
        log.warning("rate limited by Discord for %.0f s", original.retry_after)
        return "dc_rate_limited", {"seconds": max(1, round(original.retry_after))}
    if isinstance(original, discord.HTTPException) and original.status == 429:
        log.warning("rate limited by Discord (429)")
        return "dc_rate_limited", {"seconds": 5}
    if isinstance(error, app_commands.CheckFailure):  # none of ours: the core checks rights
        return "moderators_only", {}
    log.error("command /%s failed: %s", command, original.__class__.__name__,
              exc_info=original)
    return "dc_error", {}


async def report_error(interaction: discord.Interaction, error: Exception) -> None:
    """Log, then tell the user, in place of the "thinking…" answer when there is one."""
    command = getattr(interaction.command, "qualified_name", None) or "?"
    key, values = error_key(error, command)
    bot = interaction.client
    try:
        lang = await bot.app.commands.language(bot.incoming(interaction))  # type: ignore[attr-defined]
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
