"""Slash commands and buttons through discord.py's own dispatch (``CommandTree._call`` reads
the raw interaction data, converts the options and routes errors to the tree's handler),
with interaction doubles that record every call, on a real App (SQLite, styles, the core) in
a temp folder. No engine, no network."""

import asyncio
import itertools
import logging
from datetime import timedelta
from types import SimpleNamespace

import discord
import pytest
from discord import app_commands

from bot.app import App
from bot.caption import Caption
from bot.commands.spec import Request
from bot.config import load_config
from bot.errors import UserError
from bot.frontends.base import Button, Note, Picture, Reply
from bot.frontends.discord import checks, embeds, frontend, views
from bot.frontends.discord.bot import PelukisBot
from bot.frontends.discord.errors import report_error
from bot.i18n import t
from bot.models import JobState, Result
from tests.conftest import write_config

GUILD, CHANNEL, OTHER_CHANNEL = 900, 100, 101
MOD_ROLE_ID = 4242
_ids = itertools.count(10_000)
# Discord's option types, as the interaction data carries them
STRING, INTEGER, BOOLEAN, NUMBER = 3, 4, 5, 10


# -- doubles ----------------------------------------------------------------------------------
class FakeMessage:
    def __init__(self, channel_id: int, calls: list, content: str | None = None):
        self.id = next(_ids)
        self.channel = SimpleNamespace(id=channel_id)
        self.content = content
        self.calls = calls
        self.deleted = False

    async def delete(self):
        self.calls.append(("message.delete", {"id": self.id}))
        self.deleted = True


class FakeResponse:
    def __init__(self, calls: list):
        self.calls = calls
        self.type = None

    def is_done(self) -> bool:
        return self.type is not None

    def _answer(self, kind):
        assert self.type is None, "an interaction can be answered only once"
        self.type = kind

    async def defer(self, *, thinking: bool = False, ephemeral: bool = False):
        self._answer(discord.InteractionResponseType.deferred_channel_message if thinking
                     else discord.InteractionResponseType.deferred_message_update)
        self.calls.append(("defer", {"thinking": thinking, "ephemeral": ephemeral}))

    async def send_message(self, content=None, *, ephemeral=False, view=discord.utils.MISSING,
                           **kwargs):
        self._answer(discord.InteractionResponseType.channel_message)
        self.calls.append(("send_message", {"content": content, "ephemeral": ephemeral,
                                            "view": view, **kwargs}))

    async def autocomplete(self, choices):
        self._answer(discord.InteractionResponseType.autocomplete_result)
        self.calls.append(("autocomplete", {"choices": choices}))


class FakeFollowup:
    def __init__(self, calls: list, channel_id: int):
        self.calls, self.channel_id = calls, channel_id

    async def send(self, content=None, *, ephemeral=False, view=discord.utils.MISSING,
                   wait=False, **kwargs):
        self.calls.append(("followup.send", {"content": content, "ephemeral": ephemeral,
                                             "view": view, **kwargs}))
        return FakeMessage(self.channel_id, self.calls, content) if wait else None


class FakeInteraction:
    """What discord.py's tree, the front end and the buttons use of ``discord.Interaction``;
    records every call."""

    def __init__(self, bot, user, *, channel_id=CHANNEL, guild_id=GUILD, locale="en-US",
                 message=None):
        self.client = bot
        self._state = bot._connection
        self.id = next(_ids)
        self.type = discord.InteractionType.application_command
        self.data: dict = {}
        self.user = user
        self.channel_id = channel_id
        self.guild_id = guild_id
        self.guild = None
        self.locale = discord.Locale(locale)
        self.created_at = discord.utils.utcnow()
        self.message = message
        self.permissions = getattr(user, "guild_permissions", discord.Permissions.none())
        self.command_failed = False
        self._cs_command = None
        self.calls: list[tuple[str, dict]] = []
        self.response = FakeResponse(self.calls)
        self.followup = FakeFollowup(self.calls, channel_id)
        self.original = FakeMessage(channel_id, self.calls)

    @property
    def command(self):  # as discord.Interaction: the tree fills the cache
        return self._cs_command

    async def edit_original_response(self, **kwargs):
        assert self.response.is_done(), "edit before any response"
        self.calls.append(("edit_original_response", kwargs))
        if "content" in kwargs:
            self.original.content = kwargs["content"]
        return self.original

    async def original_response(self):
        self.calls.append(("original_response", {}))
        return self.original

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def last(self, name: str) -> dict:
        return [kw for n, kw in self.calls if n == name][-1]

    @property
    def text(self) -> str:
        """What the user sees: the original response's latest content."""
        return self.original.content


