"""The platform-neutral commands, on a real SQLite store (no engine needed)."""

import re
import shutil
import string
from pathlib import Path

import pytest

from bot.commands import buttons
from bot.commands.registry import Commands
from bot.config import Config, EngineSection, LimitsSection, StorageSection
from bot.i18n import CATALOGS, t
from bot.models import Incoming
from bot.policy.blocklist import Blocklist
from bot.policy.settings import Settings
from bot.storage import Store
from bot.translation.chain import Translator
from engine.styles import StyleRegistry

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def core(tmp_path):
    config = Config(storage=StorageSection(database=str(tmp_path / "db"),
                                           images=str(tmp_path / "img")),
                    limits=LimitsSection(max_queued_per_user=3))
    store = await Store.open(tmp_path / "db", tmp_path / "img")
    woken = []
    core = commands_for(config, store, woken)
    yield core
    await store.close()


def commands_for(config: Config, store: Store, woken: list | None = None) -> Commands:
    woken = [] if woken is None else woken
    core = Commands(config, store, StyleRegistry.load(ROOT / "adapters"),
                    Translator(store=store), wake=lambda: woken.append(1))
    core.woken = woken
    return core


def msg(text: str, user: str = "u1", private: bool = True, admin: bool = False,
        locale: str | None = "en") -> Incoming:
    return Incoming(platform="console", chat_id="chat", user_id=user, text=text,
                    private=private, is_admin=admin, locale=locale)


async def say(core: Commands, text: str, **kw) -> str:
    replies = await core.handle(msg(text, **kw))
    return "\n".join(r.text for r in replies)


def template_matches(key: str, text: str, lang: str = "en") -> bool:
    """Whether ``text`` is the message ``key`` with some values filled in."""
    parts = string.Formatter().parse(CATALOGS[lang][key])
    pattern = "".join(re.escape(lit) + ("(.*)" if name else "") for lit, name, _, _ in parts)
    return re.fullmatch(pattern, text, re.S) is not None


async def test_help_in_both_languages(core):
    assert "/generate" in await say(core, "/help")
    assert "Aku Pelukis" in await say(core, "/start", locale="id")
    assert "Aku Pelukis" in await say(core, "/start", locale=None)  # config default: id


async def test_generate_queues_a_durable_job(core):
    replies = await core.handle(msg("/generate a cat at the market --seed 42 --style kancil"))
    assert replies[0].job_id is not None and core.woken
    job = await core.store.job(replies[0].job_id)
    assert (job.prompt, job.seed, job.style, job.state) == (
        "a cat at the market", 42, "kancil", "queued")
    kancil = core.styles.get("kancil")  # the style's steps; tiny's own guidance
    assert (job.cfg, job.steps) == (core.config.limits.test_model_cfg, kancil.steps)


@pytest.mark.parametrize(
    "text, key",
    [
        ("/generate", "generate_usage"),
        ("/generate " + "x" * 1001, "prompt_too_long"),
        ("/cfg abc", "not_a_number"),
        ("/cfg 99", "cfg_range"),
        ("/cfg -1", "cfg_range"),
        ("/seed -5", "seed_range"),
        ("/seed 99999999999999999999999", "seed_range"),
        ("/steps 0", "steps_range"),
        ("/generate x --ar 100:1", "ar_range"),
        ("/style nosuch", "style_unknown"),
        ("/style ../../etc/passwd", "style_unknown"),
        ("/generate x --style ../../etc", "style_unknown"),
        ("/lang fr", "lang_usage"),
    ],
)
async def test_bad_input_gets_a_clear_answer(core, text, key):
    replies = await core.handle(msg(text))
    assert len(replies) == 1
    assert replies[0].job_id is None
    assert template_matches(key, replies[0].text)


async def test_unknown_command_and_plain_text(core):
    assert "/nosuch" in await say(core, "/nosuch")
    assert await core.handle(msg("just chatting", private=False)) == []
    assert "/generate" in await say(core, "just chatting")


async def test_style_list_marks_the_current_one_and_offers_buttons(core):
    await say(core, "/style kancil")
    replies = await core.handle(msg("/style"))
    text = replies[0].text
    assert "✅ kancil" in text and "▫️ retro-anime" in text
    assert [b.data for b in replies[0].buttons] == [
        "style:fantasy-landscape", "style:kancil", "style:retro-anime", "style:none"]


