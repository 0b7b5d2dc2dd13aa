"""The ``translations`` table: prompts translated before (normalised text → English, and
the provider that made it), so that a repeated prompt costs no provider call."""

from __future__ import annotations

import time

from bot.storage.db import Database


class TranslationsTable(Database):
    async def cached_translation(self, source: str) -> tuple[str, str] | None:
        """(english, provider) for ``source``, or None when it was never translated."""
        row = await self._one("SELECT english, provider FROM translations WHERE source=?",
                              (source,))
        return (row["english"], row["provider"]) if row else None

    async def cache_translation(self, source: str, english: str, provider: str) -> None:
        await self._exec(
            "INSERT OR REPLACE INTO translations (source, english, provider, created_at) "
            "VALUES (?, ?, ?, ?)",
            (source, english, provider, time.time()),
        )