def member(user_id: int, *, manage: bool = False, roles=()) -> SimpleNamespace:
    return SimpleNamespace(
        id=user_id, name=f"user{user_id}", display_name=f"User {user_id}",
        guild_permissions=discord.Permissions(manage_guild=manage),
        roles=[SimpleNamespace(id=rid, name=name) for rid, name in roles])


def dm_user(user_id: int) -> SimpleNamespace:
    return SimpleNamespace(id=user_id, name=f"user{user_id}", display_name=f"User {user_id}")


# -- fixtures ---------------------------------------------------------------------------------
def discord_config(tmp_path, **sections):
    discord_section = {"moderator_roles": ["Pelukis Mods", str(MOD_ROLE_ID)],
                       "edit_interval_s": 0.0}
    discord_section.update(sections.pop("discord", {}))
    return load_config(write_config(tmp_path, discord=discord_section, **sections))


@pytest.fixture
async def app(tmp_path):
    app = await App.open(discord_config(tmp_path))
    yield app
    await app.close()


async def make_bot(app: App) -> PelukisBot:
    bot = PelukisBot(app.config, app)
    await bot.build()
    bot.frontend.ready.set()  # stands for the login; nothing here talks to Discord
    app.add_frontend(bot.frontend)
    return bot


@pytest.fixture
async def bot(app):
    bot = await make_bot(app)
    yield bot
    await bot.frontend.close()


@pytest.fixture
def handled(app, monkeypatch) -> list[tuple]:
    """Every (Incoming, request) the core is asked to answer."""
    seen = []
    run = app.commands._run

    async def spy(msg, spec, read):
        try:  # the request the spec makes of what the platform sent
            seen.append((msg, read()))
        except UserError:
            seen.append((msg, None))
        return await run(msg, spec, read)

    monkeypatch.setattr(app.commands, "_run", spy)
    return seen


def option_data(command: app_commands.Command, options: dict) -> list[dict]:
    """The options as Discord sends them: by their (English) names, with their types."""
    types = {p.name: p.type.value for p in command.parameters}
    return [{"name": name, "type": types[name], "value": value}
            for name, value in options.items()]


async def invoke(bot, name: str, interaction, /, **options):
    """A slash command as Discord delivers it: raw data through the tree."""
    command = bot.tree.get_command(name)
    assert command is not None, name
    interaction.data = {"type": 1, "name": name, "id": "1",
                        "options": option_data(command, options)}
    await bot.tree._call(interaction)
    return interaction


async def settle(app) -> None:
    """Let the status board's edits in flight land."""
    for _ in range(20):
        await asyncio.sleep(0)
    tasks = [m.task for m in app.board._messages.values() if m.task is not None]
    await asyncio.gather(*tasks, return_exceptions=True)


# -- slash commands -----------------------------------------------------------------------
async def test_generate_hands_typed_options_to_the_core(bot, app, handled):
    ia = await invoke(bot, "generate", FakeInteraction(bot, member(1)), prompt="kucing",
                      seed=5, cfg=7.5, steps=2, negative="blur, teks", aspect_ratio="16:9",
                      style="kancil")
    (msg, request), = handled
    assert isinstance(request, Request) and request.command.name == "generate"
    assert request.values == {"prompt": "kucing", "seed": 5, "cfg": 7.5, "steps": 2,
                              "negative": "blur, teks", "aspect_ratio": "16:9",
                              "style": "kancil"}
    assert (msg.platform, msg.chat_id, msg.group_id, msg.user_id, msg.private) == (
        "discord", str(CHANNEL), str(GUILD), "1", False)
    assert msg.locale == "en-US" and msg.user_name == "User 1"
    assert msg.request_id == str(ia.id)
    # defer first (3 s window), then the queue position in the original response, which is
    # the job's status message from now on (its handle stored by the board)
    assert ia.names() == ["defer", "edit_original_response"]
    assert ia.calls[0][1] == {"thinking": True, "ephemeral": False}
    assert ia.text == t("en", "queued_next")
    job = (await app.store.jobs_in(JobState.QUEUED))[0]
    assert (job.seed, job.cfg, job.steps, job.aspect, job.style, job.negative) == (
        5, 7.5, 2, "16:9", "kancil", "blur, teks, " + app.config.safety.negative)
    assert job.status_ref == f"{CHANNEL}:{ia.original.id}"
    assert bot.frontend.interactions[job.status_ref] is ia


