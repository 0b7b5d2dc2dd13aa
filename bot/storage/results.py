"""The ``results`` table and the image files: a finished job's picture and its numbers.

The file is written first (atomically, and synced), then its row and the job's ``done``
in one transaction: a job that says ``done`` always has its image on disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path

from bot.models import Job, JobState, Result
from bot.storage.db import Database


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` at ``path`` in full or not at all, and on disk when this returns."""
    path.parent.mkdir(parents=True, exist_ok=True)  # someone removed the image folder
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())  # the image is on disk before the job says "done"
    os.replace(tmp, path)


class ResultsTable(Database):
    images_dir: Path

    def image_path(self, job: Job) -> Path:
        return self.images_dir / f"{job.id:08d}-{job.seed}.png"

    async def save_input(self, png: bytes) -> str:
        """A job's input picture (already normalised), stored before its job under
        ``inputs/`` by content, so the same picture twice is one file; its path."""
        path = self.images_dir / "inputs" / f"{hashlib.sha256(png).hexdigest()[:32]}.png"
        if not await asyncio.to_thread(path.is_file):
            await asyncio.to_thread(write_atomically, path, png)
        return str(path)

    async def store_result(self, job: Job, png: bytes, result: Result) -> bool:
        """Write the image (atomically), its row, and mark the job done, in that order.

        Returns False when the job is no longer running (cancelled or already done)."""
        await asyncio.to_thread(write_atomically, Path(result.image_path), png)
        now = time.time()
        await self._exec("BEGIN IMMEDIATE")
        try:
            changed = await self._exec(
                "UPDATE jobs SET state=?, finished_at=?, error='' WHERE id=? AND state=?",
                (JobState.DONE, now, job.id, JobState.RUNNING),
            ) == 1
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
        row = await self._one("SELECT * FROM results WHERE job_id=?", (job_id,))
        if row is None:
            return None
        return Result(row["job_id"], row["seed"], row["clip_score"], row["image_path"],
                      row["width"], row["height"], row["generate_s"], row["score_s"],
                      flagged=bool(row["flagged"]))

    async def input_paths_before(self, cutoff: float) -> list[str]:
        """Stored input pictures (``images/inputs/``) only jobs asked for before ``cutoff``
        used: no later job and no waiting one needs them (the cleanup's)."""
        rows = await self._all(
            "SELECT DISTINCT source FROM jobs WHERE source LIKE ? AND created_at < ? "
            "AND source NOT IN (SELECT source FROM jobs WHERE source != '' "
            "AND (created_at >= ? OR state IN (?, ?)))",
            (f"{self.images_dir / 'inputs'}%", cutoff, cutoff, JobState.QUEUED,
             JobState.RUNNING))
        return [row[0] for row in rows]

    async def image_paths_before(self, cutoff: float) -> list[str]:
        """The files of images stored before ``cutoff`` (a time), for the cleanup."""
        rows = await self._all("SELECT image_path FROM results WHERE created_at < ?",
                               (cutoff,))
        return [row[0] for row in rows]
