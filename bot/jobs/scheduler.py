"""Which queued jobs run next, together: a pure function of the fair queue and a little
state, so it is tested without an engine or a store.

* Size: up to ``[engine] max_batch``, and no more than the engine says fit in its memory
  (``ReadyInfo.max_batch`` at the native size; ``batch_pixels`` for others).
* Style preference: a style switch is cheap but not free, so when the fair head's style
  differs from the one the engine has active, and the first round of the fair order (each
  user's oldest job) holds a job of the active style, that job heads the batch instead.
  Bound: every job that such a preferred batch jumps is marked, and no preferred batch may
  jump a marked job, so a job is overtaken by at most one preferred batch; after that it
  runs no later than plain fair order would take it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.models import Job
from bot.sizes import size_for
from engine.protocol import BatchRequest, JobKind, JobSpec


@dataclass(slots=True)
class SchedulerState:
    active_style: str | None = None  # the style of the last batch (the engine's adapter)
    style_known: bool = False  # False until a first batch was picked
    jumped: set[int] = field(default_factory=set)  # jobs a preferred batch overtook


def size_jobs(queue: list[Job], native: tuple[int, int], max_side: int) -> None:
    """Give every job its pixel size (it follows from the engine's native size)."""
    for job in queue:
        if not job.width:
            job.width, job.height = size_for(job.aspect, native, max_side)


def pick_batch(queue: list[Job], state: SchedulerState, *, max_batch: int,
               batch_pixels: int = 0) -> list[Job]:
    """The next batch from ``queue`` (fair order, sized): its head plus compatible jobs
    behind it. Updates ``state``; empty only for an empty queue."""
    if not queue:
        return []
    queued = {j.id for j in queue}
    jumped = state.jumped & queued  # jobs overtaken once already
    head = queue[0]
    if state.style_known and head.style != state.active_style and head.id not in jumped:
        users: set[tuple[str, str]] = set()
        for i, job in enumerate(queue):
            who = (job.platform, job.user_id)
            if who in users:
                break  # the end of the first round of the fair order
            users.add(who)
            if job.id in jumped:
                break  # it was overtaken once: nothing more may pass it
            if job.style == state.active_style:
                head = job
                jumped |= {j.id for j in queue[:i]}
                break
    state.jumped = jumped
    key = head.batch_key()
    cap = max_batch
    if batch_pixels:
        cap = max(1, min(cap, batch_pixels // max(1, head.width * head.height)))
    batch = [head, *[j for j in queue if j.batch_key() == key and j is not head]][:cap]
    state.active_style, state.style_known = head.style, True
    return batch


def batch_request(batch: list[Job]) -> BatchRequest:
    """The engine's request for jobs that share a ``Job.batch_key``. A picture job's
    input bytes are read by the dispatcher (``JobSpec.image``), off the event loop."""
    first = batch[0]
    assert all(j.batch_key() == first.batch_key() for j in batch), "incompatible jobs"
    return BatchRequest(
        style=first.style, width=first.width, height=first.height, steps=first.steps,
        cfg=first.cfg,
        jobs=[JobSpec(j.id, j.prompt_en, j.negative, j.seed, j.safety) for j in batch],
        job_kind=JobKind(first.kind), strength=first.strength,
    )
