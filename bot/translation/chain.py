"""The prompt path's translator: prompt as written → English for the model.

Order: detection (offline, Indonesian vs English) → SQLite cache → online providers from
deep-translator in the configured order, each call under its own timeout and behind a
circuit breaker → the offline lexicon translator. Text that must not be translated (quotes,
backticks, weights like ``(castle:1.3)``, numbers) is cut out and kept verbatim. Runs in the
bot process and never blocks the event loop: provider calls and offline translation run in
threads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bot import metrics
from bot.config import TranslationSection
from bot.storage import Store

from .detect import detect_language
from .offline import OfflineTranslator
from .protect import split_protected

log = logging.getLogger("pelukis.translate")


@dataclass(frozen=True, slots=True)
class Translation:
    text: str  # English for the model
    source_lang: str  # "id" | "en" | "mixed" | "none"
    provider: str  # "none" | "offline" | "cache" | provider name


def normalise(text: str) -> str:
    """The cache key: NFC, lower case, one space between words."""
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


class Breaker:
    """Skip a provider for ``cooldown`` seconds after ``failures`` failures in a row."""

    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic):
        self.failures, self.cooldown, self.clock = failures, cooldown, clock
        self._count = 0
        self._open_until = 0.0

    @property
    def open(self) -> bool:
        return self.clock() < self._open_until

    def success(self) -> None:
        self._count = 0

    def failure(self) -> None:
        self._count += 1
        if self._count >= self.failures:
            self._open_until = self.clock() + self.cooldown
            self._count = 0


def make_provider(name: str, config: TranslationSection, source: str = "id"):
    """A deep-translator instance (built lazily: the import costs ~100 ms)."""
    import deep_translator as dt

    if name == "google":
        return dt.GoogleTranslator(source=source, target="en")
    if name == "mymemory":
        return dt.MyMemoryTranslator(source="id-ID", target="en-GB")
    if name == "libre":
        url = config.libre_url if config.libre_url.endswith("/") else config.libre_url + "/"
        return dt.LibreTranslator(source=source, target="en", custom_url=url,
                                  api_key=os.environ.get("LIBRETRANSLATE_API_KEY") or "-")
    if name == "deepl":
        key = os.environ.get("DEEPL_API_KEY")
        if not key:
            raise RuntimeError("DEEPL_API_KEY is not set")
        return dt.DeeplTranslator(source=source, target="en", api_key=key,
                                  use_free_api=key.endswith(":fx"))
    raise ValueError(f"unknown translation provider {name!r}")


class Translator:
    def __init__(self, config: TranslationSection | None = None, store: Store | None = None):
        self.config = config or TranslationSection(providers=[])
        self.store = store
        self.breakers = {name: Breaker(self.config.breaker_failures,
                                       self.config.breaker_cooldown_s)
                         for name in self.config.providers}
        self._providers: dict[str, object] = {}
        # Provider calls can hang past their timeout (the thread can't be killed): keep them
        # in their own small pool so they never starve asyncio's default executor.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="translate")
        self._offline: OfflineTranslator | None = None
        # False once no provider answered: said once, and once when one answers again
        self.online = True

    # -- the chain --------------------------------------------------------------------------
    async def to_english(self, text: str, *, raw: bool = False) -> Translation:
        if raw:
            return Translation(text, "none", "none")
        # in a thread: the first call loads py3langid's model (~0.7 s)
        lang = (await asyncio.to_thread(detect_language, text)).lang
        if lang in ("en", "none"):
            return Translation(text, lang, "none")
        key = normalise(text)
        if self.store is not None:
            cached = await self.store.cached_translation(key)
            if cached is not None:
                metrics.translation("cache", "ok")
                return Translation(cached[0], lang, "cache")
        failures: list[str] = []
        for name in self.config.providers:
            english = await self._online(name, text, failures)
            if english:
                if self.store is not None:
                    await self.store.cache_translation(key, english, name)
                self._went_online(name)
                return Translation(english, lang, name)
        if failures:
            self._went_offline(failures)
        english = await asyncio.to_thread(self._translate_offline, text)
        metrics.translation("offline", "ok")
        return Translation(english, lang, "offline" if english != text else "none")

    def _went_offline(self, failures: list[str]) -> None:
        if self.online:
            self.online = False
            log.warning("translation offline (%s): prompts go to the offline translator "
                        "until a provider answers", ", ".join(failures))

    def _went_online(self, name: str) -> None:
        if not self.online:
            self.online = True
            log.warning("translation online again: %s answered", name)

    async def _online(self, name: str, text: str, failures: list[str]) -> str | None:
        """The provider's English, or None (its reason appended to ``failures``; a
        provider skipped by its breaker adds none). One line each at INFO: the chain says
        once, at WARNING, when translation as a whole goes offline."""
        breaker = self.breakers[name]
        if breaker.open:
            metrics.translation(name, "skipped")
            return None
        loop = asyncio.get_running_loop()
        try:
            english = await asyncio.wait_for(
                loop.run_in_executor(self._pool, self._translate_online, name, text),
                self.config.timeout_s,
            )
        except TimeoutError:
            log.info("translation provider %s timed out after %.1f s", name,
                     self.config.timeout_s)
            failures.append(f"{name}: timed out")
            metrics.translation(name, "timeout")
            breaker.failure()
            return None
        except Exception as exc:  # deep-translator raises many kinds; all mean "not now"
            log.info("translation provider %s failed: %s", name, type(exc).__name__)
            failures.append(f"{name}: {type(exc).__name__}")
            metrics.translation(name, "error")
            breaker.failure()
            return None
        breaker.success()
        metrics.translation(name, "ok")
        return english

    # -- blocking work, in threads ----------------------------------------------------------
    def _translate_online(self, name: str, text: str) -> str:
        provider = self._providers.get(name)
        if provider is None:
            provider = self._providers[name] = make_provider(name, self.config)
        out = []
        for seg in split_protected(text):
            if seg.protected or not any(ch.isalpha() for ch in seg.text):
                out.append(seg.text)
                continue
            lead = seg.text[: len(seg.text) - len(seg.text.lstrip())]
            trail = seg.text[len(seg.text.rstrip()):]
            english = provider.translate(seg.text.strip())
            if not isinstance(english, str) or not english.strip():
                raise ValueError("empty translation")
            out.append(lead + english.strip() + trail)
        return " ".join("".join(out).split())

    def _translate_offline(self, text: str) -> str:
        if self._offline is None:
            self._offline = OfflineTranslator()
        return self._offline.translate(text)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
