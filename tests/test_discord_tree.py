"""The slash command tree, generated from the command specs and built for real by discord.py,
and the payload Discord receives."""

import json
import re

import pytest

from bot.commands.catalog import COMMANDS
from bot.commands.spec import OptionType
from bot.config import load_config
from bot.frontends.discord.bot import PelukisBot
from bot.frontends.discord.sync import sync_commands, tree_payload
from bot.i18n import CATALOGS
from tests.conftest import write_config

STRING, INTEGER, BOOLEAN, NUMBER, ATTACHMENT = 3, 4, 5, 10, 11
TYPES = {OptionType.TEXT: STRING, OptionType.INT: INTEGER, OptionType.FLOAT: NUMBER,
         OptionType.BOOL: BOOLEAN, OptionType.CHOICE: STRING, OptionType.STYLE: STRING,
         OptionType.PICTURE: ATTACHMENT}
# Discord's rule for command and option names (lower case where the script has cases)
NAME = re.compile(r"^[-_\w]{1,32}$")
EXPECTED = ["generate", "variation", "upscale", "style", "seed", "cfg", "steps", "negative",
            "lang", "raw", "settings", "queue", "cancel", "safety", "help"]
LIMITS = {"cfg_min": 2.0, "cfg_max": 15.0, "steps_min": 2, "steps_max": 40}


@pytest.fixture
async def payload(tmp_path):
    config = load_config(write_config(tmp_path, limits=LIMITS))
    bot = PelukisBot(config, sync_on_start=False)  # no app: the catalogue's commands
    return {cmd["name"]: cmd for cmd in await tree_payload(bot)}


def options(cmd: dict) -> dict[str, dict]:
    return {opt["name"]: opt for opt in cmd["options"]}


async def test_every_command_is_in_the_tree_in_menu_order(payload):
    assert list(payload) == EXPECTED == [spec.name for spec in COMMANDS]
    for cmd in payload.values():
        assert cmd["type"] == 1 and cmd["dm_permission"] is True  # slash commands, DMs too
        assert cmd["default_member_permissions"] is None  # rights are the core's


async def test_the_tree_is_the_specs(payload, tmp_path):
    """Every option of every spec, typed, required or not, with its choices, its limits and
    its Indonesian name: nothing is written per command."""
    limits = load_config(write_config(tmp_path, limits=LIMITS)).limits
    for spec in COMMANDS:
        cmd = payload[spec.name]
        assert cmd["name_localizations"] == {"id": spec.name_id}
        assert cmd["description"] == CATALOGS["en"][spec.description_key]
        assert cmd["description_localizations"] == {"id": CATALOGS["id"][spec.description_key]}
        opts = options(cmd)
        offered = [o for o in spec.options if not o.needs]  # no optional models configured
        assert sorted(opts) == sorted(o.name for o in offered), spec.name
        for option in offered:
            opt = opts[option.name]
            assert opt["type"] == TYPES[option.type], (spec.name, option.name)
            assert opt["required"] is option.required
            assert opt["name_localizations"] == {"id": option.name_id or option.name}
            key = option.description_key(spec.name)
            assert opt["description"] == CATALOGS["en"][key]
            assert opt["description_localizations"] == {"id": CATALOGS["id"][key]}
            if option.range is not None:
                assert (opt["min_value"], opt["max_value"]) == option.range(limits)
            if option.choices:
                assert [c["value"] for c in opt["choices"]] == [c.value for c in option.choices]
            assert opt.get("autocomplete", False) is (option.type is OptionType.STYLE)


async def test_generate_options_are_typed_with_limits_from_config(payload):
    opts = options(payload["generate"])
    assert list(opts) == ["prompt", "style", "seed", "cfg", "steps", "negative",
                          "aspect_ratio", "raw", "strength", "image"]
    assert opts["prompt"]["type"] == STRING and opts["prompt"]["required"] is True
    assert opts["prompt"]["max_length"] == 1000  # [limits] prompt_max_chars
    assert all(not o["required"] for name, o in opts.items() if name != "prompt")
    assert opts["style"]["type"] == STRING and opts["style"]["autocomplete"] is True
    assert (opts["seed"]["type"], opts["seed"]["min_value"], opts["seed"]["max_value"]) == (
        INTEGER, 0, 4294967295)
    assert (opts["cfg"]["type"], opts["cfg"]["min_value"], opts["cfg"]["max_value"]) == (
        NUMBER, 2.0, 15.0)
    assert (opts["steps"]["type"], opts["steps"]["min_value"], opts["steps"]["max_value"]) == (
        INTEGER, 2, 40)
    assert opts["raw"]["type"] == BOOLEAN
    choices = {c["value"]: c for c in opts["aspect_ratio"]["choices"]}
    assert list(choices) == ["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"]
    assert choices["1:1"]["name"] == "Square 1:1"
    assert choices["1:1"]["name_localizations"] == {"id": "Persegi 1:1"}


async def test_settings_commands_declare_the_same_limits(payload):
    assert options(payload["cfg"])["value"]["min_value"] == 2.0
    assert options(payload["cfg"])["value"]["max_value"] == 15.0
    assert options(payload["steps"])["value"]["max_value"] == 40
    seed = options(payload["seed"])
    assert seed["value"]["max_value"] == 4294967295 and seed["random"]["type"] == BOOLEAN
    assert options(payload["negative"])["clear"]["type"] == BOOLEAN
    lang = options(payload["lang"])["language"]
    assert [c["value"] for c in lang["choices"]] == ["id", "en"]
    style = options(payload["style"])
    assert style["name"]["autocomplete"] is True
    assert [c["value"] for c in style["scope"]["choices"]] == ["server", "channel"]
    assert style["scope"]["choices"][1]["name_localizations"] == {"id": "Hanya kanal ini"}
    for name in ("settings", "queue", "cancel", "help"):
        assert payload[name]["options"] == []


