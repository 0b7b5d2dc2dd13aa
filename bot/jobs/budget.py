"""A chat's message budget: what the platform lets the bot send there, and what is left.

Telegram lets a bot send about 20 messages a minute into one group (python-telegram-bot's
``AIORateLimiter`` paces every call with a ``chat_id`` there, edits and chat actions
included); Discord about 5 a channel in 5 seconds. ``Budget`` mirrors that limit per chat
as the same leaky bucket, fed by every call the front end lets in, so the status board can
ask *before* it spends a call whether the call would delay a picture.

``spare`` is the rule the board lives by. The chat's pending pictures each need one call.
Painting yields ``paint_rate`` pictures a second and the bucket refills at ``rate.per_s``;
when painting is faster, the pictures eat into the burst, and all of them go out the moment
they are painted only while ``free >= pending · (1 − per_s / paint_rate)``. What is above
that line is spare: a status call there costs no picture any time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    """A chat's limit: ``burst`` calls at once, refilling at ``per_s`` a second."""

    burst: int
    per_s: float


@dataclass(slots=True)
class _Bucket:
    level: float = 0.0  # calls let in and not leaked yet (above ``burst``: they wait)
    at: float = 0.0


class Budget:
    """One platform's per-chat limits, mirrored. ``rate_for(chat)`` is None for a chat
    the platform does not limit per chat (a private chat, the console)."""

    def __init__(self, rate_for: Callable[[str], Rate | None],
                 clock: Callable[[], float] = time.monotonic):
        self.rate_for = rate_for
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def limited(self, chat: str) -> bool:
        return self.rate_for(chat) is not None

    def _drain(self, chat: str, rate: Rate) -> _Bucket:
        bucket = self._buckets.setdefault(chat, _Bucket(at=self.clock()))
        now = self.clock()
        bucket.level = max(0.0, bucket.level - (now - bucket.at) * rate.per_s)
        bucket.at = now
        return bucket

    def spend(self, chat: str | int, calls: int = 1) -> None:
        """``calls`` to ``chat`` went into the platform's limiter."""
        chat = str(chat)
        rate = self.rate_for(chat)
        if rate is not None:
            self._drain(chat, rate).level += calls
            if len(self._buckets) > 4096:  # forget chats whose bucket is empty again
                for key in [k for k, b in self._buckets.items() if b.level <= 0 and k != chat]:
                    del self._buckets[key]

    def free(self, chat: str) -> float:
        """Calls that would go out now without waiting (negative: a backlog waits)."""
        rate = self.rate_for(chat)
        if rate is None:
            return float("inf")
        return rate.burst - self._drain(chat, rate).level

    def spare(self, chat: str, pending: int, paint_rate: float | None) -> float:
        """Calls left for status in ``chat`` once its ``pending`` pictures are provided
        for, painted at ``paint_rate`` a second (None: not known yet, assume fast)."""
        rate = self.rate_for(chat)
        if rate is None:
            return float("inf")
        share = 1.0 if not paint_rate else max(0.0, 1.0 - rate.per_s / paint_rate)
        return self.free(chat) - pending * share
