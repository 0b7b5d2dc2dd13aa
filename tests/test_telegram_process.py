"""``python -m bot`` as a subprocess, talked to only through the fake Bot API server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter

import pytest

from tests.conftest import ROOT, write_config
from tests.fake_telegram import FakeBotAPI

pytestmark = pytest.mark.slow


def serve(config, token: str, log_path) -> subprocess.Popen:
    env = dict(os.environ, TELEGRAM_TOKEN=token)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log_path, "ab"),
        env=env, cwd=ROOT, start_new_session=True,
    )


def test_killed_mid_queue_and_restarted_delivers_every_photo_exactly_once(tmp_path):
    fake = FakeBotAPI()
    config = write_config(tmp_path, bot={"log_level": "DEBUG"}, telegram={
        "base_url": fake.base_url, "base_file_url": fake.base_file_url, "poll_timeout_s": 1,
        "edit_interval_s": 0.2, "rate_limit": False})
    log_path = tmp_path / "bot.log"
    proc = serve(config, fake.token, log_path)
    try:
        fake.wait_for(lambda: fake.calls_to("getUpdates"), 60, "the bot to poll")
        users = (201, 202, 203)
        requests = [fake.send_text(uid, uid, f"/generate sebuah mercusuar {uid} --steps 8 "
                                             f"--seed {uid}") for uid in users]
        ids = {r["message_id"] for r in requests}

        def queued():
            return {int(c.params["reply_parameters"]["message_id"])
                    for c in fake.calls_to("sendMessage")
                    if isinstance(c.params.get("reply_parameters"), dict)} >= ids

        fake.wait_for(queued, 60, "three queued replies")
        os.killpg(proc.pid, signal.SIGKILL)  # bot and engine die with jobs queued
        proc.wait()
        before = len(fake.calls_to("sendPhoto"))

        proc = serve(config, fake.token, log_path)

        def photos() -> Counter:
            return Counter(int(c.params["reply_parameters"]["message_id"])
                           for c in fake.calls_to("sendPhoto"))

        fake.wait_for(lambda: set(photos()) >= ids, 120, "every photo")
        # let a late duplicate show itself, then stop politely
        fake.wait_for(lambda: len(fake.calls_to("getUpdates")) > 3, 30, "more polling")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        counts = photos()
        assert all(counts[i] == 1 for i in ids), (counts, before)
        assert sum(counts.values()) == len(ids)
        log = log_path.read_text(errors="replace")
        assert "getUpdates" in log  # DEBUG logging of every request…
        assert fake.token not in log  # …and still no token
        assert fake.token.split(":")[1] not in log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        fake.close()
