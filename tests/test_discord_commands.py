"""Slash command callbacks and buttons, driven with interaction doubles that record every
call, on a real App (SQLite, styles, core) in a temp folder. No engine, no network."""

import itertools
import logging
from datetime import timedelta
from types import SimpleNamespace

import discord
import pytest
from discord import app_commands

from bot.app import App
from bot.caption import Caption
from bot.config import load_config
from bot.frontend import Reply
from bot.frontends.discord import checks, embeds, views
from bot.frontends.discord.bot import PelukisBot, Status, progress_text
from bot.i18n import t
from bot.models import JobState
from tests.conftest import write_config

GUILD, CHANNEL, OTHER_CHANNEL = 900, 100, 101
MOD_ROLE_ID = 4242
_ids = itertools.count(10_000)


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


class FakeFollowup:
    def __init__(self, calls: list, channel_id: int):
        self.calls, self.channel_id = calls, channel_id

    async def send(self, content=None, *, ephemeral=False, view=discord.utils.MISSING, **kwargs):
        self.calls.append(("followup.send", {"content": content, "ephemeral": ephemeral,
                                             "view": view, **kwargs}))
        return FakeMessage(self.channel_id, self.calls, content)


class FakeInteraction:
    """What the cogs and the front end use of ``discord.Interaction``; records every call."""

    def __init__(self, bot, user, *, channel_id=CHANNEL, guild_id=GUILD, locale="en-US",
                 message=None, namespace=None):
        self.client = bot
        self.user = user
        self.channel_id = channel_id
        self.guild_id = guild_id
        self.locale = discord.Locale(locale)
        self.created_at = discord.utils.utcnow()
        self.message = message
        self.namespace = app_commands.Namespace.__new__(app_commands.Namespace)
        self.namespace.__dict__.update(namespace or {})
        self.permissions = getattr(user, "guild_permissions", discord.Permissions.none())
        self.command = None
        self.calls: list[tuple[str, dict]] = []
        self.response = FakeResponse(self.calls)
        self.followup = FakeFollowup(self.calls, channel_id)
        self.original = FakeMessage(channel_id, self.calls)

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
def core_texts(app, monkeypatch):
    """Every Incoming the core receives."""
    seen = []
    handle = app.core.handle

    async def spy(msg):
        seen.append(msg)
        return await handle(msg)

    monkeypatch.setattr(app.core, "handle", spy)
    return seen


def cog_command(bot: PelukisBot, name: str):
    command = bot.tree.get_command(name)
    assert command is not None, name
    return command


async def invoke(bot, command_name: str, interaction, /, **options):
    """Call the command's callback the way the tree does: bound to its cog."""
    command = cog_command(bot, command_name)
    interaction.command = command
    await command.callback(command.binding, interaction, **options)
    return interaction


# -- slash commands -----------------------------------------------------------------------
async def test_generate_turns_typed_options_into_the_core_command(bot, app, core_texts):
    ia = await invoke(bot, "generate", FakeInteraction(bot, member(1)), prompt="kucing",
                      seed=5, cfg=7.5, steps=2, negative="blur, teks", aspect_ratio="16:9",
                      style="kancil")
    assert core_texts[0].text == \
        "/generate kucing --style kancil --seed 5 --cfg 7.5 --steps 2 --ar 16:9 --no blur, teks"
    msg = core_texts[0]
    assert (msg.platform, msg.chat_id, msg.group_id, msg.user_id, msg.private) == (
        "discord", str(CHANNEL), str(GUILD), "1", False)
    assert msg.locale == "en-US" and msg.user_name == "User 1"
    # defer first (3 s window), then the queue position in the original response,
    # whose handle is stored with the job for after a restart
    assert ia.names() == ["defer", "edit_original_response", "original_response"]
    assert ia.calls[0][1] == {"thinking": True, "ephemeral": False}
    assert ia.text == t("en", "queued_next")
    job = (await app.store.jobs_in(JobState.QUEUED))[0]
    assert (job.seed, job.cfg, job.steps, job.aspect, job.style, job.negative) == (
        5, 7.5, 2, "16:9", "kancil", "blur, teks, " + app.config.safety.negative)
    assert job.status_ref == f"{CHANNEL}:{ia.original.id}"
    assert bot.frontend.statuses[job.id].interaction is ia