async def test_generate_minimal_and_raw(bot, app, handled):
    await invoke(bot, "generate", FakeInteraction(bot, member(1)), prompt="kucing hitam")
    await invoke(bot, "generate", FakeInteraction(bot, member(1)), prompt="kucing lucu",
                 raw=True, cfg=8)
    assert [r.values for _, r in handled] == [
        {"prompt": "kucing hitam"}, {"prompt": "kucing lucu", "raw": True, "cfg": 8.0}]
    first, second = await app.store.jobs_in(JobState.QUEUED)
    assert first.prompt_en != "kucing hitam"  # translated
    assert second.prompt_en == "kucing lucu"  # as written


async def test_out_of_range_values_answered_in_the_users_language(bot, app):
    # Discord enforces the declared min/max; should a value get past it, the spec answers
    ia = await invoke(bot, "generate", FakeInteraction(bot, member(1), locale="id"),
                      prompt="kucing", steps=999)
    assert ia.text == t("id", "steps_range", min=1, max=50, value="999")
    long = "kucing " * 200
    ia = await invoke(bot, "generate", FakeInteraction(bot, member(1)), prompt=long)
    assert ia.text == t("en", "prompt_too_long", length=len(long.strip()),
                        limit=app.config.limits.prompt_max_chars)
    assert await app.store.jobs_in(JobState.QUEUED) == []


@pytest.mark.parametrize("name, options, values, ephemeral", [
    ("seed", {}, {}, True),
    ("seed", {"value": 42}, {"value": 42}, True),
    ("seed", {"random": True}, {"random": True}, True),
    ("cfg", {"value": 6.5}, {"value": 6.5}, True),
    ("cfg", {}, {}, True),
    ("steps", {"value": 30}, {"value": 30}, True),
    ("negative", {"text": "blurry, text"}, {"text": "blurry, text"}, True),
    ("negative", {"clear": True}, {"clear": True}, True),
    ("lang", {"language": "id"}, {"language": "id"}, True),
    ("raw", {"translate": "on"}, {"translate": "on"}, True),
    ("raw", {}, {}, True),
    ("settings", {}, {}, True),
    ("queue", {}, {}, True),
    ("cancel", {}, {}, True),
    ("help", {}, {}, True),
    ("style", {}, {}, False),
    ("safety", {}, {}, False),
    ("safety", {"mode": "relaxed"}, {"mode": "relaxed"}, False),
])
async def test_every_command_defers_asks_the_core_and_edits(bot, handled, name, options,
                                                             values, ephemeral):
    ia = await invoke(bot, name, FakeInteraction(bot, member(1, manage=True)), **options)
    (_, request), = handled
    assert (request.command.name, request.values) == (name, values)
    assert ia.names()[:2] == ["defer", "edit_original_response"]
    assert ia.calls[0][1]["ephemeral"] is ephemeral
    assert ia.text  # the core's answer is shown
    assert not ia.command_failed


async def test_settings_are_per_server_and_shown_back(bot):
    await invoke(bot, "seed", FakeInteraction(bot, member(1)), value=42)
    ia = await invoke(bot, "seed", FakeInteraction(bot, member(1)))
    assert ia.text == t("en", "seed_show", seed=42)
    other_server = await invoke(bot, "seed", FakeInteraction(bot, member(1), guild_id=901))
    assert other_server.text == t("en", "seed_show", seed=t("en", "seed_random_word"))


async def test_raw_on_sets_the_users_raw_setting(bot, app):
    ia = await invoke(bot, "raw", FakeInteraction(bot, member(1), locale="id"),
                      translate="on")
    assert ia.text == t("id", "raw_on")
    assert (await app.store.user_settings("discord", str(GUILD), "1")).raw is True
    await invoke(bot, "generate", FakeInteraction(bot, member(1)), prompt="kucing lucu")
    (job,) = await app.store.jobs_in(JobState.QUEUED)
    assert job.prompt_en == "kucing lucu"  # untranslated, as asked
    ia = await invoke(bot, "raw", FakeInteraction(bot, member(1)))
    assert ia.text == t("en", "raw_show_on")
    await invoke(bot, "raw", FakeInteraction(bot, member(1)), translate="off")
    assert (await app.store.user_settings("discord", str(GUILD), "1")).raw is False
    # another member's setting is their own
    assert (await app.store.user_settings("discord", str(GUILD), "2")).raw is False


