"""SQLite storage (aiosqlite, WAL): chat and user settings, jobs, results.

The single source of truth for a job is its row here. Schema changes are numbered
migrations applied in order; ``PRAGMA user_version`` holds the number reached.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import fields
from pathlib import Path

import aiosqlite

from bot.models import ChatSettings, Job, JobState, Result, UserSettings

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE chat_settings (
        platform TEXT NOT NULL, chat_id TEXT NOT NULL,
        style TEXT, lang TEXT,
        PRIMARY KEY (platform, chat_id)
    );
    CREATE TABLE user_settings (
        platform TEXT NOT NULL, chat_id TEXT NOT NULL, user_id TEXT NOT NULL,
        seed INTEGER, cfg REAL, steps INTEGER, negative TEXT NOT NULL DEFAULT '', lang TEXT,
        PRIMARY KEY (platform, chat_id, user_id)
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        platform TEXT NOT NULL, chat_id TEXT NOT NULL, user_id TEXT NOT NULL,
        user_name TEXT NOT NULL DEFAULT '', reply_to TEXT NOT NULL DEFAULT '',
        lang TEXT NOT NULL,
        prompt TEXT NOT NULL, prompt_en TEXT NOT NULL, translator TEXT NOT NULL,
        style TEXT, negative TEXT NOT NULL, seed INTEGER NOT NULL, cfg REAL NOT NULL,
        steps INTEGER NOT NULL, aspect TEXT NOT NULL DEFAULT '1:1',
        width INTEGER NOT NULL DEFAULT 0, height INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL CHECK (state IN ('queued','running','done','failed','cancelled')),
        attempts INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '',
        status_ref TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL, started_at REAL, finished_at REAL, delivered_at REAL
    );
    CREATE INDEX jobs_by_state ON jobs (state, id);
    CREATE TABLE results (
        job_id INTEGER PRIMARY KEY REFERENCES jobs (id),
        seed INTEGER NOT NULL, clip_score REAL NOT NULL, image_path TEXT NOT NULL,
        width INTEGER NOT NULL, height INTEGER NOT NULL,
        generate_s REAL NOT NULL, score_s REAL NOT NULL, created_at REAL NOT NULL
    );
    """,
    # 2: translations of prompts (normalised text → English, and who made it)
    """
    CREATE TABLE translations (
        source TEXT PRIMARY KEY, english TEXT NOT NULL, provider TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
    # 3: a user may turn translation off for their prompts
    """
    ALTER TABLE user_settings ADD COLUMN raw INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: the platform event a job came from (Telegram update id, Discord interaction id):
    # a platform that delivers an event twice (e.g. after a crash) makes one job, not two
    """
    ALTER TABLE jobs ADD COLUMN request TEXT NOT NULL DEFAULT '';
    CREATE UNIQUE INDEX jobs_by_request ON jobs (platform, request) WHERE request != '';
    """,
    # 5: safety: a chat's image-check mode, the threshold a job ran with, flagged results
    """
    ALTER TABLE chat_settings ADD COLUMN safety TEXT;
    ALTER TABLE jobs ADD COLUMN safety REAL NOT NULL DEFAULT 0;
    ALTER TABLE results ADD COLUMN flagged INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_by_user_time ON jobs (platform, user_id, created_at);
    """,
    # 6: a job's round of the fair order, fixed when it is queued (start-time fair queueing):
    # one past its user's last waiting job and never before the queue's current round, so a
    # newcomer's first job is not pushed back each time a heavy user's next job moves up
    """
    ALTER TABLE jobs ADD COLUMN fair_round INTEGER NOT NULL DEFAULT 0;
    UPDATE jobs SET fair_round = r.n FROM (
        SELECT id, ROW_NUMBER() OVER (PARTITION BY platform, user_id ORDER BY id) - 1 AS n
        FROM jobs WHERE state IN ('queued', 'running')) AS r
    WHERE jobs.id = r.id;
    CREATE INDEX jobs_by_round ON jobs (state, fair_round, id);
    """,
]

_JOB_COLUMNS = [f.name for f in fields(Job) if f.name != "id"]


def _job(row: aiosqlite.Row) -> Job:
    values = {name: row[name] for name in _JOB_COLUMNS}
    values["state"] = JobState(values["state"])
    return Job(id=row["id"], **values)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)  # someone removed the image folder
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())  # the image is on disk before the job says "done"
    os.replace(tmp, path)


