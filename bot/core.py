"""Chat commands, implemented once for every platform.

``Core.handle(Incoming)`` answers with ``Reply`` objects; a front end renders them. A
``/generate`` request is written to SQLite (``queued``) before its reply says so; the
dispatcher takes it from there.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable

from bot.config import Config
from bot.errors import UserError
from bot.frontend import Button, Reply
from bot.i18n import LANGS, lang_from_locale, t
from bot.models import Incoming, Job, JobState
from bot.parsing import (
    SEED_MAX,
    parse_cfg,
    parse_command,
    parse_generate,
    parse_seed,
    parse_steps,
    size_for,
)
from bot.safety import Blocklist
from bot.storage import Store
from bot.translator import Translator
from engine.styles import NONE, StyleRegistry

log = logging.getLogger("pelukis.core")

Handler = Callable[["Core", Incoming, str, str], Awaitable[list[Reply]]]
COMMANDS: dict[str, Handler] = {}


def command(*names: str):
    """Register a handler for ``/name`` (and aliases)."""

    def register(fn: Handler) -> Handler:
        for name in names:
            COMMANDS[name] = fn
        return fn

    return register


async def _nothing(job_ids: list[int]) -> None:
    return None


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


class Core:
    def __init__(self, config: Config, store: Store, styles: StyleRegistry,
                 translator: Translator, wake: Callable[[], None] = lambda: None,
                 native_size: Callable[[], tuple[int, int] | None] = lambda: None,
                 abort: Callable[[list[int]], Awaitable[None]] | None = None,
                 blocklist: Blocklist | None = None):
        self.config = config
        self.native_size = native_size  # the engine's, once it is ready
        self.abort = abort or _nothing  # stops cancelled jobs that are running
        self.blocklist = blocklist or Blocklist(config.safety)
        self.store = store
        self.styles = styles
        self.translator = translator
        self.wake = wake  # tells the dispatcher there is new work

    async def handle(self, msg: Incoming) -> list[Reply]:
        """Answer one chat message. Never raises for bad input."""
        lang = await self.language(msg)
        cmd = parse_command(msg.text)
        if cmd is None:
            return [Reply(t(lang, "not_a_command"))] if msg.private else []
        handler = COMMANDS.get(cmd.name)
        if handler is None:
            return [Reply(t(lang, "unknown_command", command=cmd.name))]
        try:
            return await handler(self, msg, cmd.args, lang)
        except UserError as err:
            return [Reply(t(lang, err.key, **err.values))]
        except sqlite3.OperationalError as exc:  # locked past busy_timeout, disk full, …
            log.error("database error while handling /%s: %s", cmd.name, exc)
            return [Reply(t(lang, "db_busy"))]

    # -- helpers ----------------------------------------------------------------------------
    async def language(self, msg: Incoming) -> str:
        user = await self.store.user_settings(*self.user_key(msg))
        if user.lang:
            return user.lang
        chat = await self.store.chat_settings(msg.platform, msg.chat_id)
        return chat.lang or lang_from_locale(msg.locale) or self.config.bot.language

    def is_moderator(self, msg: Incoming) -> bool:
        if msg.private or msg.is_admin:
            return True
        mods = self.config.bot.moderators
        return msg.user_id in mods or f"{msg.platform}:{msg.user_id}" in mods

    @staticmethod
    def user_key(msg: Incoming) -> tuple[str, str, str]:
        return (msg.platform, msg.settings_scope, msg.user_id)

    async def chat_style(self, msg: Incoming) -> str:
        """The channel's own style, else its server's (Discord), else the default."""
        chat = await self.store.chat_settings(msg.platform, msg.chat_id)
        name = chat.style
        if not name and msg.group_id:
            name = (await self.store.chat_settings(msg.platform, msg.group_id)).style
        name = name or self.config.bot.default_style
        return name if self.styles.known(name) else NONE

    def style_title(self, name: str | None, lang: str) -> str:
        style = self.styles.get(name)
        return style.title(lang) if style else t(lang, "cap_none_style")

    def position_text(self, position: int, lang: str) -> str:
        return t(lang, "queued_next") if position <= 1 else t(lang, "queued", position=position)

    async def enqueue(self, job: Job) -> Reply:
        """Write the job (durable before the user hears "queued") and wake the dispatcher.
        An event the platform delivers again (``job.request`` seen) makes no second job."""
        seen = await self.store.job_for_request(job.platform, job.request) if job.request \
            else None
        if seen is not None:
            return Reply(t(job.lang, "queued_next"), job_id=seen.id)
        await self.store.add_job(job)
        queue = await self.store.queue()
        position = next((i for i, j in enumerate(queue, 1) if j.id == job.id), 1)
        self.wake()
        return Reply(self.position_text(position, job.lang), job_id=job.id)

    async def check_quota(self, msg: Incoming) -> None:
        """Flood limits from config: per user (waiting, per hour), per chat, in all."""
        limits, store = self.config.limits, self.store
        if await store.count_waiting_in() >= limits.max_queue:
            raise UserError("queue_busy")
        if await store.count_waiting_in(msg.platform, msg.chat_id) >= limits.max_queued_per_chat:
            raise UserError("chat_busy")
        if limits.moderators_exempt and self.is_moderator(msg) and not msg.private:
            return
        waiting = await store.count_waiting(msg.platform, msg.user_id)
        if waiting >= limits.max_queued_per_user:
            raise UserError("queue_full", count=waiting, limit=limits.max_queued_per_user)
        hour_ago = time.time() - 3600
        if await store.count_recent(msg.platform, msg.user_id, hour_ago) \
                >= limits.max_jobs_per_hour:
            oldest = await store.oldest_since(msg.platform, msg.user_id, hour_ago)
            minutes = max(1, math.ceil((oldest + 3600 - time.time()) / 60))
            raise UserError("hourly_limit", limit=limits.max_jobs_per_hour, minutes=minutes)

    async def safety_threshold(self, msg: Incoming) -> float:
        """The image check's threshold for this chat's mode (0 = no check)."""
        cfg = self.config.safety
        if self.config.engine.model == "tiny" and not cfg.check_test_model:
            return 0.0
        chat = await self.store.chat_settings(msg.platform, msg.chat_id)
        mode = chat.safety or cfg.mode
        return {"strict": cfg.strict_threshold, "relaxed": cfg.relaxed_threshold}.get(mode, 0.0)

    # -- buttons under a finished image ------------------------------------------------------
    @staticmethod
    def job_buttons(job: Job, lang: str, *, file_button: bool = False) -> list[Button]:
        """Reroll, keep seed, (original file), delete. Data refers to the stored job, so the
        buttons keep working after a restart; each fits Telegram's 64 bytes."""
        buttons = [Button(t(lang, "btn_reroll"), f"job:reroll:{job.id}"),
                   Button(t(lang, "btn_keep_seed"), f"job:seed:{job.id}")]
        if file_button:
            buttons.append(Button(t(lang, "btn_file"), f"job:file:{job.id}"))
        buttons.append(Button(t(lang, "btn_delete"), f"job:del:{job.id}"))
        return buttons

    async def press(self, msg: Incoming, data: str) -> list[Reply]:
        """A button was pressed; ``msg.text`` is ignored, ``data`` is the button's."""
        lang = await self.language(msg)
        try:
            return await self._press(msg, data, lang)
        except UserError as err:
            return [Reply(t(lang, err.key, **err.values))]

    async def _press(self, msg: Incoming, data: str, lang: str) -> list[Reply]:
        kind, _, rest = data.partition(":")
        if kind == "style":
            return await COMMANDS["style"](self, msg, rest, lang)
        action, _, raw_id = rest.partition(":")
        job = await self.store.job(int(raw_id)) if kind == "job" and raw_id.isdigit() else None
        if job is None or job.platform != msg.platform or job.chat_id != msg.chat_id:
            return [Reply(t(lang, "job_gone"))]
        if action == "reroll":
            await self.check_quota(msg)
            again = dataclasses.replace(
                job, id=0, user_id=msg.user_id, user_name=msg.user_name, lang=lang,
                seed=secrets.randbelow(SEED_MAX + 1), state=JobState.QUEUED, attempts=0,
                error="", status_ref="", created_at=0.0, width=0, height=0,
                reply_to=msg.message_id or job.reply_to, request=msg.request_id)
            return [await self.enqueue(again)]
        if action == "seed":
            await self.store.set_user(*self.user_key(msg), seed=job.seed)
            return [Reply(t(lang, "seed_set", seed=job.seed))]
        if action == "del":
            if msg.user_id != job.user_id and not self.is_moderator(msg):
                return [Reply(t(lang, "delete_not_allowed"))]
            log.info("image of job %d deleted by %s:%s", job.id, msg.platform, msg.user_id)
            return [Reply(t(lang, "deleted"), delete_message=True)]
        return [Reply(t(lang, "job_gone"))]