async def test_style_list_has_persistent_buttons(bot):
    ia = await invoke(bot, "style", FakeInteraction(bot, member(1)))
    view = ia.last("edit_original_response")["view"]
    assert view.timeout is None
    ids = [item.item.custom_id for item in view.children]
    assert ids == [f"style:{name}" for name in bot.app.styles.names()] + ["style:none"]
    assert all(isinstance(item, views.StyleButton) for item in view.children)


async def test_style_autocomplete_offers_loaded_styles_and_none(bot):
    async def suggest(current: str) -> list[app_commands.Choice]:
        ia = FakeInteraction(bot, member(1), locale="id")
        ia.type = discord.InteractionType.autocomplete
        ia.data = {"type": 1, "name": "generate", "id": "1", "options": [
            {"name": "prompt", "type": STRING, "value": "kucing"},
            {"name": "style", "type": STRING, "value": current, "focused": True}]}
        await bot.tree._call(ia)
        return ia.last("autocomplete")["choices"]

    choices = await suggest("")
    assert [c.value for c in choices] == [*bot.app.styles.names(), "none"]
    assert "Dongeng Kancil (kancil)" in [c.name for c in choices]
    assert [c.value for c in await suggest("kanc")] == ["kancil"]


# -- permissions: the core decides, from the spec ---------------------------------------------
@pytest.mark.parametrize("user, guild_id, allowed", [
    (member(1), GUILD, False),  # a plain member
    (member(2, manage=True), GUILD, True),  # Manage Server
    (member(3, roles=[(1, "pelukis mods")]), GUILD, True),  # moderator role by name
    (member(4, roles=[(MOD_ROLE_ID, "whatever")]), GUILD, True),  # by id
    (member(5, roles=[(7, "Artists")]), GUILD, False),
    (dm_user(6), None, True),  # anyone in a DM
])
async def test_who_may_set_a_style(bot, app, handled, user, guild_id, allowed):
    ia = await invoke(bot, "style", FakeInteraction(bot, user, guild_id=guild_id),
                      name="kancil")
    (msg, _), = handled
    assert msg.is_admin is allowed  # what Discord says, handed to the core as is
    where = str(guild_id) if guild_id else str(CHANNEL)
    style = (await app.store.chat_settings("discord", where)).style
    assert (style == "kancil") is allowed
    if not allowed:
        assert ia.text == t("en", "style_moderators_only")


async def test_anyone_may_look_at_the_style_list_and_the_image_check(bot):
    ia = await invoke(bot, "style", FakeInteraction(bot, member(1)))
    assert ia.text.startswith(t("en", "style_header"))
    ia = await invoke(bot, "safety", FakeInteraction(bot, member(1), locale="id"))
    assert ia.text == t("id", "safety_show", mode=t("id", "safety_strict"))  # the default


@pytest.mark.parametrize("user, allowed", [
    (member(1), False),
    (member(5, roles=[(7, "Artists")]), False),
    (member(2, manage=True), True),
    (member(3, roles=[(MOD_ROLE_ID, "whatever")]), True),
])
async def test_only_moderators_change_the_image_check(bot, app, user, allowed):
    ia = await invoke(bot, "safety", FakeInteraction(bot, user, locale="id"), mode="strict")
    safety = (await app.store.chat_settings("discord", str(CHANNEL))).safety
    if allowed:
        assert safety == "strict"
        assert ia.text == t("id", "safety_set", mode=t("id", "safety_strict"))
    else:
        assert safety is None
        assert ia.text == t("id", "safety_moderators_only")
    assert ia.calls[0] == ("defer", {"thinking": True, "ephemeral": False})


async def test_channel_style_beside_the_server_style(bot, app, handled):
    mod = member(2, manage=True)
    await invoke(bot, "style", FakeInteraction(bot, mod), name="kancil")
    await invoke(bot, "style", FakeInteraction(bot, mod, channel_id=OTHER_CHANNEL),
                 name="retro-anime", scope="channel")
    assert [r.values for _, r in handled] == [
        {"name": "kancil"}, {"name": "retro-anime", "scope": "channel"}]
    assert (await app.store.chat_settings("discord", str(GUILD))).style == "kancil"
    assert (await app.store.chat_settings("discord", str(OTHER_CHANNEL))).style == "retro-anime"


