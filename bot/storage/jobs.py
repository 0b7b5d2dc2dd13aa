"""The ``jobs`` table: the queue in fair order, and each job's state.

The state machine is drawn in ``bot/models.py``; its transitions are the methods below.
A state is always a bound ``JobState`` parameter, never an SQL literal, and a transition
names the states it may start from, so that a job that has moved on (cancelled, say) is
left alone.

Columns: the fields of ``Job`` (``error_values`` as JSON), plus ``fair_round`` (the job's
round of the fair order, fixed when it is queued), ``started_at``, ``finished_at`` and
``delivered_at``. The current shape is in ``schema.sql``.
"""

from __future__ import annotations

import json
import time
from dataclasses import fields

import aiosqlite

from bot.models import Job, JobState
from bot.storage.db import Database

WAITING = (JobState.QUEUED, JobState.RUNNING)  # not ended yet
TO_DELIVER = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)  # ended, its status message
# still to be finished (a picture, a note, or deleted when cancelled)

_COLUMNS = [f.name for f in fields(Job) if f.name != "id"]


def _marks(values: tuple | list) -> str:
    """``?, ?, ?``: one placeholder per value."""
    return ", ".join("?" * len(values))


def _to_json(values: dict) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


def job_from_row(row: aiosqlite.Row) -> Job:
    values = {name: row[name] for name in _COLUMNS}
    values["state"] = JobState(values["state"])
    values["error_values"] = json.loads(values["error_values"])
    return Job(id=row["id"], **values)


def _row_values(job: Job) -> list[object]:
    values = {name: getattr(job, name) for name in _COLUMNS}
    values["error_values"] = _to_json(values["error_values"])
    return list(values.values())


