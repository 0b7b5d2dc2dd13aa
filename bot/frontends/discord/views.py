"""Buttons that survive restarts: ``DynamicItem`` templates over the core's button data.

The data strings of ``bot/commands/buttons.py`` (``job:reroll:<id>``, ``style:<name>``, …)
are the custom ids, so a press after a restart is matched by the template registered at start
(``Bot.add_dynamic_items``) and handed to ``Commands.press``, which looks the job up.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.commands.buttons import JOB_TEMPLATE, STYLE_TEMPLATE, JobAction
from bot.frontends.base import Button, Reply
from bot.frontends.discord.embeds import clip
from bot.frontends.discord.errors import report_error

if TYPE_CHECKING:
    from bot.frontends.discord.bot import PelukisBot

log = logging.getLogger("pelukis.discord")

LABEL_MAX = 80  # Discord's limit for a button label
VIEW_MAX = 25  # five rows of five
_STYLES = {JobAction.REROLL: discord.ButtonStyle.primary,
           JobAction.DELETE: discord.ButtonStyle.danger}
_SKIPPED = {JobAction.FILE}  # the attachment is the original PNG already


class JobButton(discord.ui.DynamicItem[discord.ui.Button], template=JOB_TEMPLATE):
    """Reroll, keep seed or delete, for the job ``job_id`` (the core looks it up)."""

    def __init__(self, action: str, job_id: int, label: str | None = None):
        super().__init__(discord.ui.Button(
            label=label or action, custom_id=f"job:{action}:{job_id}",
            style=_STYLES.get(JobAction(action), discord.ButtonStyle.secondary)))
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction,
                             item: discord.ui.Button, match: re.Match[str], /) -> JobButton:
        return cls(match["action"], int(match["id"]), item.label)

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


DYNAMIC_ITEMS = (JobButton, StyleButton)


def button_for(button: Button) -> discord.ui.Item | None:
    label = button.label[:LABEL_MAX]
    if m := re.fullmatch(JOB_TEMPLATE, button.data):
        if JobAction(m["action"]) in _SKIPPED:
            return None
        return JobButton(m["action"], int(m["id"]), label)
    if m := re.fullmatch(STYLE_TEMPLATE, button.data):
        return StyleButton(m["name"], label)
    return None


def buttons_view(buttons: list[Button]) -> discord.ui.View | None:
    """A persistent view (no timeout) for the core's buttons, or None when there are none."""
    items = [item for item in map(button_for, buttons) if item is not None][:VIEW_MAX]
    if not items:
        return None
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view


def reply_files(reply: Reply) -> list[discord.File]:
    """The stored file a reply carries (the original PNG), if any."""
    if not reply.file_path:
        return []
    return [discord.File(reply.file_path, filename=reply.file_name or None)]


async def press(interaction: discord.Interaction[PelukisBot], data: str) -> None:
    """A button was pressed: the core decides; a new job gets a public status message, a
    deletion removes the message carrying the button, anything else is said privately."""
    try:
        await _press(interaction, data)
    except Exception as exc:  # buttons are not app commands: the tree's handler, by hand
        await report_error(interaction, exc)


async def _press(interaction: discord.Interaction[PelukisBot], data: str) -> None:
    bot = interaction.client
    replies = await bot.app.commands.press(bot.incoming(interaction), data)
    if not replies:
        await interaction.response.defer()
        return
    first, rest = replies[0], replies[1:]
    files = reply_files(first)
    if first.job_id is not None:  # a reroll: public, and the new job's status message
        await interaction.response.send_message(clip(first.text))
        await bot.frontend.open_response(interaction, await interaction.original_response(), first)
    else:
        await interaction.response.send_message(
            clip(first.text) if first.text else None, ephemeral=True,
            view=buttons_view(first.buttons) or discord.utils.MISSING,
            **({"files": files} if files else {}))
    if first.delete_message and interaction.message is not None:
        try:
            await interaction.message.delete()
        except discord.HTTPException as exc:
            log.warning("could not delete message %s: %s", interaction.message.id, exc)
    for reply in rest:
        await interaction.followup.send(clip(reply.text), ephemeral=True)