# -- errors: one handler, the tree's ------------------------------------------------------
def failing(app, monkeypatch, exc: Exception) -> None:
    async def broken(msg, *request):
        raise exc

    monkeypatch.setattr(app.commands, "handle", broken)
    monkeypatch.setattr(app.commands, "handle_values", broken)


async def test_the_tree_has_one_error_handler(bot):
    assert bot.tree.on_error is report_error


async def test_rate_limits_get_friendly_answers(bot, app, monkeypatch):
    failing(app, monkeypatch, discord.RateLimited(12.4))
    ia = await invoke(bot, "queue", FakeInteraction(bot, member(1), locale="id"))
    assert ia.command_failed
    assert ia.names() == ["defer", "edit_original_response"]  # "thinking…" is replaced
    assert ia.text == t("id", "dc_rate_limited", seconds=12)
    response = SimpleNamespace(status=429, reason="Too Many Requests")
    failing(app, monkeypatch, discord.HTTPException(response, {"message": "slow down"}))
    ia = await invoke(bot, "generate", FakeInteraction(bot, member(1)), prompt="kucing")
    assert ia.text == t("en", "dc_rate_limited", seconds=5)


async def test_a_crash_inside_a_command_reaches_the_handler(bot, app, monkeypatch, caplog):
    failing(app, monkeypatch, RuntimeError("database is locked"))
    with caplog.at_level("ERROR", logger="pelukis.discord"):
        ia = await invoke(bot, "generate", FakeInteraction(bot, member(1)), prompt="kucing")
    assert ia.names()[0] == "defer"
    assert ia.text == t("en", "dc_error")
    assert "command /generate failed: RuntimeError" in caplog.text


async def test_an_error_before_any_answer_is_said_privately(bot):
    ia = FakeInteraction(bot, member(1), locale="id")
    await report_error(ia, app_commands.CheckFailure("no"))
    assert ia.last("send_message") == {"content": t("id", "moderators_only"),
                                       "ephemeral": True, "view": discord.utils.MISSING}


async def test_token_never_logged(monkeypatch):
    from bot.logs import RedactSecrets

    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.abcdefghijklmnopqrstuvwxyz0123456789AB"
    monkeypatch.setenv("DISCORD_TOKEN", token)
    record = logging.LogRecord("discord.http", 20, __file__, 1, "login with %s", (token,), None)
    RedactSecrets().filter(record)
    assert token not in record.getMessage()


async def test_run_discord_starts_without_touching_logging(app, monkeypatch):
    from bot.frontends.discord import run_discord

    started = []

    async def start(self, token, *, reconnect=True):
        started.append((self, token))

    monkeypatch.setattr(PelukisBot, "start", start)
    handlers = (list(logging.getLogger().handlers), list(logging.getLogger("discord").handlers))
    await run_discord(app, "secret-token")
    (bot, token), = started
    assert token == "secret-token" and app.board.frontends["discord"] is bot.frontend
    assert bot.intents.message_content is False and bot.intents.members is False
    assert bot.intents.presences is False  # no privileged intents
    assert (logging.getLogger().handlers, logging.getLogger("discord").handlers) == handlers


# -- buttons ------------------------------------------------------------------------------
async def queued_job(bot, app, user=None):
    ia = await invoke(bot, "generate", FakeInteraction(bot, user or member(1)),
                      prompt="kucing", seed=7, steps=2)
    return (await app.store.jobs_in(JobState.QUEUED))[-1], ia


async def press_button(bot, custom_id: str, user, *, message=None):
    """discord.py's route for a press: the template matches, ``from_custom_id`` rebuilds the
    item, its callback runs."""
    ia = FakeInteraction(bot, user, message=message or FakeMessage(CHANNEL, []))
    ia.type = discord.InteractionType.component
    for cls in views.DYNAMIC_ITEMS:
        match = cls.__discord_ui_compiled_template__.fullmatch(custom_id)
        if match:
            item = await cls.from_custom_id(ia, discord.ui.Button(label="x", custom_id=custom_id),
                                            match)
            await item.callback(ia)
            return ia, item
    raise AssertionError(f"no template matches {custom_id}")