class JobsTable(Database):
    # -- reading ----------------------------------------------------------------------------
    async def job(self, job_id: int) -> Job | None:
        row = await self._one("SELECT * FROM jobs WHERE id=?", (job_id,))
        return job_from_row(row) if row else None

    async def job_for_request(self, platform: str, request: str) -> Job | None:
        """The job made from this platform event, if one was (exactly-once jobs)."""
        row = await self._one("SELECT * FROM jobs WHERE platform=? AND request=?",
                              (platform, request))
        return job_from_row(row) if row else None

    async def jobs_in(self, *states: JobState, platform: str | None = None) -> list[Job]:
        sql = f"SELECT * FROM jobs WHERE state IN ({_marks(states)})"
        args: list[object] = list(states)
        if platform is not None:
            sql += " AND platform=?"
            args.append(platform)
        return [job_from_row(row) for row in await self._all(sql + " ORDER BY id", args)]

    async def queue(self, limit: int = -1) -> list[Job]:
        """Queued jobs in the order they will run: by the round each got when it was queued
        (round robin across users for jobs queued together), then oldest first."""
        rows = await self._all(
            "SELECT * FROM jobs WHERE state=? ORDER BY fair_round, id LIMIT ?",
            (JobState.QUEUED, limit),
        )
        return [job_from_row(row) for row in rows]

    async def undelivered(self, platform: str) -> list[Job]:
        """Ended jobs of ``platform`` whose user has not been sent the outcome yet."""
        rows = await self._all(
            f"SELECT * FROM jobs WHERE platform=? AND state IN ({_marks(TO_DELIVER)}) "
            "AND delivered_at IS NULL ORDER BY id",
            (platform, *TO_DELIVER),
        )
        return [job_from_row(row) for row in rows]

    async def running_started_before(self, cutoff: float) -> list[Job]:
        """Jobs ``running`` since before ``cutoff`` (a time): maybe stuck."""
        rows = await self._all("SELECT * FROM jobs WHERE state=? AND started_at < ?",
                               (JobState.RUNNING, cutoff))
        return [job_from_row(row) for row in rows]

    # -- counting (flood limits) ------------------------------------------------------------
    async def count_recent(self, platform: str, user_id: str, since: float) -> int:
        """Jobs the user asked for since ``since`` (a time), whatever became of them."""
        return await self._value(
            "SELECT COUNT(*) FROM jobs WHERE platform=? AND user_id=? AND created_at>=?",
            (platform, user_id, since),
        )

    async def oldest_since(self, platform: str, user_id: str, since: float) -> float:
        """When the user's oldest job since ``since`` was asked for (``since`` if none)."""
        oldest = await self._value(
            "SELECT MIN(created_at) FROM jobs WHERE platform=? AND user_id=? AND created_at>=?",
            (platform, user_id, since),
        )
        return oldest or since

    async def count_waiting_in(self, platform: str | None = None,
                               chat_id: str | None = None) -> int:
        """Jobs queued or running, in one chat or in all."""
        sql = f"SELECT COUNT(*) FROM jobs WHERE state IN ({_marks(WAITING)})"
        args: list[object] = list(WAITING)
        if platform is not None and chat_id is not None:
            sql += " AND platform=? AND chat_id=?"
            args += [platform, chat_id]
        return await self._value(sql, args)

    async def count_waiting(self, platform: str, user_id: str) -> int:
        """The user's jobs queued or running, in every chat."""
        return await self._value(
            "SELECT COUNT(*) FROM jobs WHERE platform=? AND user_id=? "
            f"AND state IN ({_marks(WAITING)})",
            (platform, user_id, *WAITING),
        )

    # -- transitions ------------------------------------------------------------------------
    async def add_job(self, job: Job) -> Job:
        """→ queued. Its fair round is one past its user's last waiting job, and never
        before the queue's current round (start-time fair queueing, migration 0006)."""
        job.created_at = job.created_at or time.time()
        job.state = JobState.QUEUED
        async with self.db.execute(
            f"INSERT INTO jobs ({', '.join(_COLUMNS)}, fair_round) "
            f"VALUES ({_marks(_COLUMNS)}, MAX("
            "COALESCE((SELECT MAX(fair_round) + 1 FROM jobs WHERE platform=? AND user_id=? "
            f"AND state IN ({_marks(WAITING)})), 0), "
            "COALESCE((SELECT MIN(fair_round) FROM jobs WHERE state=?), 0)))",
            [*_row_values(job), job.platform, job.user_id, *WAITING, JobState.QUEUED],
        ) as cur:
            job.id = cur.lastrowid
        return job

    async def mark_running(self, jobs: list[Job]) -> None:
        """queued → running: a batch starts. Sizes are fixed now (the engine knows its
        native size)."""
        now = time.time()
        sizes: dict[tuple[int, int], list[int]] = {}
        for job in jobs:  # a batch shares one size: one statement
            sizes.setdefault((job.width, job.height), []).append(job.id)
        for (width, height), ids in sizes.items():
            await self._exec(
                "UPDATE jobs SET state=?, attempts=attempts+1, started_at=?, width=?, height=? "
                f"WHERE id IN ({_marks(ids)}) AND state=?",
                (JobState.RUNNING, now, width, height, *ids, JobState.QUEUED),
            )
        for job in jobs:
            job.state = JobState.RUNNING
            job.attempts += 1

    async def requeue_interrupted(self) -> int:
        """running → queued, at start: jobs a dead process left running; how many."""
        return await self._exec("UPDATE jobs SET state=? WHERE state=?",
                                (JobState.QUEUED, JobState.RUNNING))

    async def requeue(self, job_ids: list[int], detail: str) -> None:
        """running → queued, to run again; ``detail`` says why (for the operator). Each
        keeps its fair round, so it keeps its place near the front."""
        if not job_ids:
            return
        await self._exec(
            f"UPDATE jobs SET state=?, error=? WHERE id IN ({_marks(job_ids)}) AND state=?",
            (JobState.QUEUED, detail, *job_ids, JobState.RUNNING),
        )

    async def fail(self, job_id: int, key: str, values: dict[str, object] | None = None,
                   detail: str = "") -> None:
        """queued or running → failed. Its user is sent the bot/i18n message ``key``,
        filled with ``values`` (JSON-serialisable) and worded in their language when it is
        delivered. ``detail`` is for the operator only (English, never shown to users)."""
        await self._exec(
            "UPDATE jobs SET state=?, error_key=?, error_values=?, error=?, finished_at=? "
            f"WHERE id=? AND state IN ({_marks(WAITING)})",
            (JobState.FAILED, key, _to_json(values or {}), detail, time.time(), job_id,
             *WAITING),
        )

    async def cancel(self, platform: str, chat_id: str, user_id: str) -> list[int]:
        """queued or running → cancelled: the user's jobs in this chat; their ids."""
        rows = await self._all(
            "UPDATE jobs SET state=?, finished_at=? WHERE platform=? AND chat_id=? "
            f"AND user_id=? AND state IN ({_marks(WAITING)}) RETURNING id",
            (JobState.CANCELLED, time.time(), platform, chat_id, user_id, *WAITING),
        )
        return [row[0] for row in rows]

    # -- delivery ---------------------------------------------------------------------------
    async def set_status_ref(self, job_id: int, ref: str) -> None:
        """The front end's handle on the job's status message."""
        await self._exec("UPDATE jobs SET status_ref=? WHERE id=?", (ref, job_id))

    async def mark_delivered(self, job_id: int, status_ref: str = "") -> None:
        """The user has been sent the outcome (done or failed): it is not sent again.
        ``status_ref``: the message that shows it, when it is not the stored one."""
        await self._exec(
            "UPDATE jobs SET delivered_at=?, status_ref=CASE WHEN ?='' THEN status_ref "
            "ELSE ? END WHERE id=? AND delivered_at IS NULL",
            (time.time(), status_ref, status_ref, job_id),
        )
