"""Flood limits from ``[limits]``: per user (waiting, per hour), per chat, in all."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable

from bot.config import LimitsSection
from bot.errors import UserError
from bot.models import Incoming
from bot.storage import Store


async def check_quota(limits: LimitsSection, store: Store, msg: Incoming,
                      is_moderator: Callable[[], Awaitable[bool]]) -> None:
    """Raise ``UserError`` when ``msg``'s user may not queue another job now.

    The chat and global caps hold for everyone. The per-user limits spare a group's
    moderators (``moderators_exempt``); whether this user is one is asked only when a
    per-user limit is reached, so a busy group costs no extra platform calls."""
    if await store.count_waiting_in() >= limits.max_queue:
        raise UserError("queue_busy")
    if await store.count_waiting_in(msg.platform, msg.chat_id) >= limits.max_queued_per_chat:
        raise UserError("chat_busy")
    refusal = await _per_user(limits, store, msg)
    if refusal is None:
        return
    if limits.moderators_exempt and not msg.private and await is_moderator():
        return
    raise refusal


async def _per_user(limits: LimitsSection, store: Store, msg: Incoming) -> UserError | None:
    waiting = await store.count_waiting(msg.platform, msg.user_id)
    if waiting >= limits.max_queued_per_user:
        return UserError("queue_full", count=waiting, limit=limits.max_queued_per_user)
    hour_ago = time.time() - 3600
    if await store.count_recent(msg.platform, msg.user_id, hour_ago) >= limits.max_jobs_per_hour:
        oldest = await store.oldest_since(msg.platform, msg.user_id, hour_ago)
        minutes = max(1, math.ceil((oldest + 3600 - time.time()) / 60))
        return UserError("hourly_limit", limit=limits.max_jobs_per_hour, minutes=minutes)
    return None
