"""The status board: one owner of every job's status message, on a real store, with a
recording front end (the platforms' own renderings are tested through their fakes)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.frontends.base import Note
from bot.jobs.status import StatusBoard, parse_ref, ref
from bot.models import Job
from bot.storage import Store


class Recording:
    platform = "console"

    def __init__(self, interval: float = 0.2, edit_s: float = 0.0, fail_edits: int = 0):
        self.interval = interval
        self.edit_s = edit_s  # how long an edit takes on the "platform"
        self.fail_edits = fail_edits
        self.calls: list[tuple[str, str, float]] = []  # (what, text, when)
        self.editing = asyncio.Event()  # an edit has started

    def edit_interval(self, status_ref: str) -> float:
        return self.interval

    def progress_step(self, status_ref: str) -> int:
        return 25

    def progress_text(self, lang: str, percent: int) -> str:
        return f"Painting… {percent}%"

    async def edit_status(self, status_ref: str, text: str) -> None:
        if self.fail_edits:
            self.fail_edits -= 1
            raise RuntimeError("platform said no")
        self.editing.set()
        await asyncio.sleep(self.edit_s)
        self.calls.append(("edit", text, time.monotonic()))

    def on_progress(self, job: Job, step: int, total: int) -> None:
        pass

    async def finish(self, job: Job, status_ref: str, outcome) -> str:
        self.calls.append(("finish", outcome.text, time.monotonic()))
        return "c:99" if not status_ref else status_ref


@pytest.fixture
async def store(tmp_path):
    s = await Store.open(tmp_path / "db", tmp_path / "img")
    yield s
    await s.close()


async def new_job(store: Store) -> Job:
    return await store.add_job(Job(platform="console", chat_id="c", user_id="u", prompt="p",
                                   prompt_en="p", translator="none", style=None, negative="",
                                   seed=1, cfg=7.5, steps=4, lang="en"))


async def test_edits_are_coalesced_throttled_and_never_repeat_the_shown_text(store):
    board, fe = StatusBoard(store), Recording(interval=0.2)
    board.add_frontend(fe)
    job = await new_job(store)
    await board.opened(job.id, "c:1", "queued #3")
    assert (await store.job(job.id)).status_ref == "c:1"  # stored by the board
    opened_at = time.monotonic()
    board.update(job, "queued #3")  # what it shows already: no edit
    for text in ("queued #2", "queued next", "painting"):
        board.update(job, text)  # arrive together: only the latest is sent
    await asyncio.sleep(0.5)
    assert [c[1] for c in fe.calls] == ["painting"]
    assert fe.calls[0][2] - opened_at >= 0.19  # not before the interval since it was sent
    for step in range(1, 5):
        board.progress(job, step, 4)  # 25, 50, 75, 100 %: each a text
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.7)
    edits = [c for c in fe.calls if c[0] == "edit"]
    assert all(b[2] - a[2] >= 0.19 for a, b in zip(edits, edits[1:], strict=False))
    assert edits[-1][1] == "Painting… 100%"


async def test_an_edit_in_flight_lands_before_the_message_is_finished(store):
    board, fe = StatusBoard(store), Recording(interval=0.0, edit_s=0.3)
    board.add_frontend(fe)
    job = await new_job(store)
    await board.opened(job.id, "c:1", "queued")
    board.update(job, "painting")
    await asyncio.wait_for(fe.editing.wait(), 10)  # the edit is on its way
    board.update(job, "Painting… 50%")  # still waiting when the job ends: dropped
    await board.finish(job, Note("done"))
    assert [c[:2] for c in fe.calls] == [("edit", "painting"), ("finish", "done")]
    await asyncio.sleep(0.4)
    assert len(fe.calls) == 2  # nothing after the end


async def test_an_update_before_the_message_exists_is_shown_once_it_does(store):
    board, fe = StatusBoard(store), Recording(interval=0.0)
    board.add_frontend(fe)
    job = await new_job(store)
    board.update(job, "painting")  # the dispatcher spoke before the front end sent it
    await asyncio.sleep(0.05)
    assert fe.calls == []
    await board.opened(job.id, "c:1", "queued")
    await asyncio.sleep(0.05)
    assert [c[1] for c in fe.calls] == ["painting"]


async def test_a_failed_edit_is_tried_again_by_the_next_update(store):
    board, fe = StatusBoard(store), Recording(interval=0.0, fail_edits=1)
    board.add_frontend(fe)
    job = await new_job(store)
    await board.opened(job.id, "c:1", "queued")
    board.update(job, "painting")
    await asyncio.sleep(0.05)
    assert fe.calls == []  # refused; not retried in a loop
    board.update(job, "painting")  # the same text again is not "already shown"
    await asyncio.sleep(0.05)
    assert [c[1] for c in fe.calls] == ["painting"]


async def test_finish_returns_the_message_that_shows_the_answer(store):
    board, fe = StatusBoard(store), Recording()
    board.add_frontend(fe)
    job = await new_job(store)  # no status message was ever sent
    shown = await board.finish(await store.job(job.id), Note("sorry"))
    assert shown == "c:99"
    await store.mark_delivered(job.id, shown)  # the delivery records it in one write
    assert (await store.job(job.id)).status_ref == "c:99"  # a repeat edits this one


async def test_ready_runs_what_waited_for_the_platform(store):
    board, seen = StatusBoard(store), []

    async def send_pending(platform: str) -> None:
        seen.append(platform)

    board.when_ready(send_pending)
    await board.ready("discord")
    assert seen == ["discord"]


def test_refs():
    assert parse_ref(ref(-100123, 45)) == (-100123, 45)
    assert parse_ref("console:7") is None and parse_ref("") is None