async def test_reroll_keep_seed_and_delete(bot, app):
    job, _ = await queued_job(bot, app)
    ia, item = await press_button(bot, f"job:seed:{job.id}", member(2))
    assert (item.action, item.job_id) == ("seed", job.id)
    assert ia.last("send_message")["content"] == t("en", "seed_set", seed=7)
    assert ia.last("send_message")["ephemeral"] is True
    ia, _ = await press_button(bot, f"job:reroll:{job.id}", member(2))
    assert ia.names() == ["send_message", "original_response"]  # public, becomes a status
    assert ia.last("send_message")["ephemeral"] is False
    rerolled = (await app.store.jobs_in(JobState.QUEUED))[-1]
    assert rerolled.id != job.id and rerolled.user_id == "2" and rerolled.prompt == "kucing"
    assert rerolled.status_ref == f"{CHANNEL}:{ia.original.id}"  # opened through the board
    assert bot.frontend.interactions[rerolled.status_ref] is ia
    carrier = FakeMessage(CHANNEL, [])
    ia, _ = await press_button(bot, f"job:del:{job.id}", member(3), message=carrier)
    assert ia.last("send_message")["content"] == t("en", "delete_not_allowed")
    assert not carrier.deleted
    ia, _ = await press_button(bot, f"job:del:{job.id}", member(1), message=carrier)
    assert ia.last("send_message") == {"content": t("en", "deleted"), "ephemeral": True,
                                       "view": discord.utils.MISSING}
    assert carrier.deleted


async def test_a_button_is_rebuilt_without_reading_the_store(bot, app, monkeypatch):
    async def no_store(*args, **kwargs):
        raise AssertionError("from_custom_id read the store")

    monkeypatch.setattr(app.store, "job", no_store)
    ia = FakeInteraction(bot, member(1))
    match = views.JobButton.__discord_ui_compiled_template__.fullmatch("job:reroll:5")
    item = await views.JobButton.from_custom_id(ia, discord.ui.Button(label="🎲"), match)
    assert (item.action, item.job_id, item.item.label) == ("reroll", 5, "🎲")


async def test_button_for_a_missing_job_or_another_channel(bot, app):
    ia, item = await press_button(bot, "job:reroll:999999", member(1))
    assert ia.last("send_message")["content"] == t("en", "job_gone")
    job, _ = await queued_job(bot, app)
    ia = FakeInteraction(bot, member(1), channel_id=OTHER_CHANNEL,
                         message=FakeMessage(OTHER_CHANNEL, []))
    await views.press(ia, f"job:reroll:{job.id}")
    assert ia.last("send_message")["content"] == t("en", "job_gone")


async def test_style_button(bot, app):
    ia, _ = await press_button(bot, "style:kancil", member(1))
    assert ia.last("send_message")["content"] == t("en", "style_moderators_only")
    ia, _ = await press_button(bot, "style:kancil", member(2, manage=True))
    assert (await app.store.chat_settings("discord", str(GUILD))).style == "kancil"


async def test_a_failing_press_gets_the_one_handlers_answer(bot, app, monkeypatch):
    async def broken(msg, data):
        raise RuntimeError("boom")

    monkeypatch.setattr(app.commands, "press", broken)
    ia, _ = await press_button(bot, "style:kancil", member(1))
    assert ia.last("send_message") == {"content": t("en", "dc_error"), "ephemeral": True,
                                       "view": discord.utils.MISSING}


def test_buttons_view_only_knows_its_templates():
    view = views.buttons_view([Button("🎲 Reroll", "job:reroll:5"), Button("PNG", "job:file:5"),
                               Button("x" * 200, "job:del:5"), Button("?", "other:1")])
    # the attachment is the original PNG already: no file button on Discord
    assert [c.item.custom_id for c in view.children] == ["job:reroll:5", "job:del:5"]
    assert len(view.children[1].item.label) == 80
    assert views.buttons_view([]) is None


# -- the status message, through the board ------------------------------------------------
def test_progress_texts_get_a_bar():
    progress_text = frontend.DiscordFrontEnd.progress_text
    assert progress_text("en", 30) == t("en", "progress", percent=30) + "\n`███░░░░░░░`"
    assert progress_text("id", 100).endswith("`██████████`")
    assert progress_text("id", 0).startswith(t("id", "progress", percent=0))


