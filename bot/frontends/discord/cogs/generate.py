"""``/generate``: typed options become the core's ``/generate PROMPT --seed N …``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.frontends.discord.bot import loc
from bot.frontends.discord.cogs import PelukisCog, declare_range, option
from bot.i18n import lang_from_locale, t
from bot.parsing import SEED_MAX
from engine.styles import NONE

if TYPE_CHECKING:
    from bot.frontends.discord.bot import PelukisBot

ASPECTS = [  # (i18n key, value); Discord shows at most 25 choices
    ("dc_choice_square", "1:1"),
    ("dc_choice_landscape_wide", "16:9"),
    ("dc_choice_portrait_tall", "9:16"),
    ("dc_choice_landscape", "4:3"),
    ("dc_choice_portrait", "3:4"),
    ("dc_choice_photo_wide", "3:2"),
    ("dc_choice_photo_tall", "2:3"),
]


async def style_choices(interaction: discord.Interaction,
                        current: str) -> list[app_commands.Choice[str]]:
    """The loaded styles and ``none``, titled in the user's language, matching ``current``."""
    bot: PelukisBot = interaction.client  # type: ignore[assignment]
    lang = lang_from_locale(interaction.locale.value) or bot.config.bot.language
    wanted = current.strip().lower()
    found = [(style.name, f"{style.title(lang)} ({style.name})") for style in bot.app.styles]
    found.append((NONE, f"{t(lang, 'cap_none_style')} ({NONE})"))
    return [app_commands.Choice(name=title[:100], value=name) for name, title in found
            if wanted in name or wanted in title.lower()][:25]


class Generate(PelukisCog):
    def __init__(self, bot: PelukisBot):
        super().__init__(bot)
        limits = bot.config.limits
        declare_range(self.generate, "cfg", limits.cfg_min, limits.cfg_max)
        declare_range(self.generate, "steps", limits.steps_min, limits.steps_max)

    @app_commands.command(name=loc("dc_cmd_generate"), description=loc("dc_cmd_generate_desc"))
    @app_commands.rename(prompt=loc("dc_opt_prompt"), style=loc("dc_opt_style"),
                         seed=loc("dc_opt_seed"), cfg=loc("dc_opt_cfg"),
                         steps=loc("dc_opt_steps"), negative=loc("dc_opt_negative"),
                         aspect_ratio=loc("dc_opt_aspect"), raw=loc("dc_opt_raw"))
    @app_commands.describe(prompt=loc("dc_opt_prompt_desc"), style=loc("dc_opt_style_desc"),
                           seed=loc("dc_opt_seed_desc"), cfg=loc("dc_opt_cfg_desc"),
                           steps=loc("dc_opt_steps_desc"), negative=loc("dc_opt_negative_desc"),
                           aspect_ratio=loc("dc_opt_aspect_desc"), raw=loc("dc_opt_raw_desc"))
    @app_commands.choices(aspect_ratio=[app_commands.Choice(name=loc(key), value=value)
                                        for key, value in ASPECTS])
    @app_commands.autocomplete(style=style_choices)
    async def generate(self, interaction: discord.Interaction, prompt: str,
                       style: str | None = None,
                       seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
                       cfg: float | None = None, steps: int | None = None,
                       negative: str | None = None, aspect_ratio: str | None = None,
                       raw: bool = False) -> None:
        parts = ["/generate", prompt]
        for flag, value in (("--style", style), ("--seed", seed), ("--cfg", cfg),
                            ("--steps", steps), ("--ar", aspect_ratio)):
            if value is not None:
                parts += [flag, option(value)]
        if raw:
            parts.append("--raw")
        if negative:  # last: a negative prompt runs to the next option
            parts += ["--no", negative]
        await self.ask(interaction, " ".join(parts))


async def setup(bot: PelukisBot) -> None:
    await bot.add_cog(Generate(bot))
