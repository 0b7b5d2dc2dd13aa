"""Styles that reach the chat without a restart: ``/style reload`` and the adapters watch.

The engine rescans the adapters folder and loads what changed (RELOAD_STYLES, answered
between batches); the bot's ``StyleRegistry`` — the one object every command, the Discord
autocomplete and the captions read — is refreshed from the same folder at the same time,
so ``/style`` lists a new style at once. The watch polls file mtimes every
``[engine] adapters_poll_s`` seconds and reloads once a change has held still for one poll
(a copy in progress is not picked up half-written). Folder reads run in a thread, never on
the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from bot.config import Config
from bot.jobs.dispatcher import Dispatcher
from engine.errors import EngineError
from engine.styles import StyleError, StyleRegistry, folder_snapshot, scan

log = logging.getLogger("pelukis.styles")


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What a reload changed. ``failures``: styles whose LoRA did not load (name → reason),
    ``problems``: style folders left out (folder → reason), ``engine``: whether the engine
    took part (when it is not running it loads the folder as it is when it starts)."""

    styles: list[str]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    engine: bool = False
    error: str = ""


class StyleReloader:
    def __init__(self, config: Config, styles: StyleRegistry, dispatcher: Dispatcher):
        self.config = config
        self.styles = styles
        self.dispatcher = dispatcher
        self.root = config.path(config.engine.adapters)
        self._lock = asyncio.Lock()  # one reload at a time

    async def reload(self) -> ReloadOutcome:
        """Rescan the adapters folder in the engine and here; the bot's list follows."""
        async with self._lock:
            before = {s.name: s for s in self.styles}
            client = self.dispatcher.client
            answer = None
            if client is not None and client.alive and client.info is not None:
                try:
                    answer = await client.reload_styles()
                except EngineError as exc:  # died meanwhile: it loads the folder at restart
                    log.warning("styles not reloaded in the engine: %s", exc.message)
            test_model = self.dispatcher.test_model
            try:
                styles, problems = await asyncio.to_thread(scan, self.root, test_model)
            except StyleError as exc:
                log.warning("styles not reloaded: %s", exc)
                return ReloadOutcome(self.styles.names(), error=str(exc))
            if answer is not None:
                # the engine's list wins: a folder it kept (its manifest being rewritten) is
                # kept here too; one that appeared after its scan waits for the next reload
                scanned = {s.name: s for s in styles}
                styles = [scanned.get(n) or before[n] for n in answer.styles
                          if n in scanned or n in before]
            self.styles.replace(styles, problems)
            if answer is not None:
                self.styles.set_notes(answer.failures, answer.lora_styles)
            after = {s.name: s for s in self.styles}
            outcome = ReloadOutcome(
                styles=self.styles.names(),
                added=sorted(after.keys() - before.keys()),
                removed=sorted(before.keys() - after.keys()),
                changed=sorted(set(answer.changed) if answer is not None else
                               {n for n in after.keys() & before.keys() if after[n] != before[n]}),
                failures=dict(answer.failures) if answer is not None else {},
                problems=dict(problems),
                engine=answer is not None,
                error=answer.error if answer is not None else "",
            )
            log.info("styles reloaded: %s; added %s, removed %s, changed %s%s",
                     outcome.styles, outcome.added, outcome.removed, outcome.changed,
                     "" if outcome.engine else " (engine not running: loads them at start)")
            return outcome

    async def watch(self) -> None:
        """Poll the adapters folder; reload once a change has held still for one poll."""
        interval = self.config.engine.adapters_poll_s
        if interval <= 0:
            return
        loaded = await asyncio.to_thread(folder_snapshot, self.root)
        settling: dict | None = None
        while True:
            await asyncio.sleep(interval)
            try:
                now = await asyncio.to_thread(folder_snapshot, self.root)
                if now == loaded:
                    settling = None
                    continue
                if now != settling:  # still changing (or just changed): look again
                    settling = now
                    continue
                log.info("adapters folder changed: reloading styles")
                outcome = await self.reload()
                settling = None
                # an engine between starts missed it: look again at the next poll
                if outcome.engine or self.dispatcher.broken is not None:
                    loaded = now
            except Exception:  # the watch never dies of one bad pass
                log.exception("watching the adapters folder failed; trying again")
