"""The metrics endpoint: scraped from a real ``python -m bot`` process (against the fake Bot
API), and its parts on their own (the queue read from a real database, route labels)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import QueueCollector, discord_route, parse_address
from bot.models import Job, JobState
from bot.storage import Store
from tests.conftest import ROOT, write_config
from tests.fake_telegram import FakeBotAPI
from tests.test_telegram_process import pictures, serve


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) → value."""
    status, text = get(port, "/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = predicate()
        except (ConnectionError, urllib.error.URLError):
            found = None  # the endpoint is not up yet
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_a_running_bot_serves_the_main_series_after_a_picture(tmp_path):
    fake = FakeBotAPI()
    port = free_port()
    config = write_config(
        tmp_path, bot={"log_format": "json", "log_level": "INFO"},
        metrics={"address": f"127.0.0.1:{port}"},
        telegram={"base_url": fake.base_url, "base_file_url": fake.base_file_url,
                  "poll_timeout_s": 1, "edit_interval_s": 0.2, "rate_limit": False})
    log_path = tmp_path / "bot.log"
    proc = serve(config, fake.token, log_path)
    try:
        wait_until(lambda: get(port, "/healthz")[0] == 200, 90, "a healthy bot")
        assert json.loads(get(port, "/healthz")[1]) == {"loop": "ok", "engine": "ready"}
        blocked = fake.send_text(402, 402, "/generate a p0rn star")
        fake.wait_for(lambda: any(int(c.params["chat_id"]) == 402
                                  for c in fake.calls_to("sendMessage")), 60, "the refusal")
        request = fake.send_text(401, 401, "/generate sebuah mercusuar --steps 2 --seed 1 "
                                           "--style kancil")
        fake.wait_for(lambda: pictures(fake)[request["message_id"]], 90, "the picture")
        delivered = ("pelukis_images_delivered_total", (("platform", "telegram"),))

        def recorded():  # the counter and the row both say delivered
            m = scrape(port)
            return m if m.get(delivered) and not m[("pelukis_jobs_undelivered", ())] else None

        m = wait_until(recorded, 30, "the delivery recorded")

        def value(name: str, **labels: str) -> float:
            return m.get((name, tuple(sorted(labels.items()))), 0.0)

        assert value("pelukis_jobs", state="done") == 1
        assert value("pelukis_jobs", state="queued") == value("pelukis_jobs", state="running") == 0
        assert value("pelukis_images_delivered_total", platform="telegram") == 1
        assert value("pelukis_images_painted_total") == 1
        assert value("pelukis_job_wait_seconds_count") == 1
        assert value("pelukis_batch_paint_seconds_count") == 1
        paint = value("pelukis_batch_paint_seconds_sum")
        # the bot's busy time spans the engine's own pipeline + CLIP time of the batch
        assert 0 < paint <= value("pelukis_engine_busy_seconds_total")
        assert value("pelukis_style_switches_total") == 1  # base model → kancil
        assert value("pelukis_translations_total", provider="offline", outcome="ok") == 1
        assert value("pelukis_moderation_actions_total", action="prompt_blocked") == 1
        assert value("pelukis_engine_up") == 1
        assert not [k for k in m if k[0] == "pelukis_errors_total"]
        # every Bot API call but getUpdates, counted centrally, matches what the server got
        wire = Counter(c.method for c in fake.calls if c.method != "getUpdates")
        sent = {dict(k[1])["method"]: v for k, v in m.items()
                if k[0] == "pelukis_messages_sent_total"}
        assert sent == dict(wire) and sent["sendPhoto"] >= 1 and sent["editMessageMedia"] >= 1
        assert blocked["message_id"] not in pictures(fake)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        records = [json.loads(line) for line in log_path.read_text().splitlines()
                   if line.startswith("{")]
        assert records and all({"time", "level", "logger", "message"} <= r.keys()
                               for r in records)
        assert any(r["logger"] == "pelukis.engine" and r["level"] == "INFO" for r in records)
        assert fake.token.split(":")[1] not in log_path.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        fake.close()


@pytest.mark.slow
def test_health_says_503_and_why_while_the_engine_cannot_start(tmp_path):
    port = free_port()
    config = write_config(tmp_path, engine={"model": str(tmp_path / "no-such-model"),
                                            "restart_backoff_s": 0.2},
                          metrics={"address": f"127.0.0.1:{port}"})
    proc = subprocess.Popen([sys.executable, "-m", "bot", "chat", "--config", str(config)],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
    try:
        def failed_start():
            m = scrape(port)
            return m if any(k[0] == "pelukis_errors_total" for k in m) else None

        m = wait_until(failed_start, 90, "a failed engine start counted")
        errors = {dict(k[1])["kind"] for k in m if k[0] == "pelukis_errors_total"}
        assert errors <= {"start", "broken"} and errors
        assert m[("pelukis_engine_up", ())] == 0
        status, body = get(port, "/healthz")
        assert status == 503 and json.loads(body) == {"loop": "ok", "engine": "not ready"}
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


async def test_the_queue_depth_is_read_from_the_database(tmp_path):
    store = await Store.open(tmp_path / "pelukis.db", tmp_path / "images")
    try:
        jobs = []
        for i in range(5):
            jobs.append(await store.add_job(Job(
                platform="console", chat_id="c", user_id=f"u{i}", lang="en", prompt="a cat",
                prompt_en="a cat", translator="none", style=None, negative="", seed=i,
                cfg=7.0, steps=2)))
        await store.mark_running(jobs[:2])
        await store.fail(jobs[0].id, "failed_invalid", detail="test")
        await store.cancel("console", "c", "u4")
        states, undelivered = QueueCollector(tmp_path / "pelukis.db").counts()
    finally:
        await store.close()
    assert states == {JobState.QUEUED: 2, JobState.RUNNING: 1, JobState.DONE: 0,
                      JobState.FAILED: 1, JobState.CANCELLED: 1}
    assert undelivered == 1  # the failed one: its note is not sent yet


def test_a_missing_database_gives_no_queue_series_rather_than_wrong_ones(tmp_path):
    assert list(QueueCollector(tmp_path / "absent.db").collect()) == []
    assert not (tmp_path / "absent.db").exists()  # read-only: never created by a scrape


def test_discord_routes_carry_no_ids_or_tokens():
    token = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTpzZWNyZXQ"
    assert discord_route("POST", f"/api/v10/interactions/1234567890123/{token}/callback") \
        == "POST interactions/callback"
    assert discord_route("PATCH", f"/api/v10/webhooks/998877665544/{token}/messages/@original") \
        == "PATCH webhooks/messages/@original"
    assert discord_route("POST", "/api/v10/channels/123456789012345678/messages") \
        == "POST channels/messages"


@pytest.mark.parametrize(("address", "expected"), [
    ("127.0.0.1:9464", ("127.0.0.1", 9464)), (":9464", ("0.0.0.0", 9464)),
    ("[::1]:9464", ("::1", 9464)), ("0.0.0.0:80", ("0.0.0.0", 80))])
def test_metrics_addresses(address, expected):
    assert parse_address(address) == expected
