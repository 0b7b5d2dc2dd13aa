"""How a job's status message looks on Telegram (``bot.frontends.base.FrontEnd``); its
life (throttle, ref, order) is ``bot/jobs/status.py``'s.

A queued job's status message is a photo from the start (a grey placeholder whose caption is
the status); the finished image replaces it with ``editMessageMedia``. An edit is idempotent,
so delivering a job again after a crash (sent, not yet recorded) shows nothing twice.

Telegram limits edits (about one a second per chat, 20 messages a minute in a group), so a
status message is edited at most once per ``edit_interval_s`` (3 s in groups); progress
moves in steps (10% in private chats, 25% in groups). In a group every call is also spent
from the chat's budget (``limiter.py``), which the status board decides by: a busy group's
requests share one text status message and each picture is sent as a reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import time
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

from bot.frontends.base import Button, Note, Picture
from bot.frontends.telegram.render import caption_html, fits_caption
from bot.i18n import t
from bot.jobs.budget import Budget
from bot.jobs.status import parse_ref, ref
from bot.models import Job

log = logging.getLogger("pelukis.telegram")

PLATFORM = "telegram"
ACTION_EVERY_S = 4.0  # a chat action shows for 5 s
PLACEHOLDER_SIZE = 320
# what Telegram takes as a photo (sendPhoto): 10 MB, width + height at most 10,000, a side
# at most 20 times the other; a bigger picture (an upscale) goes out as a document
PHOTO_MAX_BYTES = 10 * 2**20
PHOTO_MAX_SIDES = 10_000
PHOTO_MAX_RATIO = 20


def fits_photo(size: int, width: int, height: int) -> bool:
    return (size <= PHOTO_MAX_BYTES and width + height <= PHOTO_MAX_SIDES
            and max(width, height) <= PHOTO_MAX_RATIO * min(width, height))


@functools.cache
def placeholder_png() -> bytes:
    """The picture a status message shows until the painting replaces it (made once)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (PLACEHOLDER_SIZE, PLACEHOLDER_SIZE), (214, 214, 218)).save(
        buf, format="PNG", optimize=True)
    return buf.getvalue()


async def send_status_photo(bot: Bot, chat_id: int, text: str, *, reply_to: int | None,
                            reply_markup: InlineKeyboardMarkup | None = None) -> Message:
    """A job's status message: the placeholder photo, the status as its caption."""
    reply = ReplyParameters(reply_to, allow_sending_without_reply=True) \
        if reply_to is not None else None
    if not fits_caption(text):  # never for a status line; a text message then
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


