"""What the dispatcher tells a Telegram chat: status edits, progress, the photo, failures.

A queued job's status message is a photo from the start (a grey placeholder whose caption is
the status); the finished image replaces it with ``editMessageMedia``. An edit is idempotent,
so delivering a job again after a crash (sent, not yet recorded) shows nothing twice.

Telegram limits edits (about one a second per chat, 20 messages a minute in a group), so a
status message is edited at most once per ``edit_interval_s`` and only with its latest text;
progress moves in steps (10% in private chats, 25% in groups).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    ReplyParameters,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.caption import Caption, utf16_len
from bot.core import Core
from bot.frontend import Button
from bot.i18n import t
from bot.models import Job, Result

log = logging.getLogger("pelukis.telegram")

PLATFORM = "telegram"
ACTION_EVERY_S = 4.0  # a chat action shows for 5 s
PLACEHOLDER_SIZE = 320
CAPTION_MAX = 1024  # UTF-16 units


@functools.cache
def placeholder_png() -> bytes:
    """The picture a status message shows until the painting replaces it (made once)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (PLACEHOLDER_SIZE, PLACEHOLDER_SIZE), (214, 214, 218)).save(
        buf, format="PNG", optimize=True)
    return buf.getvalue()


def _fits_caption(text: str) -> bool:
    return utf16_len(text) <= CAPTION_MAX


async def send_status_photo(bot: Bot, chat_id: int, text: str, *, reply_to: int | None,
                            reply_markup: InlineKeyboardMarkup | None = None) -> Message:
    """A job's status message: the placeholder photo, the status as its caption."""
    reply = ReplyParameters(reply_to, allow_sending_without_reply=True) \
        if reply_to is not None else None
    if not _fits_caption(text):  # never for a status line; a text message then
        return await with_retry(bot.send_message, chat_id, text, reply_parameters=reply,
                                reply_markup=reply_markup)
    return await with_retry(bot.send_photo, chat_id, placeholder_png(), caption=text,
                            reply_parameters=reply, reply_markup=reply_markup)


def not_modified(exc: BadRequest) -> bool:
    return "not modified" in str(exc).lower()


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
    in_flight: bool = False


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

    def shown(self, ref: str, text: str) -> None:
        """A status message was just sent with ``text``: no edit to that same text follows
        (Telegram answers such an edit with an error, and it costs a request)."""
        ids = parse_ref(ref)
        if ids is None:
            return
        st = self._statuses.get(ref)
        if st is None:
            interval = max(self.edit_interval_s, 3.0) if ids[0] < 0 else self.edit_interval_s
            st = self._statuses[ref] = _Status(ids[0], ids[1], interval)
        st.sent, st.last = text, time.monotonic()

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
            if text is None or text == st.sent:  # the job ended while we waited
                break
            st.in_flight = True
            try:
                await with_retry(self.bot.edit_message_caption, chat_id=st.chat_id,
                                 message_id=st.message_id, caption=text)
            except BadRequest as exc:  # "message is not modified", or it was deleted
                log.debug("status edit skipped: %s", exc)
            except Exception:
                log.warning("status edit failed", exc_info=True)
            finally:
                st.in_flight = False
            st.sent, st.last = text, time.monotonic()

    async def _drop_status(self, job: Job) -> None:
        """No more status edits for ``job``; one already on its way lands first."""
        st = self._statuses.pop(job.status_ref, None) if job.status_ref else None
        if st is None or st.task is None or st.task.done():
            return
        st.pending = None
        if st.in_flight:  # let it land, so it can't overwrite the final caption
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(st.task), 30)
        st.task.cancel()

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
        """The status message becomes the picture; sending it again edits it again."""
        png = await asyncio.to_thread(Path(result.image_path).read_bytes)
        markup = keyboard(self.core.job_buttons(job, job.lang, file_button=True))
        await self._drop_status(job)
        ids = parse_ref(job.status_ref) if job.status_ref else None
        if ids is not None:
            media = InputMediaPhoto(png, caption=caption.html(), parse_mode=ParseMode.HTML)
            try:
                await with_retry(self.bot.edit_message_media, media=media, chat_id=ids[0],
                                 message_id=ids[1], reply_markup=markup)
                return
            except BadRequest as exc:
                if not_modified(exc):  # already shown (a delivery after a crash)
                    return
                log.info("job %d: status message not editable (%s); sending the photo",
                         job.id, exc)
        sent = await with_retry(
            self.bot.send_photo, int(job.chat_id), png, caption=caption.html(),
            parse_mode=ParseMode.HTML, reply_parameters=self._reply_to(job),
            reply_markup=markup,
        )
        # a delivery after a crash now edits this photo instead of sending another one
        with contextlib.suppress(Exception):
            await self.core.store.set_status_ref(job.id, status_ref(sent.chat_id,
                                                                    sent.message_id))

    async def job_failed(self, job: Job, text: str) -> None:
        await self._drop_status(job)
        ids = parse_ref(job.status_ref) if job.status_ref else None
        if ids is not None and _fits_caption(text):
            try:
                await with_retry(self.bot.edit_message_caption, chat_id=ids[0],
                                 message_id=ids[1], caption=text)
                return
            except BadRequest as exc:
                if not_modified(exc):
                    return
                log.info("job %d: status message not editable (%s); replying", job.id, exc)
        await with_retry(self.bot.send_message, int(job.chat_id), text,
                         reply_parameters=self._reply_to(job))
