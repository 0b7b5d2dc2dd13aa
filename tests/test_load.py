"""Load: ``python -m bot`` against the fake Bot API server, 210 jobs from 50 users.

40 "heavy" users send 5 jobs each in a burst; while most of those are still queued, 10
"light" users send exactly one job each. Every request must get exactly one photo, the
one-job users must not wait behind the heavy users' whole backlog (fair round-robin order,
not FIFO), and the bot process's memory must stay flat. Run with ``-s`` to see the report.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from types import SimpleNamespace

import pytest

from bot.frontends.telegram.frontend import placeholder_png
from tests.conftest import ROOT, write_config
from tests.fake_telegram import FakeBotAPI, left_behind, paintings

pytestmark = pytest.mark.slow

HEAVY_USERS = 40
HEAVY_JOBS = 5  # each
LIGHT_USERS = 10  # one job each
MAX_BATCH = 8
PROMPT = "/generate kucing lucu di pasar --steps 1 --cfg 7 --seed {seed}"
RSS_GROWTH_MB = 40
RSS_MAX_MB = 150


def rss_mb(pid: int) -> float:
    """VmRSS of this one process (the engine is its child and not counted)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def reply_to(call) -> int | None:
    reply = call.params.get("reply_parameters")
    return int(reply["message_id"]) if isinstance(reply, dict) else None


def first_reply_at(fake: FakeBotAPI, method: str) -> dict[int, float]:
    """request message id → when the bot first answered it with ``method``."""
    seen: dict[int, float] = {}
    for call in fake.calls_to(method):
        rid = reply_to(call)
        if rid is not None and rid not in seen:
            seen[rid] = call.at
    return seen


