"""The Discord front end (discord.py 2.x): a slash tree generated from the command specs,
persistent buttons, the image with its embed. ``run_discord(app, token)`` serves;
``sync_commands`` syncs the tree.

    bot.py       PelukisBot: intents, the tree's translator and error handler, setup_hook
    slash.py     spec → app_commands.Command (typed, localized options); the generic cog
    frontend.py  DiscordFrontEnd: the status message, the finished image, replies
    views.py     persistent buttons (DynamicItem over bot/commands/buttons.py)
    i18n.py      loc / named / CatalogTranslator (Indonesian names and texts)
    errors.py    report_error: the one error handler
    checks.py    is_moderator
    embeds.py    the image's embed, Discord's text limits
    sync.py      python -m bot sync-commands
"""

from __future__ import annotations

from bot.frontends.discord.bot import PelukisBot, run_discord
from bot.frontends.discord.frontend import DiscordFrontEnd
from bot.frontends.discord.sync import sync_commands

__all__ = ["DiscordFrontEnd", "PelukisBot", "run_discord", "sync_commands"]