async def test_only_moderators_change_a_groups_style(core):
    denied = await say(core, "/style kancil", private=False)
    assert denied == t("en", "style_moderators_only")
    assert "Kancil" in await say(core, "/style kancil", private=False, admin=True)
    core.config.bot.moderators.append("console:mod")
    assert "Retro" in await say(core, "/style retro-anime", user="mod", private=False)
    assert (await core.store.chat_settings("console", "chat")).style == "retro-anime"
    assert await say(core, "/style none", private=False, admin=True) == t("en", "style_cleared")


async def test_user_settings_apply_to_the_next_job(core):
    assert "42" in await say(core, "/seed 42")
    assert "5" in await say(core, "/cfg 5")
    await say(core, "/steps 12")
    await say(core, "/negative blurry, text")
    settings = await say(core, "/settings")
    assert "seed: 42" in settings and "cfg: 5" in settings and "steps: 12" in settings
    replies = await core.handle(msg("/generate a dog"))
    job = await core.store.job(replies[0].job_id)
    assert (job.seed, job.cfg, job.steps) == (42, 5.0, 12)
    assert job.negative == "blurry, text, " + core.config.safety.negative  # always added
    assert "random" in (await say(core, "/seed random")).lower()
    assert (await core.store.user_settings("console", "chat", "u1")).seed is None


async def test_lang_switches_every_answer(core):
    await say(core, "/lang id")
    assert await say(core, "/cancel") == t("id", "cancel_none")
    await say(core, "/lang english")
    assert await say(core, "/cancel") == t("en", "cancel_none")


async def test_queue_positions_are_fair_and_the_user_limit_holds(core):
    for _ in range(3):
        await core.handle(msg("/generate one", user="greedy"))
    late = await core.handle(msg("/generate two", user="late"))
    assert late[0].text == t("en", "queued", position=2)  # ahead of greedy's 2nd and 3rd
    full = await say(core, "/generate more", user="greedy")
    assert full == t("en", "queue_full", count=3, limit=3)
    listing = await say(core, "/queue")
    assert listing.splitlines()[0] == t("en", "queue_header", count=4)
    assert await say(core, "/cancel", user="greedy") == t("en", "cancel_done", count=3)
    assert await core.store.count_waiting("console", "greedy") == 0


async def test_markup_and_odd_unicode_are_kept_as_text(core):
    prompt = "<b>kucing</b> & 🐱 </code> ネコ \u202e"
    replies = await core.handle(msg("/generate " + prompt))
    job = await core.store.job(replies[0].job_id)
    assert job.prompt == " ".join(prompt.split())


async def test_indonesian_prompts_are_translated_unless_raw(core):
    replies = await core.handle(msg("/generate kucing hitam di atas meja"))
    job = await core.store.job(replies[0].job_id)
    assert (job.prompt, job.translator) == ("kucing hitam di atas meja", "offline")
    assert "black cat" in job.prompt_en
    english = await core.handle(msg("/generate masterpiece, 1girl, pastel colors"))
    assert (await core.store.job(english[0].job_id)).translator == "none"
    flagged = await core.handle(msg("/generate kucing hitam --raw"))
    assert (await core.store.job(flagged[0].job_id)).prompt_en == "kucing hitam"
    assert await say(core, "/raw on", user="u2") == t("en", "raw_on")
    assert await say(core, "/raw", user="u2") == t("en", "raw_show_on")
    setting = await core.handle(msg("/generate anjing merah", user="u2"))
    assert (await core.store.job(setting[0].job_id)).prompt_en == "anjing merah"


async def test_buttons_refer_to_the_stored_job(core):
    first = await core.handle(msg("/generate a red kite --seed 5"))
    job = await core.store.job(first[0].job_id)
    data = [b.data for b in buttons.job_buttons(job, "en", file_button=True)]
    assert data == [f"job:reroll:{job.id}", f"job:seed:{job.id}", f"job:vary:{job.id}",
                    f"job:file:{job.id}", f"job:del:{job.id}"]
    assert all(len(d.encode()) <= 64 for d in data)
    reroll = await core.press(msg("", user="u2"), f"job:reroll:{job.id}")
    again = await core.store.job(reroll[0].job_id)
    assert (again.prompt, again.user_id) == (job.prompt, "u2") and again.id != job.id
    assert await core.press(msg("", user="u2"), f"job:seed:{job.id}") == [
        type(reroll[0])(t("en", "seed_set", seed=5))]
    assert (await core.store.user_settings("console", "chat", "u2")).seed == 5
    denied = await core.press(msg("", user="u2", private=False), f"job:del:{job.id}")
    assert denied[0].text == t("en", "delete_not_allowed") and not denied[0].delete_message
    allowed = await core.press(msg("", user="u1", private=False), f"job:del:{job.id}")
    assert allowed[0].delete_message