def test_load_every_job_answered_fairly_and_memory_flat(tmp_path):
    fake = FakeBotAPI()
    default_error = fake.server.handle_error

    def handle_error(request, address):  # a keep-alive the bot drops at exit: no traceback
        if not isinstance(sys.exc_info()[1], ConnectionError):
            default_error(request, address)

    fake.server.handle_error = handle_error
    config = write_config(
        tmp_path,
        bot={"log_level": "INFO"},
        engine={"max_batch": MAX_BATCH, "threads": 2, "batch_window_ms": 50},
        limits={"max_queued_per_user": HEAVY_JOBS + 2, "max_jobs_per_hour": 100,
                "max_queued_per_chat": 500, "max_queue": 1000},
        telegram={"base_url": fake.base_url, "base_file_url": fake.base_file_url,
                  "poll_timeout_s": 1, "edit_interval_s": 1.0, "rate_limit": False},
    )
    log_path = tmp_path / "bot.log"
    env = dict(os.environ, TELEGRAM_TOKEN=fake.token)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log_path, "ab"),
        env=env, cwd=ROOT, start_new_session=True,
    )
    try:
        fake.wait_for(lambda: fake.calls_to("getUpdates"), 60, "the bot to poll")
        rss_boot = rss_mb(proc.pid)
        requests: dict[int, int] = {}  # request message id → user id
        seed = 1000

        asked_at: dict[int, float] = {}  # request message id → when it was sent
        chat_of: dict[int, int] = {}

        def ask(chat_id: int, user_id: int) -> int:
            nonlocal seed
            seed += 1
            message = fake.send_text(chat_id, user_id, PROMPT.format(seed=seed))
            requests[message["message_id"]] = user_id
            asked_at[message["message_id"]] = time.monotonic()
            chat_of[message["message_id"]] = chat_id
            return message["message_id"]

        # heavy users in two groups, each sending their jobs in one burst
        heavy = [1000 + i for i in range(HEAVY_USERS)]
        for uid in heavy:
            chat = -1001 if uid % 2 else -1002
            for _ in range(HEAVY_JOBS):
                ask(chat, uid)
        t_burst = time.monotonic()

        placeholder = placeholder_png()

        def photos() -> list:
            """The pictures, as (request message id, when) pairs: a status message edited
            into its painting, or (in a busy group) the painting sent as a reply."""
            return [SimpleNamespace(request=r, at=at)
                    for r, times in paintings(fake, placeholder).items() for at in times]

        # RSS right after start: at the first photo (engine up, the queue handled once)
        fake.wait_for(lambda: photos(), 60, "the first photo")
        rss_start = rss_mb(proc.pid)
        rss_peak = rss_start
        # light users arrive once most of the heavy backlog is queued
        def jobs_queued() -> int:
            with sqlite3.connect(f"file:{tmp_path / 'pelukis.db'}?mode=ro", uri=True) as con:
                return con.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]

        fake.wait_for(lambda: jobs_queued() >= HEAVY_USERS * HEAVY_JOBS * 3 // 4, 60,
                      "the heavy burst to be queued")
        light_ids = []
        for i in range(LIGHT_USERS):
            uid = 2000 + i
            chat = uid if i % 2 else -1001  # half in private chats, half in a group
            light_ids.append(ask(chat, uid))
            time.sleep(0.3)
            rss_peak = max(rss_peak, rss_mb(proc.pid))
        total = len(requests)
        assert total >= 200

        def all_photos() -> bool:
            nonlocal rss_peak
            rss_peak = max(rss_peak, rss_mb(proc.pid))
            return {p.request for p in photos()} >= set(requests)

        deadline = 110 - (time.monotonic() - started)
        fake.wait_for(all_photos, max(deadline, 10), f"a photo for each of {total} requests")
        t_done = max(c.at for c in photos())
        time.sleep(1.5)  # a late duplicate would show itself now
        rss_end = rss_mb(proc.pid)
        rss_peak = max(rss_peak, rss_end)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)

        # -- every job answered, exactly once, no failures ------------------------------------
        sent = photos()
        counts = Counter(p.request for p in sent)
        dupes = {k: n for k, n in counts.items() if n != 1}
        assert not dupes, f"duplicate photos: {dupes}"
        assert set(counts) == set(requests), set(counts) ^ set(requests)
        texts = [str(c.params.get("text", c.params.get("caption", ""))) for c in fake.calls
                 if c.method in ("sendMessage", "editMessageText", "editMessageCaption")]
        failures = [t for t in texts if "Maaf" in t or "Sorry" in t]
        assert not failures, failures[:5]
        assert not [c for c in fake.calls if c.status != 200]
        q_at = asked_at
        for chat in set(chat_of.values()):  # every status message became its picture or went
            assert left_behind(fake, chat, placeholder) == [], chat
        assert rc == 0, f"exit code {rc} after SIGTERM"

        # -- fairness: jobs ahead of each one-job user ----------------------------------------
        photo_at = {p.request: p.at for p in sent}
        photo_times = sorted(photo_at.values())
        rows = []
        for rid in light_ids:
            t0, t1 = q_at[rid], photo_at[rid]
            ahead = sum(1 for t in photo_times if t0 < t < t1)
            waiting = [r for r in requests if r != rid and q_at[r] < t0 and photo_at[r] > t0]
            users_waiting = len({requests[r] for r in waiting})
            rows.append((rid, ahead, len(waiting), users_waiting, t1 - t0))
        worst = max(rows, key=lambda r: r[1])
        worst_fifo = max(r[2] for r in rows)

        elapsed = t_done - t_burst
        report = [
            "",
            "== load test: python -m bot via the fake Telegram server, tiny model, CPU ==",
            f"jobs: {total} from {HEAVY_USERS + LIGHT_USERS} users "
            f"({HEAVY_USERS}x{HEAVY_JOBS} heavy + {LIGHT_USERS}x1 light), max_batch {MAX_BATCH}",
            f"photos: {len(sent)}, duplicates: 0, failures: 0, exit code {rc}",
            f"time from burst to last photo: {elapsed:.1f} s, {total / elapsed:.2f} images/s "
            f"(whole test {time.monotonic() - started:.1f} s)",
            "one-job users: jobs ahead (photos sent between 'queued' and its photo) vs FIFO "
            "(jobs still waiting when it was queued), distinct users waiting, wait:",
            *[f"  msg {rid}: ahead {a:3d}  fifo {f:3d}  users {u:2d}  {w:5.1f} s"
              for rid, a, f, u, w in rows],
            f"worst jobs ahead: {worst[1]} (FIFO at that moment: {worst[2]}; worst FIFO over "
            f"light users: {worst_fifo}; fair bound {worst[3]} users + 2 batches)",
            f"bot RSS: start {rss_start:.1f} MB (at the first photo; {rss_boot:.1f} MB when "
            f"polling began), end {rss_end:.1f} MB, peak {rss_peak:.1f} MB (engine not counted)",
        ]
        print("\n".join(report))

        for rid, ahead, fifo, users, _ in rows:
            # fair order: behind at most one job per user waiting when it came (the first
            # round), the batch already running, and its own batch mates sent before it
            bound = users + 2 * MAX_BATCH
            assert ahead <= bound, (
                f"one-job request {rid} waited behind {ahead} jobs (FIFO: {fifo}); fair order "
                f"allows {users} waiting users + {2 * MAX_BATCH}")
        assert worst_fifo >= 100, "the scenario never put a long queue ahead of a light user"

        # -- memory of the bot process ----------------------------------------------------------
        assert rss_end <= rss_start + RSS_GROWTH_MB, (rss_start, rss_end)
        assert rss_end < RSS_MAX_MB, rss_end
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        else:  # the engine child too, if it outlived the bot
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        fake.close()
