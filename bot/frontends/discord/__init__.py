"""The Discord front end (discord.py 2.x): slash commands, persistent buttons, the image
with its embed. ``run_discord(app, token)`` serves; ``sync_commands`` syncs the tree."""

from __future__ import annotations

from bot.frontends.discord.bot import DiscordFrontEnd, PelukisBot, run_discord
from bot.frontends.discord.sync import sync_commands

__all__ = ["DiscordFrontEnd", "PelukisBot", "run_discord", "sync_commands"]
