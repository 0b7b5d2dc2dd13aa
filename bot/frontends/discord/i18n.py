"""The command tree's strings: English in the payload, Indonesian through discord.py's
``Translator`` (``CommandTree.set_translator``), so ``tree.sync`` sends both.

``loc(key)`` is a catalogue string (a description, a choice label); ``named(name, name_id)``
is a command or option name whose Indonesian form comes from its spec.
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.i18n import CATALOGS

LOCALE = discord.Locale.indonesian  # the one locale besides the default (English)


def loc(key: str) -> app_commands.locale_str:
    """A catalogue string: English here, Indonesian through the translator."""
    return app_commands.locale_str(CATALOGS["en"][key], key=key)


def named(name: str, name_id: str = "") -> app_commands.locale_str:
    """A command or option name and its Indonesian form ("" = the same)."""
    return app_commands.locale_str(name, name_id=name_id or name)


class CatalogTranslator(app_commands.Translator):
    """Indonesian names (from the specs) and texts (from ``bot/i18n/id.py``)."""

    async def translate(self, string: app_commands.locale_str, locale: discord.Locale,
                        context: app_commands.TranslationContextTypes) -> str | None:
        if locale is not LOCALE:
            return None
        if "name_id" in string.extras:
            return string.extras["name_id"]
        key = string.extras.get("key")
        return CATALOGS["id"].get(key) if key is not None else None
