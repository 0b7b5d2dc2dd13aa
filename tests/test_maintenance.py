import asyncio
import dataclasses
import os
import time

from bot.app import App
from bot.config import load_config
from bot.maintenance import checkpoint, cleanup_images, start_maintenance, watchdog
from bot.models import Job, Result
from tests.conftest import write_config


def job(user: str = "u") -> Job:
    return Job(platform="console", chat_id="c", user_id=user, prompt="p", prompt_en="p",
               translator="none", style=None, negative="", seed=1, cfg=7.5, steps=2, lang="en",
               width=64, height=64)


async def open_app(tmp_path, **sections) -> App:
    return await App.open(load_config(write_config(tmp_path, **sections), must_exist=True))


async def test_old_images_are_removed_and_their_buttons_say_so(tmp_path):
    app = await open_app(tmp_path, storage={"retention_days": 1})
    try:
        old, new = await app.store.add_job(job()), await app.store.add_job(job())
        for j in (old, new):
            await app.store.mark_running([j])
            path = app.store.image_path(j)
            await app.store.store_result(j, b"png", Result(j.id, 1, 1.0, str(path), 64, 64))
        await app.store.db.execute("UPDATE results SET created_at=? WHERE job_id=?",
                                   (time.time() - 2 * 86400, old.id))
        assert await cleanup_images(app.config, app.store) == 1
        assert not app.store.image_path(old).exists() and app.store.image_path(new).exists()
        assert await cleanup_images(app.config, app.store) == 0
    finally:
        await app.close()


async def test_old_input_pictures_go_unless_a_newer_or_waiting_job_uses_them(tmp_path):
    app = await open_app(tmp_path, storage={"retention_days": 1})
    try:
        paths = [await app.store.save_input(f"picture {i}".encode()) for i in range(3)]
        old_only, shared, waiting = paths
        jobs = []
        for source, state in ((old_only, "done"), (shared, "done"), (shared, "queued"),
                              (waiting, "queued")):
            j = await app.store.add_job(dataclasses.replace(job(), kind="img2img",
                                                            strength=0.5, source=source))
            await app.store.db.execute("UPDATE jobs SET state=? WHERE id=?", (state, j.id))
            jobs.append(j)
        two_days = time.time() - 2 * 86400
        for j in (jobs[0], jobs[1], jobs[3]):  # the shared picture's second job is new
            await app.store.db.execute("UPDATE jobs SET created_at=? WHERE id=?",
                                       (two_days, j.id))
        await app.store.db.commit()
        assert await cleanup_images(app.config, app.store) == 1
        assert await asyncio.to_thread(lambda: [os.path.exists(p) for p in paths]) == \
            [False, True, True]
    finally:
        await app.close()


async def test_the_watchdog_requeues_stuck_jobs(tmp_path):
    app = await open_app(tmp_path, maintenance={"stuck_after_s": 60})
    try:
        stuck, fresh = await app.store.add_job(job("a")), await app.store.add_job(job("b"))
        await app.store.mark_running([stuck, fresh])
        await app.store.db.execute("UPDATE jobs SET started_at=? WHERE id=?",
                                   (time.time() - 3600, stuck.id))
        assert await watchdog(app.config, app.store, app.dispatcher) == 1
        assert (await app.store.job(stuck.id)).state == "queued"
        assert (await app.store.job(fresh.id)).state == "running"
    finally:
        await app.close()


async def test_checkpoint_and_schedule(tmp_path):
    app = await open_app(tmp_path)
    try:
        await app.store.add_job(job())
        await checkpoint(app.store, vacuum=True)
        wal_size = await asyncio.to_thread(
            lambda: os.path.getsize(tmp_path / "pelukis.db-wal")
            if (tmp_path / "pelukis.db-wal").exists() else 0)
        assert wal_size == 0
        scheduler = start_maintenance(app.config, app.store, app.dispatcher)
        assert {j.id for j in scheduler.get_jobs()} == {"cleanup", "checkpoint", "vacuum",
                                                       "watchdog"}
        scheduler.shutdown(wait=False)
    finally:
        await app.close()