# -- commands --------------------------------------------------------------------------------
@command("start", "help", "bantuan")
async def _help(core: Core, msg: Incoming, args: str, lang: str) -> list[Reply]:
    return [Reply(t(lang, "help"))]


@command("generate", "gambar", "imagine")
async def _generate(core: Core, msg: Incoming, args: str, lang: str) -> list[Reply]:
    cfg = core.config
    req = parse_generate(args, cfg.limits)
    style_name = req.style or await core.chat_style(msg)
    if not core.styles.known(style_name):
        raise UserError("style_unknown", name=_short(style_name, 40),
                        names=", ".join(core.styles.names()))
    style = core.styles.get(style_name)
    await core.check_quota(msg)
    user = await core.store.user_settings(*core.user_key(msg))
    translation = await core.translator.to_english(req.prompt, raw=req.raw or user.raw)
    blocked = core.blocklist.check(req.prompt, translation.text)
    if blocked is not None:
        log.info("moderation: prompt blocked for %s:%s in %s (term %r in the %s)",
                 msg.platform, msg.user_id, msg.chat_id, blocked.term, blocked.where)
        raise UserError("prompt_blocked")
    seed = req.seed if req.seed is not None else user.seed
    steps = req.steps or user.steps or (style.steps if style else None) or cfg.limits.default_steps
    guidance = req.cfg or user.cfg or (style.cfg if style else None) or cfg.limits.default_cfg
    job = Job(
        platform=msg.platform,
        chat_id=msg.chat_id,
        user_id=msg.user_id,
        user_name=msg.user_name,
        reply_to=msg.message_id,
        prompt=req.prompt,
        prompt_en=translation.text,
        translator=translation.provider,
        style=style.name if style else None,
        negative=", ".join(n for n in (
            req.negative if req.negative is not None else user.negative,
            cfg.safety.negative) if n),
        seed=seed if seed is not None else secrets.randbelow(SEED_MAX + 1),
        cfg=min(max(guidance, cfg.limits.cfg_min), cfg.limits.cfg_max),
        steps=min(max(steps, cfg.limits.steps_min), cfg.limits.steps_max),
        aspect=req.aspect or "1:1",
        lang=lang,
        request=msg.request_id,
        safety=await core.safety_threshold(msg),
    )
    return [await core.enqueue(job)]


