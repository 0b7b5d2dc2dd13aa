"""Keeps the engine busy: takes queued jobs in fair order, batches compatible ones
(``scheduler.py``), runs them, stores every image before it is sent, and hands each ended
job to ``delivery.py``. What users see of it goes through the status board.

SQLite is the source of truth; an ``asyncio.Event`` wakes the loop when work arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from bot import metrics
from bot.config import Config
from bot.i18n import t
from bot.jobs.delivery import Delivery
from bot.jobs.scheduler import SchedulerState, batch_request, pick_batch, size_jobs
from bot.jobs.status import StatusBoard, position_text
from bot.models import Job, JobState, Result
from bot.storage import Store
from engine import faults
from engine.backend import EngineBackend
from engine.errors import EngineError, ErrorKind
from engine.protocol import BatchRequest, ReadyInfo
from engine.styles import StyleRegistry

log = logging.getLogger("pelukis.dispatcher")

ClientFactory = Callable[[], EngineBackend]  # engine.backend.make_backend: local or ray
IDLE_POLL_S = 0.1
START_ATTEMPTS = 5  # failed starts in a row after which the engine is not started again


class Dispatcher:
    def __init__(self, config: Config, store: Store, styles: StyleRegistry,
                 board: StatusBoard, client_factory: ClientFactory):
        self.config = config
        self.store = store
        self.board = board
        self.client_factory = client_factory
        self.client: EngineBackend | None = None
        self.info: ReadyInfo | None = None
        self.delivery = Delivery(store, styles, board, lambda: self.test_model,
                                 config.limits.upscale_max_side)
        board.when_ready(self.delivery.pending)  # a platform logged in: send what waited
        self.scheduler = SchedulerState()
        self._wake = asyncio.Event()
        self._stopping = False
        self._running: set[int] = set()  # job ids of the batches in flight
        self._in_flight: set[asyncio.Task] = set()  # batches of a backend that takes several
        self.batches_run = 0
        self.styles = styles  # its LoRA notes come from the engine's READY
        self.broken: str | None = None  # why the engine cannot start; then it isn't retried
        self._failed_starts = 0  # in a row

    # -- what others ask of it ---------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    async def abort_jobs(self, job_ids: list[int]) -> None:
        """Cancelled jobs: those painting now are dropped by the engine at its next step;
        the status message of each is deleted (the /cancel answer says so)."""
        if self.client is not None:
            await self.client.abort(job_ids)
        for job_id in job_ids:
            self.delivery.later_id(job_id)

    def is_running(self, job_id: int) -> bool:
        """Whether ``job_id`` is in the batch the engine is painting now."""
        return job_id in self._running

    def engine_info(self) -> ReadyInfo | None:
        """What the engine said at start (its extra models), once it is ready."""
        return self.info

    def native_size(self) -> tuple[int, int] | None:
        return (self.info.width, self.info.height) if self.info else None

    @property
    def test_model(self) -> bool:
        return self.info.test_model if self.info else self.config.engine.model == "tiny"

    async def drain(self) -> None:
        """Until the deliveries in flight have ended."""
        await self.delivery.drain()

    async def wait_idle(self, platform: str) -> None:
        """Until no job of ``platform`` is queued or running and every one has been shown
        (the console waits for this before it exits)."""
        while True:
            busy = await self.store.jobs_in(JobState.QUEUED, JobState.RUNNING,
                                            platform=platform)
            if not busy:
                await self.delivery.drain()
                if not await self.store.undelivered(platform):
                    return
                await self.delivery.pending(platform)
            await asyncio.sleep(IDLE_POLL_S)

    # -- lifecycle --------------------------------------------------------------------------
    async def recover(self) -> None:
        """At start: interrupted jobs run again; finished but unsent ones are sent."""
        n = await self.store.requeue_interrupted()
        if n:
            log.warning("%d interrupted job(s) back in the queue", n)
        ended = [job for platform in self.board.frontends
                 for job in await self.store.undelivered(platform)]
        await self.board.recover(await self.store.queue(), ended)
        for platform in self.board.frontends:
            await self.delivery.pending(platform)

    async def run(self) -> None:
        """The loop: start the engine, then run batches until stopped."""
        await self.recover()
        backoff = self.config.engine.restart_backoff_s
        while not self._stopping:
            if self.broken is not None:
                await self._refuse_queued()
                continue
            if self.client is None or not self.client.alive:
                if not await self._start_engine():
                    if self.broken is None:
                        await asyncio.sleep(backoff)
                        backoff = min(max(backoff, 0.5) * 2, 60.0)
                    continue
                backoff = self.config.engine.restart_backoff_s
            if getattr(self.client, "concurrency", 1) > 1:
                await self._launch()
                continue
            batch = await self._next_batch()
            if batch:
                await self._run(batch)
        if self._in_flight:  # stopping: the batches in flight end first
            await asyncio.wait(set(self._in_flight))

    async def _launch(self) -> None:
        """A backend that paints several batches at once (Ray: replicas): keep up to its
        ``concurrency`` batches in flight; each is run, stored and delivered as one alone."""
        assert self.client is not None
        if len(self._in_flight) >= self.client.concurrency:
            await asyncio.wait(set(self._in_flight), return_when=asyncio.FIRST_COMPLETED)
            return
        batch = await self._next_batch()
        if batch:
            task = asyncio.create_task(self._run(batch), name=f"batch-{batch[0].id}")
            self._in_flight.add(task)
            task.add_done_callback(self._batch_ended)

    def _batch_ended(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.critical("batch task failed", exc_info=task.exception())
        self._wake.set()  # room for the next batch

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        await self.delivery.drain()
        if self.client is not None:
            await self.client.close(self.config.bot.shutdown_timeout_s)  # finishes its batch

    async def _start_engine(self) -> bool:
        if self.client is not None:
            await self.client.close()
        self.client = self.client_factory()
        try:
            self.info = await self.client.start()
        except EngineError as exc:
            metrics.error(exc.kind)
            self._failed_starts += 1
            if exc.kind == ErrorKind.BROKEN or self._failed_starts >= START_ATTEMPTS:
                # it would fail the same way again: say so once, and keep the bot up
                self.broken = exc.message
                log.error("engine cannot start; it will not be restarted until this is fixed "
                          "and the bot restarted (python -m bot doctor checks the set-up): %s",
                          exc.message)
            else:
                log.error("engine failed to start: %s", exc.message)
            return False
        self._failed_starts = 0
        self.styles.set_notes(self.info.style_failures, self.info.lora_styles)
        log.info("engine ready: %s on %s (%s), %dx%d, styles with LoRA: %s",
                 self.info.model, self.info.device, self.info.dtype, self.info.width,
                 self.info.height, ", ".join(self.info.lora_styles) or "none")
        return True

    async def _refuse_queued(self) -> None:
        """The engine cannot start: queued jobs end now with a note instead of waiting for
        ever; then wait for new ones."""
        self._wake.clear()
        for job in await self.store.queue():
            await self.store.fail(job.id, "engine_unavailable",
                                  detail=f"engine cannot start: {self.broken}")
            self.delivery.later(job)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), 5.0)

    # -- batches ----------------------------------------------------------------------------
    async def _next_batch(self) -> list[Job]:
        """The next batch (``scheduler.pick_batch``), marked running; the others in the
        queue are told their new position.

        Batching window: a lone queued job starts at once. Only while a burst is arriving
        (two or more jobs queued, fewer than a batch, the newest younger than
        ``batch_window_ms``) does it wait out the rest of the window for more."""
        queue = await self.store.queue()
        if not queue:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 5.0)
            return []
        info = self.info
        max_batch = self.config.engine.max_batch
        if info is not None and info.max_batch:
            max_batch = max(1, min(max_batch, info.max_batch))
        window = self.config.engine.batch_window_ms / 1000
        if window and 1 < len(queue) < max_batch:
            # a burst is arriving: wait out the window, counted from its newest job
            rest = window - (time.time() - max(j.created_at or 0.0 for j in queue))
            if rest > 0:
                await asyncio.sleep(rest)
                queue = await self.store.queue()
                if not queue:
                    return []
        size_jobs(queue, self.native_size() or (512, 512), self.config.limits.max_side)
        batch = pick_batch(queue, self.scheduler, max_batch=max_batch,
                           batch_pixels=info.batch_pixels if info is not None else 0)
        await self.store.mark_running(batch)
        taken = {j.id for j in batch}
        for position, job in enumerate((j for j in queue if j.id not in taken), 1):
            self.board.update(job, position_text(job.lang, position))
        return batch

    async def _run(self, batch: list[Job]) -> None:
        assert self.client is not None
        by_id = {j.id: j for j in batch}
        for job in batch:
            self.board.update(job, t(job.lang, "painting"))

        def on_progress(step: int, total: int) -> None:
            for job in batch:
                self.board.progress(job, step, total)

        ids = {j.id for j in batch}
        self._running |= ids
        metrics.batch_started(batch)
        self.board.painting(batch)
        started = time.monotonic()
        try:
            req = batch_request(batch)
            if not await self._read_inputs(batch, req):
                return
            results = await self.client.run_batch(req, on_progress)
        except EngineError as exc:
            metrics.error(exc.kind)
            self._running -= ids
            self.board.painting(batch, now=False)
            if exc.kind == ErrorKind.OOM and len(batch) > 1:
                # out of GPU memory: the same jobs in two smaller batches before anything fails
                half = len(batch) // 2
                log.warning("batch %s ran out of memory; splitting it", [j.id for j in batch])
                await self._run(batch[:half])
                await self._run(batch[half:])
                return
            # cancelled jobs are no longer 'running', so this requeues only the others
            await self._batch_failed(batch, exc)
            return
        finally:
            metrics.batch_ended()
            self._running -= ids
        self.batches_run += 1
        metrics.batch_painted(results)
        self.board.painted(len(results), time.monotonic() - started)  # the pace of pictures
        for res in results:
            job = by_id[res.job_id]
            if res.flagged:
                metrics.moderation("image_flagged")
                log.info("moderation: image of job %d flagged by the image check (%s, %.1f)",
                         job.id, res.unsafe_concept, res.unsafe_score)
            if res.flagged and not res.png:  # withheld: the user is told why, nothing sent
                await self.store.fail(job.id, "image_withheld", {"concept": res.unsafe_concept},
                                      detail=f"withheld by the image check: "
                                             f"{res.unsafe_concept} ({res.unsafe_score:.1f})")
                self.delivery.later(job)
                continue
            result = Result(job.id, res.seed, res.clip_score, str(self.store.image_path(job)),
                            res.width, res.height, res.generate_s, res.score_s,
                            flagged=res.flagged)
            try:
                stored = await self.store.store_result(job, res.png, result)
            except OSError as exc:  # disk full, folder not writable: a clear line, an answer
                metrics.error("storage")
                log.error("cannot store the image of job %d: %s", job.id, exc)
                await self.store.fail(job.id, "storage_error",
                                      detail=f"cannot store the image: {exc}")
                self.delivery.later(job)
                continue
            if stored:
                faults.exit_if("exit_after_store")  # testing seam: die with the image unsent
                job.state = JobState.DONE
                self.delivery.later(job)

    async def _read_inputs(self, batch: list[Job], req: BatchRequest) -> bool:
        """The input pictures of a picture batch, read from the store (off the loop). A
        job whose picture is gone fails with a note; the others run (False: none left)."""
        if req.job_kind == "text":
            return True
        if req.job_kind in ("variation", "reference"):  # unCLIP's; the upscaler keeps 20
            req.noise_level = self.config.limits.variation_noise_level
        keep = []
        for job, spec in zip(batch, req.jobs, strict=True):
            try:
                spec.image = await asyncio.to_thread(Path(job.source).read_bytes)
            except OSError as exc:
                log.error("input picture of job %d unreadable: %s", job.id, exc)
                await self.store.fail(job.id, "picture_unavailable",
                                      detail=f"input picture unreadable: {exc}")
                self.delivery.later(job)
                continue
            keep.append(spec)
        req.jobs = keep
        if not keep:
            self._running = set()
            self.board.painting(batch, now=False)
        return bool(keep)

    async def _batch_failed(self, batch: list[Job], exc: EngineError) -> None:
        ids = [j.id for j in batch]
        if exc.kind == ErrorKind.INVALID:
            log.warning("engine refused batch %s: %s", ids, exc.message)
            for job in batch:
                # the engine's detail is English and for the operator: the user gets the key
                await self.store.fail(job.id, "failed_invalid",
                                      detail=f"{exc.kind}: {exc.message}")
                self.delivery.later(job)
            return
        log.error("batch %s failed (%s): %s", ids, exc.kind, exc.message)
        retry = [j for j in batch if j.attempts < self.config.engine.max_attempts]
        if exc.kind == ErrorKind.DEAD and getattr(self.client, "concurrency", 1) > 1:
            # one replica lost, the others go on: its users are told, and its jobs go back
            # to the queue after the restart backoff (not straight into "painting" again)
            for job in retry:
                self.board.update(job, t(job.lang, "engine_restarting"))
            await asyncio.sleep(self.config.engine.restart_backoff_s)
        await self.store.requeue([j.id for j in retry], f"{exc.kind}: {exc.message}")
        for job in batch:
            if job in retry:
                if exc.kind == ErrorKind.DEAD:
                    self.board.update(job, t(job.lang, "engine_restarting"))
            else:
                await self.store.fail(job.id, "failed_retries",
                                      detail=f"{exc.kind}: {exc.message}")
                self.delivery.later(job)
        self._wake.set()