async def test_generate_minimal_and_raw(bot, core_texts):
    await invoke(bot, "generate", FakeInteraction(bot, member(1)), prompt="kucing hitam")
    await invoke(bot, "generate", FakeInteraction(bot, member(1)), prompt="kucing", raw=True,
                 cfg=8.0)
    assert [m.text for m in core_texts] == ["/generate kucing hitam",
                                           "/generate kucing --cfg 8 --raw"]


async def test_core_validation_answers_in_the_users_language(bot, app):
    ia = await invoke(bot, "generate", FakeInteraction(bot, member(1), locale="id"),
                      prompt="kucing --steps 999")
    assert ia.text == t("id", "steps_range", min=1, max=50, value="999")
    assert await app.store.jobs_in(JobState.QUEUED) == []


@pytest.mark.parametrize("name, options, text, ephemeral", [
    ("seed", {}, "/seed", True),
    ("seed", {"value": 42}, "/seed 42", True),
    ("seed", {"random": True}, "/seed random", True),
    ("cfg", {"value": 6.5}, "/cfg 6.5", True),
    ("cfg", {}, "/cfg", True),
    ("steps", {"value": 30}, "/steps 30", True),
    ("negative", {"text": "blurry, text"}, "/negative blurry, text", True),
    ("negative", {"clear": True}, "/negative none", True),
    ("lang", {"language": "id"}, "/lang id", True),
    ("settings", {}, "/settings", True),
    ("queue", {}, "/queue", True),
    ("cancel", {}, "/cancel", True),
    ("help", {}, "/help", True),
    ("style", {}, "/style", False),
])
async def test_every_command_defers_asks_the_core_and_edits(bot, core_texts, name, options,
                                                             text, ephemeral):
    ia = await invoke(bot, name, FakeInteraction(bot, member(1, manage=True)), **options)
    assert core_texts[-1].text == text
    assert ia.names()[:2] == ["defer", "edit_original_response"]
    assert ia.calls[0][1]["ephemeral"] is ephemeral
    assert ia.text  # the core's answer is shown


async def test_settings_are_per_server_and_shown_back(bot):
    await invoke(bot, "seed", FakeInteraction(bot, member(1)), value=42)
    ia = await invoke(bot, "seed", FakeInteraction(bot, member(1)))
    assert ia.text == t("en", "seed_show", seed=42)
    other_server = await invoke(bot, "seed", FakeInteraction(bot, member(1), guild_id=901))
    assert other_server.text == t("en", "seed_show", seed=t("en", "seed_random_word"))


async def test_style_list_has_persistent_buttons(bot):
    ia = await invoke(bot, "style", FakeInteraction(bot, member(1)))
    view = ia.last("edit_original_response")["view"]
    assert view.timeout is None
    ids = [item.item.custom_id for item in view.children]
    assert ids == [f"style:{name}" for name in bot.app.styles.names()] + ["style:none"]
    assert all(isinstance(item, views.StyleButton) for item in view.children)


async def test_style_autocomplete_offers_loaded_styles_and_none(bot):
    ia = FakeInteraction(bot, member(1), locale="id")
    command = cog_command(bot, "generate")
    choices = await command._params["style"].autocomplete(ia, "")
    assert [c.value for c in choices] == [*bot.app.styles.names(), "none"]
    assert "Dongeng Kancil (kancil)" in [c.name for c in choices]
    narrowed = await command._params["style"].autocomplete(ia, "kanc")
    assert [c.value for c in narrowed] == ["kancil"]


# -- permissions ------------------------------------------------------------------------------
def style_check(bot):
    command = cog_command(bot, "style")
    assert len(command.checks) == 1
    return command.checks[0]


@pytest.mark.parametrize("user, guild_id, allowed", [
    (member(1), GUILD, False),  # a plain member
    (member(2, manage=True), GUILD, True),  # Manage Server
    (member(3, roles=[(1, "pelukis mods")]), GUILD, True),  # moderator role by name
    (member(4, roles=[(MOD_ROLE_ID, "whatever")]), GUILD, True),  # by id
    (member(5, roles=[(7, "Artists")]), GUILD, False),
    (dm_user(6), None, True),  # anyone in a DM
])
async def test_who_may_set_a_style(bot, app, user, guild_id, allowed):
    ia = FakeInteraction(bot, user, guild_id=guild_id, namespace={"name": "kancil"})
    check = style_check(bot)
    if allowed:
        assert check(ia) is True
    else:
        with pytest.raises(checks.NotModerator):
            check(ia)
    # the core agrees (it is told is_admin) and does what the check allowed
    await invoke(bot, "style", ia, name="kancil")
    where = str(guild_id) if guild_id else str(CHANNEL)
    style = (await app.store.chat_settings("discord", where)).style
    assert (style == "kancil") is allowed
    if not allowed:
        assert ia.text == t("en", "style_moderators_only")