class TelegramFrontEnd:
    """Renders job status messages for chats whose platform is ``telegram``."""

    platform = PLATFORM

    def __init__(self, bot: Bot, edit_interval_s: float = 1.5, *,
                 budget: Budget | None = None, settle_s: float = 1.0,
                 shared_interval_s: float = 10.0):
        self.bot = bot
        self.interval = edit_interval_s
        self.budget = budget  # None: a status message per job, every edit sent
        self.settle_s = settle_s
        self.shared_interval_s = shared_interval_s
        self._last_action: dict[int, float] = {}

    @staticmethod
    def _group(status_ref: str) -> bool:
        ids = parse_ref(status_ref)
        return ids is not None and ids[0] < 0

    def edit_interval(self, status_ref: str) -> float:
        return max(self.interval, 3.0) if self._group(status_ref) else self.interval

    def progress_step(self, status_ref: str) -> int:
        return 25 if self._group(status_ref) else 10

    def progress_text(self, lang: str, percent: int) -> str:
        return t(lang, "progress", percent=percent)

    async def open_status(self, job: Job, text: str) -> str:
        reply_to = int(job.reply_to) if job.reply_to.isdigit() else None
        sent = await send_status_photo(self.bot, int(job.chat_id), text, reply_to=reply_to)
        return ref(sent.chat_id, sent.message_id)

    async def send_shared(self, chat_id: str, text: str) -> str:
        sent = await with_retry(self.bot.send_message, int(chat_id), text)
        return ref(sent.chat_id, sent.message_id)

    async def edit_shared(self, status_ref: str, text: str) -> None:
        ids = parse_ref(status_ref)
        if ids is None:
            return
        try:
            await with_retry(self.bot.edit_message_text, text, chat_id=ids[0],
                             message_id=ids[1])
        except BadRequest as exc:
            if not not_modified(exc):
                raise

    async def delete_status(self, status_ref: str) -> None:
        ids = parse_ref(status_ref)
        if ids is None:
            return
        try:
            await with_retry(self.bot.delete_message, ids[0], ids[1])
        except BadRequest as exc:  # already gone; or too old to delete: say it is over
            if "not found" in str(exc).lower():
                return
            log.info("status message %s not deletable (%s); marking it ended", status_ref, exc)
            with contextlib.suppress(BadRequest):
                await with_retry(self.bot.edit_message_caption, chat_id=ids[0],
                                 message_id=ids[1], caption="—")

    async def edit_status(self, status_ref: str, text: str) -> None:
        ids = parse_ref(status_ref)
        if ids is None:
            return
        try:
            await with_retry(self.bot.edit_message_caption, chat_id=ids[0],
                             message_id=ids[1], caption=text)
        except BadRequest as exc:  # "message is not modified", or it was deleted
            log.debug("status edit skipped: %s", exc)

    def on_progress(self, job: Job, step: int, total: int) -> None:
        chat = int(job.chat_id) if job.chat_id.lstrip("-").isdigit() else None
        now = time.monotonic()
        if chat is not None and now - self._last_action.get(chat, 0.0) >= ACTION_EVERY_S:
            self._last_action[chat] = now
            asyncio.get_running_loop().create_task(self._action(chat))

    async def _action(self, chat_id: int) -> None:
        with contextlib.suppress(Exception):
            await self.bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO)

    # -- the end of a job ---------------------------------------------------------------
    def _reply_to(self, job: Job) -> ReplyParameters | None:
        if not job.reply_to.isdigit():
            return None
        return ReplyParameters(int(job.reply_to), allow_sending_without_reply=True)

    async def finish(self, job: Job, status_ref: str, outcome: Picture | Note) -> str:
        if isinstance(outcome, Picture):
            return await self._picture(job, status_ref, outcome)
        return await self._note(job, status_ref, outcome.text)

    async def _picture(self, job: Job, status_ref: str, picture: Picture) -> str:
        """The status message becomes the picture; sending it again edits it again."""
        png = await asyncio.to_thread(Path(picture.result.image_path).read_bytes)
        markup = keyboard(picture.buttons)
        html = caption_html(picture.caption)
        ids = parse_ref(status_ref)
        if not fits_photo(len(png), picture.result.width, picture.result.height):
            return await self._document(job, status_ref, png, html, markup)
        if ids is not None:
            media = InputMediaPhoto(png, caption=html, parse_mode=ParseMode.HTML)
            try:
                await with_retry(self.bot.edit_message_media, media=media, chat_id=ids[0],
                                 message_id=ids[1], reply_markup=markup)
                return status_ref
            except BadRequest as exc:
                if not_modified(exc):  # already shown (a delivery after a crash)
                    return status_ref
                log.info("job %d: status message not editable (%s); sending the photo",
                         job.id, exc)
        sent = await with_retry(
            self.bot.send_photo, int(job.chat_id), png, caption=html,
            parse_mode=ParseMode.HTML, reply_parameters=self._reply_to(job),
            reply_markup=markup,
        )
        return ref(sent.chat_id, sent.message_id)

    async def _document(self, job: Job, status_ref: str, png: bytes, html: str,
                        markup: InlineKeyboardMarkup | None) -> str:
        """A picture too big for a photo: sent as a PNG document (a reply to the request),
        and the status placeholder removed."""
        sent = await with_retry(
            self.bot.send_document, int(job.chat_id), png,
            filename=f"pelukis-{job.id}-{job.seed}.png", caption=html,
            parse_mode=ParseMode.HTML, reply_parameters=self._reply_to(job),
            reply_markup=markup)
        ids = parse_ref(status_ref)
        if ids is not None and (ids[0], ids[1]) != (sent.chat_id, sent.message_id):
            with contextlib.suppress(BadRequest, Forbidden):
                await with_retry(self.bot.delete_message, ids[0], ids[1])
        return ref(sent.chat_id, sent.message_id)

    async def _note(self, job: Job, status_ref: str, text: str) -> str:
        ids = parse_ref(status_ref)
        if ids is not None and fits_caption(text):
            try:
                await with_retry(self.bot.edit_message_caption, chat_id=ids[0],
                                 message_id=ids[1], caption=text)
                return status_ref
            except BadRequest as exc:
                if not_modified(exc):
                    return status_ref
                log.info("job %d: status message not editable (%s); replying", job.id, exc)
        sent = await with_retry(self.bot.send_message, int(job.chat_id), text,
                                reply_parameters=self._reply_to(job))
        return ref(sent.chat_id, sent.message_id)
