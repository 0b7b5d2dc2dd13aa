"""Property-based tests: any text gets a reply and never an exception; captions stay valid."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.caption import Caption
from bot.commands.catalog import COMMANDS
from bot.commands.registry import Commands
from bot.commands.registry import read_command as parse_command
from bot.config import Config, LimitsSection, StorageSection
from bot.errors import UserError
from bot.frontends.telegram.render import caption_html, utf16_len
from bot.models import Incoming
from bot.storage import Store
from bot.translation.chain import Translator
from engine.styles import StyleRegistry
from tests.test_telegram import TelegramHTML

ROOT = Path(__file__).resolve().parent.parent
LIMITS = LimitsSection()

# Text users could send: any unicode, with the characters that matter here made likely.
chat_text = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from(list("/-—–@:<>&\"'`()[]{}0123456789 \n"))),
    max_size=300,
)
option_soup = st.lists(st.sampled_from([
    "/generate", "/gambar", "/style", "/seed", "/cfg", "/steps", "/negative", "/lang", "/raw",
    "--seed", "--cfg", "--steps", "--no", "--style", "--ar", "--raw", "—seed", "kancil", "none",
    "16:9", "100:1", "-5", "99999999999999999999", "7,5", "nan", "inf", "../../etc", "🐱",
    "<b>", "&amp;", "kucing", "lucu", "", " ", "0", "1e9",
]), max_size=12).map(" ".join)


@given(st.one_of(chat_text, option_soup))
@settings(max_examples=400, deadline=None)
def test_parser_never_raises_anything_but_user_errors(text):
    cmd = parse_command(text)
    if cmd is None:
        return
    for spec in COMMANDS:  # every command's grammar reads any text or says why not
        try:
            req = spec.parse(cmd.args, LIMITS)
        except UserError:
            continue
        if spec.name == "generate":
            assert req.get("prompt") and len(req.get("prompt")) <= LIMITS.prompt_max_chars
        seed = req.get("seed", req.get("value") if spec.name == "seed" else None)
        assert seed is None or 0 <= seed <= 2**32 - 1
        cfg = req.get("cfg", req.get("value") if spec.name == "cfg" else None)
        assert cfg is None or LIMITS.cfg_min <= cfg <= LIMITS.cfg_max


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    import asyncio

    folder = tmp_path_factory.mktemp("props")
    loop = asyncio.new_event_loop()
    store = loop.run_until_complete(Store.open(folder / "db", folder / "img"))
    config = Config(storage=StorageSection(database=str(folder / "db"),
                                           images=str(folder / "img")),
                    limits=LimitsSection(max_queued_per_user=1000))
    core = Commands(config, store, StyleRegistry.load(ROOT / "adapters"), Translator(store=store))
    yield core, loop
    loop.run_until_complete(store.close())
    loop.close()


@given(text=st.one_of(chat_text, option_soup), private=st.booleans(), admin=st.booleans())
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_message_gets_replies_and_never_an_exception(core, text, private, admin):
    core_, loop = core
    msg = Incoming(platform="console", chat_id="c", user_id="u", text=text, private=private,
                   is_admin=admin, locale="en")
    replies = loop.run_until_complete(core_.handle(msg))
    if private or text.strip().startswith("/"):
        if parse_command(text) is not None or private:
            assert replies and all(r.text for r in replies)


caption_text = st.text(alphabet=st.one_of(st.characters(exclude_categories=("Cs",)),
                                          st.sampled_from(list("<>&\"'"))), max_size=4000)


@given(prompt=caption_text.filter(str.strip), english=caption_text, translator=st.sampled_from(
    ["none", "offline", "google", "cache"]), style=caption_text.filter(str.strip),
    seed=st.integers(0, 2**32 - 1), cfg=st.floats(1, 20), steps=st.integers(1, 150),
    score=st.floats(0, 100), test_model=st.booleans(), lang=st.sampled_from(["id", "en"]))
@settings(max_examples=300, deadline=None)
def test_html_captions_are_valid_and_within_telegrams_limit(
        prompt, english, translator, style, seed, cfg, steps, score, test_model, lang):
    caption = Caption(prompt, english, translator, style[:64], seed, cfg, steps, score,
                      test_model, lang)
    source = caption_html(caption)
    assert utf16_len(source) <= 1024
    text = TelegramHTML.check(source)
    assert f"{seed}" in text and f"{steps}" in text  # parameters are never cut
    assert html.unescape(source).count("\n") == len(caption.fields()) - 1
