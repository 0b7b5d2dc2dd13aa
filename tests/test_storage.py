import sqlite3

from bot.models import Job, JobState, Result
from bot.storage import Store
from bot.storage.db import migrations


def job(user: str, prompt: str = "cat", **kw) -> Job:
    values = dict(platform="console", chat_id="c", user_id=user, prompt=prompt, prompt_en=prompt,
                  translator="none", style=None, negative="", seed=1, cfg=7.5, steps=4, lang="en")
    values.update(kw)
    return Job(**values)


async def open_store(tmp_path) -> Store:
    return await Store.open(tmp_path / "db.sqlite", tmp_path / "images")


def fair_order(jobs: list[Job]) -> list[Job]:
    """The reference the SQL queue order is checked against: round robin across users,
    everyone's 1st job (oldest first), then everyone's 2nd, …

    For jobs queued together. The store keeps each job's round fixed from the moment it is
    queued (``fair_round``), so that a newcomer is not pushed back each time a heavy user's
    next job moves up a round (start-time fair queueing)."""
    rank: dict[tuple[str, str], int] = {}
    keyed = []
    for job in sorted(jobs, key=lambda j: j.id):
        who = (job.platform, job.user_id)
        rank[who] = rank.get(who, -1) + 1
        keyed.append((rank[who], job.id, job))
    return [job for _, _, job in sorted(keyed, key=lambda k: (k[0], k[1]))]


def test_fair_order_is_round_robin_not_fifo():
    jobs = []
    for i, user in enumerate(["a"] * 5 + ["b", "c", "b"], start=1):
        j = job(user)
        j.id = i
        jobs.append(j)
    order = [(j.user_id, j.id) for j in fair_order(jobs)]
    assert order == [("a", 1), ("b", 6), ("c", 7), ("a", 2), ("b", 8), ("a", 3), ("a", 4),
                     ("a", 5)]


