"""``python -m bot`` as a subprocess, talked to only through the fake Bot API server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter

import pytest

from bot.frontends.telegram.frontend import placeholder_png
from tests.conftest import ROOT, write_config
from tests.fake_telegram import FakeBotAPI

PNG = b"\x89PNG\r\n\x1a\n"


def status_ids(fake: FakeBotAPI) -> dict[int, int]:
    """request message_id → the message_id of its status message (a placeholder photo)."""
    first: dict[int, int] = {}
    for c in fake.calls_to("sendPhoto"):
        reply = c.params.get("reply_parameters")
        if isinstance(reply, dict):
            first.setdefault(int(reply["message_id"]), c.result["message_id"])
    return first


def pictures(fake: FakeBotAPI) -> Counter:
    """request message_id → how many times a painting reached the user: an edit that replaced
    its status message, or a photo sent as a reply besides the status message."""
    statuses = status_ids(fake)
    by_status = {s: r for r, s in statuses.items()}
    counts: Counter = Counter()
    for c in fake.calls_to("editMessageMedia"):
        request = by_status.get(int(c.params["message_id"]))
        if request is not None:
            counts[request] += 1
    for c in fake.calls_to("sendPhoto"):
        request = int(c.params["reply_parameters"]["message_id"])
        if c.result["message_id"] != statuses.get(request):
            counts[request] += 1
    return counts


def photo_messages(fake: FakeBotAPI, chat_id: int, request: int) -> list[dict]:
    """The photo messages now in the chat that answer ``request`` and show a painting (a
    status message whose reference died with the bot may still show the placeholder)."""
    with fake._lock:
        return [m for (chat, mid), m in fake.messages.items() if chat == chat_id
                and "photo" in m and fake.photos.get((chat, mid)) != placeholder_png()
                and (m.get("reply_to_message") or {}).get("message_id") == request]

pytestmark = pytest.mark.slow


def serve(config, token: str, log_path, **extra_env: str) -> subprocess.Popen:
    env = dict(os.environ, TELEGRAM_TOKEN=token)
    env.pop("PELUKIS_FAULT", None)  # a fault only where a test asks for one
    env.update(extra_env)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log_path, "ab"),
        env=env, cwd=ROOT, start_new_session=True,
    )


def test_killed_mid_queue_and_restarted_delivers_every_photo_exactly_once(tmp_path):
    killed_mid_queue_and_restarted(tmp_path)


def killed_mid_queue_and_restarted(tmp_path, **sections: dict) -> None:
    """The bot (and its engine) killed with three jobs queued, then started again: every
    photo arrives exactly once. ``sections``: more config (the Ray backend's test)."""
    fake = FakeBotAPI()
    config = write_config(tmp_path, bot={"log_level": "DEBUG"}, telegram={
        "base_url": fake.base_url, "base_file_url": fake.base_file_url, "poll_timeout_s": 1,
        "edit_interval_s": 0.2, "rate_limit": False}, **sections)
    log_path = tmp_path / "bot.log"
    proc = serve(config, fake.token, log_path)
    try:
        fake.wait_for(lambda: fake.calls_to("getUpdates"), 60, "the bot to poll")
        users = (201, 202, 203)
        requests = [fake.send_text(uid, uid, f"/generate sebuah mercusuar {uid} --steps 8 "
                                             f"--seed {uid}") for uid in users]
        ids = {r["message_id"] for r in requests}

        fake.wait_for(lambda: set(status_ids(fake)) >= ids, 60, "three queued replies")
        os.killpg(proc.pid, signal.SIGKILL)  # bot and engine die with jobs queued
        proc.wait()
        before = pictures(fake)

        proc = serve(config, fake.token, log_path)
        fake.wait_for(lambda: set(pictures(fake)) >= ids, 120, "every picture")
        # let a late duplicate show itself, then stop politely
        polls = len(fake.calls_to("getUpdates"))
        fake.wait_for(lambda: len(fake.calls_to("getUpdates")) > polls + 2, 30, "more polling")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        counts = pictures(fake)
        assert all(counts[i] == 1 for i in ids), (counts, before)
        assert sum(counts.values()) == len(ids)
        for uid, request in zip(users, requests, strict=True):  # one photo each: the painting
            shown = photo_messages(fake, uid, request["message_id"])
            assert len(shown) == 1 and "Seed:" in shown[0]["caption"], shown
        log = log_path.read_text(errors="replace")
        assert "getUpdates" in log  # DEBUG logging of every request…
        assert fake.token not in log  # …and still no token
        assert fake.token.split(":")[1] not in log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        fake.close()


def test_crash_after_send_before_recording_shows_the_picture_once(tmp_path):
    """Telegram took the picture, the bot died before recording it: the restart's delivery
    edits the same message again (Telegram: "not modified"), it sends no second photo."""
    fake = FakeBotAPI()
    config = write_config(tmp_path, telegram={
        "base_url": fake.base_url, "base_file_url": fake.base_file_url, "poll_timeout_s": 1,
        "edit_interval_s": 0.2, "rate_limit": False})
    log_path = tmp_path / "bot.log"
    user = 301
    proc = serve(config, fake.token, log_path, PELUKIS_FAULT="exit_after_send")
    try:
        fake.wait_for(lambda: fake.calls_to("getUpdates"), 60, "the bot to poll")
        request = fake.send_text(user, user, "/generate sebuah perahu --steps 2 --seed 7")
        rid = request["message_id"]
        status = fake.wait_for(lambda: status_ids(fake).get(rid), 60, "the status photo")
        assert proc.wait(timeout=120) == 137  # died right after the picture was sent
        assert pictures(fake)[rid] == 1
        edited = fake.message(user, status)
        assert "<b>Seed:</b> 7" in edited["caption"] and edited["reply_markup"]

        def media_edits() -> list:
            return [c for c in fake.calls_to("editMessageMedia", answered=False)
                    if int(c.params["message_id"]) == status]

        proc = serve(config, fake.token, log_path)  # no fault this time
        fake.wait_for(lambda: len(media_edits()) >= 2, 60, "the delivery after the crash")
        polls = len(fake.calls_to("getUpdates"))
        fake.wait_for(lambda: len(fake.calls_to("getUpdates")) > polls + 2, 30, "more polling")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        # the same message again, unchanged: Telegram answered "not modified", no new photo
        assert [c.status for c in media_edits()] == [200, 400]
        assert pictures(fake)[rid] == 1
        assert len(fake.calls_to("sendPhoto")) == 1  # only the status message, ever
        shown = photo_messages(fake, user, rid)
        assert len(shown) == 1 and shown[0]["message_id"] == status
        assert shown[0]["caption"] == edited["caption"]

        # it was recorded as delivered: a third start sends nothing
        calls = len(fake.calls)
        proc = serve(config, fake.token, log_path)
        fake.wait_for(lambda: len(fake.calls_to("getUpdates")) > polls + 6, 60, "polling")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        later = {c.method for c in fake.calls[calls:]}
        assert not later & {"sendPhoto", "editMessageMedia", "sendMessage", "sendDocument",
                            "editMessageCaption"}, later
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        fake.close()
