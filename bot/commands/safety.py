"""``/safety``: show, or set (moderators in groups), the chat's image check."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot import metrics
from bot.commands.spec import Access, Choice, Command, Option, OptionType, Request
from bot.frontends.base import Reply
from bot.i18n import t
from bot.models import Incoming
from bot.policy.settings import Scope

if TYPE_CHECKING:
    from bot.commands.registry import Commands

log = logging.getLogger("pelukis.commands")


async def safety(cmds: Commands, msg: Incoming, req: Request, lang: str) -> list[Reply]:
    choice = req.get("mode")
    if choice is None:
        current = (await cmds.settings.resolve(msg)).safety
        return [Reply(t(lang, "safety_show", mode=t(lang, f"safety_{current}")))]
    await cmds.settings.set(msg, Scope.CHANNEL, safety=choice)
    metrics.moderation("safety_set")
    log.info("moderation: safety of %s:%s set to %s by %s", msg.platform, msg.chat_id, choice,
             msg.user_id)
    return [Reply(t(lang, "safety_set", mode=t(lang, f"safety_{choice}")))]


SAFETY = Command(
    "safety", safety, aliases_id=("keamanan",), access=Access.MODERATORS_TO_CHANGE,
    denied_key="safety_moderators_only", in_menu=False,  # in the admins' menu only
    options=(
        Option("mode", OptionType.CHOICE, name_id="mode", positional=True,
               choices=(Choice("strict", "safety_strict", ("ketat",)),
                        Choice("relaxed", "safety_relaxed", ("longgar",))),
               invalid_key="safety_usage"),
    ))