@command("style", "gaya")
async def _style(core: Core, msg: Incoming, args: str, lang: str) -> list[Reply]:
    current = await core.chat_style(msg)
    if not args:
        lines = [t(lang, "style_header")]
        buttons = []
        for style in core.styles:
            mark = "✅" if style.name == current else "▫️"
            lines.append(t(lang, "style_line", mark=mark, name=style.name,
                           title=style.title(lang), description=style.description(lang)))
            buttons.append(Button(style.title(lang), f"style:{style.name}"))
        lines.append(t(lang, "style_none_line", mark="✅" if current == NONE else "▫️"))
        buttons.append(Button(t(lang, "cap_none_style"), f"style:{NONE}"))
        lines.append(t(lang, "style_usage"))
        return [Reply("\n".join(lines), buttons=buttons)]
    name, *scope = args.lower().split()
    if not core.styles.known(name):
        raise UserError("style_unknown", name=_short(name, 40),
                        names=", ".join(core.styles.names()))
    if not core.is_moderator(msg):
        raise UserError("style_moderators_only")
    # On a server the style is server-wide unless asked for this channel only.
    target = msg.chat_id if not msg.group_id or scope[:1] in (["channel"], ["kanal"]) \
        else msg.group_id
    await core.store.set_chat(msg.platform, target, style=name)
    if target == msg.group_id:  # a server-wide choice replaces this channel's own one
        await core.store.set_chat(msg.platform, msg.chat_id, style=None)
    log.info("moderation: style of %s:%s set to %s by %s", msg.platform, target, name,
             msg.user_id)
    if name == NONE:
        return [Reply(t(lang, "style_cleared"))]
    return [Reply(t(lang, "style_set", title=core.style_title(name, lang)))]


