"""Turning chat text into commands and options; every limit comes from config.

Nothing here talks to storage or the engine: bad input raises ``UserError`` with the
message key, and the core answers it in the user's language.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bot.config import LimitsSection
from bot.errors import UserError

SEED_MAX = 2**32 - 1
# Phones turn "--" into an en or em dash; accept those too.
_DASHES = re.compile(r"(?:(?<=\s)|^)(?:--|—|–)(?=[A-Za-z])")
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+|$)", re.S)
_OPTION = re.compile(r"(?:(?<=\s)|^)--([A-Za-z][A-Za-z-]*)(?:=|\s+|$)")

# option name → (example for the "needs a value" message)
OPTIONS = {
    "seed": "--seed 42",
    "cfg": "--cfg 7.5",
    "steps": "--steps 25",
    "no": "--no blurry, text",
    "style": "--style kancil",
    "ar": "--ar 16:9",
    "raw": "",  # a flag: skip translation
}
ALIASES = {"negative": "no", "aspect": "ar", "s": "seed"}


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # lower case, without the slash
    args: str  # the rest of the text, stripped
    mention: str | None = None  # the bot name after @, if any


def parse_command(text: str) -> Command | None:
    """``/cmd@Bot args`` → Command; None when the text is not a command."""
    text = text.strip()
    m = _COMMAND.match(text)
    if not m:
        return None
    return Command(m.group(1).lower(), text[m.end():].strip(), m.group(2))


@dataclass(slots=True)
class GenerateRequest:
    prompt: str
    seed: int | None = None
    cfg: float | None = None
    steps: int | None = None
    negative: str | None = None
    style: str | None = None
    aspect: str | None = None
    raw: bool = False


def parse_seed(value: str) -> int:
    value = value.strip()
    if not re.fullmatch(r"[+-]?\d+", value):
        raise UserError("not_a_number", value=value, usage="/seed 42")
    seed = int(value)
    if not 0 <= seed <= SEED_MAX:
        raise UserError("seed_range", value=value if len(value) < 40 else value[:37] + "…",
                        max=SEED_MAX)
    return seed


def parse_cfg(value: str, limits: LimitsSection) -> float:
    try:
        cfg = float(value.strip().replace(",", "."))  # "7,5" is how Indonesians write 7.5
    except ValueError:
        raise UserError("not_a_number", value=value.strip(), usage="/cfg 7.5") from None
    if not math.isfinite(cfg) or not limits.cfg_min <= cfg <= limits.cfg_max:
        raise UserError("cfg_range", value=value.strip(), min=limits.cfg_min, max=limits.cfg_max)
    return round(cfg, 2)


def parse_steps(value: str, limits: LimitsSection) -> int:
    value = value.strip()
    if not re.fullmatch(r"[+-]?\d+", value):
        raise UserError("not_a_number", value=value, usage="/steps 25")
    steps = int(value)
    if not limits.steps_min <= steps <= limits.steps_max:
        raise UserError("steps_range", value=value[:20], min=limits.steps_min,
                        max=limits.steps_max)
    return steps


def parse_aspect(value: str, limits: LimitsSection) -> str:
    m = re.fullmatch(r"\s*(\d{1,4}(?:\.\d{1,3})?)\s*[:x×/]\s*(\d{1,4}(?:\.\d{1,3})?)\s*", value)
    if not m or float(m.group(1)) <= 0 or float(m.group(2)) <= 0:
        raise UserError("ar_invalid", value=value.strip()[:20])
    w, h = float(m.group(1)), float(m.group(2))
    if max(w / h, h / w) > limits.max_aspect:
        raise UserError("ar_range", value=value.strip(), max=f"{limits.max_aspect:g}")
    return f"{m.group(1)}:{m.group(2)}"


def size_for(aspect: str, native: tuple[int, int], max_side: int, multiple: int = 8,
             min_side: int = 32) -> tuple[int, int]:
    """The image size for ``aspect`` with about the native pixel count, sides a multiple
    of ``multiple`` and none above ``max_side``."""
    w, h = (float(x) for x in aspect.split(":"))
    area = native[0] * native[1]
    width = math.sqrt(area * w / h)
    height = width * h / w
    scale = min(1.0, max_side / max(width, height))
    def snap(x: float) -> int:
        return max(min_side, int(round(x * scale / multiple)) * multiple)
    return snap(width), snap(height)


def parse_generate(args: str, limits: LimitsSection) -> GenerateRequest:
    """``kucing lucu --seed 42 --no blurry`` → prompt and options (options anywhere)."""
    text = _DASHES.sub("--", args)
    matches = list(_OPTION.finditer(text))
    prompt_parts = [text[: matches[0].start()] if matches else text]
    req = GenerateRequest(prompt="")
    for i, m in enumerate(matches):
        name = ALIASES.get(m.group(1).lower(), m.group(1).lower())
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        rest = text[m.end():end]
        if name not in OPTIONS:
            raise UserError("option_unknown", option=f"--{m.group(1)}"[:40])
        if name == "raw":
            req.raw = True
            prompt_parts.append(rest)
            continue
        if name == "no":  # the negative runs to the next option
            value, tail = rest.strip(), ""
        else:
            value, _, tail = rest.strip().partition(" ")
        if not value:
            raise UserError("option_needs_value", option=f"--{name}", example=OPTIONS[name])
        prompt_parts.append(tail)
        if name == "seed":
            req.seed = parse_seed(value)
        elif name == "cfg":
            req.cfg = parse_cfg(value, limits)
        elif name == "steps":
            req.steps = parse_steps(value, limits)
        elif name == "no":
            req.negative = value
        elif name == "style":
            req.style = value.lower()
        elif name == "ar":
            req.aspect = parse_aspect(value, limits)
    req.prompt = " ".join(" ".join(prompt_parts).split())
    if not req.prompt:
        raise UserError("generate_usage")
    if len(req.prompt) > limits.prompt_max_chars:
        raise UserError("prompt_too_long", length=len(req.prompt), limit=limits.prompt_max_chars)
    if req.negative is not None and len(req.negative) > limits.negative_max_chars:
        raise UserError("negative_too_long", length=len(req.negative),
                        limit=limits.negative_max_chars)
    return req
