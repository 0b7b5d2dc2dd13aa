"""SIGTERM to a real ``python -m bot`` during a batch loses nothing: the batch in flight is
finished and sent (or, past half of ``shutdown_timeout_s``, goes back to the queue), the
process exits 0, and after a restart every job is delivered exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3

import pytest

from tests.conftest import write_config
from tests.fake_telegram import FakeBotAPI
from tests.test_telegram_process import pictures, serve

pytestmark = pytest.mark.slow


def states(database) -> dict[int, tuple[str, bool]]:
    """job id → (state, delivered), read as the operator would, beside the running bot."""
    con = sqlite3.connect(database.resolve().as_uri() + "?mode=ro", uri=True, timeout=5)
    try:
        rows = con.execute("SELECT id, state, delivered_at IS NOT NULL FROM jobs").fetchall()
    finally:
        con.close()
    return {i: (s, bool(d)) for i, s, d in rows}


def setup(tmp_path, **bot):
    fake = FakeBotAPI()
    config = write_config(tmp_path, bot=bot, engine={"max_batch": 2}, telegram={
        "base_url": fake.base_url, "base_file_url": fake.base_file_url, "poll_timeout_s": 1,
        "edit_interval_s": 0.2, "rate_limit": False})
    return fake, config, tmp_path / "pelukis.db", tmp_path / "bot.log"


def running(database) -> set[int]:
    return {i for i, (s, _) in states(database).items() if s == "running"}


def test_sigterm_mid_batch_finishes_it_and_the_rest_run_after_a_restart(tmp_path):
    fake, config, database, log_path = setup(tmp_path, shutdown_timeout_s=120)
    proc = serve(config, fake.token, log_path)
    try:
        fake.wait_for(lambda: fake.calls_to("getUpdates"), 60, "the bot to poll")
        users = (501, 502, 503)
        requests = {uid: fake.send_text(uid, uid, f"/generate sebuah kincir {uid} --steps 12 "
                                                  f"--seed {uid}")["message_id"]
                    for uid in users}
        fake.wait_for(lambda: len(states(database)) == len(users), 60, "three jobs queued")
        painting = fake.wait_for(lambda: running(database), 60, "a batch painting")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
        after = states(database)
        # the batch in flight was painted and sent before the exit; the others wait
        assert all(after[i] == ("done", True) for i in painting), (painting, after)
        assert not running(database)
        assert {s for i, (s, _) in after.items() if i not in painting} <= {"queued", "done"}
        first = pictures(fake)

        proc = serve(config, fake.token, log_path)
        fake.wait_for(lambda: set(pictures(fake)) >= set(requests.values()), 120,
                      "every picture")
        fake.wait_for(lambda: all(v == ("done", True) for v in states(database).values()), 30,
                 "every job recorded as delivered")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        counts = pictures(fake)
        assert all(counts[r] == 1 for r in requests.values()), (counts, first)
        assert sum(counts.values()) == len(users)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        fake.close()


def test_a_batch_longer_than_the_timeout_goes_back_to_the_queue(tmp_path):
    # aborted after half of the 1 s timeout; 50 steps take seconds even on a fast CPU
    fake, config, database, log_path = setup(tmp_path, shutdown_timeout_s=1)
    proc = serve(config, fake.token, log_path)
    try:
        fake.wait_for(lambda: fake.calls_to("getUpdates"), 60, "the bot to poll")
        fake.send_text(601, 601, "/generate sebuah menara --steps 50 --seed 6")
        fake.wait_for(lambda: running(database), 60, "the batch painting")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        # back in the queue, unsent: the next start paints it (the restart path of the test
        # above and of tests/test_telegram_process.py)
        assert list(states(database).values()) == [("queued", False)]
        assert "aborted, back in the queue" in log_path.read_text()
        assert not pictures(fake)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        fake.close()