@command("safety", "keamanan")
async def _safety(core: Core, msg: Incoming, args: str, lang: str) -> list[Reply]:
    chat = await core.store.chat_settings(msg.platform, msg.chat_id)
    current = chat.safety or core.config.safety.mode
    if not args:
        return [Reply(t(lang, "safety_show", mode=t(lang, f"safety_{current}")))]
    choice = {"ketat": "strict", "longgar": "relaxed"}.get(args.split()[0].lower(),
                                                          args.split()[0].lower())
    if choice not in ("strict", "relaxed"):
        raise UserError("safety_usage")
    if not core.is_moderator(msg):
        raise UserError("safety_moderators_only")
    await core.store.set_chat(msg.platform, msg.chat_id, safety=choice)
    log.info("moderation: safety of %s:%s set to %s by %s", msg.platform, msg.chat_id, choice,
             msg.user_id)
    return [Reply(t(lang, "safety_set", mode=t(lang, f"safety_{choice}")))]


@command("seed")
async def _seed(core: Core, msg: Incoming, args: str, lang: str) -> list[Reply]:
    where = core.user_key(msg)
    if not args:
        user = await core.store.user_settings(*where)
        shown = t(lang, "seed_random_word") if user.seed is None else user.seed
        return [Reply(t(lang, "seed_show", seed=shown))]
    if args.lower() in ("random", "acak", "none"):
        await core.store.set_user(*where, seed=None)
        return [Reply(t(lang, "seed_random_set"))]
    seed = parse_seed(args)
    await core.store.set_user(*where, seed=seed)
    return [Reply(t(lang, "seed_set", seed=seed))]


@command("cfg")
async def _cfg(core: Core, msg: Incoming, args: str, lang: str) -> list[Reply]:
    where, limits = core.user_key(msg), core.config.limits
    if not args:
        user = await core.store.user_settings(*where)
        shown = user.cfg if user.cfg is not None else t(lang, "style_default")
        return [Reply(t(lang, "cfg_show", cfg=shown, min=limits.cfg_min, max=limits.cfg_max))]
    value = parse_cfg(args, limits)
    await core.store.set_user(*where, cfg=value)
    return [Reply(t(lang, "cfg_set", cfg=f"{value:g}"))]


@command("steps", "langkah")
async def _steps(core: Core, msg: Incoming, args: str, lang: str) -> list[Reply]:
    where, limits = core.user_key(msg), core.config.limits
    if not args:
        user = await core.store.user_settings(*where)
        shown = user.steps if user.steps is not None else t(lang, "style_default")
        return [Reply(t(lang, "steps_show", steps=shown, min=limits.steps_min,
                        max=limits.steps_max))]
    value = parse_steps(args, limits)
    await core.store.set_user(*where, steps=value)
    return [Reply(t(lang, "steps_set", steps=value))]


