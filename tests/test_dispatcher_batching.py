"""Batch selection in the dispatcher: compatible jobs, the engine's batch cap, the batching
window, and the preference for the engine's active style with its fairness bound.

Drives ``Dispatcher._next_batch`` directly against a real Store; no engine process.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.config import load_config
from bot.jobs.dispatcher import Dispatcher
from bot.jobs.status import StatusBoard
from bot.models import Job, JobState
from bot.storage import Store
from engine.protocol import ReadyInfo
from engine.styles import StyleRegistry
from tests.conftest import ROOT, write_config


def _no_engine():
    raise AssertionError("these tests never start an engine")


@pytest.fixture
async def setup(tmp_path: Path):
    async def make(**engine):
        config = load_config(write_config(tmp_path, engine=engine))
        store = await Store.open(tmp_path / "q.db", tmp_path / "images")
        d = Dispatcher(config, store, StyleRegistry.load(ROOT / "adapters"),
                       StatusBoard(store), _no_engine)
        d.info = ReadyInfo(model="tiny", device="cpu", dtype="float32", width=64, height=64,
                           styles=[], lora_styles=[], test_model=True)
        made.append(store)
        return d, store

    made: list[Store] = []
    yield make
    for store in made:
        await store.close()


async def add(store: Store, user: str, style: str | None, *, steps: int = 4,
              aspect: str = "1:1", created_at: float = 0.0) -> Job:
    job = Job(platform="console", chat_id="c", user_id=user, prompt="p", prompt_en="p",
              translator="none", style=style, negative="", seed=1, cfg=7.5, steps=steps,
              lang="en", aspect=aspect, created_at=created_at or time.time() - 60)
    return await store.add_job(job)


async def drain(d: Dispatcher) -> list[list[int]]:
    """Every batch the dispatcher would run, in order (each marked running as it goes)."""
    order = []
    while await d.store.queue():
        order.append([j.id for j in await d._next_batch()])
    return order


async def test_compatible_jobs_share_a_batch_up_to_max_batch(setup) -> None:
    d, store = await setup(max_batch=3)
    a = [await add(store, f"u{i}", "kancil") for i in range(4)]
    other = await add(store, "u9", "kancil", steps=8)  # other steps: not compatible
    batches = await drain(d)
    assert batches == [[a[0].id, a[1].id, a[2].id], [a[3].id], [other.id]]
    assert all(j.state == JobState.RUNNING for j in await store.jobs_in(JobState.RUNNING))


async def test_engine_batch_cap_and_pixel_budget(setup) -> None:
    d, store = await setup(max_batch=8)
    d.info.max_batch = 2  # what fits in the GPU at the native size
    d.info.batch_pixels = 2 * 64 * 64
    jobs = [await add(store, f"u{i}", None) for i in range(5)]
    assert [len(b) for b in await drain(d)] == [2, 2, 1]
    # a bigger image takes more of the budget: 2:1 at native 64 → 128×64 → one per batch
    wide = [await add(store, f"w{i}", None, aspect="2:1") for i in range(3)]
    batches = await drain(d)
    assert [len(b) for b in batches] == [1, 1, 1]
    assert {i for b in batches for i in b} == {j.id for j in wide}
    assert len(jobs) == 5


async def test_lone_job_does_not_wait_for_the_window(setup) -> None:
    d, store = await setup(max_batch=4, batch_window_ms=400)
    await add(store, "u1", None, created_at=time.time())
    started = time.perf_counter()
    assert len(await d._next_batch()) == 1
    assert time.perf_counter() - started < 0.2


async def test_a_burst_waits_out_the_window_from_its_newest_job(setup) -> None:
    d, store = await setup(max_batch=4, batch_window_ms=300)
    now = time.time()
    await add(store, "u1", None, created_at=now)
    await add(store, "u2", None, created_at=now)
    started = time.perf_counter()
    assert len(await d._next_batch()) == 2
    assert 0.15 < time.perf_counter() - started < 1.0
    # jobs that queued long ago (behind a running batch) don't wait at all
    await add(store, "u1", None)
    await add(store, "u2", None)
    started = time.perf_counter()
    assert len(await d._next_batch()) == 2
    assert time.perf_counter() - started < 0.15


async def test_prefers_the_active_style_within_the_first_round(setup) -> None:
    d, store = await setup(max_batch=2)
    k1 = await add(store, "u1", "kancil")
    r2 = await add(store, "u2", "retro-anime")
    k3 = await add(store, "u3", "kancil")
    r4 = await add(store, "u4", "retro-anime")
    assert [j.id for j in await d._next_batch()] == [k1.id, k3.id]  # kancil is now active
    r5 = await add(store, "u5", "retro-anime")
    k6 = await add(store, "u6", "kancil")
    # fair order: r2 r4 r5 k6 — k6 is in the first round and kancil is active: it goes first
    assert [j.id for j in await d._next_batch()] == [k6.id]
    # r2, r4, r5 were jumped once; nothing may jump them again
    k7 = await add(store, "u7", "kancil")
    assert [j.id for j in await d._next_batch()] == [r2.id, r4.id]
    assert [j.id for j in await d._next_batch()] == [r5.id]
    assert [j.id for j in await d._next_batch()] == [k7.id]


async def test_no_preference_beyond_the_first_round(setup) -> None:
    d, store = await setup(max_batch=1)
    k1 = await add(store, "u1", "kancil")
    r2 = await add(store, "u2", "retro-anime")
    k3 = await add(store, "u2", "kancil")  # u2's second job: second round
    assert [j.id for j in await d._next_batch()] == [k1.id]
    # k3 has the active style but rank 1 behind r2 (rank 0): fair order wins
    assert [j.id for j in await d._next_batch()] == [r2.id]
    assert [j.id for j in await d._next_batch()] == [k3.id]


async def test_fairness_bound_holds_under_a_stream_of_active_style_jobs(setup) -> None:
    """A job of another style, with new jobs of the active style arriving all the time, is
    overtaken by at most one preferred batch: it runs within two batches of reaching the
    head of the queue."""
    d, store = await setup(max_batch=1)
    first = await add(store, "u0", "kancil")
    assert [j.id for j in await d._next_batch()] == [first.id]
    victim = await add(store, "victim", "retro-anime")
    waited = 0
    for i in range(10):
        await add(store, f"k{i}", "kancil")  # a newcomer of the active style each time
        batch = await d._next_batch()
        if batch[0].id == victim.id:
            break
        waited += 1
    assert waited == 1


async def test_without_a_style_history_the_fair_head_runs(setup) -> None:
    d, store = await setup(max_batch=4)
    r = await add(store, "u1", "retro-anime")
    k = await add(store, "u2", "kancil")
    assert [j.id for j in await d._next_batch()] == [r.id]
    assert [j.id for j in await d._next_batch()] == [k.id]
