"""The picture a Telegram message brings: a photo (or an image file) sent with the command as
its caption, or the one the command replies to (a user's, or one of the bot's own). It is
downloaded only when a command asks for it (``Incoming.fetch_picture``), through ``getFile``
and the file URL, with the size cap and the timeout of ``[limits]``; what it becomes is
decided in bot/pictures.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Bot, Message
from telegram.error import TelegramError

from bot.config import LimitsSection
from bot.errors import UserError

log = logging.getLogger("pelukis.telegram")


@dataclass(frozen=True, slots=True)
class FileRef:
    file_id: str
    size: int  # what Telegram says (0 = unknown)


def picture_of(message: Message | None) -> FileRef | None:
    """The largest size of the message's photo, or its image file; None without one."""
    if message is None:
        return None
    if message.photo:
        best = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        return FileRef(best.file_id, best.file_size or 0)
    doc = message.document
    if doc is not None and (doc.mime_type or "").startswith("image/"):
        return FileRef(doc.file_id, doc.file_size or 0)
    sticker = message.sticker
    if sticker is not None and not (sticker.is_animated or sticker.is_video):
        return FileRef(sticker.file_id, sticker.file_size or 0)  # a still WebP
    if sticker is not None or message.animation is not None:
        return FileRef("", 0)  # a picture that moves: answered as animated
    return None


def fetcher(bot: Bot, message: Message, limits: LimitsSection
            ) -> Callable[[], Awaitable[bytes]] | None:
    """What ``Incoming.fetch_picture`` calls for this message: its own picture, else the
    replied-to message's; None when neither has one."""
    ref = picture_of(message) or picture_of(message.reply_to_message)
    if ref is None:
        return None

    async def fetch() -> bytes:
        return await download(bot, ref, limits)

    return fetch


async def download(bot: Bot, ref: FileRef, limits: LimitsSection) -> bytes:
    """The file's bytes; UserError ``picture_too_big`` over the cap (before downloading when
    Telegram says the size), ``picture_animated`` for stickers and animations, and
    ``picture_unavailable`` when Telegram will not hand it over in time."""
    if not ref.file_id:
        raise UserError("picture_animated")
    cap = int(limits.picture_max_mb * 2**20)

    def too_big(size: int) -> UserError:
        return UserError("picture_too_big", size=f"{size / 2**20:.1f}",
                         limit=f"{limits.picture_max_mb:g}")

    if ref.size > cap:
        raise too_big(ref.size)
    try:
        async with asyncio.timeout(limits.picture_download_timeout_s):
            file = await bot.get_file(ref.file_id)
            if (file.file_size or 0) > cap:
                raise too_big(file.file_size)
            data = bytes(await file.download_as_bytearray())
    except TimeoutError:
        log.warning("picture %s: download timed out", ref.file_id)
        raise UserError("picture_unavailable") from None
    except TelegramError as exc:
        log.warning("picture %s: Telegram would not hand it over: %s", ref.file_id, exc)
        raise UserError("picture_unavailable") from None
    if len(data) > cap:
        raise too_big(len(data))
    return data


__all__ = ["FileRef", "download", "fetcher", "picture_of"]
