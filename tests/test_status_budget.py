"""The status board spends a chat's message budget: pictures first, status only while it is
cheap, and every status message it opened ends as its picture or is deleted. A real store; a
recording front end with the platform's limits (Telegram's 20 a minute into a group)."""

from __future__ import annotations

import asyncio

import pytest

from bot.frontends.base import Note
from bot.jobs import status as status_module
from bot.jobs.budget import Budget, Rate
from bot.jobs.status import StatusBoard, parse_ref, ref
from bot.models import Job, JobState
from bot.storage import Store

GROUP = "-100"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Group:
    """A front end whose chats are limited like Telegram groups; records every call, and
    spends each from the budget as the real one's rate limiter does."""

    platform = "telegram"
    settle_s = 0.05
    shared_interval_s = 0.0

    def __init__(self, clock: Clock, open_s: float = 0.0):
        self.budget = Budget(lambda chat: Rate(20, 20 / 60) if chat.startswith("-") else None,
                             clock)
        self.open_s = open_s  # how long sending a status message takes (the limiter's queue)
        self.calls: list[tuple[str, str]] = []
        self._next = 1

    def _call(self, what: str, text: str, chat: str = GROUP) -> str:
        self.budget.spend(chat)
        self.calls.append((what, text))
        self._next += 1
        return ref(chat, self._next)

    def edit_interval(self, status_ref: str) -> float:
        return 0.0

    def progress_step(self, status_ref: str) -> int:
        return 25

    def progress_text(self, lang: str, percent: int) -> str:
        return f"{percent}%"

    async def open_status(self, job: Job, text: str) -> str:
        await asyncio.sleep(self.open_s)
        return self._call("open", text, job.chat_id)

    async def edit_status(self, status_ref: str, text: str) -> None:
        self._call("edit", text)

    async def send_shared(self, chat_id: str, text: str) -> str:
        return self._call("shared", text, chat_id)

    async def edit_shared(self, status_ref: str, text: str) -> None:
        self._call("edit_shared", text)

    async def delete_status(self, status_ref: str) -> None:
        self._call("delete", status_ref)

    def on_progress(self, job: Job, step: int, total: int) -> None:
        self.calls.append(("action", ""))

    async def finish(self, job: Job, status_ref: str, outcome) -> str:
        return self._call("picture", status_ref or "reply", job.chat_id)

    def kinds(self) -> list[str]:
        return [c[0] for c in self.calls]


@pytest.fixture
async def store(tmp_path):
    s = await Store.open(tmp_path / "db", tmp_path / "img")
    yield s
    await s.close()


async def new_job(store: Store, chat: str = GROUP) -> Job:
    return await store.add_job(Job(platform="telegram", chat_id=chat, user_id="u", prompt="p",
                                   prompt_en="p", translator="none", style=None, negative="",
                                   seed=1, cfg=7.5, steps=4, lang="en", reply_to="7"))


def test_the_budget_mirrors_a_leaky_bucket_and_keeps_room_for_pictures():
    clock = Clock()
    budget = Budget(lambda chat: Rate(20, 20 / 60), clock)
    assert budget.free(GROUP) == 20
    budget.spend(GROUP, 25)
    assert budget.free(GROUP) == -5  # five wait in the limiter
    clock.now += 30
    assert budget.free(GROUP) == pytest.approx(5)  # 10 leaked in 30 s
    # 6 pictures pending, painted at 1 a second: they need 6 · (1 − (1/3)/1) = 4 of the 5
    assert budget.spare(GROUP, 6, 1.0) == pytest.approx(1)
    assert budget.spare(GROUP, 6, 0.2) == pytest.approx(5)  # slower than the refill: all spare
    assert budget.spare(GROUP, 6, None) == pytest.approx(-1)  # pace unknown: assume fast
    assert Budget(lambda chat: None).spare("42", 100, 1.0) == float("inf")


async def test_a_quiet_group_gets_its_own_status_message_at_once(store):
    board, fe = StatusBoard(store), Group(Clock())
    board.add_frontend(fe)
    job = await new_job(store)
    await board.acknowledge(job.id, "queued next")
    await asyncio.sleep(0.01)  # no settling: the chat has nothing else waiting
    assert fe.calls == [("open", "queued next")]
    board.update(job, "painting")
    await asyncio.sleep(0.05)
    job = await store.job(job.id)
    await board.finish(job, Note("done"))
    assert fe.kinds() == ["open", "edit", "picture"]
    assert fe.calls[-1][1] == job.status_ref  # the status message became the picture