async def test_anyone_may_look_at_the_list(bot):
    assert style_check(bot)(FakeInteraction(bot, member(1), namespace={})) is True


async def test_refused_check_is_answered_by_the_cog_handler(bot):
    ia = FakeInteraction(bot, member(1), locale="id", namespace={"name": "kancil"})
    command = cog_command(bot, "style")
    with pytest.raises(checks.NotModerator) as err:
        style_check(bot)(ia)
    await command.binding.cog_app_command_error(ia, err.value)
    assert ia.last("send_message") == {"content": t("id", "dc_style_moderators_only"),
                                       "ephemeral": True, "view": discord.utils.MISSING}


async def test_channel_style_beside_the_server_style(bot, app, core_texts):
    mod = member(2, manage=True)
    await invoke(bot, "style", FakeInteraction(bot, mod), name="kancil")
    await invoke(bot, "style", FakeInteraction(bot, mod, channel_id=OTHER_CHANNEL),
                 name="retro-anime", scope="channel")
    assert [m.text for m in core_texts] == ["/style kancil", "/style retro-anime channel"]
    assert (await app.store.chat_settings("discord", str(GUILD))).style == "kancil"
    assert (await app.store.chat_settings("discord", str(OTHER_CHANNEL))).style == "retro-anime"


# -- errors -----------------------------------------------------------------------------------
async def test_rate_limit_and_unexpected_errors_get_friendly_answers(bot, caplog):
    command = cog_command(bot, "generate")
    ia = FakeInteraction(bot, member(1), locale="id")
    await ia.response.defer(thinking=True)
    limited = app_commands.CommandInvokeError(command, discord.RateLimited(12.4))
    await command.binding.cog_app_command_error(ia, limited)
    assert ia.last("edit_original_response")["content"] == t("id", "dc_rate_limited",
                                                             seconds=12)
    response = SimpleNamespace(status=429, reason="Too Many Requests")
    http429 = discord.HTTPException(response, {"message": "You are being rate limited."})
    ia2 = FakeInteraction(bot, member(1))
    await command.binding.cog_app_command_error(
        ia2, app_commands.CommandInvokeError(command, http429))
    assert ia2.last("send_message")["content"] == t("en", "dc_rate_limited", seconds=5)
    ia3 = FakeInteraction(bot, member(1))
    ia3.command = command
    await ia3.response.defer(thinking=True)
    with caplog.at_level("ERROR", logger="pelukis.discord"):
        await command.binding.cog_app_command_error(
            ia3, app_commands.CommandInvokeError(command, RuntimeError("boom")))
    assert ia3.last("edit_original_response")["content"] == t("en", "dc_error")
    assert "command /generate failed" in caplog.text


async def test_a_core_crash_inside_a_command_reaches_the_handler(bot, app, monkeypatch):
    async def broken(msg):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(app.core, "handle", broken)
    command = cog_command(bot, "queue")
    ia = FakeInteraction(bot, member(1))
    ia.command = command
    # discord.py's own path (CommandTree._call): invoke, wrap the error, route it to the cog
    with pytest.raises(app_commands.CommandInvokeError) as err:
        await command._invoke_with_namespace(ia, ia.namespace)
    await command._invoke_error_handlers(ia, err.value)
    assert ia.names()[0] == "defer"
    assert ia.last("edit_original_response")["content"] == t("en", "dc_error")


async def test_token_never_logged(monkeypatch):
    from bot.app import RedactSecrets

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
    assert token == "secret-token" and app.dispatcher.frontends["discord"] is bot.frontend
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
    for cls in (views.JobButton, views.StyleButton):
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
    assert item.job.id == job.id
    assert ia.last("send_message")["content"] == t("en", "seed_set", seed=7)
    assert ia.last("send_message")["ephemeral"] is True
    ia, _ = await press_button(bot, f"job:reroll:{job.id}", member(2))
    assert ia.names() == ["send_message", "original_response"]  # public, becomes a status
    rerolled = (await app.store.jobs_in(JobState.QUEUED))[-1]
    assert rerolled.id != job.id and rerolled.user_id == "2" and rerolled.prompt == "kucing"
    assert rerolled.status_ref == f"{CHANNEL}:{ia.original.id}"
    carrier = FakeMessage(CHANNEL, [])
    ia, _ = await press_button(bot, f"job:del:{job.id}", member(3), message=carrier)
    assert ia.last("send_message")["content"] == t("en", "delete_not_allowed")
    assert not carrier.deleted
    ia, _ = await press_button(bot, f"job:del:{job.id}", member(1), message=carrier)
    assert ia.last("send_message") == {"content": t("en", "deleted"), "ephemeral": True,
                                       "view": discord.utils.MISSING}
    assert carrier.deleted


