"""Every command is declared once and reachable everywhere: in Telegram's menus (where it is
a menu command), in the Discord slash tree, in ``/help`` in both languages, in the console's
completion and in the core's dispatch, with every string it needs in both catalogues."""

from __future__ import annotations

import pytest

from bot.commands.catalog import COMMANDS
from bot.commands.help import help_text
from bot.commands.registry import Commands
from bot.commands.spec import Access, Command, Option, OptionType
from bot.config import load_config
from bot.frontends.console import completions
from bot.frontends.discord.bot import PelukisBot
from bot.frontends.discord.sync import tree_payload
from bot.frontends.telegram.service import menus
from bot.i18n import CATALOGS, LANGS
from bot.models import Incoming
from bot.storage import Store
from bot.translation.chain import Translator
from engine.styles import StyleRegistry
from tests.conftest import ROOT, write_config


def missing_strings(specs: tuple[Command, ...]) -> list[str]:
    """``lang:key`` for every string a spec needs and a catalogue lacks."""
    keys = set()
    for spec in specs:
        keys |= {spec.description_key, spec.help_key, spec.denied_key}
        for option in spec.options:
            keys.add(option.description_key(spec.name))
            if option.type is OptionType.CHOICE:
                keys.add(option.invalid_key)
            keys |= {c.label_key for c in option.choices if c.label_key}
    return sorted(f"{lang}:{key}" for lang in LANGS for key in keys
                  if key not in CATALOGS[lang])


def telegram_menu(specs: tuple[Command, ...]) -> dict[str, set[str]]:
    """Scope type → the command names Telegram is given for it (every language alike)."""
    found: dict[str, set[str]] = {}
    for scope, _lang, commands in menus(specs):
        found.setdefault(scope.type, set()).update(c.command for c in commands)
    return found


def in_help(spec: Command, lang: str, specs: tuple[Command, ...]) -> bool:
    name = spec.name_id if lang == "id" else spec.name
    return any(line.startswith(f"/{name} ") for line in help_text(specs, lang).splitlines())


@pytest.fixture
async def discord_names(tmp_path) -> set[str]:
    bot = PelukisBot(load_config(write_config(tmp_path)), sync_on_start=False)
    return {command["name"] for command in await tree_payload(bot)}


def test_every_command_has_every_string_in_both_languages():
    assert missing_strings(COMMANDS) == []


def test_every_command_is_in_the_telegram_menus_where_it_belongs():
    menu = telegram_menu(COMMANDS)
    for spec in COMMANDS:
        assert (spec.name in menu["default"]) == spec.in_menu, spec.name
        assert spec.name in menu["all_chat_administrators"], spec.name  # admins see all
    assert all(s.in_menu or s.access is not Access.ANYONE for s in COMMANDS)


async def test_every_command_is_in_the_discord_tree(discord_names):
    assert discord_names == {spec.name for spec in COMMANDS}


@pytest.mark.parametrize("lang", LANGS)
def test_every_command_is_in_help(lang):
    for spec in COMMANDS:
        assert in_help(spec, lang, COMMANDS), (lang, spec.name)


async def test_every_name_and_alias_is_dispatched_and_completed(tmp_path):
    store = await Store.open(tmp_path / "db", tmp_path / "img")
    try:
        commands = Commands(load_config(write_config(tmp_path)), store,
                            StyleRegistry.load(ROOT / "adapters"), Translator(store=store))
        unknown = CATALOGS["en"]["unknown_command"].split("/")[0]
        for spec in COMMANDS:
            for name in spec.names:
                assert f"/{name} " in completions(commands, f"/{name[:2]}"), name
                msg = Incoming(platform="console", chat_id="c", user_id="u", text=f"/{name}",
                               locale="en")
                replies = await commands.handle(msg)
                assert replies and not replies[0].text.startswith(unknown), name
    finally:
        await store.close()


def test_the_parity_checks_catch_a_command_left_half_done():
    """A spec added without strings, and one kept out of every menu, are both caught."""

    async def nothing(*args):
        return []

    half = Command("sharpen", nothing, options=(Option("amount", OptionType.INT),))
    assert missing_strings((*COMMANDS, half)) == sorted(
        f"{lang}:{key}" for lang in LANGS
        for key in ("cmd_sharpen", "help_sharpen", "opt_sharpen_amount"))
    hidden = Command("hidden", nothing, in_menu=False)
    assert "hidden" not in telegram_menu((hidden,)).get("default", set())
    assert not in_help(half, "en", COMMANDS)
