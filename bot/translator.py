"""The translation hook on the prompt path: prompt as written → English for the model.

Runs in the bot process and never blocks the event loop (CPU work goes to a thread).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Translation:
    text: str  # English for the model
    source_lang: str  # "id" | "en" | "mixed" | "none"
    provider: str  # "none" | "offline" | "cache" | provider name


class Translator:
    """Detects the prompt's language and translates Indonesian to English offline."""

    def __init__(self) -> None:
        self._offline = None

    def _translate_sync(self, text: str) -> Translation:
        try:
            from bot.translation import OfflineTranslator, detect_language
        except ImportError:  # the translation package is optional for the core
            return Translation(text, "none", "none")
        lang = detect_language(text).lang
        if lang in ("en", "none"):
            return Translation(text, lang, "none")
        if self._offline is None:
            self._offline = OfflineTranslator()
        english = self._offline.translate(text)
        return Translation(english, lang, "offline" if english != text else "none")

    async def to_english(self, text: str, *, raw: bool = False) -> Translation:
        if raw:
            return Translation(text, "none", "none")
        return await asyncio.to_thread(self._translate_sync, text)
