"""``/variation [PROMPT]`` and ``/upscale [2|4]`` on a picture (sent with the
command or replied to), and the same two as buttons under every finished picture.

Without ``[engine] variations_model`` a variation is img2img from the picture with a new
seed at ``[limits] variation_strength``; without ``[engine] upscale_model`` an upscale is a
hi-res img2img pass of the main model over the enlarged picture at ``upscale_strength``
(docs/engine.md). A job made from a finished picture keeps its prompt, style and settings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from bot.commands.generate import IMAGE, check_prompt, from_picture, take_picture
from bot.commands.spec import Choice, Command, Option, OptionType, Request
from bot.errors import UserError
from bot.frontends.base import Reply
from bot.i18n import t
from bot.models import SEED_MAX, GenerateRequest, Incoming, Job, JobState
from bot.pictures import fit_upscale
from bot.policy.limits import check_quota

if TYPE_CHECKING:
    from bot.commands.registry import Commands

FACTORS = (2, 4)


def upscale_factors(width: int, height: int, max_side: int) -> tuple[int, ...]:
    """The factors a picture of this size can still be enlarged by in full."""
    return tuple(f for f in FACTORS if max(width, height) * f <= max_side)


async def _picture_job(cmds: Commands, msg: Incoming, prompt: str, lang: str) -> tuple:
    """The checks every picture command shares; (the picture, the job built on it)."""
    await check_quota(cmds.config.limits, cmds.store, msg, lambda: cmds.is_moderator(msg))
    picture = await take_picture(cmds, msg)
    if picture is None:
        raise UserError("picture_needed")
    settings = await cmds.settings.resolve(msg)
    job = await cmds.resolver.resolve(msg, GenerateRequest(prompt=prompt), settings)
    job.lang = lang
    return picture, job


async def variation(cmds: Commands, msg: Incoming, req: Request, lang: str) -> list[Reply]:
    picture, job = await _picture_job(cmds, msg, req.get("prompt") or "", lang)
    await from_picture(cmds, job, picture, "variation", cmds.config.limits.variation_strength)
    return [await cmds.enqueue(job)]


async def upscale(cmds: Commands, msg: Incoming, req: Request, lang: str) -> list[Reply]:
    factor = int(req.get("factor") or FACTORS[0])
    picture, job = await _picture_job(cmds, msg, "", lang)
    await from_picture(cmds, job, picture, "upscale", cmds.config.limits.upscale_strength)
    job.width, job.height = fit_upscale(picture.width, picture.height, factor,
                                        cmds.config.limits.upscale_max_side)
    return [await cmds.enqueue(job)]


async def from_result(cmds: Commands, msg: Incoming, job: Job, lang: str, kind: str,
                      factor: int = 0) -> list[Reply]:
    """A button under ``job``'s picture: a variation of it, or it enlarged ``factor`` times
    (the stored PNG is the input; the prompt, style and settings stay)."""
    limits = cmds.config.limits
    result = await cmds.store.result(job.id)
    if result is None or not await asyncio.to_thread(Path(result.image_path).is_file):
        return [Reply(t(lang, "job_gone"))]
    await check_quota(limits, cmds.store, msg, lambda: cmds.is_moderator(msg))
    strength = limits.variation_strength if kind == "variation" else limits.upscale_strength
    width, height = result.width, result.height
    if kind == "upscale":
        if factor not in upscale_factors(width, height, limits.upscale_max_side):
            raise UserError("upscale_too_big", limit=limits.upscale_max_side)
        width, height = fit_upscale(width, height, factor, limits.upscale_max_side)
    seed = secrets.randbelow(SEED_MAX + 1) if kind == "variation" else job.seed
    new = dataclasses.replace(
        job, id=0, user_id=msg.user_id, user_name=msg.user_name, lang=lang, seed=seed,
        state=JobState.QUEUED, attempts=0, error="", error_key="", error_values={},
        status_ref="", created_at=0.0, width=width, height=height,
        reply_to=msg.message_id or job.reply_to, request=msg.request_id,
        kind=kind, strength=strength, source=result.image_path,
        steps=max(job.steps, math.ceil(1 / strength - 1e-9)))
    return [await cmds.enqueue(new)]


def _prompt(value: object, limits) -> str:
    return check_prompt(value, limits) if str(value).strip() else ""


VARIATION = Command(
    name="variation",
    handler=variation,
    aliases=("vary",),
    aliases_id=("variasi",),
    options=(
        Option("prompt", OptionType.TEXT, positional=True, parse=_prompt,
               max_length=lambda limits: limits.prompt_max_chars),
        IMAGE,
    ),
)

UPSCALE = Command(
    name="upscale",
    handler=upscale,
    aliases_id=("perbesar",),
    options=(
        Option("factor", OptionType.CHOICE, name_id="kali", positional=True,
               choices=tuple(Choice(str(f), words=(f"x{f}", f"×{f}")) for f in FACTORS),
               invalid_key="upscale_factor"),
        IMAGE,
    ),
)
