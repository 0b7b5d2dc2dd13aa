"""A busy community group: 30 members send ``/generate@Bot …`` within a second, through
``python -m bot`` against the fake Bot API, with python-telegram-bot's real
``AIORateLimiter`` at Telegram's default limits (20 messages a minute into a group).

What the members must end up seeing: every picture once, and no status message left behind
(every status photo became its picture, the shared queue message was deleted), also across
a kill -9 of the bot. The wait is compared with its floor, measured in the same run: the
engine's own painting times, each picture pushed as soon as it was painted through a second,
default ``AIORateLimiter`` with one message per picture — the best any policy could do.
Run with ``-s`` to see the report.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import statistics
import threading
import time
from collections import Counter

import pytest
from telegram.ext import AIORateLimiter

from bot.frontends.telegram.frontend import placeholder_png
from tests.conftest import write_config
from tests.fake_telegram import BOT_USERNAME, FakeBotAPI, left_behind, paintings
from tests.test_telegram_process import serve

pytestmark = pytest.mark.slow

GROUP = -100777
MEMBERS = 30
PROMPT = "/generate@{bot} sebuah rumah merah nomor {n} --steps 4 --seed {n}"
FLOOR_RATIO_BOUND = 1.6  # asserted; the figure itself is printed and reported


class FloorRecorder:
    """Each job's painting, as the bot's database records it (``finished_at``), pushed at
    once through a default ``AIORateLimiter`` as one message into the group: when the
    picture would arrive if it were the only message the bot ever sent there."""

    def __init__(self, database):
        self.database = database
        self.arrived: dict[int, float] = {}  # job id → monotonic time through the limiter
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        limiter = AIORateLimiter()  # Telegram's defaults: 30/s overall, 20/min a group
        seen: set[int] = set()
        tasks = []

        async def send() -> bool:
            return True

        async def through(job_id: int) -> None:
            await limiter.process_request(send, (), {}, "sendPhoto", {"chat_id": GROUP}, None)
            self.arrived[job_id] = time.monotonic()

        while not self._stop.is_set():  # polled every 50 ms: the floor is that much late
            try:
                with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as con:
                    rows = con.execute("SELECT id FROM jobs WHERE state='done' "
                                       "ORDER BY finished_at").fetchall()
            except sqlite3.Error:
                rows = []
            for (job_id,) in rows:
                if job_id not in seen:
                    seen.add(job_id)
                    tasks.append(asyncio.create_task(through(job_id)))
            await asyncio.sleep(0.05)
        await asyncio.gather(*tasks)

    def close(self) -> dict[int, float]:
        self._stop.set()
        self._thread.join(timeout=120)
        return dict(self.arrived)


def job_requests(database) -> dict[int, int]:
    """job id → the message id of the request it answers."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as con:
        return {job_id: int(reply) for job_id, reply in
                con.execute("SELECT id, reply_to FROM jobs WHERE chat_id=?", (str(GROUP),))}


