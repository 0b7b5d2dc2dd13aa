"""Scheduled upkeep (APScheduler, in the bot's event loop).

- cleanup: images older than ``[storage] retention_days`` are deleted (their rows stay; a
  button for such an image answers that it is gone), and the input pictures (``inputs/``)
  that only such old jobs used;
- checkpoint: the WAL is checkpointed every ``checkpoint_every_h``, VACUUM once a day;
- watchdog: a job left ``running`` for longer than ``stuck_after_s`` that the dispatcher is
  not running goes back to the queue.
Per-hour quotas need no reset: they count the last hour's rows (``Store.count_recent``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import Config
from bot.jobs.dispatcher import Dispatcher
from bot.storage import Store

log = logging.getLogger("pelukis.maintenance")


async def cleanup_images(config: Config, store: Store) -> int:
    days = config.storage.retention_days
    if days <= 0:
        return 0
    cutoff = time.time() - days * 86400
    paths = await store.image_paths_before(cutoff) + await store.input_paths_before(cutoff)
    removed = await asyncio.to_thread(_unlink_all, paths)
    if removed:
        log.info("maintenance: removed %d image(s) older than %g days", removed, days)
    return removed


def _unlink_all(paths: list[str]) -> int:
    removed = 0
    for path in paths:
        try:
            Path(path).unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("maintenance: cannot remove %s: %s", path, exc)
    return removed


async def checkpoint(store: Store, vacuum: bool = False) -> None:
    await store.checkpoint(vacuum=vacuum)
    log.info("maintenance: database %s", "vacuumed" if vacuum else "checkpointed")


async def watchdog(config: Config, store: Store, dispatcher: Dispatcher) -> int:
    """Requeue jobs stuck in 'running' that no batch in flight holds."""
    cutoff = time.time() - config.maintenance.stuck_after_s
    stuck = [j.id for j in await store.running_started_before(cutoff)
             if not dispatcher.is_running(j.id)]
    if stuck:
        await store.requeue(stuck, detail="requeued by the watchdog")
        dispatcher.wake()
        log.warning("maintenance: %d job(s) stuck in 'running' went back to the queue: %s",
                    len(stuck), stuck)
    return len(stuck)


def start_maintenance(config: Config, store: Store,
                      dispatcher: Dispatcher) -> AsyncIOScheduler | None:
    cfg = config.maintenance
    if not cfg.enabled:
        return None
    scheduler = AsyncIOScheduler()
    scheduler.add_job(cleanup_images, "interval", hours=cfg.cleanup_every_h,
                      args=[config, store],
                      id="cleanup", coalesce=True, max_instances=1)
    scheduler.add_job(checkpoint, "interval", hours=cfg.checkpoint_every_h, args=[store],
                      id="checkpoint", coalesce=True, max_instances=1)
    scheduler.add_job(checkpoint, "interval", days=1, args=[store, True], id="vacuum",
                      coalesce=True, max_instances=1)
    scheduler.add_job(watchdog, "interval", seconds=cfg.watchdog_every_s,
                      args=[config, store, dispatcher],
                      id="watchdog", coalesce=True, max_instances=1)
    scheduler.start()
    return scheduler
