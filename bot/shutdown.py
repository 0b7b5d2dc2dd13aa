"""Graceful shutdown (SIGTERM): lose nothing, and be gone within ``[bot] shutdown_timeout_s``.

1. The dispatcher takes no new batch (``Dispatcher.stop``); jobs still queued stay in SQLite
   and run after the next start.
2. The batch being painted finishes, and its pictures are stored and sent. Past half the
   timeout it is aborted instead: its jobs go back to the queue (``requeue``) and run again
   after the next start.
3. Every delivery in flight is flushed while the front ends are still connected.

Whatever is still running at the deadline is left to the next start, which puts ``running``
jobs back in the queue and sends ended ones not yet delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from bot.models import JobState

if TYPE_CHECKING:
    from bot.jobs.dispatcher import Dispatcher
    from bot.storage import Store

log = logging.getLogger("pelukis.shutdown")


async def drain(dispatcher: Dispatcher, store: Store, loop_task: asyncio.Task | None,
                timeout: float) -> None:
    """Steps 1–3 above; returns by ``timeout`` seconds, whatever is left."""
    clock = asyncio.get_running_loop().time
    deadline = clock() + timeout
    # stop() ends the loop after its batch, flushes deliveries and closes the engine, which
    # finishes the batch it holds before it reads the shutdown
    stopping = asyncio.create_task(dispatcher.stop(), name="dispatcher-stop")
    if loop_task is not None and not loop_task.done():
        await asyncio.wait({loop_task}, timeout=timeout / 2)
        if not loop_task.done():
            running = [job.id for job in await store.jobs_in(JobState.RUNNING)]
            log.warning("shutdown: batch %s still painting after %g s: aborted, back in the "
                        "queue for the next start", running, timeout / 2)
            client = dispatcher.client
            if client is not None and running:
                await client.abort(running)
            await asyncio.wait({loop_task}, timeout=max(0.0, deadline - clock()))
    # the pictures of the batch that just ended went to delivery after stop() had flushed
    try:
        await asyncio.wait_for(dispatcher.drain(), max(0.1, deadline - clock()))
    except TimeoutError:
        log.warning("shutdown: pictures still being sent after %g s: they are sent after "
                    "the next start", timeout)
    try:
        await asyncio.wait_for(asyncio.shield(stopping), max(0.1, deadline - clock()))
    except TimeoutError:  # the engine did not exit in time: it is stopped now
        log.warning("shutdown: the engine had not exited after %g s: stopped", timeout)
        stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await stopping
        if dispatcher.client is not None:
            await dispatcher.client.close(timeout=1.0)
