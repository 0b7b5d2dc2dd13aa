"""What a chat command *is*, declared once: names in both languages, typed options, who may
run it, whether it shows in menus, and the i18n keys of its description and help line.

Everything else is generated from these specs: the dispatch in ``registry.py``, ``/help``,
Telegram's ``setMyCommands`` menus, the Discord slash tree and the console's completion.
Values are checked here, once, whether they arrive as chat text (``/cfg 7,5``) or already
typed (a Discord option): the same limits from config, the same answer on every platform.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from bot.config import LimitsSection
from bot.errors import UserError
from bot.models import SEED_MAX

if TYPE_CHECKING:
    from bot.commands.registry import Commands
    from bot.frontends.base import Reply
    from bot.models import Incoming



class Access(StrEnum):
    ANYONE = "anyone"
    MODERATORS_TO_CHANGE = "moderators_to_change"  # anyone looks; a value needs a moderator
    MODERATORS = "moderators"


class OptionType(StrEnum):
    TEXT = "text"  # free text; a positional TEXT option takes the rest of the line
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"  # a flag: ``--raw`` or one of its ``words`` ("random", "acak")
    CHOICE = "choice"  # one of ``choices``
    STYLE = "style"  # a style name; front ends offer the loaded styles
    # a picture: an attachment on Discord; in chat text the picture comes with the message
    # (Telegram: a photo's caption or a reply; console: --image PATH), so the front end
    # turns it into ``Incoming.fetch_picture`` and the value never reaches a handler
    PICTURE = "picture"


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label_key: str | None = None  # i18n key of the label menus show; None: the value
    words: tuple[str, ...] = ()  # what users may type for it, in either language


def _whole_number(value: object, usage: str) -> int:
    if isinstance(value, bool):
        raise UserError("not_a_number", value=str(value), usage=usage)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise UserError("not_a_number", value=text, usage=usage)
    return int(text)


def parse_seed(value: object, limits: LimitsSection | None = None) -> int:
    seed = _whole_number(value, "/seed 42")
    if not 0 <= seed <= SEED_MAX:
        text = str(value).strip()
        raise UserError("seed_range", value=text if len(text) < 40 else text[:37] + "…",
                        max=SEED_MAX)
    return seed


def parse_cfg(value: object, limits: LimitsSection) -> float:
    text = str(value).strip()
    try:
        cfg = float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
            else float(text.replace(",", "."))  # "7,5" is how Indonesians write 7.5
    except ValueError:
        raise UserError("not_a_number", value=text, usage="/cfg 7.5") from None
    if not math.isfinite(cfg) or not limits.cfg_min <= cfg <= limits.cfg_max:
        raise UserError("cfg_range", value=text, min=limits.cfg_min, max=limits.cfg_max)
    return round(cfg, 2)


def parse_steps(value: object, limits: LimitsSection) -> int:
    steps = _whole_number(value, "/steps 25")
    if not limits.steps_min <= steps <= limits.steps_max:
        raise UserError("steps_range", value=str(value).strip()[:20], min=limits.steps_min,
                        max=limits.steps_max)
    return steps


def parse_aspect(value: object, limits: LimitsSection) -> str:
    text = str(value)
    m = re.fullmatch(r"\s*(\d{1,4}(?:\.\d{1,3})?)\s*[:x×/]\s*(\d{1,4}(?:\.\d{1,3})?)\s*", text)
    if not m or float(m.group(1)) <= 0 or float(m.group(2)) <= 0:
        raise UserError("ar_invalid", value=text.strip()[:20])
    w, h = float(m.group(1)), float(m.group(2))
    if max(w / h, h / w) > limits.max_aspect:
        raise UserError("ar_range", value=text.strip(), max=f"{limits.max_aspect:g}")
    return f"{m.group(1)}:{m.group(2)}"


Parser = Callable[[object, LimitsSection], Any]
Range = Callable[[LimitsSection], tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Option:
    name: str  # English: the Discord option name and the ``--flag``
    type: OptionType
    name_id: str = ""  # the Indonesian Discord name ("" = the same)
    positional: bool = False  # given without a flag in chat text (``/seed 42``)
    required: bool = False
    flags: tuple[str, ...] = ()  # more ``--names`` for it in chat text
    words: tuple[str, ...] = ()  # BOOL: words that switch it on when given positionally
    choices: tuple[Choice, ...] = ()
    parse: Parser | None = None  # checks a value (text or typed); raises UserError
    range: Range | None = None  # the limits menus declare (Discord min/max), from config
    max_length: Callable[[LimitsSection], int] | None = None  # TEXT: the longest, from config
    example: str = ""  # for "the option needs a value, e.g. …"
    invalid_key: str = "choice_unknown"  # CHOICE: the answer to a value not among them
    # an [engine] key that must be set for the option to be offered in menus (an optional
    # model, e.g. "variations_model"); in chat text the handler answers without it
    needs: str = ""

    def description_key(self, command: str) -> str:
        return f"opt_{command}_{self.name}"

    def coerce(self, value: object, limits: LimitsSection) -> Any:
        """A value from chat text or a typed platform option → the checked value."""
        if self.type is OptionType.BOOL:
            return bool(value)
        if self.type is OptionType.CHOICE and self.parse is None:  # else: choices only suggest
            word = str(value).strip().lower()
            for choice in self.choices:
                if word == choice.value or word in choice.words:
                    return choice.value
            raise UserError(self.invalid_key, value=str(value).strip()[:40],
                            choices=", ".join(c.value for c in self.choices))
        if self.type is OptionType.STYLE:
            return str(value).strip().lower()
        if self.type is OptionType.PICTURE:  # typed as text: the picture must come along
            raise UserError("picture_needed")
        if self.parse is not None:
            return self.parse(value, limits)
        return str(value).strip()


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed command, the same whichever front end it came from."""

    command: Command
    values: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    @property
    def changes(self) -> bool:
        """Whether any option was given (a change rather than a look)."""
        return any(v is not None and v is not False for v in self.values.values())


