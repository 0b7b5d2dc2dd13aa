"""``/generate PROMPT [--seed N --cfg X --steps N --no NEGATIVE --style S --ar W:H --raw
--strength X]``. With a picture (sent with it, or replied to) the picture is redrawn."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from bot.commands.spec import (
    Choice,
    Command,
    Option,
    OptionType,
    Request,
    parse_aspect,
    parse_cfg,
    parse_seed,
    parse_steps,
)
from bot.config import LimitsSection
from bot.errors import UserError
from bot.frontends.base import Reply
from bot.models import SEED_MAX, GenerateRequest, Incoming, Job
from bot.pictures import InputPicture, load_picture
from bot.policy.limits import check_quota

if TYPE_CHECKING:
    from bot.commands.registry import Commands

# Phones turn "--" into an en or em dash; accept those too.
_DASHES = re.compile(r"(?:(?<=\s)|^)(?:--|—|–)(?=[A-Za-z])")
_FLAG = re.compile(r"(?:(?<=\s)|^)--([A-Za-z][A-Za-z_-]*)(?:=|\s+|$)")


def check_prompt(value: object, limits: LimitsSection) -> str:
    prompt = " ".join(str(value).split())
    if not prompt:
        raise UserError("generate_usage")
    if len(prompt) > limits.prompt_max_chars:
        raise UserError("prompt_too_long", length=len(prompt), limit=limits.prompt_max_chars)
    return prompt


def check_negative(value: object, limits: LimitsSection) -> str:
    negative = str(value).strip()
    if len(negative) > limits.negative_max_chars:
        raise UserError("negative_too_long", length=len(negative),
                        limit=limits.negative_max_chars)
    return negative


def has_unclip(cmds: Commands) -> bool:
    """Whether the engine runs Stable unCLIP (``[engine] variations_model``), which a
    reference picture needs. Before the engine is ready: what the config says."""
    info = cmds.engine_info()
    return bool(info.variations_model if info is not None
                else cmds.config.engine.variations_model)


def parse_strength(value: object, limits: LimitsSection) -> float:
    text = str(value).strip()
    try:
        strength = float(value) if isinstance(value, int | float) and not isinstance(
            value, bool) else float(text.replace(",", "."))
    except ValueError:
        raise UserError("not_a_number", value=text[:20], usage="--strength 0.6") from None
    if not math.isfinite(strength) or not 0 < strength <= 1:
        raise UserError("strength_range", value=text[:20])
    return round(strength, 3)


async def take_picture(cmds: Commands, msg: Incoming) -> InputPicture | None:
    """The message's picture (sent with it or replied to), checked and normalised
    (bot/pictures.py); None when it has none. Raises UserError for a bad one."""
    if msg.fetch_picture is None:
        return None
    data = await msg.fetch_picture()
    return await load_picture(data, cmds.config.limits)


async def from_picture(cmds: Commands, job: Job, picture: InputPicture, kind: str,
                       strength: float) -> Job:
    """``job`` made to start from ``picture``: stored, its kind, strength and shape; at
    least one denoising step is left at that strength."""
    job.source = await cmds.store.save_input(picture.png)
    job.kind = kind
    job.strength = strength
    job.aspect = picture.aspect
    job.steps = max(job.steps, math.ceil(1 / strength - 1e-9))
    return job


# the picture to redraw (Discord: an attachment; elsewhere it comes with the message)
IMAGE = Option("image", OptionType.PICTURE, name_id="gambar")

ASPECTS = (  # Discord shows at most 25 choices; any W:H is accepted in chat text
    Choice("1:1", "choice_square"),
    Choice("16:9", "choice_landscape_wide"),
    Choice("9:16", "choice_portrait_tall"),
    Choice("4:3", "choice_landscape"),
    Choice("3:4", "choice_portrait"),
    Choice("3:2", "choice_photo_wide"),
    Choice("2:3", "choice_photo_tall"),
)


def parse_generate_text(command: Command, args: str, limits: LimitsSection) -> Request:
    """``kucing lucu --seed 42 --no blurry`` → prompt and options (options anywhere; the
    negative prompt runs to the next option)."""
    by_flag = {flag: o for o in command.options if not o.positional
               for flag in (o.name, *o.flags)}
    text = _DASHES.sub("--", args)
    matches = list(_FLAG.finditer(text))
    prompt_parts = [text[: matches[0].start()] if matches else text]
    values: dict[str, Any] = {}
    for i, m in enumerate(matches):
        option = by_flag.get(m.group(1).lower())
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        rest = text[m.end():end]
        if option is None:
            raise UserError("option_unknown", option=f"--{m.group(1)}"[:40])
        if option.type is OptionType.BOOL:
            values[option.name] = True
            prompt_parts.append(rest)
            continue
        if option.type is OptionType.TEXT:  # runs to the next option
            value, tail = rest.strip(), ""
        else:
            value, _, tail = rest.strip().partition(" ")
        if not value:
            raise UserError("option_needs_value", option=option.example.split()[0],
                            example=option.example)
        prompt_parts.append(tail)
        values[option.name] = option.coerce(value, limits)
    values["prompt"] = command.option("prompt").coerce(" ".join(prompt_parts), limits)
    return Request(command, values)


async def generate(cmds: Commands, msg: Incoming, req: Request, lang: str) -> list[Reply]:
    """Queue a picture: checks, translation and blocklist first; the job is stored before
    the user hears "queued"."""
    ask = GenerateRequest(**req.values)
    if ask.style:
        cmds.resolver.check_style(ask.style)
    await check_quota(cmds.config.limits, cmds.store, msg, lambda: cmds.is_moderator(msg))
    if ask.reference and not has_unclip(cmds):
        raise UserError("reference_unavailable")
    picture = await take_picture(cmds, msg)  # a bad picture is answered before translation
    if picture is None and ask.strength is not None:
        raise UserError("strength_needs_picture")
    if picture is None and ask.reference:
        raise UserError("picture_needed")
    settings = await cmds.settings.resolve(msg, style=ask.style)
    job = await cmds.resolver.resolve(msg, ask, settings)
    job.lang = lang
    if picture is not None:
        await from_picture(cmds, job, picture, "reference" if ask.reference else "img2img",
                           ask.strength or cmds.config.limits.default_strength)
    return [await cmds.enqueue(job)]


GENERATE = Command(
    name="generate",
    handler=generate,
    aliases=("imagine",),
    aliases_id=("gambar",),
    parse_text=parse_generate_text,
    options=(
        Option("prompt", OptionType.TEXT, positional=True, required=True,
               parse=check_prompt, max_length=lambda limits: limits.prompt_max_chars),
        Option("style", OptionType.STYLE, name_id="gaya", example="--style kancil"),
        Option("seed", OptionType.INT, flags=("s",), parse=parse_seed,
               range=lambda limits: (0, SEED_MAX), example="--seed 42"),
        Option("cfg", OptionType.FLOAT, parse=parse_cfg,
               range=lambda limits: (limits.cfg_min, limits.cfg_max), example="--cfg 7.5"),
        Option("steps", OptionType.INT, name_id="langkah", parse=parse_steps,
               range=lambda limits: (limits.steps_min, limits.steps_max),
               example="--steps 25"),
        Option("negative", OptionType.TEXT, name_id="negatif", flags=("no",),
               parse=check_negative, max_length=lambda limits: limits.negative_max_chars,
               example="--no blurry, text"),
        Option("aspect_ratio", OptionType.CHOICE, name_id="rasio", flags=("ar", "aspect"),
               choices=ASPECTS, parse=parse_aspect, example="--ar 16:9"),
        Option("raw", OptionType.BOOL, name_id="apa_adanya"),
        Option("strength", OptionType.FLOAT, name_id="kekuatan", parse=parse_strength,
               range=lambda limits: (0.05, 1.0), example="--strength 0.6"),
        IMAGE,
        Option("reference", OptionType.BOOL, name_id="referensi", flags=("ref",),
               needs="variations_model"),
    ),
)
