"""A job's status message, from "queued" to its picture or its failure note, for every
platform: one owner, one throttle, one reference format.

    front end sends it ──▶ opened() ──▶ update()/progress() … ──▶ finish() ──▶ picture | note
                           (ref stored)  (coalesced, throttled)    (edits done first)

* The ref is ``"<chat>:<message>"`` in the platform's ids (``ref``/``parse_ref``); it is
  stored in the job's row, so a delivery after a restart edits the same message.
* Edits are coalesced: at most one per ``FrontEnd.edit_interval`` per message, always the
  latest text, never the text the message already shows. An edit in flight lands before
  the message is finished, so it cannot overwrite the picture.
* Progress is shown in ``FrontEnd.progress_step`` percent steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.frontends.base import FrontEnd, Note, Picture
from bot.i18n import t
from bot.models import Job
from bot.storage import Store

log = logging.getLogger("pelukis.status")
LAND_TIMEOUT_S = 30.0  # how long finish() waits for an edit in flight


def ref(chat_id: int | str, message_id: int | str) -> str:
    return f"{chat_id}:{message_id}"


def parse_ref(value: str) -> tuple[int, int] | None:
    """``"chat:message"`` → ids, or None (a console ref, or none at all)."""
    chat, _, message = value.rpartition(":")
    try:
        return int(chat), int(message)
    except ValueError:
        return None


def position_text(lang: str, position: int) -> str:
    return t(lang, "queued_next") if position <= 1 else t(lang, "queued", position=position)


@dataclass(eq=False)
class _Message:
    ref: str = ""  # "" until the front end has opened it
    wanted: str | None = None  # the latest text asked for
    shown: str | None = None  # the text the message has
    last: float = 0.0  # when it was last sent or edited
    percent: int = -1
    task: asyncio.Task | None = None
    in_flight: bool = False
    finished: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class StatusBoard:
    """Every open status message of this process, keyed by job id."""

    def __init__(self, store: Store):
        self.store = store
        self.frontends: dict[str, FrontEnd] = {}
        self._messages: dict[int, _Message] = {}
        self._on_ready: list[Callable[[str], Awaitable[None]]] = []

    def add_frontend(self, frontend: FrontEnd) -> None:
        self.frontends[frontend.platform] = frontend

    def when_ready(self, callback: Callable[[str], Awaitable[None]]) -> None:
        """``callback(platform)`` runs each time a front end says it can send (delivery
        sends what ended while the platform was away)."""
        self._on_ready.append(callback)

    async def ready(self, platform: str) -> None:
        """A front end logged in (Discord's ``setup_hook``): messages can go out now."""
        for callback in self._on_ready:
            await callback(platform)

    def _message(self, job: Job) -> _Message:
        msg = self._messages.get(job.id)
        if msg is None:
            msg = self._messages[job.id] = _Message(ref=job.status_ref)
        return msg

    # -- the front end ---------------------------------------------------------------------
    async def opened(self, job_id: int, status_ref: str, text: str) -> None:
        """The front end sent job ``job_id``'s status message, showing ``text``. Stored
        before anything else may edit it; an update asked for meanwhile follows now."""
        await self.store.set_status_ref(job_id, status_ref)
        msg = self._messages.setdefault(job_id, _Message())
        msg.ref, msg.shown, msg.last = status_ref, text, time.monotonic()
        if msg.wanted not in (None, text) and not msg.finished:
            job = await self.store.job(job_id)
            if job is not None:
                self._schedule(job, msg)

    # -- the dispatcher --------------------------------------------------------------------
    def update(self, job: Job, text: str) -> None:
        """Show ``text`` (a queue position, "painting", "restarting") when the platform
        allows; a newer text replaces one still waiting."""
        if job.platform not in self.frontends:
            return  # not served by this process: its status is shown when it is
        msg = self._message(job)
        if msg.finished:
            return
        msg.wanted = text
        if msg.ref:
            self._schedule(job, msg)

    def progress(self, job: Job, step: int, total: int) -> None:
        fe = self.frontends.get(job.platform)
        if fe is None:
            return
        fe.on_progress(job, step, total)
        msg = self._message(job)
        bucket = fe.progress_step(msg.ref) if msg.ref else 0
        if bucket <= 0:
            return
        percent = min(100, int(100 * step / max(total, 1)) // bucket * bucket)
        if percent != msg.percent:
            msg.percent = percent
            self.update(job, fe.progress_text(job.lang, percent))

    async def finish(self, job: Job, outcome: Picture | Note) -> None:
        """The status message becomes ``outcome``; raises when the front end could not
        show it (the job stays undelivered and is sent again later)."""
        fe = self.frontends[job.platform]
        msg = self._message(job)
        msg.finished = True
        msg.wanted = None
        if msg.task is not None and not msg.task.done():
            if msg.in_flight:  # let it land, so it can't overwrite the final message
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(msg.task), LAND_TIMEOUT_S)
            msg.task.cancel()
        async with msg.lock:
            shown = await fe.finish(job, msg.ref or job.status_ref, outcome)
        self._messages.pop(job.id, None)
        if shown and shown != job.status_ref:
            # a delivery after a crash now edits this message instead of sending another
            with contextlib.suppress(Exception):
                await self.store.set_status_ref(job.id, shown)

    def forget(self, job_id: int) -> None:
        self._messages.pop(job_id, None)

    # -- the throttle ----------------------------------------------------------------------
    def _schedule(self, job: Job, msg: _Message) -> None:
        if msg.task is None or msg.task.done():
            msg.task = asyncio.get_running_loop().create_task(
                self._flush(job, msg), name=f"status-{job.id}")

    async def _flush(self, job: Job, msg: _Message) -> None:
        fe = self.frontends.get(job.platform)
        if fe is None:
            return
        interval = fe.edit_interval(msg.ref)
        while msg.wanted is not None and msg.wanted != msg.shown and not msg.finished:
            wait = msg.last + interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            text = msg.wanted
            if text is None or text == msg.shown or msg.finished:
                break  # the job ended while we waited
            async with msg.lock:
                msg.in_flight = True
                try:
                    await fe.edit_status(msg.ref, text)
                    msg.shown = text
                except Exception as exc:  # best effort: the next update or the picture follows
                    log.debug("status edit for job %d skipped: %s", job.id, exc)
                    msg.last = time.monotonic()
                    break  # not retried in a loop: a later update() tries again
                finally:
                    msg.in_flight = False
            msg.last = time.monotonic()