def run_group(tmp_path, *, kill_after: int | None = None, members: int = MEMBERS,
              spacing_s: float = 1.0 / MEMBERS, telegram: dict | None = None) -> dict:
    """``members`` requests into the group, ``spacing_s`` apart; the chat as it ends up,
    with each request's time, its picture's and its floor (also used by bench/)."""
    fake = FakeBotAPI()
    config = write_config(tmp_path, bot={"log_level": "INFO"}, engine={"max_batch": 4},
                          limits={"max_queued_per_user": 5},
                          telegram={"base_url": fake.base_url,
                                    "base_file_url": fake.base_file_url,
                                    "poll_timeout_s": 1, "edit_interval_s": 1.0,
                                    **(telegram or {})})
    database = tmp_path / "pelukis.db"
    log_path = tmp_path / "bot.log"
    placeholder = placeholder_png()
    proc = serve(config, fake.token, log_path)
    floor = None
    try:
        fake.wait_for(lambda: fake.calls_to("getUpdates"), 60, "the bot to poll")
        floor = FloorRecorder(database)
        sent_at: dict[int, float] = {}
        for n in range(1, members + 1):
            message = fake.send_text(GROUP, 5000 + n, PROMPT.format(bot=BOT_USERNAME, n=n))
            sent_at[message["message_id"]] = time.monotonic()
            time.sleep(spacing_s)  # by default all within a second
        if kill_after is not None:
            fake.wait_for(lambda: len(paintings(fake, placeholder)) >= kill_after, 120,
                          f"{kill_after} pictures")
            # while the next batch is painting (its pictures not sent yet, the group's
            # shared message up, jobs queued): a kill in the few milliseconds between
            # Telegram taking a reply photo and the bot recording it would send it twice
            # (there is no message to edit), the one window this cannot close
            while True:
                count = len(paintings(fake, placeholder))
                time.sleep(0.4)
                if len(paintings(fake, placeholder)) == count:
                    break
            os.killpg(proc.pid, signal.SIGKILL)  # bot and engine die mid-queue
            proc.wait()
            proc = serve(config, fake.token, log_path)
        fake.wait_for(lambda: set(paintings(fake, placeholder)) >= set(sent_at), 400,
                      "every picture")
        # the shared status message goes once the queue is empty; a late duplicate shows
        fake.wait_for(lambda: not left_behind(fake, GROUP, placeholder), 60,
                      "no status message left")
        time.sleep(2.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        arrived = floor.close()
        floor = None
        shown = paintings(fake, placeholder)
        return dict(fake=fake, sent_at=sent_at, shown=shown, floor=arrived,
                    requests=job_requests(database), placeholder=placeholder,
                    log=log_path.read_text(errors="replace"))
    finally:
        if floor is not None:
            floor.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        fake.close()


def check_chat(run: dict) -> None:
    fake, shown, sent_at = run["fake"], run["shown"], run["sent_at"]
    counts = Counter({request: len(times) for request, times in shown.items()})
    assert set(counts) == set(sent_at), set(counts) ^ set(sent_at)
    assert all(n == 1 for n in counts.values()), {r: n for r, n in counts.items() if n != 1}
    assert left_behind(fake, GROUP, run["placeholder"]) == []
    assert not [c for c in fake.calls if c.status == 429], "the limiter let Telegram refuse"


def waits(run: dict) -> tuple[list[float], list[float]]:
    sent_at, shown = run["sent_at"], run["shown"]
    ours = [shown[r][0] - sent_at[r] for r in sent_at]
    floor = [at - sent_at[run["requests"][job]] for job, at in run["floor"].items()
             if run["requests"].get(job) in sent_at]
    return ours, floor


def test_thirty_members_at_once_every_picture_once_nothing_left(tmp_path):
    run = run_group(tmp_path)
    check_chat(run)
    fake = run["fake"]
    ours, floor = waits(run)
    assert len(floor) == MEMBERS
    median, floor_median = statistics.median(ours), statistics.median(floor)
    group_calls = [c for c in fake.calls if str(c.params.get("chat_id")) == str(GROUP)]
    print(f"\n== busy group: {MEMBERS} members at once, AIORateLimiter defaults ==\n"
          f"calls into the group: {len(group_calls)} for {MEMBERS} pictures "
          f"({Counter(c.method for c in group_calls)})\n"
          f"median wait {median:.1f} s, floor {floor_median:.1f} s: "
          f"{median / floor_median:.2f}x; p90 {statistics.quantiles(ours, n=10)[-1]:.1f} s, "
          f"floor p90 {statistics.quantiles(floor, n=10)[-1]:.1f} s")
    assert median <= FLOOR_RATIO_BOUND * floor_median, (median, floor_median)


def test_thirty_members_and_a_kill_nothing_left_after_restart(tmp_path):
    run = run_group(tmp_path, kill_after=8)
    check_chat(run)
    assert run["log"].count("interrupted job(s) back in the queue") <= 1
