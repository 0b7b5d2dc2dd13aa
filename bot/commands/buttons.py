"""The one callback-data codec for buttons: short strings that refer to stored state, so a
button keeps working after a restart. Each fits Telegram's 64 bytes; Discord uses the same
strings as persistent ``custom_id``s (``JOB_TEMPLATE``/``STYLE_TEMPLATE`` match them)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.frontends.base import Button
from bot.i18n import t
from bot.models import Job


class JobAction(StrEnum):
    REROLL = "reroll"  # the same request with a new seed
    SEED = "seed"  # keep this picture's seed as the user's
    FILE = "file"  # the original PNG as a document (where photos are recompressed)
    DELETE = "del"
    VARY = "vary"  # a variation of this picture
    UP2 = "up2"  # this picture enlarged ×2 / ×4
    UP4 = "up4"


JOB_TEMPLATE = r"job:(?P<action>reroll|seed|file|del|vary|up2|up4):(?P<id>\d{1,19})"
STYLE_TEMPLATE = r"style:(?P<name>[a-z0-9-]{1,64})"


@dataclass(frozen=True, slots=True)
class Pressed:
    kind: str  # "job" | "style" | "" (unknown)
    action: JobAction | None = None
    job_id: int = 0
    style: str = ""


def job(action: JobAction, job_id: int) -> str:
    return f"job:{action}:{job_id}"


def style(name: str) -> str:
    return f"style:{name}"


def decode(data: str) -> Pressed:
    kind, _, rest = data.partition(":")
    if kind == "style" and rest:
        return Pressed("style", style=rest)
    action, _, raw_id = rest.partition(":")
    if kind == "job" and raw_id.isdigit() and action in tuple(JobAction):
        return Pressed("job", JobAction(action), int(raw_id))
    return Pressed("")


def job_buttons(done: Job, lang: str, *, file_button: bool = False,
                upscale: tuple[int, ...] = ()) -> list[Button]:
    """Reroll, keep seed, variations, upscale ×N for each factor in ``upscale`` (those
    the picture still fits), (original file), delete, under a finished image."""
    row = [Button(t(lang, "btn_reroll"), job(JobAction.REROLL, done.id)),
           Button(t(lang, "btn_keep_seed"), job(JobAction.SEED, done.id)),
           Button(t(lang, "btn_vary"), job(JobAction.VARY, done.id))]
    for factor in upscale:
        row.append(Button(t(lang, "btn_upscale", factor=factor),
                          job(JobAction(f"up{factor}"), done.id)))
    if file_button:
        row.append(Button(t(lang, "btn_file"), job(JobAction.FILE, done.id)))
    row.append(Button(t(lang, "btn_delete"), job(JobAction.DELETE, done.id)))
    return row
