"""``/style``: the list (anyone), the chat's style (moderators in groups), or ``/style
reload``: rescan the adapters folder now (moderators; ``reload`` is no style's name)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot import metrics
from bot.commands import buttons
from bot.commands.spec import Access, Choice, Command, Option, OptionType, Request
from bot.frontends.base import Button, Reply
from bot.i18n import t
from bot.models import Incoming
from bot.policy.settings import Scope
from engine.styles import NONE, RELOAD

if TYPE_CHECKING:
    from bot.commands.registry import Commands

log = logging.getLogger("pelukis.commands")


async def style(cmds: Commands, msg: Incoming, req: Request, lang: str) -> list[Reply]:
    name = req.get("name")
    if name is None:
        return [_style_list(cmds, lang, (await cmds.settings.resolve(msg)).style_name)]
    if name == RELOAD:  # the spec's access check has run: a moderator asked
        return [await _reload(cmds, msg, lang)]
    cmds.resolver.check_style(name)
    # On a server the style is server-wide unless asked for this channel only.
    server_wide = bool(msg.group_id) and req.get("scope") != "channel"
    if server_wide:
        await cmds.settings.set(msg, Scope.SERVER, style=name)
        await cmds.settings.set(msg, Scope.CHANNEL, style=None)  # the server's choice wins
    else:
        await cmds.settings.set(msg, Scope.CHANNEL, style=name)
    metrics.moderation("style_set")
    log.info("moderation: style of %s:%s set to %s by %s", msg.platform,
             msg.group_id if server_wide else msg.chat_id, name, msg.user_id)
    if name == NONE:
        return [Reply(t(lang, "style_cleared"))]
    return [Reply(t(lang, "style_set", title=cmds.styles.get(name).title(lang)))]


async def _reload(cmds: Commands, msg: Incoming, lang: str) -> Reply:
    if cmds.reload_styles is None:
        return Reply(t(lang, "style_reload_unavailable"))
    log.info("moderation: styles reload asked by %s:%s", msg.platform, msg.user_id)
    done = await cmds.reload_styles()
    if done.error:
        return Reply(t(lang, "style_reload_error"))
    lines = [t(lang, "style_reloaded", count=len(done.styles))]
    for key, names in (("style_reload_added", done.added), ("style_reload_removed", done.removed),
                       ("style_reload_changed", done.changed)):
        if names:
            lines.append(t(lang, key, names=", ".join(names)))
    failed = sorted({*done.failures, *done.problems})
    if failed:
        lines.append(t(lang, "style_reload_failed", names=", ".join(failed)))
    if not done.engine:
        lines.append(t(lang, "style_reload_engine_later"))
    return Reply("\n".join(lines))


def _style_list(cmds: Commands, lang: str, current: str) -> Reply:
    lines = [t(lang, "style_header")]
    choices = []
    for each in cmds.styles:
        mark = "✅" if each.name == current else "▫️"
        line = t(lang, "style_line", mark=mark, name=each.name, title=each.title(lang),
                 description=each.description(lang))
        if each.name in cmds.styles.notes:  # its LoRA did not load: the template only
            line += " " + t(lang, "style_note_template_only")
        lines.append(line)
        choices.append(Button(each.title(lang), buttons.style(each.name)))
    lines.append(t(lang, "style_none_line", mark="✅" if current == NONE else "▫️"))
    choices.append(Button(t(lang, "cap_none_style"), buttons.style(NONE)))
    lines.append(t(lang, "style_usage"))
    return Reply("\n".join(lines), buttons=choices)


STYLE = Command(
    "style", style, aliases_id=("gaya",), access=Access.MODERATORS_TO_CHANGE,
    denied_key="style_moderators_only",
    options=(
        Option("name", OptionType.STYLE, name_id="nama", positional=True),
        Option("scope", OptionType.CHOICE, name_id="cakupan", positional=True,
               choices=(Choice("server", "choice_server", ("guild",)),
                        Choice("channel", "choice_channel", ("kanal",))),
               invalid_key="style_usage"),
    ))