async def test_progress_reaches_the_status_message_in_steps(bot, app):
    job, ia = await queued_job(bot, app)
    assert bot.frontend.progress_step(job.status_ref) == 10
    before = len(ia.calls)
    app.board.progress(job, 3, 10)
    await settle(app)
    app.board.progress(job, 3, 10)  # the same step: nothing new to show
    await settle(app)
    edits = [kw for n, kw in ia.calls[before:] if n == "edit_original_response"]
    assert edits == [{"content": frontend.DiscordFrontEnd.progress_text("en", 30)}]


async def test_status_edits_fall_back_to_the_channel_message(bot, app, monkeypatch):
    job, ia = await queued_job(bot, app)
    ia.created_at -= timedelta(minutes=20)  # the interaction token has expired
    edits = []

    class Channel:
        id = CHANNEL

        def get_partial_message(self, message_id):
            async def edit(**kwargs):
                edits.append((message_id, kwargs))
            return SimpleNamespace(edit=edit)

    monkeypatch.setattr(bot, "get_channel", lambda cid: Channel() if cid == CHANNEL else None)
    app.board.update(job, "Queued: #2 in line.")
    await settle(app)
    app.board.update(job, "Queued: #2 in line.")  # same text: no second edit
    await settle(app)
    assert edits == [(ia.original.id, {"content": "Queued: #2 in line."})]
    assert "edit_original_response" not in ia.names()[2:]


async def test_status_before_the_answer_is_kept(bot, app, monkeypatch):
    """The dispatcher may report "Painting…" before the command has shown "Queued"."""
    enqueue = app.commands.enqueue

    async def painting_at_once(job):
        reply = await enqueue(job)
        app.board.update(await app.store.job(reply.job_id), t("en", "painting"))
        return reply

    monkeypatch.setattr(app.commands, "enqueue", painting_at_once)
    ia = await invoke(bot, "generate", FakeInteraction(bot, member(1)), prompt="kucing")
    await settle(app)
    assert ia.text == t("en", "painting")


async def test_no_edit_before_the_login(bot, app):
    job, ia = await queued_job(bot, app)
    bot.frontend.ready.clear()
    with pytest.raises(RuntimeError):
        await bot.frontend.edit_status(job.status_ref, "Painting…")


async def test_finish_waits_for_the_login_then_gives_up(bot, app, monkeypatch):
    job, _ = await queued_job(bot, app)
    bot.frontend.ready.clear()
    monkeypatch.setattr(frontend, "READY_TIMEOUT_S", 0.05)
    with pytest.raises(RuntimeError, match="not logged in"):
        await bot.frontend.finish(job, job.status_ref, Note("x"))


def picture(tmp_path, job_id: int) -> Picture:
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    caption = Caption("p", "p", "none", "none", 1, 7.5, 2, 10.0, True, "en")
    result = Result(job_id, 1, 10.0, str(png), 8, 8)
    return Picture(result, caption, [Button("🎲", f"job:reroll:{job_id}"),
                                     Button("PNG", f"job:file:{job_id}")])


async def test_the_status_message_becomes_the_image_while_the_token_lives(bot, app, tmp_path):
    job, ia = await queued_job(bot, app)
    shown = await bot.frontend.finish(job, job.status_ref, picture(tmp_path, job.id))
    assert shown == job.status_ref
    done = ia.last("edit_original_response")
    assert done["content"] is None and done["embed"].image.url == f"attachment://pelukis-{job.id}-1.png"
    assert [f.filename for f in done["attachments"]] == [f"pelukis-{job.id}-1.png"]
    assert [c.item.custom_id for c in done["view"].children] == [f"job:reroll:{job.id}"]
    assert job.status_ref not in bot.frontend.interactions  # nothing left behind


async def test_a_failure_note_replaces_the_status_message(bot, app):
    job, ia = await queued_job(bot, app)
    await bot.frontend.finish(job, job.status_ref, Note(t("en", "failed_retries")))
    assert ia.last("edit_original_response") == {
        "content": t("en", "failed_retries"), "embed": None, "view": None, "attachments": []}


class Channel:
    """A text channel: its messages can be edited (or not), replies are recorded."""

    def __init__(self, *, editable: bool = True):
        self.id = CHANNEL
        self.editable = editable
        self.edits: list[tuple[int, list]] = []
        self.sends: list[dict] = []

    def get_partial_message(self, message_id):
        async def edit(**kwargs):
            if not self.editable and "content" in kwargs and kwargs["content"] is None:
                raise discord.NotFound(SimpleNamespace(status=404, reason="gone"), "gone")
            self.edits.append((message_id, kwargs))
        return SimpleNamespace(edit=edit)

    async def send(self, *args, **kwargs):
        self.sends.append(kwargs)
        return SimpleNamespace(id=next(_ids), channel=SimpleNamespace(id=self.id))