async def test_button_for_a_missing_job_or_another_channel(bot, app):
    ia, item = await press_button(bot, "job:reroll:999999", member(1))
    assert item.job is None
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


def test_buttons_view_only_knows_its_templates():
    from bot.frontend import Button

    view = views.buttons_view([Button("🎲 Reroll", "job:reroll:5"), Button("PNG", "job:file:5"),
                               Button("x" * 200, "job:del:5")])
    assert [c.item.custom_id for c in view.children] == ["job:reroll:5", "job:del:5"]
    assert len(view.children[1].item.label) == 80
    assert views.buttons_view([]) is None


# -- the front end's edits ----------------------------------------------------------------
async def test_progress_edits_are_throttled_and_never_block(app):
    (app.config.root / "t2").mkdir()
    app = await App.open(discord_config(app.config.root / "t2", discord={"edit_interval_s": 60}))
    try:
        bot = await make_bot(app)
        job, ia = await queued_job(bot, app)
        before = len(ia.calls)
        for step in range(1, 11):
            bot.frontend.job_progress(job, step, 10)  # sync; schedules at most one edit
        for task in list(bot.frontend._tasks):
            await task
        assert len(ia.calls) == before  # the queue answer was edited just now: too soon
        bot.frontend.statuses[job.id].last_edit -= 61
        for step in range(1, 11):
            bot.frontend.job_progress(job, step, 10)
        for task in list(bot.frontend._tasks):
            await task
        edits = [kw for n, kw in ia.calls[before:] if n == "edit_original_response"]
        assert edits == [{"content": progress_text("en", 1, 10)}]
        await bot.frontend.close()
    finally:
        await app.close()


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
    await bot.frontend.job_status(job, "Queued: #2 in line.")
    await bot.frontend.job_status(job, "Queued: #2 in line.")  # same text: no second edit
    assert edits == [(ia.original.id, {"content": "Queued: #2 in line."})]


async def test_status_before_the_answer_is_kept(bot, app):
    """The dispatcher may report "Painting…" before the command has shown "Queued"."""
    frontend = bot.frontend
    ia = FakeInteraction(bot, member(1))
    await ia.response.defer(thinking=True)
    job, _ = await queued_job(bot, app)
    frontend.statuses.pop(job.id)
    job.status_ref = ""
    await frontend.job_status(job, t("en", "painting"))
    await frontend.announce(ia, Reply(t("en", "queued_next"), job_id=job.id))
    assert ia.text == t("en", "painting")
    assert isinstance(frontend.statuses[job.id], Status)


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


async def test_a_late_image_edits_the_status_message_so_a_repeat_is_no_second_answer(
        bot, app, monkeypatch, tmp_path):
    job, ia = await queued_job(bot, app)
    ia.created_at -= timedelta(minutes=20)  # the interaction token has expired
    edits, sends = [], []

    class Channel:
        id = CHANNEL

        def get_partial_message(self, message_id):
            async def edit(**kwargs):
                edits.append((message_id, sorted(kwargs)))
            return SimpleNamespace(edit=edit)

        async def send(self, *args, **kwargs):
            sends.append(kwargs)

    monkeypatch.setattr(bot, "get_channel", lambda cid: Channel() if cid == CHANNEL else None)
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    caption = Caption("p", "p", "none", "none", 1, 7.5, 2, 10.0, True, "en")
    result = SimpleNamespace(image_path=str(png), seed=1)
    await bot.frontend.job_done(job, result, caption)
    await bot.frontend.job_done(job, result, caption)  # delivered again after a crash
    assert [e[0] for e in edits] == [ia.original.id, ia.original.id]
    assert "attachments" in edits[0][1] and "embed" in edits[0][1]
    assert sends == []  # never a second message
