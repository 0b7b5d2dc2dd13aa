"""Typed records the bot passes around: incoming messages, settings, jobs, results.

The job state machine (rows in ``jobs``, see ``bot/storage/schema.sql`` and
``bot/storage/jobs.py``)::

    queued ──▶ running ──▶ done ──▶ (delivered_at set)
      │  ▲        │  │
      │  └────────┘  └──▶ failed      (engine refused it or the image check withheld it,
      │                               max_attempts runs crashed, or it couldn't be stored)
      └──▶ cancelled                  (/cancel, while queued or painting)

- A job is written ``queued`` before the user is told so.
- ``running`` jobs found at start were interrupted: they go back to ``queued``
  (``attempts`` counts the runs started).
- ``failed`` keeps the user's sentence as a message key and values (``error_key``,
  ``error_values``), worded in the user's language at delivery; ``error`` is the operator's.
- ``done`` means the image file and its ``results`` row are stored; delivery
  (``bot/jobs/delivery.py``) then sends it and sets ``delivered_at``. A ``done`` job
  without ``delivered_at`` at start is sent again, so every job ends once for its user.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

SEED_MAX = 2**32 - 1  # seeds are unsigned 32-bit, as torch generators and the engine take


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Incoming:
    """A chat message as a front end hands it to the core."""

    platform: str  # "console" | "telegram" | "discord"
    chat_id: str
    user_id: str
    text: str
    user_name: str = ""
    message_id: str = ""  # the message a reply should quote
    private: bool = True  # a private chat / DM (its user may change its style)
    is_admin: bool = False  # the platform already knows this user moderates the chat
    # asks the platform whether the user moderates the chat (e.g. Telegram's getChatMember);
    # called only when a command needs to know
    ask_moderator: Callable[[], Awaitable[bool]] | None = field(default=None, compare=False)
    locale: str | None = None  # platform's user locale (Telegram language_code, Discord locale)
    group_id: str = ""  # the server a channel belongs to (Discord); "" elsewhere
    request_id: str = ""  # the platform's id of this event, for exactly-once jobs
    # the picture that came with the message (attached, or the one it replies to): its
    # bytes, downloaded when a command needs them (size cap and timeout: the front end's);
    # raises UserError (picture_unavailable, picture_too_big) when it cannot be had
    fetch_picture: Callable[[], Awaitable[bytes]] | None = field(default=None, compare=False)

    @property
    def settings_scope(self) -> str:
        """Where a user's own settings live: the server on Discord, else the chat."""
        return self.group_id or self.chat_id


@dataclass(frozen=True, slots=True)
class GenerateRequest:
    """What one ``/generate`` asks for; ``None`` = the effective setting decides."""

    prompt: str
    seed: int | None = None
    cfg: float | None = None
    steps: int | None = None
    negative: str | None = None
    style: str | None = None
    aspect_ratio: str | None = None
    raw: bool = False
    strength: float | None = None  # with a picture: how much is redrawn (0-1)
    reference: bool = False  # the picture is a reference (unCLIP), not one to redraw


@dataclass(slots=True)
class ChatSettings:
    style: str | None = None  # None = not set → config default
    lang: str | None = None
    safety: str | None = None  # image check: strict | relaxed | off; None → config default


@dataclass(slots=True)
class UserSettings:
    seed: int | None = None  # None = random
    cfg: float | None = None  # None = style/config default
    steps: int | None = None
    negative: str = ""
    lang: str | None = None
    raw: bool = False  # send prompts to the model untranslated


@dataclass(slots=True)
class Job:
    platform: str
    chat_id: str
    user_id: str
    prompt: str  # as written
    prompt_en: str  # what the model gets
    translator: str  # "none" | "offline" | "cache" | provider name
    style: str | None
    negative: str
    seed: int
    cfg: float
    steps: int
    lang: str
    aspect: str = "1:1"  # W:H; the size follows from the model's native size at run time
    width: int = 0  # 0 until the job runs
    height: int = 0
    user_name: str = ""
    reply_to: str = ""
    state: JobState = JobState.QUEUED
    attempts: int = 0
    error: str = ""  # the operator's detail of a failure or a retry (English, never shown)
    error_key: str = ""  # a failed job's message to its user: an i18n key, worded at delivery
    error_values: dict = field(default_factory=dict)  # the values of that message
    status_ref: str = ""  # the front end's handle on its status message
    request: str = ""  # the platform event it came from, unique per platform ("" = none)
    safety: float = 0.0  # the image check's threshold for this job (0 = none)
    created_at: float = 0.0
    id: int = 0
    # pictures in: text | img2img | variation | upscale (engine.protocol.JobKind), how much
    # is redrawn, and the stored input picture (Store.save_input); "" for text
    kind: str = "text"
    strength: float = 0.0
    source: str = ""

    def batch_key(self) -> tuple:
        """Jobs with equal keys can share one pipeline call."""
        return (self.style, self.width, self.height, self.steps, self.cfg, self.kind,
                self.strength)


@dataclass(frozen=True, slots=True)
class Result:
    job_id: int
    seed: int
    clip_score: float
    image_path: str
    width: int
    height: int
    generate_s: float = 0.0
    score_s: float = 0.0
    flagged: bool = False  # the image check found it unsafe (it was stored blurred)
