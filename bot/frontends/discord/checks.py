"""Who may do what on Discord: moderators are members with Manage Server or one of
``[discord] moderator_roles`` (by name or id); in a DM everyone moderates their own chat."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import discord
from discord import app_commands

T = TypeVar("T")


class NotModerator(app_commands.CheckFailure):
    """Raised by ``moderator_when``; the cogs answer it in the user's language."""


def is_moderator(interaction: discord.Interaction, roles: Iterable[str]) -> bool:
    if interaction.guild_id is None:
        return True  # a DM (or group DM): the user's own chat
    perms = getattr(interaction, "permissions", None)  # resolved for this channel by Discord
    if perms is not None and (perms.manage_guild or perms.administrator):
        return True
    member = interaction.user
    guild_perms = getattr(member, "guild_permissions", None)
    if guild_perms is not None and (guild_perms.manage_guild or guild_perms.administrator):
        return True
    wanted = {r.strip().lower() for r in roles if r.strip()}
    return any(str(role.id) in wanted or role.name.lower() in wanted
               for role in getattr(member, "roles", ()))


def moderator_when(option: str) -> Callable[[T], T]:
    """A check: when ``option`` is given (a change rather than a look), only moderators."""

    def predicate(interaction: discord.Interaction) -> bool:
        if getattr(interaction.namespace, option, None) is None:
            return True
        roles = interaction.client.config.discord.moderator_roles  # type: ignore[attr-defined]
        if is_moderator(interaction, roles):
            return True
        raise NotModerator(option)

    return app_commands.check(predicate)