@pytest.mark.parametrize("data", ["job:reroll:999", "job:seed:x", "job:nope:1", "zzz", ""])
async def test_buttons_for_missing_jobs_answer_politely(core, data):
    replies = await core.press(msg(""), data)
    assert replies[0].text == t("en", "job_gone")


async def test_style_button(core):
    replies = await core.press(msg(""), "style:kancil")
    assert replies[0].text == t("en", "style_set", title="Kancil storybook")


async def test_server_style_with_a_channel_override_and_server_wide_user_settings(core):
    def on(channel: str, text: str, **kw) -> Incoming:
        return Incoming(platform="discord", chat_id=channel, group_id="guild", user_id="u",
                        text=text, private=False, locale="en", **kw)

    await core.handle(on("c1", "/style kancil", is_admin=True))
    assert await style_of(core, on("c2", "")) == "kancil"  # server-wide
    await core.handle(on("c2", "/style retro-anime channel", is_admin=True))
    assert await style_of(core, on("c2", "")) == "retro-anime"
    assert await style_of(core, on("c1", "")) == "kancil"
    await core.handle(on("c1", "/seed 9"))
    assert (await core.store.user_settings("discord", "guild", "u")).seed == 9
    replies = await core.handle(on("c2", "/generate a boat"))
    job = await core.store.job(replies[0].job_id)
    assert (job.seed, job.style, job.chat_id) == (9, "retro-anime", "c2")


async def style_of(core: Commands, msg: Incoming) -> str:
    return (await core.settings.resolve(msg)).style_name


async def test_an_event_delivered_twice_makes_one_job(core):
    event = Incoming(platform="telegram", chat_id="chat", user_id="u", text="/generate a cat",
                     request_id="update:77", locale="en")
    first = await core.handle(event)
    again = await core.handle(event)
    assert first[0].job_id == again[0].job_id
    assert len(await core.store.queue()) == 1


@pytest.mark.parametrize("prompt", ["gadis telanjang di pantai", "a p0rn star", "s e x y cat",
                                    "pooorn", "T3LANJANG", "bugil"])
async def test_blocked_prompts_are_refused_without_a_job(core, prompt):
    replies = await core.handle(msg(f"/generate {prompt}"))
    assert replies[0].text == t("en", "prompt_blocked") and replies[0].job_id is None
    assert await core.store.queue() == []


@pytest.mark.parametrize("prompt", ["a castle in Sussex", "Middlesex river at dawn",
                                    "kucing lucu di pasar", "a cat in a cape"])
async def test_innocent_prompts_pass(core, prompt):
    replies = await core.handle(msg(f"/generate {prompt}"))
    assert replies[0].job_id is not None


async def test_the_english_translation_is_checked_too(core):
    core = Commands(core.config, core.store, core.styles, core.translator,
                    blocklist=Blocklist(core.config.safety.model_copy(
                        update={"blocklist": ["black cat"], "default_blocklist": False})))
    replies = await core.handle(msg("/generate kucing hitam"))  # → "black cat"
    assert replies[0].text == t("en", "prompt_blocked")


async def test_safety_mode_is_for_moderators_and_sets_the_threshold(core):
    core = commands_for(core.config.model_copy(update={"safety": core.config.safety.model_copy(
        update={"check_test_model": True})}), core.store)
    assert await say(core, "/safety relaxed", private=False) == t("en",
                                                                  "safety_moderators_only")
    assert await say(core, "/safety relaxed", private=False, admin=True) == t(
        "en", "safety_set", mode="relaxed")
    replies = await core.handle(msg("/generate a lighthouse", private=False))
    job = await core.store.job(replies[0].job_id)
    assert job.safety == core.config.safety.relaxed_threshold
    assert await say(core, "/safety whatever") == t("en", "safety_usage")