def fair_order(jobs: list[Job]) -> list[Job]:
    """Round robin across users: everyone's 1st job (oldest first), then everyone's 2nd, …

    The reference for jobs queued together. The store keeps each job's round fixed from the
    moment it is queued (``fair_round``), so that a newcomer is not pushed back each time a
    heavy user's next job moves up a round (start-time fair queueing)."""
    rank: dict[tuple[str, str], int] = {}
    keyed = []
    for job in sorted(jobs, key=lambda j: j.id):
        who = (job.platform, job.user_id)
        rank[who] = rank.get(who, -1) + 1
        keyed.append((rank[who], job.id, job))
    return [job for _, _, job in sorted(keyed, key=lambda k: (k[0], k[1]))]


class Store:
    def __init__(self, db: aiosqlite.Connection, images_dir: Path):
        self.db = db
        self.images_dir = images_dir

    @classmethod
    async def open(cls, database: str | Path, images_dir: str | Path) -> Store:
        database, images_dir = Path(database), Path(images_dir)
        database.parent.mkdir(parents=True, exist_ok=True)
        images_dir.mkdir(parents=True, exist_ok=True)
        # Autocommit: a single statement is its own transaction (one aiosqlite round trip
        # fewer per write); statements that belong together run in BEGIN … COMMIT.
        db = await aiosqlite.connect(database, isolation_level=None)
        db.row_factory = aiosqlite.Row
        store = cls(db, images_dir)
        await store._exec("PRAGMA journal_mode=WAL")
        await store._exec("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
        await store._exec("PRAGMA busy_timeout=5000")
        await store._exec("PRAGMA foreign_keys=ON")
        await store._migrate()
        return store

    async def _exec(self, sql: str, args: tuple | list = ()) -> None:
        """Run one statement and close its cursor (an open one blocks VACUUM)."""
        async with self.db.execute(sql, args):
            pass

    async def close(self) -> None:
        await self.db.close()

    async def _migrate(self) -> None:
        async with self.db.execute("PRAGMA user_version") as cur:
            (version,) = await cur.fetchone()
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self.db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    # -- settings ---------------------------------------------------------------------------
    async def chat_settings(self, platform: str, chat_id: str) -> ChatSettings:
        async with self.db.execute(
            "SELECT style, lang, safety FROM chat_settings WHERE platform=? AND chat_id=?",
            (platform, chat_id),
        ) as cur:
            row = await cur.fetchone()
        return ChatSettings(row["style"], row["lang"], row["safety"]) if row else ChatSettings()

    async def set_chat(self, platform: str, chat_id: str, **values: object) -> None:
        current = await self.chat_settings(platform, chat_id)
        merged = {f.name: getattr(current, f.name) for f in fields(ChatSettings)} | values
        await self._exec(
            "INSERT OR REPLACE INTO chat_settings (platform, chat_id, style, lang, safety) "
            "VALUES (?, ?, ?, ?, ?)",
            (platform, chat_id, merged["style"], merged["lang"], merged["safety"]),
        )

    async def user_settings(self, platform: str, chat_id: str, user_id: str) -> UserSettings:
        async with self.db.execute(
            "SELECT seed, cfg, steps, negative, lang, raw FROM user_settings "
            "WHERE platform=? AND chat_id=? AND user_id=?",
            (platform, chat_id, user_id),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return UserSettings()
        return UserSettings(row["seed"], row["cfg"], row["steps"], row["negative"], row["lang"],
                            bool(row["raw"]))

    async def set_user(self, platform: str, chat_id: str, user_id: str, **values: object) -> None:
        current = await self.user_settings(platform, chat_id, user_id)
        merged = {f.name: getattr(current, f.name) for f in fields(UserSettings)} | values
        await self._exec(
            "INSERT OR REPLACE INTO user_settings "
            "(platform, chat_id, user_id, seed, cfg, steps, negative, lang, raw) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (platform, chat_id, user_id, merged["seed"], merged["cfg"], merged["steps"],
             merged["negative"], merged["lang"], int(merged["raw"])),
        )

    # -- jobs -------------------------------------------------------------------------------
    async def add_job(self, job: Job) -> Job:
        job.created_at = job.created_at or time.time()
        job.state = JobState.QUEUED
        values = [getattr(job, name) for name in _JOB_COLUMNS]
        async with self.db.execute(
            f"INSERT INTO jobs ({', '.join(_JOB_COLUMNS)}, fair_round) "
            f"VALUES ({', '.join('?' * len(_JOB_COLUMNS))}, MAX("
            "COALESCE((SELECT MAX(fair_round) + 1 FROM jobs WHERE platform=? AND user_id=? "
            "AND state IN ('queued', 'running')), 0), "
            "COALESCE((SELECT MIN(fair_round) FROM jobs WHERE state='queued'), 0)))",
            [str(v) if isinstance(v, JobState) else v for v in values]
            + [job.platform, job.user_id],
        ) as cur:
            job.id = cur.lastrowid
        return job

    async def job_for_request(self, platform: str, request: str) -> Job | None:
        async with self.db.execute(
            "SELECT * FROM jobs WHERE platform=? AND request=?", (platform, request)
        ) as cur:
            row = await cur.fetchone()
        return _job(row) if row else None

    async def job(self, job_id: int) -> Job | None:
        async with self.db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)) as cur:
            row = await cur.fetchone()
        return _job(row) if row else None

    async def jobs_in(self, *states: JobState, platform: str | None = None) -> list[Job]:
        sql = f"SELECT * FROM jobs WHERE state IN ({', '.join('?' * len(states))})"
        args: list[object] = [str(s) for s in states]
        if platform is not None:
            sql += " AND platform=?"
            args.append(platform)
        async with self.db.execute(sql + " ORDER BY id", args) as cur:
            return [_job(row) for row in await cur.fetchall()]

    async def queue(self, limit: int = -1) -> list[Job]:
        """Queued jobs in the order they will run: by the round each got when it was queued
        (``fair_order`` for jobs queued together), then oldest first."""
        async with self.db.execute(
            "SELECT * FROM jobs WHERE state='queued' ORDER BY fair_round, id LIMIT ?",
            (limit,),
        ) as cur:
            return [_job(row) for row in await cur.fetchall()]

    async def count_recent(self, platform: str, user_id: str, since: float) -> int:
        """Jobs the user asked for since ``since`` (a time), whatever became of them."""
        async with self.db.execute(
            "SELECT COUNT(*) FROM jobs WHERE platform=? AND user_id=? AND created_at>=?",
            (platform, user_id, since),
        ) as cur:
            (n,) = await cur.fetchone()
        return n

    async def oldest_since(self, platform: str, user_id: str, since: float) -> float:
        async with self.db.execute(
            "SELECT MIN(created_at) FROM jobs WHERE platform=? AND user_id=? AND created_at>=?",
            (platform, user_id, since),
        ) as cur:
            (oldest,) = await cur.fetchone()
        return oldest or since

    async def count_waiting_in(self, platform: str | None = None,
                               chat_id: str | None = None) -> int:
        """Jobs queued or running, in one chat or in all."""
        sql = "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
        args: list[object] = []
        if platform is not None and chat_id is not None:
            sql += " AND platform=? AND chat_id=?"
            args += [platform, chat_id]
        async with self.db.execute(sql, args) as cur:
            (n,) = await cur.fetchone()
        return n

    async def count_waiting(self, platform: str, user_id: str) -> int:
        async with self.db.execute(
            "SELECT COUNT(*) FROM jobs WHERE platform=? AND user_id=? "
            "AND state IN ('queued', 'running')",
            (platform, user_id),
        ) as cur:
            (n,) = await cur.fetchone()
        return n

    async def requeue_interrupted(self) -> int:
        """At start: jobs left ``running`` by a dead process go back to the queue."""
        async with self.db.execute(
            "UPDATE jobs SET state='queued' WHERE state='running'"
        ) as cur:
            n = cur.rowcount
        return n

    async def mark_running(self, jobs: list[Job]) -> None:
        """Start a batch: sizes are fixed now (the engine knows its native size)."""
        now = time.time()
        sizes: dict[tuple[int, int], list[int]] = {}
        for job in jobs:  # a batch shares one size: one statement
            sizes.setdefault((job.width, job.height), []).append(job.id)
        for (width, height), ids in sizes.items():
            await self._exec(
                "UPDATE jobs SET state='running', attempts=attempts+1, started_at=?, width=?, "
                f"height=? WHERE id IN ({', '.join('?' * len(ids))}) AND state='queued'",
                (now, width, height, *ids),
            )
        for job in jobs:
            job.state = JobState.RUNNING
            job.attempts += 1

    async def requeue(self, job_ids: list[int], error: str) -> None:
        if not job_ids:
            return
        await self._exec(
            f"UPDATE jobs SET state='queued', error=? WHERE id IN ({', '.join('?' * len(job_ids))})"
            " AND state='running'",
            (error, *job_ids),
        )

    async def fail(self, job_id: int, error: str) -> None:
        await self._exec(
            "UPDATE jobs SET state='failed', error=?, finished_at=? "
            "WHERE id=? AND state IN ('queued', 'running')",
            (error, time.time(), job_id),
        )

    async def cancel(self, platform: str, chat_id: str, user_id: str) -> list[int]:
        """Cancel the user's queued and running jobs in this chat; their ids."""
        async with self.db.execute(
            "UPDATE jobs SET state='cancelled', finished_at=? WHERE platform=? AND chat_id=? "
            "AND user_id=? AND state IN ('queued', 'running') RETURNING id",
            (time.time(), platform, chat_id, user_id),
        ) as cur:
            ids = [row[0] for row in await cur.fetchall()]
        return ids

    async def set_status_ref(self, job_id: int, ref: str) -> None:
        await self._exec("UPDATE jobs SET status_ref=? WHERE id=?", (ref, job_id))

    # -- translation cache ------------------------------------------------------------------
    async def cached_translation(self, source: str) -> tuple[str, str] | None:
        async with self.db.execute(
            "SELECT english, provider FROM translations WHERE source=?", (source,)
        ) as cur:
            row = await cur.fetchone()
        return (row["english"], row["provider"]) if row else None

    async def cache_translation(self, source: str, english: str, provider: str) -> None:
        await self._exec(
            "INSERT OR REPLACE INTO translations (source, english, provider, created_at) "
            "VALUES (?, ?, ?, ?)",
            (source, english, provider, time.time()),
        )

    # -- results ----------------------------------------------------------------------------
    def image_path(self, job: Job) -> Path:
        return self.images_dir / f"{job.id:08d}-{job.seed}.png"

    async def store_result(self, job: Job, png: bytes, result: Result) -> bool:
        """Write the image (atomically), its row, and mark the job done, in that order.

        Returns False when the job is no longer running (cancelled or already done)."""
        await asyncio.to_thread(_write_atomically, Path(result.image_path), png)
        now = time.time()
        await self._exec("BEGIN IMMEDIATE")
        try:
            async with self.db.execute(
                "UPDATE jobs SET state='done', finished_at=?, error='' "
                "WHERE id=? AND state='running'",
                (now, job.id),
            ) as cur:
                changed = cur.rowcount == 1
            if changed:
                await self._exec(
                    "INSERT OR REPLACE INTO results (job_id, seed, clip_score, image_path, "
                    "width, height, generate_s, score_s, created_at, flagged) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (job.id, result.seed, result.clip_score, result.image_path, result.width,
                     result.height, result.generate_s, result.score_s, now,
                     int(result.flagged)),
                )
        except BaseException:
            await self._exec("ROLLBACK")
            raise
        await self._exec("COMMIT")
        return changed

    async def result(self, job_id: int) -> Result | None:
        async with self.db.execute("SELECT * FROM results WHERE job_id=?", (job_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return Result(row["job_id"], row["seed"], row["clip_score"], row["image_path"],
                      row["width"], row["height"], row["generate_s"], row["score_s"],
                      flagged=bool(row["flagged"]))

    async def undelivered(self, platform: str) -> list[Job]:
        async with self.db.execute(
            "SELECT * FROM jobs WHERE platform=? AND state IN ('done', 'failed') "
            "AND delivered_at IS NULL ORDER BY id",
            (platform,),
        ) as cur:
            return [_job(row) for row in await cur.fetchall()]

    async def images_before(self, cutoff: float) -> list[str]:
        async with self.db.execute(
            "SELECT image_path FROM results WHERE created_at < ?", (cutoff,)
        ) as cur:
            return [row[0] for row in await cur.fetchall()]

    async def running_since_before(self, cutoff: float) -> list[Job]:
        async with self.db.execute(
            "SELECT * FROM jobs WHERE state='running' AND started_at < ?", (cutoff,)
        ) as cur:
            return [_job(row) for row in await cur.fetchall()]

    async def checkpoint(self, vacuum: bool = False) -> None:
        if vacuum:
            await self._exec("VACUUM")
        await self._exec("PRAGMA optimize")
        await self._exec("PRAGMA wal_checkpoint(TRUNCATE)")  # last: the WAL ends up empty

    async def mark_delivered(self, job_id: int) -> None:
        await self._exec(
            "UPDATE jobs SET delivered_at=? WHERE id=? AND delivered_at IS NULL",
            (time.time(), job_id),
        )
