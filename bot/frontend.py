"""What the core hands to front ends, and what a front end must offer the dispatcher.

Front ends (console, Telegram, Discord) turn platform events into ``Incoming`` and render
``Reply`` objects and job events; they hold no command logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot.caption import Caption
from bot.models import Job, Result


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str  # short, refers to stored state, e.g. "style:set:kancil"


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    job_id: int | None = None  # set when the reply announces a queued job
    buttons: list[Button] = field(default_factory=list)
    delete_message: bool = False  # a button asked to delete the message it sits under


class FrontEnd(Protocol):
    platform: str

    async def job_status(self, job: Job, text: str) -> None:
        """Queue position changed or a note for the requester (edit the status message)."""

    def job_progress(self, job: Job, step: int, total: int) -> None:
        """A denoising step finished. Called often: must not block; throttle edits."""

    async def job_done(self, job: Job, result: Result, caption: Caption) -> None:
        """Send the stored image as a reply to the request; raise if it could not be sent."""

    async def job_failed(self, job: Job, text: str) -> None:
        """Tell the requester the job ended without an image."""
