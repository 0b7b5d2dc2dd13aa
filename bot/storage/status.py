"""The ``chat_status`` table: the shared status message of each busy chat (one a chat)."""

from __future__ import annotations

import time

from bot.storage.db import Database


class ChatStatusTable(Database):
    async def shared_statuses(self, platform: str) -> dict[str, tuple[str, str]]:
        """chat id → (ref, language) of every shared status message of ``platform``."""
        rows = await self._all("SELECT chat_id, ref, lang FROM chat_status WHERE platform=?",
                               (platform,))
        return {row[0]: (row[1], row[2]) for row in rows}

    async def set_shared_status(self, platform: str, chat_id: str, ref: str,
                                lang: str) -> None:
        await self._exec(
            "INSERT OR REPLACE INTO chat_status (platform, chat_id, ref, lang, created_at) "
            "VALUES (?, ?, ?, ?, ?)", (platform, chat_id, ref, lang, time.time()))

    async def clear_shared_status(self, platform: str, chat_id: str, ref: str) -> None:
        await self._exec("DELETE FROM chat_status WHERE platform=? AND chat_id=? AND ref=?",
                         (platform, chat_id, ref))
