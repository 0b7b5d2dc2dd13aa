"""Wires the bot process together: storage, styles, translator, core, dispatcher."""

from __future__ import annotations

import asyncio
import logging
import os
import re

from bot.config import Config
from bot.core import Core
from bot.dispatcher import ClientFactory, Dispatcher
from bot.frontend import FrontEnd
from bot.storage import Store
from bot.translator import Translator
from engine.client import EngineClient
from engine.styles import StyleRegistry

SECRET_ENV = ("TELEGRAM_TOKEN", "DISCORD_TOKEN", "DEEPL_API_KEY")
# Telegram tokens also hide in URLs that libraries log: /bot<id>:<secret>/
_TOKEN_RE = re.compile(r"\d{6,}:[A-Za-z0-9_-]{30,}")


class RedactSecrets(logging.Filter):
    """Keeps tokens out of every log line, our own and libraries'."""

    @staticmethod
    def redact(text: str) -> str:
        clean = _TOKEN_RE.sub("[token]", text)
        for name in SECRET_ENV:
            value = os.environ.get(name)
            if value and len(value) >= 8:
                clean = clean.replace(value, f"[{name}]")
        return clean

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:  # tracebacks quote URLs and arguments too
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # httpx logs every request URL at INFO, and Telegram's URLs hold the token; the filter
    # redacts it anyway, but these lines are noise.
    logging.getLogger("httpx").setLevel(max(logging.getLevelName(level), logging.WARNING))


class App:
    """Everything one bot process runs; front ends plug in with ``add_frontend``."""

    def __init__(self, config: Config, store: Store, styles: StyleRegistry,
                 dispatcher: Dispatcher, core: Core):
        self.config = config
        self.store = store
        self.styles = styles
        self.dispatcher = dispatcher
        self.core = core
        self._task: asyncio.Task | None = None
        self._scheduler = None  # maintenance (apscheduler), once started

    @classmethod
    async def open(cls, config: Config, client_factory: ClientFactory | None = None) -> App:
        styles = StyleRegistry.load(config.path(config.engine.adapters))
        store = await Store.open(config.path(config.storage.database),
                                 config.path(config.storage.images))
        settings = config.engine_settings()
        dispatcher = Dispatcher(config, store, styles,
                                client_factory or (lambda: EngineClient(settings)))
        translator = Translator(config.translation, store)
        core = Core(config, store, styles, translator, wake=dispatcher.wake,
                    native_size=dispatcher.native_size, abort=dispatcher.abort_jobs)
        return cls(config, store, styles, dispatcher, core)

    def add_frontend(self, frontend: FrontEnd) -> None:
        self.dispatcher.add_frontend(frontend)

    def start(self) -> None:
        from bot.maintenance import start_maintenance

        self._task = asyncio.create_task(self.dispatcher.run(), name="dispatcher")
        self._task.add_done_callback(self._crashed)
        self._scheduler = start_maintenance(self)

    @staticmethod
    def _crashed(task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            logging.getLogger("pelukis").critical("dispatcher stopped", exc_info=task.exception())

    async def close(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        await self.dispatcher.stop()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        self.core.translator.close()
        await self.store.close()
