"""The slash commands, generated from the command specs (``bot/commands/``): one
``app_commands.Command`` per spec, none written by hand.

Each spec option becomes a typed parameter of a generated callback's signature, so discord.py
builds, checks and converts the options itself (``Range`` for the limits from config,
``choices``, ``autocomplete`` for styles); the callback hands the typed values to the spec
(``Command.request``) and the request to the core. Names and texts are localized through
``i18n.CatalogTranslator``.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.commands.spec import Command, Option, OptionType
from bot.config import EngineSection, LimitsSection
from bot.frontends.discord.i18n import loc, named
from bot.frontends.discord.pictures import attachment_fetcher
from bot.i18n import lang_from_locale, t
from engine.styles import NONE

if TYPE_CHECKING:
    from bot.frontends.discord.bot import PelukisBot

log = logging.getLogger("pelukis.discord")
DISCORD_MAX_LENGTH = 6000
AUTOCOMPLETE_MAX = 25  # Discord shows at most 25 suggestions (and 25 choices)
_TYPES = {OptionType.INT: int, OptionType.FLOAT: float, OptionType.BOOL: bool}


async def style_choices(interaction: discord.Interaction,
                        current: str) -> list[app_commands.Choice[str]]:
    """The loaded styles and ``none``, titled in the user's language, matching ``current``."""
    bot: PelukisBot = interaction.client  # type: ignore[assignment]
    lang = lang_from_locale(interaction.locale.value) or bot.config.bot.language
    wanted = current.strip().lower()
    found = [(style.name, f"{style.title(lang)} ({style.name})") for style in bot.styles]
    found.append((NONE, f"{t(lang, 'cap_none_style')} ({NONE})"))
    return [app_commands.Choice(name=title[:100], value=name) for name, title in found
            if wanted in name or wanted in title.lower()][:AUTOCOMPLETE_MAX]


def annotation(option: Option, limits: LimitsSection) -> Any:
    """The parameter type discord.py reads the option from: STRING/INTEGER/NUMBER/BOOLEAN,
    with the spec's limits as ``Range`` (min/max value, or a string's max length)."""
    if option.type is OptionType.PICTURE:
        return discord.Attachment
    kind = _TYPES.get(option.type, str)
    if option.range is not None and kind in (int, float):
        low, high = option.range(limits)
        return app_commands.Range[kind, kind(low), kind(high)]
    if option.max_length is not None and kind is str and not option.choices:
        # Discord takes 1..6000 characters in an option; the core checks the rest
        longest = min(max(1, option.max_length(limits)), DISCORD_MAX_LENGTH)
        return app_commands.Range[str, None, longest]
    return kind


def parameter(option: Option, limits: LimitsSection) -> inspect.Parameter:
    return inspect.Parameter(
        option.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation(option, limits),
        default=inspect.Parameter.empty if option.required else None)


def slash_command(spec: Command, limits: LimitsSection,
                  engine: EngineSection | None = None) -> app_commands.Command:
    """The slash command for ``spec``: its callback's signature is made from the options, and
    discord.py's own decorators add their names, descriptions, choices and autocomplete.
    An option that ``needs`` an [engine] model left unset in ``engine`` is left out."""
    offered = tuple(o for o in spec.options
                    if not o.needs or (engine is not None and getattr(engine, o.needs, "")))

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await run(interaction, spec, values)

    callback.__name__ = callback.__qualname__ = f"slash_{spec.name}"
    callback.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          annotation=discord.Interaction),
        *(parameter(option, limits) for option in offered)])
    options = offered
    if options:
        app_commands.rename(**{o.name: named(o.name, o.name_id) for o in options})(callback)
        app_commands.describe(**{o.name: loc(o.description_key(spec.name))
                                 for o in options})(callback)
    choices = {o.name: [app_commands.Choice(name=loc(c.label_key) if c.label_key else c.value,
                                            value=c.value) for c in o.choices]
               for o in options if o.choices and o.type is not OptionType.STYLE}
    if choices:
        app_commands.choices(**choices)(callback)
    styles = {o.name: style_choices for o in options if o.type is OptionType.STYLE}
    if styles:
        app_commands.autocomplete(**styles)(callback)
    return app_commands.Command(name=named(spec.name, spec.name_id),
                                description=loc(spec.description_key), callback=callback,
                                extras={"spec": spec})


def slash_commands(specs: tuple[Command, ...], limits: LimitsSection,
                   engine: EngineSection | None = None) -> list[app_commands.Command]:
    """Every spec's slash command, in menu order. Built per bot: the limits (and the
    optional models) are its own."""
    return [slash_command(spec, limits, engine) for spec in specs]


async def run(interaction: discord.Interaction, spec: Command, values: dict[str, Any]) -> None:
    """Defer (Discord wants an answer within 3 s), ask the core, show its replies."""
    bot: PelukisBot = interaction.client  # type: ignore[assignment]
    await interaction.response.defer(thinking=True, ephemeral=spec.private_answer)
    msg = bot.incoming(interaction, f"/{spec.name}")
    attachments = [values.get(o.name) for o in spec.options if o.type is OptionType.PICTURE]
    attached = next((a for a in attachments if a is not None), None)
    if attached is not None:
        msg = dataclasses.replace(msg, fetch_picture=attachment_fetcher(
            attached, bot.config.limits))
    replies = await bot.app.commands.handle_values(msg, spec, values)
    await bot.frontend.answer(interaction, replies, private=spec.private_answer)


class SlashCommands(commands.Cog):
    """The generated commands, added to the tree when the cog loads (``bot.COGS``)."""

    def __init__(self, bot: PelukisBot):
        self.bot = bot
        self.added: list[app_commands.Command] = []

    async def cog_load(self) -> None:
        self.added = slash_commands(self.bot.specs, self.bot.config.limits,
                                    self.bot.config.engine)
        for command in self.added:
            self.bot.tree.add_command(command)

    async def cog_unload(self) -> None:
        for command in self.added:
            self.bot.tree.remove_command(command.name)
        self.added = []


async def setup(bot: PelukisBot) -> None:
    await bot.add_cog(SlashCommands(bot))
