"""A member's own defaults (per server): ``/seed /cfg /steps /negative /lang /settings``.
The answers are for the asker only (ephemeral)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.frontends.discord.bot import loc
from bot.frontends.discord.cogs import PelukisCog, declare_range, option
from bot.parsing import SEED_MAX

if TYPE_CHECKING:
    from bot.frontends.discord.bot import PelukisBot


class Settings(PelukisCog):
    def __init__(self, bot: PelukisBot):
        super().__init__(bot)
        limits = bot.config.limits
        declare_range(self.cfg, "value", limits.cfg_min, limits.cfg_max)
        declare_range(self.steps, "value", limits.steps_min, limits.steps_max)

    async def setting(self, interaction: discord.Interaction, command: str,
                      value: object = None) -> None:
        text = command if value is None else f"{command} {option(value)}"
        await self.ask(interaction, text, ephemeral=True)

    @app_commands.command(name=loc("dc_cmd_seed"), description=loc("dc_cmd_seed_desc"))
    @app_commands.rename(value=loc("dc_opt_value"), random=loc("dc_opt_random"))
    @app_commands.describe(value=loc("dc_opt_seed_value_desc"), random=loc("dc_opt_random_desc"))
    async def seed(self, interaction: discord.Interaction,
                   value: app_commands.Range[int, 0, SEED_MAX] | None = None,
                   random: bool = False) -> None:
        await self.setting(interaction, "/seed", "random" if random else value)

    @app_commands.command(name=loc("dc_cmd_cfg"), description=loc("dc_cmd_cfg_desc"))
    @app_commands.rename(value=loc("dc_opt_value"))
    @app_commands.describe(value=loc("dc_opt_cfg_value_desc"))
    async def cfg(self, interaction: discord.Interaction, value: float | None = None) -> None:
        await self.setting(interaction, "/cfg", value)

    @app_commands.command(name=loc("dc_cmd_steps"), description=loc("dc_cmd_steps_desc"))
    @app_commands.rename(value=loc("dc_opt_value"))
    @app_commands.describe(value=loc("dc_opt_steps_value_desc"))
    async def steps(self, interaction: discord.Interaction, value: int | None = None) -> None:
        await self.setting(interaction, "/steps", value)

    @app_commands.command(name=loc("dc_cmd_negative"), description=loc("dc_cmd_negative_desc"))
    @app_commands.rename(text=loc("dc_opt_text"), clear=loc("dc_opt_clear"))
    @app_commands.describe(text=loc("dc_opt_negative_text_desc"), clear=loc("dc_opt_clear_desc"))
    async def negative(self, interaction: discord.Interaction, text: str | None = None,
                       clear: bool = False) -> None:
        await self.setting(interaction, "/negative", "none" if clear else text)

    @app_commands.command(name=loc("dc_cmd_lang"), description=loc("dc_cmd_lang_desc"))
    @app_commands.rename(language=loc("dc_opt_language"))
    @app_commands.describe(language=loc("dc_opt_language_desc"))
    @app_commands.choices(language=[app_commands.Choice(name="Bahasa Indonesia", value="id"),
                                    app_commands.Choice(name="English", value="en")])
    async def lang(self, interaction: discord.Interaction, language: str | None = None) -> None:
        await self.setting(interaction, "/lang", language)

    @app_commands.command(name=loc("dc_cmd_settings"), description=loc("dc_cmd_settings_desc"))
    async def settings(self, interaction: discord.Interaction) -> None:
        await self.setting(interaction, "/settings")


async def setup(bot: PelukisBot) -> None:
    await bot.add_cog(Settings(bot))
