"""A slash command's attachment option → ``Incoming.fetch_picture``: the file is downloaded
from its URL only when the command asks, with the size cap and timeout of ``[limits]``
(what it becomes is decided in bot/pictures.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import discord

from bot.config import LimitsSection
from bot.errors import UserError

log = logging.getLogger("pelukis.discord")


def attachment_fetcher(attachment: discord.Attachment, limits: LimitsSection
                       ) -> Callable[[], Awaitable[bytes]]:
    async def fetch() -> bytes:
        return await download(attachment.url, attachment.size or 0, limits)

    return fetch


async def download(url: str, size: int, limits: LimitsSection) -> bytes:
    """The file's bytes; UserError ``picture_too_big`` over the cap (before downloading when
    Discord says the size; the download stops past it), ``picture_unavailable`` when it
    cannot be had in time."""
    cap = int(limits.picture_max_mb * 2**20)

    def too_big(n: int) -> UserError:
        return UserError("picture_too_big", size=f"{n / 2**20:.1f}",
                         limit=f"{limits.picture_max_mb:g}")

    if size > cap:
        raise too_big(size)
    timeout = aiohttp.ClientTimeout(total=limits.picture_download_timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as r:
            r.raise_for_status()
            chunks, n = [], 0
            async for chunk in r.content.iter_chunked(64 * 1024):
                n += len(chunk)
                if n > cap:  # stop at the cap, whatever the headers said
                    raise too_big(n)
                chunks.append(chunk)
            data = b"".join(chunks)
    except (TimeoutError, aiohttp.ClientError) as exc:
        log.warning("attachment %s: not downloaded: %s", url, exc or type(exc).__name__)
        raise UserError("picture_unavailable") from None
    except asyncio.CancelledError:
        raise
    if len(data) > cap:
        raise too_big(len(data))
    return data


__all__ = ["attachment_fetcher", "download"]
