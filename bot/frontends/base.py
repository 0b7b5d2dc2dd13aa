"""The contract between the platform-neutral bot and a front end (console, Telegram, Discord).

A front end turns platform events into ``Incoming`` + a command request for
``Commands.handle``/``press``, renders the ``Reply`` objects it gets back, and renders a job's
status message for ``bot/jobs/status.py``, which owns that message's life: it is opened by the
front end (``StatusBoard.opened``: a Discord interaction's response, the console's line) or
by the board (``StatusBoard.acknowledge``: the board chooses, from the chat's message
``budget``, the job's own message or the chat's shared one), then only edited, throttled,
and finished through the calls below. Front ends hold no command logic and never write the
store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot.caption import Caption
from bot.jobs.budget import Budget
from bot.models import Job, Result


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str  # short, refers to stored state, e.g. "style:kancil" (bot/commands/buttons.py)


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    job_id: int | None = None  # set when the reply announces a queued job: its status message
    buttons: list[Button] = field(default_factory=list)
    delete_message: bool = False  # a button asked to delete the message it sits under
    file_path: str = ""  # a stored file to send as a document (the original PNG)
    file_name: str = ""


@dataclass(frozen=True, slots=True)
class Picture:
    """A job's finished image: the status message becomes it."""

    result: Result
    caption: Caption
    buttons: list[Button]


@dataclass(frozen=True, slots=True)
class Note:
    """A job that ended without an image (refused, failed, withheld): the status message
    becomes this sentence, already in the user's language."""

    text: str


class FrontEnd(Protocol):
    platform: str
    budget: Budget | None  # the platform's per-chat message limits, fed by every call it makes
    settle_s: float  # in a limited chat with jobs waiting, how long a new one's status waits
    shared_interval_s: float  # least seconds between edits of a chat's shared status message

    def edit_interval(self, ref: str) -> float:
        """Seconds between two edits of the status message ``ref`` (the platform's limit)."""

    def progress_step(self, ref: str) -> int:
        """Percent steps progress is shown in (0: progress is not shown as edits)."""

    def progress_text(self, lang: str, percent: int) -> str:
        """How ``percent`` done reads in a status message."""

    async def open_status(self, job: Job, text: str) -> str:
        """Send ``job``'s own status message (a reply to its request) showing ``text``;
        its ref."""

    async def edit_status(self, ref: str, text: str) -> None:
        """Show ``text`` in the status message ``ref``."""

    async def send_shared(self, chat_id: str, text: str) -> str:
        """Send a chat's shared status message; its ref."""

    async def edit_shared(self, ref: str, text: str) -> None:
        """Show ``text`` in the shared status message ``ref``."""

    async def delete_status(self, ref: str) -> None:
        """Delete the status message ``ref`` (one already gone counts as deleted)."""

    def on_progress(self, job: Job, step: int, total: int) -> None:
        """A denoising step finished (extras such as a chat action or a progress bar).
        Called often: must not block."""

    async def finish(self, job: Job, ref: str, outcome: Picture | Note) -> str:
        """Turn the status message ``ref`` ("" when there is none) into ``outcome``, or send
        it as a reply to the request; return the ref of the message that now shows it.
        Doing it again for the same job must show nothing twice. Raise when nothing could
        be shown: the job is delivered again later."""
