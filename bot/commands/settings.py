"""A user's own defaults: ``/seed /cfg /steps /negative /lang /raw /settings``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.commands.generate import check_negative
from bot.commands.spec import (
    Choice,
    Command,
    Option,
    OptionType,
    Request,
    parse_cfg,
    parse_seed,
    parse_steps,
)
from bot.frontends.base import Reply
from bot.i18n import t
from bot.models import SEED_MAX, Incoming
from bot.policy.settings import Scope
from bot.sizes import size_for

if TYPE_CHECKING:
    from bot.commands.registry import Commands


async def seed(cmds: Commands, msg: Incoming, req: Request, lang: str) -> list[Reply]:
    if req.get("random"):
        await cmds.settings.set(msg, Scope.USER, seed=None)
        return [Reply(t(lang, "seed_random_set"))]
    if req.get("value") is not None:
        await cmds.settings.set(msg, Scope.USER, seed=req.get("value"))
        return [Reply(t(lang, "seed_set", seed=req.get("value")))]
    user = await cmds.settings.stored(msg, Scope.USER)
    shown = t(lang, "seed_random_word") if user.seed is None else user.seed
    return [Reply(t(lang, "seed_show", seed=shown))]


async def cfg(cmds: Commands, msg: Incoming, req: Request, lang: str) -> list[Reply]:
    limits = cmds.config.limits
    if req.get("value") is not None:
        await cmds.settings.set(msg, Scope.USER, cfg=req.get("value"))
        return [Reply(t(lang, "cfg_set", cfg=f"{req.get('value'):g}"))]
    user = await cmds.settings.stored(msg, Scope.USER)
    shown = user.cfg if user.cfg is not None else t(lang, "style_default")
    return [Reply(t(lang, "cfg_show", cfg=shown, min=limits.cfg_min, max=limits.cfg_max))]


async def steps(cmds: Commands, msg: Incoming, req: Request, lang: str) -> list[Reply]:
    limits = cmds.config.limits
    if req.get("value") is not None:
        await cmds.settings.set(msg, Scope.USER, steps=req.get("value"))
        return [Reply(t(lang, "steps_set", steps=req.get("value")))]
    user = await cmds.settings.stored(msg, Scope.USER)
    shown = user.steps if user.steps is not None else t(lang, "style_default")
    return [Reply(t(lang, "steps_show", steps=shown, min=limits.steps_min,
                    max=limits.steps_max))]


async def negative(cmds: Commands, msg: Incoming, req: Request, lang: str) -> list[Reply]:
    if req.get("clear") and not req.get("text"):
        await cmds.settings.set(msg, Scope.USER, negative="")
        return [Reply(t(lang, "negative_cleared"))]
    if req.get("text"):
        await cmds.settings.set(msg, Scope.USER, negative=req.get("text"))
        return [Reply(t(lang, "negative_set", negative=req.get("text")))]
    user = await cmds.settings.stored(msg, Scope.USER)
    return [Reply(t(lang, "negative_show", negative=user.negative or t(lang, "negative_empty")))]


async def language(cmds: Commands, msg: Incoming, req: Request, lang: str) -> list[Reply]:
    choice = req.get("language")
    if choice is None:
        return [Reply(t(lang, "lang_show"))]
    await cmds.settings.set(msg, Scope.USER, lang=choice)
    if msg.private:
        await cmds.settings.set(msg, Scope.CHANNEL, lang=choice)
    return [Reply(t(choice, "lang_set"))]


async def raw(cmds: Commands, msg: Incoming, req: Request, lang: str) -> list[Reply]:
    choice = req.get("translate")
    if choice is not None:
        await cmds.settings.set(msg, Scope.USER, raw=choice == "on")
        return [Reply(t(lang, "raw_on" if choice == "on" else "raw_off"))]
    user = await cmds.settings.stored(msg, Scope.USER)
    return [Reply(t(lang, "raw_show_on" if user.raw else "raw_show_off"))]


async def settings(cmds: Commands, msg: Incoming, req: Request, lang: str) -> list[Reply]:
    now = await cmds.settings.resolve(msg)
    native = cmds.native_size()
    width, height = size_for("1:1", native, cmds.config.limits.max_side) if native \
        else ("?", "?")
    return [Reply(t(
        lang, "settings",
        style=now.style.title(lang) if now.style else t(lang, "cap_none_style"),
        seed=t(lang, "seed_random_word") if now.seed is None else now.seed,
        cfg=now.cfg, steps=now.steps,
        negative=now.negative or t(lang, "negative_empty"),
        width=width, height=height, language=lang,
    ))]


def _value(kind: OptionType, parse, limits_range=None, example: str = "") -> Option:
    return Option("value", kind, name_id="nilai", positional=True, parse=parse,
                  range=limits_range, example=example)


SEED = Command(
    "seed", seed, options=(
        _value(OptionType.INT, parse_seed, lambda limits: (0, SEED_MAX), "/seed 42"),
        Option("random", OptionType.BOOL, name_id="acak", positional=True,
               words=("random", "acak", "none")),
    ), private_answer=True)
CFG = Command(
    "cfg", cfg, options=(
        _value(OptionType.FLOAT, parse_cfg, lambda limits: (limits.cfg_min, limits.cfg_max),
               "/cfg 7.5"),
    ), private_answer=True)
STEPS = Command(
    "steps", steps, aliases_id=("langkah",), options=(
        _value(OptionType.INT, parse_steps,
               lambda limits: (limits.steps_min, limits.steps_max), "/steps 25"),
    ), private_answer=True)
NEGATIVE = Command(
    "negative", negative, aliases_id=("negatif",), options=(
        Option("clear", OptionType.BOOL, name_id="hapus", positional=True,
               words=("none", "clear", "hapus", "-")),
        Option("text", OptionType.TEXT, name_id="teks", positional=True, parse=check_negative,
               max_length=lambda limits: limits.negative_max_chars),
    ), private_answer=True)
LANG = Command(
    "lang", language, aliases=("language",), aliases_id=("bahasa",), options=(
        Option("language", OptionType.CHOICE, name_id="bahasa", positional=True, choices=(
            Choice("id", "choice_lang_id", ("indonesia", "indonesian", "bahasa")),
            Choice("en", "choice_lang_en", ("english", "inggris")),
        ), invalid_key="lang_usage"),
    ), private_answer=True)
RAW = Command(
    "raw", raw, aliases_id=("terjemah",), options=(
        Option("translate", OptionType.CHOICE, name_id="terjemahan", positional=True,
               choices=(Choice("on", "choice_raw_on", ("ya", "yes", "1", "true")),
                        Choice("off", "choice_raw_off", ("tidak", "no", "0", "false"))),
               invalid_key="raw_usage"),
    ), private_answer=True)
SETTINGS = Command("settings", settings, aliases_id=("pengaturan",), private_answer=True)
