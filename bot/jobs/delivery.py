"""Every ended job reaches its user once: the stored picture, or its failure note worded in
the user's language, through the status board (a cancelled job's status message is
deleted); then it is marked delivered.

A job ``done`` or ``failed`` without ``delivered_at`` is sent again at the next start (or
when its platform logs in), so a crash between storing and sending loses nothing; the front
ends make a repeated send show nothing twice (they edit the same status message).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot import metrics
from bot.caption import Caption
from bot.commands.buttons import job_buttons
from bot.commands.pictures import upscale_factors
from bot.frontends.base import Note, Picture
from bot.i18n import t
from bot.jobs.status import StatusBoard
from bot.logs import log_ids
from bot.models import Job, JobState, Result
from bot.storage import Store
from engine import faults
from engine.styles import StyleRegistry

log = logging.getLogger("pelukis.delivery")


def failure_text(job: Job) -> str:
    """The failure note in the job's language, from its stored message key and values (a
    job that failed before keys were stored has its user's sentence in ``error``)."""
    if not job.error_key:
        return job.error
    text = t(job.lang, job.error_key, **job.error_values)
    if job.error_key == "failed_invalid":  # the {reason} of the "failed" sentence
        text = t(job.lang, "failed", reason=text)
    return text


class Delivery:
    def __init__(self, store: Store, styles: StyleRegistry, board: StatusBoard,
                 test_model: Callable[[], bool], upscale_max_side: int = 0):
        self.store = store
        self.upscale_max_side = upscale_max_side  # upscale buttons for what still fits
        self.styles = styles
        self.board = board
        self.test_model = test_model  # whether the engine runs the test model (caption)
        self._tasks: set[asyncio.Task] = set()
        self._delivering: set[int] = set()  # job ids being sent right now

    def caption(self, job: Job, result: Result) -> Caption:
        style = self.styles.get(job.style)
        return Caption(
            prompt=job.prompt, prompt_en=job.prompt_en, translator=job.translator,
            style=style.title(job.lang) if style else t(job.lang, "cap_none_style"),
            seed=result.seed, cfg=job.cfg, steps=job.steps, clip_score=result.clip_score,
            test_model=self.test_model(), lang=job.lang,
            notice=t(job.lang, "image_blurred") if result.flagged else "",
        )

    async def pending(self, platform: str) -> None:
        """Send every ended job of ``platform`` that its user has not been shown yet."""
        for job in await self.store.undelivered(platform):
            self.later(job)

    def later(self, job: Job) -> None:
        """Send off the event loop's critical path: the next batch need not wait for it."""
        self.later_id(job.id)

    def later_id(self, job_id: int) -> None:
        if job_id in self._delivering:
            return
        self._delivering.add(job_id)
        task = asyncio.create_task(self._deliver(job_id), name=f"deliver-{job_id}")
        self._tasks.add(task)

        def done(task: asyncio.Task, job_id: int = job_id) -> None:
            self._tasks.discard(task)
            self._delivering.discard(job_id)

        task.add_done_callback(done)

    async def drain(self) -> None:
        """Wait for the deliveries in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver(self, job_id: int) -> None:
        job = await self.store.job(job_id)
        if job is None or job.platform not in self.board.frontends:
            return  # its platform isn't served by this process; sent when it is
        log_ids(job_id=job.id, chat_id=f"{job.platform}:{job.chat_id}")  # JSON log lines
        shown = ""
        try:
            if job.state == JobState.DONE:
                result = await self.store.result(job.id)
                if result is None:
                    return
                # every button; a front end leaves out what its platform does not need
                buttons = job_buttons(job, job.lang, file_button=True,
                                      upscale=upscale_factors(result.width, result.height,
                                                              self.upscale_max_side))
                shown = await self.board.finish(
                    job, Picture(result, self.caption(job, result), buttons))
                faults.exit_if("exit_after_send")  # testing seam: sent, not yet recorded
            elif job.state == JobState.FAILED:
                shown = await self.board.finish(job, Note(failure_text(job)))
            elif job.state == JobState.CANCELLED:
                await self.board.dismiss(job)
            else:
                return
        except Exception:
            metrics.error("delivery")
            log.exception("sending job %d failed; it will be sent again at the next start",
                          job.id)
            return
        # one write, at once: a picture sent as a new message (no status message to edit)
        # would be sent again by a restart until this is on disk
        await self.store.mark_delivered(job.id, shown if shown != job.status_ref else "")
        if job.state == JobState.DONE:
            metrics.picture_delivered(job.platform)