async def test_a_burst_shares_one_status_message_deleted_when_the_queue_is_empty(store):
    board, fe = StatusBoard(store), Group(Clock())
    board.add_frontend(fe)
    jobs = [await new_job(store) for _ in range(30)]
    for job in jobs:
        await board.acknowledge(job.id, "queued")
    await asyncio.sleep(0.3)
    # the first saw a quiet chat; the 29 after it, once settled, share one message
    assert fe.kinds() == ["open", "shared"]
    assert set(await store.shared_statuses("telegram")) == {GROUP}  # found after a crash
    for job in jobs:
        board.update(job, "queued #n")  # the positions: no edit, the chat can't afford it
    board.painting(jobs[:4])
    await asyncio.sleep(0.1)
    assert fe.kinds() == ["open", "shared"]
    for job in jobs:
        await board.finish(await store.job(job.id), Note("done"))
    await asyncio.sleep(0.1)
    kinds = fe.kinds()
    assert kinds.count("picture") == 30 and kinds[-1] == "delete"
    assert [c[1] for c in fe.calls if c[0] == "picture"].count("reply") == 29
    assert await store.shared_statuses("telegram") == {}
    assert len(kinds) == 33  # 30 pictures + 1 status photo + the shared message + its delete


async def test_status_edits_wait_for_room_and_the_latest_text_goes(store):
    clock = Clock()
    board, fe = StatusBoard(store), Group(clock)
    board.add_frontend(fe)
    job = await new_job(store)
    await board.acknowledge(job.id, "queued")
    await asyncio.sleep(0.01)
    fe.budget.spend(GROUP, 19)  # the group's other traffic used the burst
    board.update(job, "queued #2")
    board.update(job, "painting")
    await asyncio.sleep(0.7)
    assert fe.kinds() == ["open"]  # no room beyond its picture's call
    clock.now += 9  # three calls leaked back
    await asyncio.sleep(0.7)
    assert fe.calls[-1] == ("edit", "painting")
    board.progress(job, 1, 4)
    await asyncio.sleep(0.01)
    assert ("action", "") in fe.calls


async def test_a_status_message_still_being_sent_becomes_the_picture(store):
    board, fe = StatusBoard(store), Group(Clock(), open_s=0.3)
    board.add_frontend(fe)
    job = await new_job(store)
    await board.acknowledge(job.id, "queued")
    await asyncio.sleep(0.05)  # the send is waiting in the limiter when the picture is ready
    await board.finish(await store.job(job.id), Note("done"))
    assert fe.kinds() == ["open", "picture"]
    assert fe.calls[1][1] != "reply" and parse_ref(fe.calls[1][1])  # edited, not a reply


async def test_one_that_arrives_after_the_picture_is_deleted(store, monkeypatch):
    monkeypatch.setattr(status_module, "LAND_TIMEOUT_S", 0.05)
    board, fe = StatusBoard(store), Group(Clock(), open_s=0.3)
    board.add_frontend(fe)
    job = await new_job(store)
    await board.acknowledge(job.id, "queued")
    await asyncio.sleep(0.01)
    await board.finish(await store.job(job.id), Note("done"))
    assert fe.calls == [("picture", "reply")]
    await asyncio.sleep(0.4)
    assert fe.kinds() == ["picture", "open", "delete"]


async def test_a_cancelled_jobs_status_message_is_deleted(store):
    board, fe = StatusBoard(store), Group(Clock())
    board.add_frontend(fe)
    job = await new_job(store)
    await board.acknowledge(job.id, "queued")
    await asyncio.sleep(0.01)
    await store.cancel("telegram", GROUP, "u")
    job = await store.job(job.id)
    assert job.state == JobState.CANCELLED
    await board.dismiss(job)
    assert fe.calls[-1] == ("delete", job.status_ref)


async def test_after_a_restart_a_shared_message_without_jobs_is_deleted(store):
    await store.set_shared_status("telegram", GROUP, ref(GROUP, 55), "id")
    await store.set_shared_status("telegram", "-200", ref("-200", 56), "id")
    waiting = await new_job(store, "-200")  # still queued there, without its own message
    board, fe = StatusBoard(store), Group(Clock())
    board.add_frontend(fe)
    await board.recover(await store.queue(), [])
    await asyncio.sleep(0.1)
    # -100's goes; -200's stays for its job, showing the queue as it is now
    assert sorted(fe.kinds()) == ["delete", "edit_shared"]
    assert ("delete", ref(GROUP, 55)) in fe.calls
    assert set(await store.shared_statuses("telegram")) == {"-200"}
    await board.finish(await store.job(waiting.id), Note("done"))
    await asyncio.sleep(0.1)
    assert fe.calls[-1] == ("delete", ref("-200", 56))
    assert await store.shared_statuses("telegram") == {}