Handler = Callable[["Commands", "Incoming", Request, str], Awaitable[list["Reply"]]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # canonical and English
    handler: Handler
    options: tuple[Option, ...] = ()
    aliases: tuple[str, ...] = ()  # more English names
    aliases_id: tuple[str, ...] = ()  # Indonesian names; the first is the localized menu name
    access: Access = Access.ANYONE
    in_menu: bool = True
    private_answer: bool = False  # Discord answers it for the asker only (ephemeral)
    denied_key: str = "moderators_only"  # what a non-moderator is told
    parse_text: Callable[[Command, str, LimitsSection], Request] | None = None  # own grammar

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases, *self.aliases_id)

    @property
    def name_id(self) -> str:
        return self.aliases_id[0] if self.aliases_id else self.name

    @property
    def description_key(self) -> str:
        return f"cmd_{self.name}"

    @property
    def help_key(self) -> str:
        return f"help_{self.name}"

    def option(self, name: str) -> Option:
        return next(o for o in self.options if o.name == name)

    def request(self, values: dict[str, Any], limits: LimitsSection) -> Request:
        """Typed values from a platform (a Discord interaction) → a checked request."""
        known = {o.name: o for o in self.options}
        checked: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"/{self.name} has no option {name!r}")
            if value is None or (value is False and known[name].type is OptionType.BOOL):
                continue
            if known[name].type is OptionType.PICTURE:
                continue  # the front end made it ``Incoming.fetch_picture``
            checked[name] = known[name].coerce(value, limits)
        return Request(self, checked)

    def parse(self, args: str, limits: LimitsSection) -> Request:
        """Chat text after the command name → a checked request."""
        if self.parse_text is not None:
            return self.parse_text(self, args, limits)
        return parse_positional(self, args, limits)


def parse_positional(command: Command, args: str, limits: LimitsSection) -> Request:
    """The plain grammar: words fill the positional options in order; a BOOL option is
    switched on by one of its words; the last TEXT option takes the rest of the line."""
    values: dict[str, Any] = {}
    rest = args.strip()
    slots = [o for o in command.options if o.positional]
    bools = [o for o in slots if o.type is OptionType.BOOL]
    others = [o for o in slots if o.type is not OptionType.BOOL]
    while rest:
        word, _, tail = rest.partition(" ")
        flag = next((o for o in bools if word.lower() in o.words), None)
        if flag is not None and flag.name not in values:
            values[flag.name] = True
            rest = tail.strip()
            continue
        if not others:
            break  # more words than the command takes: ignored, as before
        option = others.pop(0)
        if option.type is OptionType.TEXT and not others:
            word, tail = rest, ""
        values[option.name] = option.coerce(word, limits)
        rest = tail.strip()
    return Request(command, values)
