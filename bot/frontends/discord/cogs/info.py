"""``/queue``, ``/cancel`` and ``/help``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.frontends.discord.bot import loc
from bot.frontends.discord.cogs import PelukisCog

if TYPE_CHECKING:
    from bot.frontends.discord.bot import PelukisBot


class Info(PelukisCog):
    @app_commands.command(name=loc("dc_cmd_queue"), description=loc("dc_cmd_queue_desc"))
    async def queue(self, interaction: discord.Interaction) -> None:
        await self.ask(interaction, "/queue", ephemeral=True)

    @app_commands.command(name=loc("dc_cmd_cancel"), description=loc("dc_cmd_cancel_desc"))
    async def cancel(self, interaction: discord.Interaction) -> None:
        await self.ask(interaction, "/cancel", ephemeral=True)

    @app_commands.command(name=loc("dc_cmd_help"), description=loc("dc_cmd_help_desc"))
    async def help(self, interaction: discord.Interaction) -> None:
        await self.ask(interaction, "/help", ephemeral=True)


async def setup(bot: PelukisBot) -> None:
    await bot.add_cog(Info(bot))