@command("negative", "negatif")
async def _negative(core: Core, msg: Incoming, args: str, lang: str) -> list[Reply]:
    where, limits = core.user_key(msg), core.config.limits
    if not args:
        user = await core.store.user_settings(*where)
        shown = user.negative or t(lang, "negative_empty")
        return [Reply(t(lang, "negative_show", negative=shown))]
    if args.lower() in ("none", "clear", "hapus", "-"):
        await core.store.set_user(*where, negative="")
        return [Reply(t(lang, "negative_cleared"))]
    if len(args) > limits.negative_max_chars:
        raise UserError("negative_too_long", length=len(args), limit=limits.negative_max_chars)
    await core.store.set_user(*where, negative=args)
    return [Reply(t(lang, "negative_set", negative=args))]


@command("lang", "bahasa", "language")
async def _lang(core: Core, msg: Incoming, args: str, lang: str) -> list[Reply]:
    if not args:
        return [Reply(t(lang, "lang_show"))]
    choice = args.split()[0].lower()
    choice = {"indonesia": "id", "indonesian": "id", "english": "en", "inggris": "en"}.get(
        choice, choice)
    if choice not in LANGS:
        raise UserError("lang_usage")
    await core.store.set_user(*core.user_key(msg), lang=choice)
    if msg.private:
        await core.store.set_chat(msg.platform, msg.chat_id, lang=choice)
    return [Reply(t(choice, "lang_set"))]


@command("raw", "terjemah")
async def _raw(core: Core, msg: Incoming, args: str, lang: str) -> list[Reply]:
    where = core.user_key(msg)
    choice = args.split()[0].lower() if args else ""
    if choice in ("on", "ya", "yes", "1"):
        await core.store.set_user(*where, raw=True)
        return [Reply(t(lang, "raw_on"))]
    if choice in ("off", "tidak", "no", "0"):
        await core.store.set_user(*where, raw=False)
        return [Reply(t(lang, "raw_off"))]
    user = await core.store.user_settings(*where)
    return [Reply(t(lang, "raw_show_on" if user.raw else "raw_show_off"))]


@command("settings", "pengaturan")
async def _settings(core: Core, msg: Incoming, args: str, lang: str) -> list[Reply]:
    limits = core.config.limits
    user = await core.store.user_settings(*core.user_key(msg))
    style = core.styles.get(await core.chat_style(msg))
    native = core.native_size()
    width, height = size_for("1:1", native, limits.max_side) if native else ("?", "?")
    return [Reply(t(
        lang, "settings",
        style=style.title(lang) if style else t(lang, "cap_none_style"),
        seed=t(lang, "seed_random_word") if user.seed is None else user.seed,
        cfg=user.cfg or (style.cfg if style else None) or limits.default_cfg,
        steps=user.steps or (style.steps if style else None) or limits.default_steps,
        negative=user.negative or t(lang, "negative_empty"),
        width=width, height=height,
        language=lang,
    ))]


@command("queue", "antrean", "antrian")
async def _queue(core: Core, msg: Incoming, args: str, lang: str) -> list[Reply]:
    running = [j for j in await core.store.jobs_in(JobState.RUNNING, platform=msg.platform)
               if j.chat_id == msg.chat_id]
    queued = await core.store.queue()
    if not running and not queued:
        return [Reply(t(lang, "queue_empty"))]
    lines = [t(lang, "queue_header", count=len(running) + len(queued))]
    for job in running:
        lines.append(t(lang, "queue_running", user=job.user_name or job.user_id,
                       prompt=_short(job.prompt)))
    for position, job in enumerate(queued, 1):
        if job.platform == msg.platform and job.chat_id == msg.chat_id:
            lines.append(t(lang, "queue_line", position=position,
                           user=job.user_name or job.user_id, prompt=_short(job.prompt)))
    return [Reply("\n".join(lines))]


@command("cancel", "batal")
async def _cancel(core: Core, msg: Incoming, args: str, lang: str) -> list[Reply]:
    ids = await core.store.cancel(msg.platform, msg.chat_id, msg.user_id)
    if not ids:
        return [Reply(t(lang, "cancel_none"))]
    await core.abort(ids)  # those already painting stop at the next step
    return [Reply(t(lang, "cancel_done", count=len(ids)))]