async def test_schema_version_and_wal(tmp_path):
    store = await open_store(tmp_path)
    await store.close()
    con = sqlite3.connect(tmp_path / "db.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == len(migrations())
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # opening again applies nothing twice
    store = await open_store(tmp_path)
    await store.close()


async def test_settings_round_trip(tmp_path):
    store = await open_store(tmp_path)
    await store.set_user("console", "c", "u", seed=42, negative="blurry")
    await store.set_user("console", "c", "u", cfg=5.0)
    user = await store.user_settings("console", "c", "u")
    assert (user.seed, user.cfg, user.negative) == (42, 5.0, "blurry")
    await store.set_chat("console", "c", style="kancil")
    await store.set_chat("console", "c", lang="en")
    chat = await store.chat_settings("console", "c")
    assert (chat.style, chat.lang) == ("kancil", "en")
    await store.close()


async def test_job_lifecycle_and_recovery(tmp_path):
    store = await open_store(tmp_path)
    a, b = await store.add_job(job("a")), await store.add_job(job("b"))
    assert [j.id for j in await store.queue()] == [a.id, b.id]
    a.width = a.height = 64
    await store.mark_running([a])
    assert (await store.job(a.id)).state == JobState.RUNNING
    # the process dies here; at the next start the running job is queued again
    await store.close()
    store = await open_store(tmp_path)
    assert await store.requeue_interrupted() == 1
    a = await store.job(a.id)
    assert a.state == JobState.QUEUED and a.attempts == 1 and a.width == 64
    await store.mark_running([a])
    path = store.image_path(a)
    stored = await store.store_result(a, b"png", Result(a.id, 1, 30.0, str(path), 64, 64))
    assert stored and path.read_bytes() == b"png"
    assert [j.id for j in await store.undelivered("console")] == [a.id]
    await store.mark_delivered(a.id)
    assert await store.undelivered("console") == []
    # a result for a job that is no longer running is not stored twice
    assert not await store.store_result(a, b"png", Result(a.id, 1, 30.0, str(path), 64, 64))
    await store.close()


async def test_cancel_only_touches_the_users_queued_jobs(tmp_path):
    store = await open_store(tmp_path)
    mine = [await store.add_job(job("a")) for _ in range(2)]
    other = await store.add_job(job("b"))
    assert sorted(await store.cancel("console", "c", "a")) == [j.id for j in mine]
    assert [j.id for j in await store.queue()] == [other.id]
    assert await store.count_waiting("console", "a") == 0
    await store.close()


async def test_prompts_are_data_not_sql(tmp_path):
    store = await open_store(tmp_path)
    evil = "x'); DROP TABLE jobs; --"
    saved = await store.add_job(job("a", prompt=evil))
    assert (await store.job(saved.id)).prompt == evil
    await store.close()


async def test_sql_queue_order_is_fair_order(tmp_path):
    import random

    rng = random.Random(7)
    store = await open_store(tmp_path)
    jobs = [await store.add_job(job(rng.choice("abcde"), platform=rng.choice(["x", "y"])))
            for _ in range(60)]
    for j in rng.sample(jobs, 15):
        await store.cancel(j.platform, j.chat_id, j.user_id) if rng.random() < 0.1 else None
    expected = [j.id for j in fair_order(await store.jobs_in(JobState.QUEUED))]
    assert [j.id for j in await store.queue()] == expected
    assert [j.id for j in await store.queue(limit=3)] == expected[:3]
    await store.close()


async def test_a_newcomer_is_not_pushed_back_by_a_backlog(tmp_path):
    store = await open_store(tmp_path)
    for user in "abc":
        for _ in range(4):
            await store.add_job(job(user))
    first_round = (await store.queue())[:3]
    assert {j.user_id for j in first_round} == set("abc")
    await store.mark_running(first_round)  # the first batch is painting
    newcomer = await store.add_job(job("late"))
    order = [j.id for j in await store.queue()]
    # behind the three jobs of the round it joined, not behind all nine waiting
    assert order.index(newcomer.id) == 3
    await store.mark_running((await store.queue())[:3])  # that round is painted next
    assert (await store.queue())[0].id == newcomer.id  # then it's the newcomer's turn
    # a job put back after a crash keeps its place at the front
    await store.requeue([first_round[0].id], "engine died")
    assert (await store.queue())[0].id == first_round[0].id
    await store.close()


async def test_a_failure_keeps_the_users_message_apart_from_the_operators_detail(tmp_path):
    store = await open_store(tmp_path)
    queued, running, done = [await store.add_job(job(u)) for u in "abc"]
    await store.mark_running([running, done])
    await store.store_result(done, b"png", Result(done.id, 1, 30.0, str(store.image_path(done)),
                                                  64, 64))
    await store.fail(queued.id, "image_withheld", {"concept": "gore"}, detail="withheld: gore")
    await store.fail(running.id, "failed_retries")
    await store.fail(done.id, "storage_error")  # ended already: left alone
    q, r, d = [await store.job(j.id) for j in (queued, running, done)]
    assert (q.state, q.error_key, q.error_values, q.error) == \
        (JobState.FAILED, "image_withheld", {"concept": "gore"}, "withheld: gore")
    assert (r.state, r.error_key, r.error_values, r.error) == \
        (JobState.FAILED, "failed_retries", {}, "")
    assert (d.state, d.error_key) == (JobState.DONE, "")
    assert [j.id for j in await store.undelivered("console")] == [queued.id, running.id, done.id]
    await store.close()


async def test_a_failed_job_is_worded_in_its_users_language_at_delivery(tmp_path):
    from bot.config import load_config
    from bot.i18n import t
    from bot.jobs.dispatcher import Dispatcher
    from bot.jobs.status import StatusBoard
    from engine.styles import StyleRegistry
    from tests.conftest import ROOT, write_config

    class Recorder:
        platform = "console"

        def __init__(self):
            self.failed: dict[int, str] = {}

        def edit_interval(self, ref):
            return 0.0

        def progress_step(self, ref):
            return 0

        async def edit_status(self, ref, text):
            pass

        def on_progress(self, job, step, total):
            pass

        async def finish(self, job, ref, outcome):
            self.failed[job.id] = outcome.text
            return ref

    store = await open_store(tmp_path)
    board = StatusBoard(store)
    d = Dispatcher(load_config(write_config(tmp_path)), store,
                   StyleRegistry.load(ROOT / "adapters"), board, lambda: None)
    recorder = Recorder()
    board.add_frontend(recorder)
    en, id_, invalid, old = [await store.add_job(job(u, lang=lang))
                             for u, lang in [("a", "en"), ("b", "id"), ("c", "id"), ("d", "en")]]
    await store.fail(en.id, "image_withheld", {"concept": "gore"})
    await store.fail(id_.id, "image_withheld", {"concept": "gore"})
    await store.fail(invalid.id, "failed_invalid", detail="invalid: steps must be <= 50")
    # a job failed before migration 0007: no key, its user's sentence in ``error``
    await store.fail(old.id, "")
    await store.db.execute("UPDATE jobs SET error='Sorry, worded before.' WHERE id=?",
                           (old.id,))
    for j in (en, id_, invalid, old):
        d.delivery.later(j)
    await d.delivery.drain()
    assert recorder.failed == {
        en.id: t("en", "image_withheld", concept="gore"),
        id_.id: t("id", "image_withheld", concept="gore"),
        invalid.id: t("id", "failed", reason=t("id", "failed_invalid")),
        old.id: "Sorry, worded before.",
    }
    assert "steps" not in recorder.failed[invalid.id]  # the engine's English stays out
    assert await store.undelivered("console") == []
    await store.close()
