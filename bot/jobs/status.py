"""A job's status message, from "queued" to its picture or its failure note, for every
platform: one owner, one throttle, one reference format, and one budget.

    acknowledge()/opened() ──▶ update()/progress() … ──▶ finish() ──▶ picture | note
    (own message, or the      (coalesced, throttled,     (edits and    dismiss() ──▶ deleted
     chat's shared one)        spent only when cheap)     opening first)

* **The budget.** A chat's messages are the scarce resource (``budget.py``): Telegram lets a
  bot send about 20 a minute into a group, edits and chat actions included. Pictures always
  go. A status call goes only while it is *cheap*: while the chat's budget has room beyond
  what its pending pictures will need (``Budget.spare``). So in a quiet chat a job gets its
  own status message (position, live progress, then the picture in its place); in a busy
  one the requests share one status message for the chat, each picture is sent as a reply
  to its request, and progress edits are dropped before a picture would wait.
* **Nothing left behind.** Every status message ends as its picture, its note, or deleted
  (a cancelled job's; the shared one when the chat's queue is empty). A status message still
  being sent when the picture is ready is waited for and becomes the picture; one that
  arrives too late is deleted. Refs are stored (``jobs.status_ref``, ``chat_status``), so all
  of this holds after a crash too.
* **True numbers.** An edit's text is taken when it is sent, never queued behind a limiter
  (it only goes when the budget has room), so a position is the position at that moment.
* The ref is ``"<chat>:<message>"`` in the platform's ids (``ref``/``parse_ref``). Edits are
  coalesced: at most one per ``FrontEnd.edit_interval`` per message, always the latest text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from bot.frontends.base import FrontEnd, Note, Picture
from bot.i18n import t
from bot.jobs.budget import Budget
from bot.models import Job, JobState
from bot.storage import Store

log = logging.getLogger("pelukis.status")
LAND_TIMEOUT_S = 30.0  # how long finish() waits for an edit or an opening in flight
RECHECK_S = 0.5  # how often a status edit waiting for budget looks again
PAINT_EMA = 0.3  # weight of the newest batch in the painting-rate estimate

ChatKey = tuple[str, str]  # (platform, chat id)


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
    """One job's own status message."""

    ref: str = ""  # "" until the front end has opened it
    wanted: str | None = None  # the latest text asked for
    shown: str | None = None  # the text the message has
    last: float = 0.0  # when it was last sent or edited
    percent: int = -1
    task: asyncio.Task | None = None
    opening: asyncio.Task | None = None  # sending the message, or deciding whether to
    in_flight: bool = False
    finished: bool = False
    abandoned: bool = False  # finished without it: deleted when its send returns
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(eq=False)
class _Shared:
    """A busy chat's one status message, for every job there without its own."""

    platform: str
    chat_id: str
    lang: str
    ref: str = ""
    shown: str | None = None
    last: float = 0.0
    members: set[int] = field(default_factory=set)
    task: asyncio.Task | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class StatusBoard:
    """Every open status message of this process, keyed by job id (and by chat for the
    shared ones)."""

    def __init__(self, store: Store):
        self.store = store
        self.frontends: dict[str, FrontEnd] = {}
        self._messages: dict[int, _Message] = {}
        self._shared: dict[ChatKey, _Shared] = {}
        self._live: dict[ChatKey, set[int]] = {}  # jobs whose picture or note is still due
        self._painting: set[int] = set()
        self._on_ready: list[Callable[[str], Awaitable[None]]] = []
        self.paint_s: float | None = None  # seconds a picture, engine-wide (an average)

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
        self.track(job)
        return msg

    # -- the budget ------------------------------------------------------------------------
    def track(self, job: Job) -> None:
        """``job``'s picture or note is due in its chat (its call is provided for)."""
        if job.platform in self.frontends and job.state not in (JobState.CANCELLED,):
            self._live.setdefault((job.platform, job.chat_id), set()).add(job.id)

    def painted(self, images: int, seconds: float) -> None:
        """The engine painted ``images`` in ``seconds``: the pace pictures will come at."""
        if images <= 0 or seconds <= 0:
            return
        each = seconds / images
        self.paint_s = each if self.paint_s is None else \
            (1 - PAINT_EMA) * self.paint_s + PAINT_EMA * each

    def _budget(self, platform: str) -> Budget | None:
        fe = self.frontends.get(platform)
        return getattr(fe, "budget", None) if fe is not None else None

    def spare(self, platform: str, chat_id: str) -> float:
        """Calls ``chat_id`` can spend on status now without delaying a picture."""
        budget = self._budget(platform)
        if budget is None:
            return float("inf")
        pending = len(self._live.get((platform, chat_id), ()))
        rate = 1 / self.paint_s if self.paint_s else None
        return budget.spare(chat_id, pending, rate)

    def cheap(self, platform: str, chat_id: str) -> bool:
        return self.spare(platform, chat_id) >= 1

    # -- the front end ---------------------------------------------------------------------
    async def acknowledge(self, job_id: int, text: str) -> None:
        """Job ``job_id`` was queued from a chat and is answered by the board: its own
        status message (showing ``text``, its position) when the chat can afford one, else
        the chat's shared status message. In a limited chat with other jobs already waiting
        the choice waits ``settle_s``, so a burst is seen whole before any status is spent."""
        job = await self.store.job(job_id)
        if job is None or job.platform not in self.frontends or \
                job.state not in (JobState.QUEUED, JobState.RUNNING):
            return  # ended already (its picture went as a reply): nothing to acknowledge
        msg = self._message(job)
        if msg.wanted is None:
            msg.wanted = text
        budget = self._budget(job.platform)
        key = (job.platform, job.chat_id)
        if budget is None or not budget.limited(job.chat_id):
            msg.opening = self._task(self._open(job, msg), f"open-{job.id}")
        elif key not in self._shared and len(self._live.get(key, ())) <= 1 \
                and self.cheap(*key):
            msg.opening = self._task(self._open(job, msg), f"open-{job.id}")
        else:
            msg.opening = self._task(self._settle(job, msg), f"settle-{job.id}")

    async def _settle(self, job: Job, msg: _Message) -> None:
        fe = self.frontends[job.platform]
        await asyncio.sleep(getattr(fe, "settle_s", 0.0))
        if msg.finished:
            return  # the picture was quicker: no status message at all
        key = (job.platform, job.chat_id)
        if key not in self._shared and self.cheap(*key):
            await self._open(job, msg)
        else:
            self._join_shared(job)

    async def _open(self, job: Job, msg: _Message) -> None:
        fe = self.frontends[job.platform]
        text = msg.wanted or t(job.lang, "queued_next")
        try:
            status = await fe.open_status(job, text)
        except Exception as exc:  # the picture is sent as a reply instead
            log.warning("job %d: status message not sent: %s", job.id, exc)
            return
        if msg.abandoned:  # finished without it: it must not stay behind
            await self._delete(fe, status, job.id)
            return
        await self.opened(job.id, status, text)

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
        """Show ``text`` (a queue position, "painting", "restarting") when the chat can
        afford it; a newer text replaces one still waiting."""
        if job.platform not in self.frontends:
            return  # not served by this process: its status is shown when it is
        msg = self._message(job)
        if msg.finished:
            return
        msg.wanted = text
        if msg.ref:
            self._schedule(job, msg)
        else:
            self._touch_shared(job)

    def painting(self, jobs: Iterable[Job], now: bool = True) -> None:
        """``jobs`` are being painted now (or no longer, ``now=False``)."""
        for job in jobs:
            (self._painting.add if now else self._painting.discard)(job.id)
            self._touch_shared(job)

    def progress(self, job: Job, step: int, total: int) -> None:
        fe = self.frontends.get(job.platform)
        if fe is None:
            return
        if self.cheap(job.platform, job.chat_id):  # a chat action costs a call too
            fe.on_progress(job, step, total)
        msg = self._message(job)
        bucket = fe.progress_step(msg.ref) if msg.ref else 0
        if bucket <= 0:
            return
        percent = min(100, int(100 * step / max(total, 1)) // bucket * bucket)
        if percent != msg.percent:
            msg.percent = percent
            self.update(job, fe.progress_text(job.lang, percent))

    async def finish(self, job: Job, outcome: Picture | Note) -> str:
        """The status message becomes ``outcome`` (or, without one, ``outcome`` is sent as
        a reply to the request); returns the ref of the message that shows it, for the
        delivery to record with the job (then a delivery after a crash edits that message
        instead of sending another). Raises when the front end could not show it (the job
        stays undelivered and is sent again later)."""
        fe = self.frontends[job.platform]
        msg = await self._land(job)
        async with msg.lock:
            shown = await fe.finish(job, msg.ref or job.status_ref, outcome)
        self._ended(job)
        return shown

    async def dismiss(self, job: Job) -> None:
        """A cancelled job: its status message is deleted (the /cancel answer says so)."""
        fe = self.frontends[job.platform]
        msg = await self._land(job)
        status = msg.ref or job.status_ref
        if status:
            async with msg.lock:
                await fe.delete_status(status)
        self._ended(job)

    async def _land(self, job: Job) -> _Message:
        """Stop ``job``'s status updates; the edit or the opening in flight lands first,
        so nothing overwrites the final message and no status message is sent after it."""
        msg = self._message(job)
        msg.finished = True
        msg.wanted = None
        if msg.opening is not None and not msg.opening.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(msg.opening), LAND_TIMEOUT_S)
            if not msg.opening.done():
                msg.abandoned = True  # deleted when its send returns
        if msg.task is not None and not msg.task.done():
            if msg.in_flight:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(msg.task), LAND_TIMEOUT_S)
            msg.task.cancel()
        return msg

    def _ended(self, job: Job) -> None:
        self._messages.pop(job.id, None)
        self._painting.discard(job.id)
        key = (job.platform, job.chat_id)
        live = self._live.get(key)
        if live is not None:
            live.discard(job.id)
            if not live:
                del self._live[key]
        shared = self._shared.get(key)
        if shared is not None and job.id in shared.members:
            shared.members.discard(job.id)
            shared.changed.set()

    def forget(self, job_id: int) -> None:
        self._messages.pop(job_id, None)

    # -- after a restart -------------------------------------------------------------------
    async def recover(self, waiting: list[Job], ended: list[Job]) -> None:
        """At start: ``waiting`` (queued and running, in queue order) and ``ended`` (still
        to be delivered) jobs are tracked again; a waiting job that never got a status
        message is acknowledged now; a stored shared message is kept for its chat's jobs
        without one, and deleted once they are out (at once when there are none)."""
        for job in (*waiting, *ended):
            self.track(job)
        for platform in self.frontends:
            for chat_id, (status, lang) in (await self.store.shared_statuses(platform)).items():
                shared = self._shared[(platform, chat_id)] = _Shared(
                    platform, chat_id, lang, ref=status)
                shared.members = {j.id for j in (*waiting, *ended) if not j.status_ref
                                  and (j.platform, j.chat_id) == (platform, chat_id)}
                shared.task = self._task(self._run_shared(shared), f"shared-{chat_id}")
        queued = [j for j in waiting if j.state == JobState.QUEUED]
        for position, job in enumerate(queued, 1):
            if job.status_ref or job.platform not in self.frontends:
                continue
            if (job.platform, job.chat_id) in self._shared:
                continue  # a member of its chat's shared message
            await self.acknowledge(job.id, position_text(job.lang, position))

    # -- the shared status message of a busy chat ------------------------------------------
    def _join_shared(self, job: Job) -> None:
        key = (job.platform, job.chat_id)
        shared = self._shared.get(key)
        if shared is None:
            shared = self._shared[key] = _Shared(job.platform, job.chat_id, job.lang)
            shared.task = self._task(self._run_shared(shared), f"shared-{job.chat_id}")
        shared.members.add(job.id)
        shared.changed.set()

    def _touch_shared(self, job: Job) -> None:
        shared = self._shared.get((job.platform, job.chat_id))
        if shared is not None and job.id in shared.members:
            shared.changed.set()

    def _shared_text(self, shared: _Shared) -> str:
        painting = len(shared.members & self._painting)
        return t(shared.lang, "shared_queue", waiting=len(shared.members) - painting,
                 painting=painting)

    async def _run_shared(self, shared: _Shared) -> None:
        """Sends, edits (when cheap, at most once per ``shared_interval_s``) and finally
        deletes the shared message; ends when the chat has no member left."""
        fe = self.frontends[shared.platform]
        key = (shared.platform, shared.chat_id)
        interval = getattr(fe, "shared_interval_s", 10.0)
        while True:
            try:
                if not shared.members:
                    if shared.ref:
                        await self._delete(fe, shared.ref, None)
                        await self.store.clear_shared_status(*key, shared.ref)
                        shared.ref, shared.shown = "", None
                    if not shared.members:  # none joined while it was being deleted
                        self._shared.pop(key, None)
                        return
                elif not shared.ref:  # the acknowledgement: always sent
                    text = self._shared_text(shared)
                    shared.ref = await fe.send_shared(shared.chat_id, text)
                    shared.shown, shared.last = text, time.monotonic()
                    await self.store.set_shared_status(*key, shared.ref, shared.lang)
                else:
                    text = self._shared_text(shared)
                    due = shared.last + interval - time.monotonic()
                    if text != shared.shown and due <= 0 and self.cheap(*key):
                        shared.last = time.monotonic()
                        await fe.edit_shared(shared.ref, text)
                        shared.shown = text
            except Exception as exc:  # best effort; tried again below
                log.warning("shared status in %s: %s", shared.chat_id, exc)
                await asyncio.sleep(1.0)
            shared.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(shared.changed.wait(), RECHECK_S * 2)

    # -- the throttle ----------------------------------------------------------------------
    def _task(self, coro: Awaitable[None], name: str) -> asyncio.Task:
        return asyncio.get_running_loop().create_task(coro, name=name)  # type: ignore[arg-type]

    async def _delete(self, fe: FrontEnd, status: str, job_id: int | None) -> None:
        try:
            await fe.delete_status(status)
        except Exception as exc:
            log.warning("status message %s (job %s) not deleted: %s", status, job_id, exc)

    def _schedule(self, job: Job, msg: _Message) -> None:
        if msg.task is None or msg.task.done():
            msg.task = self._task(self._flush(job, msg), f"status-{job.id}")

    async def _flush(self, job: Job, msg: _Message) -> None:
        fe = self.frontends.get(job.platform)
        if fe is None:
            return
        interval = fe.edit_interval(msg.ref)
        while msg.wanted is not None and msg.wanted != msg.shown and not msg.finished:
            wait = msg.last + interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            while True:  # pictures first: this edit waits for room in the chat's budget
                if msg.finished or self.cheap(job.platform, job.chat_id):
                    break
                await asyncio.sleep(RECHECK_S)
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
