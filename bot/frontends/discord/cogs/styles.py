"""``/style``: the list (anyone), or the server's / a channel's style (moderators)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.frontends.discord.bot import loc
from bot.frontends.discord.checks import moderator_when
from bot.frontends.discord.cogs import PelukisCog
from bot.frontends.discord.cogs.generate import style_choices

if TYPE_CHECKING:
    from bot.frontends.discord.bot import PelukisBot


class Styles(PelukisCog):
    @app_commands.command(name=loc("dc_cmd_style"), description=loc("dc_cmd_style_desc"))
    @app_commands.rename(name=loc("dc_opt_style_name"), scope=loc("dc_opt_scope"))
    @app_commands.describe(name=loc("dc_opt_style_name_desc"), scope=loc("dc_opt_scope_desc"))
    @app_commands.choices(scope=[
        app_commands.Choice(name=loc("dc_choice_server"), value="server"),
        app_commands.Choice(name=loc("dc_choice_channel"), value="channel"),
    ])
    @app_commands.autocomplete(name=style_choices)
    @moderator_when("name")
    async def style(self, interaction: discord.Interaction, name: str | None = None,
                    scope: str | None = None) -> None:
        text = "/style"
        if name:
            text += f" {name}" + (" channel" if scope == "channel" else "")
        await self.ask(interaction, text)


async def setup(bot: PelukisBot) -> None:
    await bot.add_cog(Styles(bot))