async def test_flood_limits(core):
    from bot.config import LimitsSection

    core = commands_for(core.config.model_copy(update={"limits": LimitsSection(
        max_queued_per_user=100, max_jobs_per_hour=2, max_queued_per_chat=100, max_queue=4)}),
        core.store)
    for _ in range(2):
        assert (await core.handle(msg("/generate a boat", user="f")))[0].job_id
    limited = await say(core, "/generate a boat", user="f")
    assert template_matches("hourly_limit", limited) and "60 minutes" in limited
    # moderators are exempt from per-user limits in groups
    assert (await core.handle(msg("/generate a boat", user="f", private=False,
                                  admin=True)))[0].job_id
    assert (await core.handle(msg("/generate a boat", user="g")))[0].job_id
    assert await say(core, "/generate a boat", user="h") == t("en", "queue_busy")


async def test_a_locked_database_gets_a_clear_answer(core, tmp_path):
    import asyncio
    import sqlite3 as sqlite

    blocker = sqlite.connect(tmp_path / "db", timeout=0, check_same_thread=False)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        await core.store._exec("PRAGMA busy_timeout=200")  # don't wait the full 5 s here
        answer = await say(core, "/seed 5")
    finally:
        await asyncio.to_thread(blocker.rollback)
        blocker.close()
    assert answer == t("en", "db_busy")
    assert await say(core, "/seed 5") == t("en", "seed_set", seed=5)  # and then it works


async def test_setting_an_unknown_or_misplaced_key_is_an_error(core):
    from bot.policy.settings import Scope

    with pytest.raises(KeyError):
        await core.settings.set(msg(""), Scope.USER, colour="red")
    with pytest.raises(KeyError):  # a style is a chat's, not a user's
        await core.settings.set(msg(""), Scope.USER, style="kancil")
    with pytest.raises(KeyError):  # a console chat has no server
        await core.settings.set(msg(""), Scope.SERVER, style="kancil")
    with pytest.raises(KeyError):  # the store refuses a typo too
        await core.store.set_user("console", "chat", "u1", sed=5)


async def test_effective_settings_walk_the_declared_scopes(core):
    """user in chat → channel → server → style → config, in one resolver."""
    def on(channel: str, user: str = "u", text: str = "", **kw) -> Incoming:
        return Incoming(platform="discord", chat_id=channel, group_id="guild", user_id=user,
                        text=text, private=False, locale="en", **kw)

    limits = core.config.limits
    base = await core.settings.resolve(on("c1"))
    assert (base.style, base.cfg, base.steps, base.seed) == (
        None, limits.test_model_cfg, limits.default_steps, None)  # config, for tiny
    await core.handle(on("c1", is_admin=True, text="/style kancil"))  # server-wide
    kancil = core.styles.get("kancil")
    server = await core.settings.resolve(on("c2"))
    assert (server.style_name, server.cfg, server.steps) == (
        "kancil", limits.test_model_cfg, kancil.steps)  # kancil sets no test_cfg
    await core.handle(on("c2", is_admin=True, text="/style retro-anime channel"))
    assert (await core.settings.resolve(on("c2"))).style_name == "retro-anime"
    await core.handle(on("c1", text="/cfg 3"))  # the user's own, server-wide on Discord
    mine = await core.settings.resolve(on("c2"))
    assert mine.cfg == 3.0 and (await core.settings.resolve(on("c2", user="v"))).cfg != 3.0
    assert (await core.settings.resolve(on("c1"), style="none")).style is None  # --style none


async def test_default_guidance_follows_the_model_and_the_style(tmp_path):
    """SD 2.1 paints at the style's cfg, else 7.5; tiny at the style's test_cfg, else 2."""
    store = await Store.open(tmp_path / "db", tmp_path / "img")
    try:
        adapters = tmp_path / "adapters"
        shutil.copytree(ROOT / "adapters", adapters)
        manifest = adapters / "kancil" / "style.toml"
        manifest.write_text(manifest.read_text(encoding="utf-8").replace(
            "cfg = 7.0\n", "cfg = 7.0\ntest_cfg = 3.5\n"), encoding="utf-8")
        styles = StyleRegistry.load(adapters)
        kancil, retro = styles.get("kancil"), styles.get("retro-anime")
        assert (kancil.cfg, kancil.test_cfg, retro.test_cfg) == (7.0, 3.5, None)
        for model, want in (("tiny", (2.0, 3.5, 2.0)),
                            ("stabilityai/stable-diffusion-2-1", (7.5, 7.0, 7.5))):
            settings = Settings(Config(engine=EngineSection(model=model)), store, styles)
            got = tuple(settings.default_cfg(s) for s in (None, kancil, retro))
            assert got == want, model
    finally:
        await store.close()
