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
from bot.metrics import Endpoint, Health, serve
from bot.storage import Store
from bot.styles_reload import StyleReloader
from bot.translation.chain import Translator
from engine.backend import make_backend
from engine.styles import StyleRegistry


class App:
    """Everything one bot process runs; front ends plug in with ``add_frontend``."""

    def __init__(self, config: Config, store: Store, styles: StyleRegistry,
                 board: StatusBoard, dispatcher: Dispatcher, commands: Commands,
                 reloader: StyleReloader):
        self.config = config
        self.store = store
        self.styles = styles  # one registry, refreshed in place by the reloader
        self.board = board
        self.dispatcher = dispatcher
        self.commands = commands
        self.reloader = reloader
        self._task: asyncio.Task | None = None
        self._watch: asyncio.Task | None = None  # the adapters folder watch
        self._scheduler = None  # maintenance (apscheduler), once started
        self._endpoint: Endpoint | None = None  # [metrics] address: /metrics and /healthz
        self._beat: asyncio.Task | None = None  # the event loop's heartbeat for /healthz

    @classmethod
    async def open(cls, config: Config, client_factory: ClientFactory | None = None) -> App:
        styles = StyleRegistry.load(config.path(config.engine.adapters))
        for folder, problem in styles.problems.items():
            logging.getLogger("pelukis.styles").warning("style folder %r left out: %s",
                                                        folder, problem)
        store = await Store.open(config.path(config.storage.database),
                                 config.path(config.storage.images))
        settings = config.engine_settings()
        board = StatusBoard(store)
        dispatcher = Dispatcher(config, store, styles, board, client_factory or make_backend(
            config.engine.backend, settings, config.ray_settings()))
        translator = Translator(config.translation, store)
        reloader = StyleReloader(config, styles, dispatcher)
        commands = Commands(config, store, styles, translator, wake=dispatcher.wake,
                            native_size=dispatcher.native_size, abort=dispatcher.abort_jobs,
                            reload_styles=reloader.reload)
        commands.engine_info = dispatcher.engine_info  # extra models, for /help and --ref
        return cls(config, store, styles, board, dispatcher, commands, reloader)

    def add_frontend(self, frontend: FrontEnd) -> None:
        self.board.add_frontend(frontend)

    def start(self) -> None:
        self._task = asyncio.create_task(self.dispatcher.run(), name="dispatcher")
        self._task.add_done_callback(self._crashed)
        self._watch = asyncio.create_task(self.reloader.watch(), name="adapters-watch")
        self._scheduler = start_maintenance(self.config, self.store, self.dispatcher)
        if self.config.metrics.address:
            self._serve_metrics(self.config.metrics.address)

    @staticmethod
    def _crashed(task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            logging.getLogger("pelukis").critical("dispatcher stopped", exc_info=task.exception())

    async def close(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        if self._watch is not None:
            self._watch.cancel()
        await self.dispatcher.stop()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        if self._beat is not None:
            self._beat.cancel()
        if self._endpoint is not None:
            await asyncio.to_thread(self._endpoint.close)
        self.commands.translator.close()
        await self.store.close()

    async def drain(self, timeout: float) -> None:
        """SIGTERM: the batch in flight finishes, its pictures are sent, nothing new is
        taken; by ``timeout`` (bot/shutdown.py). ``close`` follows."""
        from bot.shutdown import drain

        await drain(self.dispatcher, self.store, self._task, timeout)

    def _serve_metrics(self, address: str) -> None:
        d = self.dispatcher
        health = Health(lambda: d.client is not None and d.client.alive and d.info is not None
                        and d.broken is None)
        try:
            self._endpoint = serve(address, self.config.path(self.config.storage.database),
                                   health)
        except OSError as exc:  # the chats still run; the operator sees why there's no scrape
            logging.getLogger("pelukis.metrics").error("metrics: cannot listen on %s: %s",
                                                       address, exc)
            return

        async def beat() -> None:
            while True:
                health.beat()
                await asyncio.sleep(1.0)

        self._beat = asyncio.create_task(beat(), name="health-beat")
