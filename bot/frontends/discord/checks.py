"""Who moderates on Discord: members with Manage Server or one of ``[discord]
moderator_roles`` (by name or id); in a DM everyone moderates their own chat. The answer goes
to the core as ``Incoming.is_admin``; the core decides what needs it (``Access``)."""

from __future__ import annotations

from collections.abc import Iterable

import discord


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
