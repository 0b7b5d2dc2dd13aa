"""Wires the bot process together: storage, styles, translator, commands, status board,
dispatcher, maintenance. Wiring only: no behaviour lives here."""

from __future__ import annotations

import asyncio
import logging

from bot.commands.registry import Commands
from bot.config import Config
from bot.frontends.base import FrontEnd
from bot.jobs.dispatcher import ClientFactory, Dispatcher
from bot.jobs.status import StatusBoard
from bot.maintenance import start_maintenance
from bot.storage import Store
from bot.translation.chain import Translator
from engine.client import EngineClient
from engine.styles import StyleRegistry


class App:
    """Everything one bot process runs; front ends plug in with ``add_frontend``."""

    def __init__(self, config: Config, store: Store, styles: StyleRegistry,
                 board: StatusBoard, dispatcher: Dispatcher, commands: Commands):
        self.config = config
        self.store = store
        self.styles = styles
        self.board = board
        self.dispatcher = dispatcher
        self.commands = commands
        self._task: asyncio.Task | None = None
        self._scheduler = None  # maintenance (apscheduler), once started

    @classmethod
    async def open(cls, config: Config, client_factory: ClientFactory | None = None) -> App:
        styles = StyleRegistry.load(config.path(config.engine.adapters))
        store = await Store.open(config.path(config.storage.database),
                                 config.path(config.storage.images))
        settings = config.engine_settings()
        board = StatusBoard(store)
        dispatcher = Dispatcher(config, store, styles, board,
                                client_factory or (lambda: EngineClient(settings)))
        translator = Translator(config.translation, store)
        commands = Commands(config, store, styles, translator, wake=dispatcher.wake,
                            native_size=dispatcher.native_size, abort=dispatcher.abort_jobs)
        return cls(config, store, styles, board, dispatcher, commands)

    def add_frontend(self, frontend: FrontEnd) -> None:
        self.board.add_frontend(frontend)

    def start(self) -> None:
        self._task = asyncio.create_task(self.dispatcher.run(), name="dispatcher")
        self._task.add_done_callback(self._crashed)
        self._scheduler = start_maintenance(self.config, self.store, self.dispatcher)

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
        self.commands.translator.close()
        await self.store.close()
