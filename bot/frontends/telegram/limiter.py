"""python-telegram-bot's own ``AIORateLimiter``, telling the chat's budget of every call.

The limiter paces calls to Telegram's flood limits (30 a second in all, 20 a minute into a
group); ``Budget`` (``bot/jobs/budget.py``) mirrors the same per-group bucket so the status
board can see, before it spends a call, whether a picture would wait behind it. Every call
with a ``chat_id`` is counted as it enters, whoever makes it (handlers, status, pictures,
chat actions), so the mirror is the limiter's own queue.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import AIORateLimiter

from bot.jobs.budget import Budget, Rate


def group_rate(per_min: int) -> Rate:
    return Rate(burst=per_min, per_s=per_min / 60)


def rate_for(per_min: int):
    """Telegram limits groups and channels (negative ids) per chat; private chats only by
    the bot's overall rate."""
    group = group_rate(per_min)

    def rate(chat: str) -> Rate | None:
        return group if chat.startswith("-") else None

    return rate


class CountingRateLimiter(AIORateLimiter):
    """``AIORateLimiter`` with the group limit from config (never above Telegram's), or
    not pacing at all (``pace=False``: tests against a local server), counting either way."""

    def __init__(self, budget: Budget, *, group_per_min: int, pace: bool = True,
                 max_retries: int = 3):
        if pace:
            super().__init__(group_max_rate=group_per_min, group_time_period=60,
                             max_retries=max_retries)
        else:
            super().__init__(overall_max_rate=0, group_max_rate=0, max_retries=max_retries)
        self.budget = budget

    async def process_request(self, callback, args: Any, kwargs: dict[str, Any], endpoint: str,
                              data: dict[str, Any], rate_limit_args: int | None):
        chat = data.get("chat_id")
        if chat is not None:
            self.budget.spend(str(chat))
        return await super().process_request(callback, args, kwargs, endpoint, data,
                                             rate_limit_args)