async def test_a_late_image_edits_the_status_message_so_a_repeat_is_no_second_answer(
        bot, app, monkeypatch, tmp_path):
    job, ia = await queued_job(bot, app)
    ia.created_at -= timedelta(minutes=20)  # the interaction token has expired
    channel = Channel()
    monkeypatch.setattr(bot, "get_channel", lambda cid: channel if cid == CHANNEL else None)
    first = await bot.frontend.finish(job, job.status_ref, picture(tmp_path, job.id))
    again = await bot.frontend.finish(job, job.status_ref, picture(tmp_path, job.id))
    assert first == again == job.status_ref
    assert [e[0] for e in channel.edits] == [ia.original.id, ia.original.id]
    assert {"attachments", "embed", "view"} <= set(channel.edits[0][1])
    assert channel.sends == []  # never a second message


async def test_when_the_status_message_is_gone_the_image_is_a_reply(bot, app, monkeypatch,
                                                                    tmp_path):
    job, ia = await queued_job(bot, app)
    ia.created_at -= timedelta(minutes=20)
    channel = Channel(editable=False)
    monkeypatch.setattr(bot, "get_channel", lambda cid: channel if cid == CHANNEL else None)
    shown = await app.board.finish(job, picture(tmp_path, job.id))
    await app.store.mark_delivered(job.id, shown)  # what the delivery records
    (sent,) = channel.sends
    assert sent["content"] == "<@1>" and sent["reference"].message_id == ia.original.id
    assert sent["file"].filename == f"pelukis-{job.id}-1.png"
    # the stale status says where the picture went
    assert channel.edits == [(ia.original.id, {"content": t("en", "dc_sent_below")})]
    # the board keeps the reply's ref: a delivery repeated after a crash edits the reply
    stored = (await app.store.job(job.id)).status_ref
    assert stored != job.status_ref and stored.startswith(f"{CHANNEL}:")


# -- embeds -----------------------------------------------------------------------------------
def caption(**kw) -> Caption:
    values = dict(prompt="kucing **lucu** @everyone", prompt_en="cute cat", translator="offline",
                  style="Dongeng Kancil", seed=42, cfg=7.5, steps=2, clip_score=31.25,
                  test_model=True, lang="en")
    values.update(kw)
    return Caption(**values)


def test_embed_holds_every_parameter():
    embed = embeds.image_embed(caption(), "pelukis-1-42.png")
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Prompt"] == "kucing \\*\\*lucu\\*\\* @everyone"  # markdown shown as typed
    assert fields["English"] == "cute cat (offline translation)"
    assert (fields["Style"], fields["Seed"], fields["CFG"], fields["Steps"]) == (
        "Dongeng Kancil", "42", "7.5", "2")
    assert fields["CLIP"] == "31.2 (test model)"
    assert embed.image.url == "attachment://pelukis-1-42.png"


def test_long_prompts_are_cut_but_never_the_parameters():
    long = "\\" + "_" * 5000  # escapes double its length
    embed = embeds.image_embed(caption(prompt=long, prompt_en="x " * 3000, seed=4294967295),
                               "a.png")
    assert all(len(f.value) <= 1024 and len(f.name) <= 256 for f in embed.fields)
    assert len(embed) <= 6000
    prompt = embed.fields[0].value
    body = prompt.removesuffix("…")
    assert body != prompt and (len(body) - len(body.rstrip("\\"))) % 2 == 0  # no half escape
    assert {f.name: f.value for f in embed.fields}["Seed"] == "4294967295"
    assert embeds.clip("y" * 3000) == "y" * 1999 + "…"


def test_moderator_check_uses_the_channel_permissions():
    ia = SimpleNamespace(guild_id=1, permissions=discord.Permissions(administrator=True),
                         user=member(1))
    assert checks.is_moderator(ia, [])
    ia = SimpleNamespace(guild_id=1, permissions=discord.Permissions.none(), user=member(1))
    assert not checks.is_moderator(ia, ["Mods"])


def test_replies_render_their_file(tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG")
    (file,) = views.reply_files(Reply("", file_path=str(png), file_name="pelukis-1-2.png"))
    assert file.filename == "pelukis-1-2.png"
    assert views.reply_files(Reply("x")) == []
