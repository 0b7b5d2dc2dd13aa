"""Keeps the engine busy: takes queued jobs in fair order, batches compatible ones, runs
them, stores every image before it is sent, and hands results to the front ends.

SQLite is the source of truth; an ``asyncio.Event`` wakes the loop when work arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable

from bot.caption import Caption
from bot.config import Config
from bot.frontend import FrontEnd
from bot.i18n import t
from bot.models import Job, JobState, Result
from bot.parsing import size_for
from bot.storage import Store
from engine.client import EngineClient, EngineError
from engine.protocol import BatchRequest, JobSpec, ReadyInfo
from engine.styles import StyleRegistry

log = logging.getLogger("pelukis.dispatcher")
# Fault injection for the crash tests (never set in production): the process dies at a
# chosen point of a job's life, as a SIGKILL would.
_FAULT = os.environ.get("PELUKIS_FAULT", "")

ClientFactory = Callable[[], EngineClient]


class Dispatcher:
    def __init__(self, config: Config, store: Store, styles: StyleRegistry,
                 client_factory: ClientFactory):
        self.config = config
        self.store = store
        self.styles = styles
        self.client_factory = client_factory
        self.client: EngineClient | None = None
        self.info: ReadyInfo | None = None
        self.frontends: dict[str, FrontEnd] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._deliveries: set[asyncio.Task] = set()
        self._delivering: set[int] = set()  # job ids being sent right now
        self._batch_no = 0
        self._running: dict[int, int] = {}  # job id → batch id, for the batch in flight
        self._active_style: str | None = None  # the style of the last batch (engine's adapter)
        self._style_known = False  # False until a first batch was picked
        self._jumped: set[int] = set()  # jobs a preferred-style batch overtook (only once)
        self.batches_run = 0

    # -- wiring -----------------------------------------------------------------------------
    def add_frontend(self, frontend: FrontEnd) -> None:
        self.frontends[frontend.platform] = frontend

    def wake(self) -> None:
        self._wake.set()

    async def abort_jobs(self, job_ids: list[int]) -> None:
        """Cancelled jobs that are painting now: the engine drops them at its next step."""
        by_batch: dict[int, list[int]] = {}
        for job_id in job_ids:
            if job_id in self._running:
                by_batch.setdefault(self._running[job_id], []).append(job_id)
        for batch_id, ids in by_batch.items():
            if self.client is not None:
                await self.client.abort(batch_id, ids)

    def is_running(self, job_id: int) -> bool:
        """Whether ``job_id`` is in the batch the engine is painting now."""
        return job_id in self._running

    def native_size(self) -> tuple[int, int] | None:
        return (self.info.width, self.info.height) if self.info else None

    @property
    def test_model(self) -> bool:
        return self.info.test_model if self.info else self.config.engine.model == "tiny"

    # -- lifecycle --------------------------------------------------------------------------
    async def recover(self) -> None:
        """At start: interrupted jobs run again; finished but unsent ones are sent."""
        n = await self.store.requeue_interrupted()
        if n:
            log.warning("%d interrupted job(s) back in the queue", n)
        for platform in self.frontends:
            await self.deliver_pending(platform)

    async def run(self) -> None:
        """The loop: start the engine, then run batches until stopped."""
        await self.recover()
        backoff = self.config.engine.restart_backoff_s
        while not self._stopping:
            if self.client is None or not self.client.alive:
                if not await self._start_engine():
                    await asyncio.sleep(backoff)
                    backoff = min(max(backoff, 0.5) * 2, 60.0)
                    continue
                backoff = self.config.engine.restart_backoff_s
            batch = await self._next_batch()
            if batch:
                await self._run(batch)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)
        if self.client is not None:
            await self.client.close()

    async def drain(self) -> None:
        """Wait for the deliveries in flight (used by the console before it exits)."""
        while self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)

    async def _start_engine(self) -> bool:
        if self.client is not None:
            await self.client.close()
        self.client = self.client_factory()
        try:
            self.info = await self.client.start()
        except EngineError as exc:
            log.error("engine failed to start: %s", exc.message)
            return False
        log.info("engine ready: %s on %s (%s), %dx%d, styles with LoRA: %s",
                 self.info.model, self.info.device, self.info.dtype, self.info.width,
                 self.info.height, ", ".join(self.info.lora_styles) or "none")
        return True

    # -- batches ----------------------------------------------------------------------------
    async def _next_batch(self) -> list[Job]:
        """The next batch: the head of the fair queue plus compatible jobs behind it.

        * Size: up to ``[engine] max_batch``, and no more than the engine says fit in its
          memory (``ReadyInfo.max_batch`` at the native size; ``batch_pixels`` for others).
        * Batching window: a lone queued job starts at once. Only while a burst is arriving
          (two or more jobs queued, fewer than a batch, the newest younger than
          ``batch_window_ms``) does it wait out the rest of the window for more.
        * Style preference: a style switch is cheap but not free, so when the fair head's
          style differs from the one the engine has active, and the first round of the fair
          order (each user's oldest job) holds a job of the active style, that job heads the
          batch instead. Bound: every job that such a preferred batch jumps is marked, and
          no preferred batch may jump a marked job, so a job is overtaken by at most one
          preferred batch; after that it runs no later than plain fair order would take it.
        """
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
        native = self.native_size() or (512, 512)
        for job in queue:
            if not job.width:
                job.width, job.height = size_for(job.aspect, native, self.config.limits.max_side)

        queued = {j.id for j in queue}
        jumped = self._jumped & queued  # jobs overtaken once already
        head = queue[0]
        if self._style_known and head.style != self._active_style and head.id not in jumped:
            users: set[tuple[str, str]] = set()
            for i, job in enumerate(queue):
                who = (job.platform, job.user_id)
                if who in users:
                    break  # the end of the first round of the fair order
                users.add(who)
                if job.id in jumped:
                    break  # it was overtaken once: nothing more may pass it
                if job.style == self._active_style:
                    head = job
                    jumped |= {j.id for j in queue[:i]}
                    break
        self._jumped = jumped

        key = head.batch_key()
        cap = max_batch
        if info is not None and info.batch_pixels:
            cap = max(1, min(cap, info.batch_pixels // max(1, head.width * head.height)))
        batch = [head, *[j for j in queue if j.batch_key() == key and j is not head]][:cap]
        self._active_style, self._style_known = head.style, True
        await self.store.mark_running(batch)
        taken = {j.id for j in batch}
        rest = [j for j in queue if j.id not in taken]
        for position, job in enumerate(rest, 1):
            await self._status(job, t(job.lang, "queued_next") if position == 1
                               else t(job.lang, "queued", position=position))
        return batch

    async def _run(self, batch: list[Job]) -> None:
        assert self.client is not None
        self._batch_no += 1
        req = BatchRequest(
            batch_id=self._batch_no,
            style=batch[0].style,
            width=batch[0].width,
            height=batch[0].height,
            steps=batch[0].steps,
            cfg=batch[0].cfg,
            jobs=[JobSpec(j.id, j.prompt_en, j.negative, j.seed, j.safety) for j in batch],
        )
        by_id = {j.id: j for j in batch}
        for job in batch:
            await self._status(job, t(job.lang, "painting"))

        def on_progress(step: int, total: int) -> None:
            for job in batch:
                fe = self.frontends.get(job.platform)
                if fe is not None:
                    fe.job_progress(job, step, total)

        self._running = {j.id: req.batch_id for j in batch}
        try:
            results = await self.client.run_batch(req, on_progress)
        except EngineError as exc:
            self._running = {}
            if exc.kind == "oom" and len(batch) > 1:
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
            self._running = {}
        self.batches_run += 1
        for res in results:
            job = by_id[res.job_id]
            if res.flagged:
                log.info("moderation: image of job %d flagged by the image check (%s, %.1f)",
                         job.id, res.unsafe_concept, res.unsafe_score)
            if res.flagged and not res.png:  # withheld: the user is told why, nothing sent
                await self.store.fail(job.id, t(job.lang, "image_withheld",
                                                concept=res.unsafe_concept))
                self._deliver_later(job)
                continue
            result = Result(job.id, res.seed, res.clip_score, str(self.store.image_path(job)),
                            res.width, res.height, res.generate_s, res.score_s,
                            flagged=res.flagged)
            try:
                stored = await self.store.store_result(job, res.png, result)
            except OSError as exc:  # disk full, folder not writable: a clear line, an answer
                log.error("cannot store the image of job %d: %s", job.id, exc)
                await self.store.fail(job.id, t(job.lang, "storage_error"))
                self._deliver_later(job)
                continue
            if stored:
                if _FAULT == "exit_after_store":  # fault injection: die with the image unsent
                    os._exit(137)
                job.state = JobState.DONE
                self._deliver_later(job)

    async def _batch_failed(self, batch: list[Job], exc: EngineError) -> None:
        ids = [j.id for j in batch]
        if exc.kind == "invalid":
            log.warning("engine refused batch %s: %s", ids, exc.message)
            for job in batch:
                reason = t(job.lang, "failed_invalid", detail=exc.message)
                await self.store.fail(job.id, t(job.lang, "failed", reason=reason))
                self._deliver_later(job)
            return
        log.error("batch %s failed (%s): %s", ids, exc.kind, exc.message)
        retry = [j for j in batch if j.attempts < self.config.engine.max_attempts]
        await self.store.requeue([j.id for j in retry], f"{exc.kind}: {exc.message}")
        for job in batch:
            if job in retry:
                if exc.kind == "dead":
                    await self._status(job, t(job.lang, "engine_restarting"))
            else:
                await self.store.fail(job.id, t(job.lang, "failed_retries"))
                self._deliver_later(job)
        self._wake.set()

    # -- talking to front ends --------------------------------------------------------------
    async def _status(self, job: Job, text: str) -> None:
        fe = self.frontends.get(job.platform)
        if fe is None:
            return
        try:
            await fe.job_status(job, text)
        except Exception:
            log.exception("status update for job %d failed", job.id)

    def caption(self, job: Job, result: Result) -> Caption:
        style = self.styles.get(job.style)
        return Caption(
            prompt=job.prompt, prompt_en=job.prompt_en, translator=job.translator,
            style=style.title(job.lang) if style else t(job.lang, "cap_none_style"),
            seed=result.seed, cfg=job.cfg, steps=job.steps, clip_score=result.clip_score,
            test_model=self.test_model, lang=job.lang,
            notice=t(job.lang, "image_blurred") if result.flagged else "",
        )

    async def deliver_pending(self, platform: str) -> None:
        """Send every ended job of ``platform`` that its user has not been shown yet."""
        for job in await self.store.undelivered(platform):
            self._deliver_later(job)

    def _deliver_later(self, job: Job) -> None:
        """Send off the event loop's critical path: the next batch need not wait for it."""
        if job.id in self._delivering:
            return
        self._delivering.add(job.id)
        task = asyncio.create_task(self._deliver(job.id), name=f"deliver-{job.id}")
        self._deliveries.add(task)

        def done(task: asyncio.Task, job_id: int = job.id) -> None:
            self._deliveries.discard(task)
            self._delivering.discard(job_id)

        task.add_done_callback(done)

    async def _deliver(self, job_id: int) -> None:
        job = await self.store.job(job_id)
        if job is None:
            return
        fe = self.frontends.get(job.platform)
        if fe is None:
            return  # its platform isn't served by this process; sent when it is
        try:
            if job.state == JobState.DONE:
                result = await self.store.result(job.id)
                if result is None:
                    return
                await fe.job_done(job, result, self.caption(job, result))
                if _FAULT == "exit_after_send":  # fault injection: sent, not yet recorded
                    os._exit(137)
            elif job.state == JobState.FAILED:
                await fe.job_failed(job, job.error)  # already worded for the user
            else:
                return
        except Exception:
            log.exception("sending job %d failed; it will be sent again at the next start", job.id)
            return
        await self.store.mark_delivered(job.id)
