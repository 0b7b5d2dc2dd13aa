"""Buttons that survive restarts: ``DynamicItem`` templates over ids the core hands out.

``Core.job_buttons`` gives ``job:reroll:<id>``, ``job:seed:<id>``, ``job:del:<id>``; the style
list gives ``style:<name>``. Those data strings are the custom ids, so a press after a restart
is matched by the template, rebuilt from the stored job and handed to ``Core.press``.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.frontend import Button
from bot.frontends.discord.embeds import clip
from bot.models import Job

if TYPE_CHECKING:
    from bot.frontends.discord.bot import PelukisBot

log = logging.getLogger("pelukis.discord")

JOB_TEMPLATE = r"job:(?P<action>reroll|seed|del):(?P<id>\d{1,19})"
STYLE_TEMPLATE = r"style:(?P<name>[a-z0-9-]{1,64})"
_STYLES = {"reroll": discord.ButtonStyle.primary, "del": discord.ButtonStyle.danger}


class JobButton(discord.ui.DynamicItem[discord.ui.Button], template=JOB_TEMPLATE):
    """Reroll, keep seed or delete, for the stored job ``job_id``."""

    def __init__(self, action: str, job_id: int, label: str | None = None,
                 job: Job | None = None):
        super().__init__(discord.ui.Button(
            label=label or action, custom_id=f"job:{action}:{job_id}",
            style=_STYLES.get(action, discord.ButtonStyle.secondary)))
        self.action = action
        self.job_id = job_id
        self.job = job  # the stored row, when rebuilt from a press

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[PelukisBot],
                             item: discord.ui.Button, match: re.Match[str], /) -> JobButton:
        job_id = int(match["id"])
        job = await interaction.client.app.store.job(job_id)
        return cls(match["action"], job_id, item.label, job)

    async def callback(self, interaction: discord.Interaction[PelukisBot]) -> Any:
        await press(interaction, self.custom_id)


class StyleButton(discord.ui.DynamicItem[discord.ui.Button], template=STYLE_TEMPLATE):
    """Pick a style from the ``/style`` list (the core checks who may)."""

    def __init__(self, name: str, label: str | None = None):
        super().__init__(discord.ui.Button(label=label or name, custom_id=f"style:{name}",
                                           style=discord.ButtonStyle.secondary))
        self.name = name

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction,
                             item: discord.ui.Button, match: re.Match[str], /) -> StyleButton:
        return cls(match["name"], item.label)

    async def callback(self, interaction: discord.Interaction[PelukisBot]) -> Any:
        await press(interaction, self.custom_id)


def button_for(button: Button) -> discord.ui.Item | None:
    label = button.label[:80]  # Discord's limit for a button label
    if m := re.fullmatch(JOB_TEMPLATE, button.data):
        return JobButton(m["action"], int(m["id"]), label)
    if m := re.fullmatch(STYLE_TEMPLATE, button.data):
        return StyleButton(m["name"], label)
    return None  # e.g. "job:file:…": Discord attachments are the original file already


def buttons_view(buttons: list[Button]) -> discord.ui.View | None:
    """A persistent view (no timeout) for the core's buttons, or None when there are none."""
    items = [item for item in map(button_for, buttons[:25]) if item is not None]
    if not items:
        return None
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view


async def press(interaction: discord.Interaction[PelukisBot], data: str) -> None:
    """A button was pressed: the core decides; a new job gets a public status message, a
    deletion removes the message carrying the button, anything else is said privately."""
    try:
        await _press(interaction, data)
    except Exception as exc:  # buttons have no cog: the same answer as the cogs' handler
        from bot.frontends.discord.cogs import report_error

        await report_error(interaction, exc)


async def _press(interaction: discord.Interaction[PelukisBot], data: str) -> None:
    bot = interaction.client
    replies = await bot.app.core.press(bot.incoming(interaction, ""), data)
    if not replies:
        await interaction.response.defer()
        return
    first, rest = replies[0], replies[1:]
    if first.job_id is not None:
        await interaction.response.send_message(clip(first.text))
        await bot.frontend.announce(interaction, first, sent=True)
    else:
        await interaction.response.send_message(clip(first.text), ephemeral=True,
                                                view=buttons_view(first.buttons)
                                                or discord.utils.MISSING)
    if first.delete_message and interaction.message is not None:
        try:
            await interaction.message.delete()
        except discord.HTTPException as exc:
            log.warning("could not delete message %s: %s", interaction.message.id, exc)
    for reply in rest:
        await interaction.followup.send(clip(reply.text), ephemeral=True)
