"""``/help`` (and ``/start``): generated from the command specs, in the user's language."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.commands.spec import Command, Request
from bot.frontends.base import Reply
from bot.i18n import t
from bot.models import Incoming

if TYPE_CHECKING:
    from bot.commands.registry import Commands


def help_text(specs: tuple[Command, ...], lang: str) -> str:
    """The intro, one line per command (its name in ``lang`` first), an example."""
    lines = [t(lang, "help_intro"), ""]
    for spec in specs:
        name, other = (spec.name_id, spec.name) if lang == "id" else (spec.name, spec.name_id)
        alias = f" (/{other})" if other != name else ""
        lines.append(f"/{name}{alias} {t(lang, spec.help_key)}")
    lines += ["", t(lang, "help_example")]
    return "\n".join(lines)


def available_text(cmds: Commands, lang: str) -> str:
    """Which picture features this bot has: the extra models the engine runs (or, before
    it is ready, the config names)."""
    info = cmds.engine_info()
    engine = cmds.config.engine
    unclip = info.variations_model if info is not None else engine.variations_model
    x4 = info.upscale_model if info is not None else engine.upscale_model
    return t(lang, "help_available",
             variations=t(lang, "help_unclip" if unclip else "help_img2img"),
             upscale=t(lang, "help_x4" if x4 else "help_hires"),
             reference=t(lang, "help_yes" if unclip else "help_no"))


async def show_help(cmds: Commands, msg: Incoming, req: Request, lang: str) -> list[Reply]:
    return [Reply(help_text(cmds.specs, lang) + "\n" + available_text(cmds, lang))]


HELP = Command("help", show_help, aliases=("start",), aliases_id=("bantuan",),
               private_answer=True)
