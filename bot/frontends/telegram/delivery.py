"""What the dispatcher tells a Telegram chat: status edits, progress, the photo, failures.

Telegram limits edits (about one a second per chat, 20 messages a minute in a group), so a
status message is edited at most once per ``edit_interval_s`` and only with its latest text;
progress moves in steps (10% in private chats, 25% in groups).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.caption import Caption
from bot.core import Core
from bot.frontend import Button
from bot.i18n import t
from bot.models import Job, Result

log = logging.getLogger("pelukis.telegram")

PLATFORM = "telegram"
ACTION_EVERY_S = 4.0  # a chat action shows for 5 s


def keyboard(buttons: list[Button], per_row: int = 2) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    rows = [buttons[i:i + per_row] for i in range(0, len(buttons), per_row)]
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in rows])


def status_ref(chat_id: int | str, message_id: int | str) -> str:
    return f"{chat_id}:{message_id}"


def parse_ref(ref: str) -> tuple[int, int] | None:
    chat, _, message = ref.partition(":")
    try:
        return int(chat), int(message)
    except ValueError:
        return None


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def with_retry(call, *args, attempts: int = 4, **kwargs):
    """Retry on flood control (RetryAfter) and network errors; a bad request is final."""
    for attempt in range(attempts):
        try:
            return await call(*args, **kwargs)
        except (BadRequest, Forbidden):
            raise
        except RetryAfter as exc:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(_seconds(exc.retry_after) + 0.1)
        except (TimedOut, NetworkError):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(min(2**attempt, 10))
    raise AssertionError("unreachable")


@dataclass
class _Status:
    chat_id: int
    message_id: int
    interval: float
    pending: str | None = None
    sent: str | None = None
    last: float = 0.0
    task: asyncio.Task | None = None
    percent: int = -1


@dataclass
class TelegramDelivery:
    """The FrontEnd the dispatcher talks to, for jobs whose platform is ``telegram``."""

    bot: Bot
    core: Core
    edit_interval_s: float = 1.5
    platform: str = PLATFORM
    _statuses: dict[str, _Status] = field(default_factory=dict)
    _last_action: dict[int, float] = field(default_factory=dict)

    # -- status message -----------------------------------------------------------------
    def _status(self, job: Job) -> _Status | None:
        if not job.status_ref:
            return None
        st = self._statuses.get(job.status_ref)
        if st is None:
            ids = parse_ref(job.status_ref)
            if ids is None:
                return None
            group = ids[0] < 0
            interval = max(self.edit_interval_s, 3.0) if group else self.edit_interval_s
            st = self._statuses[job.status_ref] = _Status(ids[0], ids[1], interval)
        return st

    def _edit(self, st: _Status, text: str) -> None:
        st.pending = text
        if st.task is None or st.task.done():
            st.task = asyncio.create_task(self._flush(st))

    async def _flush(self, st: _Status) -> None:
        while st.pending is not None and st.pending != st.sent:
            wait = st.last + st.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            text = st.pending
            try:
                await with_retry(self.bot.edit_message_text, text, chat_id=st.chat_id,
                                 message_id=st.message_id)
            except BadRequest as exc:  # "message is not modified", or it was deleted
                log.debug("status edit skipped: %s", exc)
            except Exception:
                log.warning("status edit failed", exc_info=True)
            st.sent, st.last = text, time.monotonic()

    def _drop_status(self, job: Job) -> _Status | None:
        st = self._statuses.pop(job.status_ref, None) if job.status_ref else None
        if st is not None and st.task is not None:
            st.task.cancel()
        return st

    async def job_status(self, job: Job, text: str) -> None:
        st = self._status(job)
        if st is not None:
            self._edit(st, text)

    def job_progress(self, job: Job, step: int, total: int) -> None:
        st = self._status(job)
        if st is None:
            return
        bucket = 25 if st.chat_id < 0 else 10
        percent = min(100, int(100 * step / max(total, 1)) // bucket * bucket)
        if percent != st.percent:
            st.percent = percent
            self._edit(st, t(job.lang, "progress", percent=percent))
        now = time.monotonic()
        if now - self._last_action.get(st.chat_id, 0.0) >= ACTION_EVERY_S:
            self._last_action[st.chat_id] = now
            asyncio.create_task(self._action(st.chat_id))

    async def _action(self, chat_id: int) -> None:
        with contextlib.suppress(Exception):
            await self.bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO)

    # -- the end of a job ---------------------------------------------------------------
    def _reply_to(self, job: Job) -> ReplyParameters | None:
        if not job.reply_to.isdigit():
            return None
        return ReplyParameters(int(job.reply_to), allow_sending_without_reply=True)

    async def job_done(self, job: Job, result: Result, caption: Caption) -> None:
        png = await asyncio.to_thread(Path(result.image_path).read_bytes)
        buttons = self.core.job_buttons(job, job.lang, file_button=True)
        await with_retry(
            self.bot.send_photo, int(job.chat_id), png, caption=caption.html(),
            parse_mode=ParseMode.HTML, reply_parameters=self._reply_to(job),
            reply_markup=keyboard(buttons),
        )
        await self._delete_status(job)

    async def job_failed(self, job: Job, text: str) -> None:
        st = self._drop_status(job)
        if st is not None:
            with contextlib.suppress(BadRequest):
                await with_retry(self.bot.edit_message_text, text, chat_id=st.chat_id,
                                 message_id=st.message_id)
                return
        await with_retry(self.bot.send_message, int(job.chat_id), text,
                         reply_parameters=self._reply_to(job))

    async def _delete_status(self, job: Job) -> None:
        self._drop_status(job)
        ids = parse_ref(job.status_ref) if job.status_ref else None
        if ids is not None:
            with contextlib.suppress(Exception):  # already gone, or too old to delete
                await self.bot.delete_message(*ids)
