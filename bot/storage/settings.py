"""The ``chat_settings`` and ``user_settings`` tables: what a chat or a user has chosen.

A row holds only what was set; ``None`` means "not set" (the caller falls back to the
config's default). Writes merge into the current row.
"""

from __future__ import annotations

from dataclasses import fields

from bot.models import ChatSettings, UserSettings
from bot.storage.db import Database


class SettingsTables(Database):
    async def chat_settings(self, platform: str, chat_id: str) -> ChatSettings:
        row = await self._one(
            "SELECT style, lang, safety FROM chat_settings WHERE platform=? AND chat_id=?",
            (platform, chat_id),
        )
        return ChatSettings(row["style"], row["lang"], row["safety"]) if row else ChatSettings()

    async def set_chat(self, platform: str, chat_id: str, **values: object) -> None:
        _known(ChatSettings, values)
        current = await self.chat_settings(platform, chat_id)
        merged = {f.name: getattr(current, f.name) for f in fields(ChatSettings)} | values
        await self._exec(
            "INSERT OR REPLACE INTO chat_settings (platform, chat_id, style, lang, safety) "
            "VALUES (?, ?, ?, ?, ?)",
            (platform, chat_id, merged["style"], merged["lang"], merged["safety"]),
        )

    async def user_settings(self, platform: str, chat_id: str, user_id: str) -> UserSettings:
        row = await self._one(
            "SELECT seed, cfg, steps, negative, lang, raw FROM user_settings "
            "WHERE platform=? AND chat_id=? AND user_id=?",
            (platform, chat_id, user_id),
        )
        if row is None:
            return UserSettings()
        return UserSettings(row["seed"], row["cfg"], row["steps"], row["negative"], row["lang"],
                            bool(row["raw"]))

    async def set_user(self, platform: str, chat_id: str, user_id: str, **values: object) -> None:
        _known(UserSettings, values)
        current = await self.user_settings(platform, chat_id, user_id)
        merged = {f.name: getattr(current, f.name) for f in fields(UserSettings)} | values
        await self._exec(
            "INSERT OR REPLACE INTO user_settings "
            "(platform, chat_id, user_id, seed, cfg, steps, negative, lang, raw) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (platform, chat_id, user_id, merged["seed"], merged["cfg"], merged["steps"],
             merged["negative"], merged["lang"], int(merged["raw"])),
        )


def _known(kind: type, values: dict[str, object]) -> None:
    """A key that is not a column of ``kind`` is a bug, not a setting to drop silently."""
    unknown = set(values) - {f.name for f in fields(kind)}
    if unknown:
        raise KeyError(f"unknown {kind.__name__} key(s): {', '.join(sorted(unknown))}")