async def test_safety_and_raw_are_in_the_tree(payload):
    safety = payload["safety"]
    assert safety["name_localizations"] == {"id": "keamanan"}
    assert safety["description"] == CATALOGS["en"]["cmd_safety"]
    (mode,) = safety["options"]
    assert (mode["name"], mode["type"], mode["required"]) == ("mode", STRING, False)
    assert [(c["value"], c["name"], c["name_localizations"]["id"]) for c in mode["choices"]] \
        == [("strict", "strict", "ketat"), ("relaxed", "relaxed", "longgar")]
    assert mode["description_localizations"] == {"id": CATALOGS["id"]["opt_safety_mode"]}
    raw = payload["raw"]
    assert raw["name_localizations"] == {"id": "terjemah"}
    (translate,) = raw["options"]
    assert (translate["name"], translate["type"]) == ("translate", STRING)
    assert translate["name_localizations"] == {"id": "terjemahan"}
    assert [c["value"] for c in translate["choices"]] == ["on", "off"]
    assert translate["choices"][0]["name_localizations"] == {
        "id": CATALOGS["id"]["choice_raw_on"]}


async def test_indonesian_localizations(payload):
    ids = {name: cmd["name_localizations"]["id"] for name, cmd in payload.items()}
    assert ids == {"generate": "gambar", "variation": "variasi", "upscale": "perbesar",
                   "style": "gaya", "seed": "seed", "cfg": "cfg",
                   "steps": "langkah", "negative": "negatif", "lang": "bahasa",
                   "raw": "terjemah", "settings": "pengaturan", "queue": "antrean",
                   "cancel": "batal", "safety": "keamanan", "help": "bantuan"}
    gen = options(payload["generate"])
    assert gen["style"]["name_localizations"] == {"id": "gaya"}
    assert gen["aspect_ratio"]["name_localizations"] == {"id": "rasio"}
    assert gen["prompt"]["description_localizations"] == {"id": "Apa yang mau dilukis"}
    assert payload["generate"]["description_localizations"]["id"] == \
        CATALOGS["id"]["cmd_generate"]


async def test_payload_fits_discords_rules(payload):
    for cmd in payload.values():
        names = [cmd["name"], *cmd["name_localizations"].values()]
        descriptions = [cmd["description"], *cmd["description_localizations"].values()]
        for opt in cmd["options"]:
            names += [opt["name"], *opt.get("name_localizations", {}).values()]
            descriptions += [opt["description"],
                             *opt.get("description_localizations", {}).values()]
            for choice in opt.get("choices", []):
                assert 1 <= len(choice["name"]) <= 100
                assert all(1 <= len(n) <= 100 for n in choice.get("name_localizations",
                                                                   {}).values())
            assert len(opt.get("choices", [])) <= 25
        for name in names:
            assert NAME.match(name) and name == name.lower(), name
        for text in descriptions:
            assert 1 <= len(text) <= 100, text
        assert len(cmd["options"]) <= 25
        # required options first, as Discord wants them
        required = [o["required"] for o in cmd["options"]]
        assert required == sorted(required, reverse=True)
        # localized option names stay unique within a command
        localized = [o.get("name_localizations", {}).get("id", o["name"]) for o in cmd["options"]]
        assert len(set(localized)) == len(localized)
    ids = [c["name_localizations"]["id"] for c in payload.values()]
    assert len(set(ids)) == len(ids)


async def test_dry_run_prints_the_payload_without_a_token(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    config = load_config(write_config(tmp_path))
    assert await sync_commands(config, guild=None, dry_run=True) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in printed] == EXPECTED
    assert all("name_localizations" in c for c in printed)
    assert await sync_commands(config, guild=1234, dry_run=True) == 0  # a test server
    assert [c["name"] for c in json.loads(capsys.readouterr().out)] == EXPECTED
    assert await sync_commands(config, guild=None, dry_run=False) == 2  # no token: refuse
    assert "DISCORD_TOKEN" in capsys.readouterr().err


async def test_two_bots_keep_their_own_limits(tmp_path):
    a = load_config(write_config(tmp_path, limits={"cfg_max": 12.0}))
    (tmp_path / "b").mkdir()
    b = load_config(write_config(tmp_path / "b", limits={"cfg_max": 9.0}))
    first = {c["name"]: c for c in await tree_payload(PelukisBot(a, sync_on_start=False))}
    second = {c["name"]: c for c in await tree_payload(PelukisBot(b, sync_on_start=False))}
    assert options(first["generate"])["cfg"]["max_value"] == 12.0
    assert options(second["generate"])["cfg"]["max_value"] == 9.0
    assert options(first["cfg"])["value"]["max_value"] == 12.0


async def test_styles_come_from_config_without_an_app(tmp_path):
    bot = PelukisBot(load_config(write_config(tmp_path)), sync_on_start=False)
    assert "kancil" in bot.styles.names()  # the style autocomplete's source


async def test_no_cycle_among_the_discord_modules():
    from tests.test_imports import _cycles, _graph, _without_package_inits

    graph = {name: {t for t in targets if t.startswith("bot.frontends.discord")}
             for name, targets in _without_package_inits(_graph()).items()
             if name.startswith("bot.frontends.discord")}
    assert "bot.frontends.discord.frontend" in graph["bot.frontends.discord.bot"]
    assert _cycles(graph) == []
