"""``python -m bot sync-commands [--guild ID] [--dry-run]``: register the slash commands.

Global commands can take a while to appear everywhere; a test server's appear at once.
``--dry-run`` prints the JSON Discord would receive (the translated payload, exactly what
``CommandTree.sync`` sends) without a token or the network.
"""

from __future__ import annotations

import json
import logging
import os
import sys

import discord

from bot.config import Config
from bot.frontends.discord.bot import PelukisBot

log = logging.getLogger("pelukis.discord")


async def tree_payload(bot: PelukisBot, guild: int | None = None) -> list[dict]:
    """The commands as ``tree.sync`` sends them, with their Indonesian localizations."""
    await bot.build()
    target = discord.Object(guild) if guild is not None else None
    if target is not None:
        bot.tree.copy_global_to(guild=target)
    translator = bot.tree.translator
    commands = bot.tree.get_commands(guild=target)
    if translator is None:
        return [command.to_dict(bot.tree) for command in commands]
    return [await command.get_translated_payload(bot.tree, translator) for command in commands]


async def sync_commands(config: Config, guild: int | None, dry_run: bool) -> int:
    """Print the payload (dry run) or sync it with ``DISCORD_TOKEN``; an exit status."""
    bot = PelukisBot(config, sync_on_start=False)
    if dry_run:
        print(json.dumps(await tree_payload(bot, guild), ensure_ascii=False, indent=2))
        return 0
    token = os.environ.get("DISCORD_TOKEN")
    if not token:
        print("pelukis: DISCORD_TOKEN is not set", file=sys.stderr)
        return 2
    async with bot:
        try:
            await bot.login(token)  # runs setup_hook: the tree is built there
        except discord.LoginFailure:
            print("pelukis: Discord refused the token (DISCORD_TOKEN)", file=sys.stderr)
            return 2
        target = discord.Object(guild) if guild is not None else None
        if target is not None:
            bot.tree.copy_global_to(guild=target)
        synced = await bot.tree.sync(guild=target)
    where = f"server {guild}" if guild is not None else "all servers (global)"
    print(f"pelukis: synced {len(synced)} commands to {where}")
    return 0
