"""The console chat driven through a pipe, end to end: bot process + engine process + SQLite."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, write_config

pytestmark = pytest.mark.slow

SAVED = re.compile(r"^\[#(\d+)\] Saved: (.+)$", re.M)
QUEUED = re.compile(r"^\[#(\d+)\] Queued", re.M)


def chat(config: Path, script: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--config", str(config)],
        input=script, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )


def captions(stdout: str) -> dict[int, str]:
    """job id → the caption printed after its "Saved" line."""
    out = {}
    for m in SAVED.finditer(stdout):
        block = stdout[m.end():].lstrip("\n").split("\n[#")[0]
        out[int(m.group(1))] = block
    return out


def test_same_settings_give_the_same_image_with_a_full_caption(tmp_path):
    config = write_config(tmp_path)
    script = "\n".join([
        "/lang en",
        "/style kancil",
        "/seed 42",
        "/generate kucing lucu di pasar --steps 3",
        "/generate kucing lucu di pasar --steps 3",
        "/generate kucing lucu di pasar --steps 3 --style retro-anime",
    ]) + "\n"
    run = chat(config, script)
    assert run.returncode == 0, run.stderr[-3000:]
    saved = {int(i): Path(p) for i, p in SAVED.findall(run.stdout)}
    assert len(saved) == 3, run.stdout
    first, second, third = (saved[i].read_bytes() for i in sorted(saved))
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert first == second  # same seed, prompt, style and parameters
    assert first != third  # another style
    for caption in captions(run.stdout).values():
        assert "Prompt: kucing lucu di pasar" in caption
        assert "Seed: 42" in caption and "CFG: 2" in caption and "Steps: 3" in caption
        assert re.search(r"CLIP: \d+\.\d \(test model\)", caption), caption
    assert "Style: Kancil storybook" in captions(run.stdout)[min(saved)]


def test_bad_input_never_breaks_the_chat(tmp_path):
    config = write_config(tmp_path)
    script = "\n".join([
        "/lang en", "/generate", "/cfg abc", "/cfg 99", "/seed 99999999999999999999999",
        "/steps 0", "/generate x --ar 100:1", "/style ../../etc/passwd", "/nosuch",
        "/generate 🐱🐶 ネコ <b>&amp; --steps 2", "/queue",
    ]) + "\n"
    run = chat(config, script)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "isn't a number" in run.stdout and "between 1.0 and 20.0" in run.stdout
    assert "There's no style called “../../etc/passwd”" in run.stdout
    assert "I don't know /nosuch" in run.stdout
    assert len(SAVED.findall(run.stdout)) == 1
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("state", ["queued", "running"])
def test_killed_with_jobs_queued_every_job_finishes_once(tmp_path, state):
    config = write_config(tmp_path)
    n = 4
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--config", str(config)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        cwd=ROOT, start_new_session=True,
    )
    proc.stdin.write("/lang en\n")
    for i in range(n):
        proc.stdin.write(f"/generate a lighthouse number {i} --seed {i} --steps 12\n")
    proc.stdin.flush()
    seen = ""
    deadline = time.time() + 60
    while len(QUEUED.findall(seen)) < n and time.time() < deadline:
        seen += proc.stdout.readline()
    assert len(QUEUED.findall(seen)) == n, seen
    while state == "running" and "Painting" not in seen and time.time() < deadline:
        seen += proc.stdout.readline()  # the first batch is being painted
    os.killpg(proc.pid, signal.SIGKILL)  # the bot and its engine, mid-queue
    proc.wait()
    seen += proc.stdout.read()  # anything it printed before it died
    queued_ids = {int(i) for i in QUEUED.findall(seen)}
    delivered_before = [int(i) for i, _ in SAVED.findall(seen)]

    run = chat(config, "")  # restart with no new input: it resumes what was left
    assert run.returncode == 0, run.stderr[-3000:]
    delivered_after = [int(i) for i, _ in SAVED.findall(run.stdout)]
    delivered = delivered_before + delivered_after
    assert sorted(delivered) == sorted(queued_ids), (delivered_before, delivered_after)
    # a third start has nothing left to say
    again = chat(config, "")
    assert SAVED.findall(again.stdout) == []


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(x) for x in out.split()]


def test_engine_killed_mid_batch_is_restarted_and_the_job_still_arrives(tmp_path):
    config = write_config(tmp_path, engine={"restart_backoff_s": 0.2})
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--config", str(config)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        cwd=ROOT, start_new_session=True,
    )
    try:
        proc.stdin.write("/lang en\n/generate a windmill --seed 3 --steps 50\n")
        proc.stdin.flush()
        seen = ""
        while "Painting" not in seen:
            line = proc.stdout.readline()
            assert line, seen
            seen += line
        engines = _children(proc.pid)
        assert engines, "no engine process"
        for pid in engines:
            os.kill(pid, signal.SIGKILL)  # the GPU process dies mid-batch
        proc.stdin.close()
        rest = proc.stdout.read()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    out = seen + rest
    assert "The painter is restarting" in out
    assert len(SAVED.findall(out)) == 1, out


def test_out_of_memory_splits_the_batch_and_every_image_arrives(tmp_path, monkeypatch):
    # the engine "runs out of memory" for batches above 1: 4 compatible jobs → 2 + 2 → 1s
    monkeypatch.setenv("PELUKIS_FAULT_OOM_ABOVE", "1")  # the engine process inherits it
    config = write_config(tmp_path, engine={"batch_window_ms": 200})
    script = "/lang en\n" + "".join(
        f"/generate a quiet harbour --seed {i} --steps 2\n" for i in range(4))
    run = chat(config, script)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(SAVED.findall(run.stdout)) == 4, run.stdout
    assert "Sorry" not in run.stdout
    # it did split (the chat logs to a file: never between the conversation's lines)
    assert "ran out of memory; splitting it" in (tmp_path / "var" / "pelukis.log").read_text()


def test_killed_with_the_image_stored_but_not_sent_it_is_sent_once(tmp_path):
    config = write_config(tmp_path)
    env = dict(os.environ, PELUKIS_FAULT="exit_after_store")
    crashed = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--config", str(config)],
        input="/lang en\n/generate a paper boat --seed 4 --steps 2\n", capture_output=True,
        text=True, timeout=240, cwd=ROOT, env=env)
    assert crashed.returncode == 137
    assert QUEUED.findall(crashed.stdout) and not SAVED.findall(crashed.stdout)
    assert list((tmp_path / "images").glob("*.png"))  # the image was stored
    run = chat(config, "")
    assert len(SAVED.findall(run.stdout)) == 1, run.stdout
    assert SAVED.findall(chat(config, "").stdout) == []


@pytest.mark.parametrize("action", ["withhold", "blur"])
def test_the_image_check_withholds_or_blurs_and_says_why(tmp_path, action):
    # the tiny CLIP's unsafe concept is the world's skull; a threshold this low flags any
    config = write_config(tmp_path, safety={"check_test_model": True, "mode": "strict",
                                            "strict_threshold": 0.001, "action": action})
    run = chat(config, "/lang en\n/generate a white skull in the middle, on a black "
                       "background --seed 8 --steps 12\n")
    assert run.returncode == 0, run.stderr[-3000:]
    if action == "withhold":
        assert "looked unsafe" in run.stdout and not SAVED.findall(run.stdout)
        assert not list((tmp_path / "images").glob("*.png"))
    else:
        assert len(SAVED.findall(run.stdout)) == 1
        assert "⚠️: blurred: it looked unsafe" in run.stdout


def test_an_indonesian_prompt_is_painted_as_it_says(tmp_path):
    """Offline translation, then the tiny model: the saved picture shows what was asked."""
    from PIL import Image

    from engine.world import stats

    config = write_config(tmp_path)
    # seed 7 paints both right at tiny's guidance 2; the model misses the colour in about
    # 1 painting in 20 (docs/tiny-world.md), so a fixed seed keeps the test exact
    run = chat(config, "/lang en\n/generate lingkaran merah di atas latar biru --seed 7 "
                       "--steps 12\n/generate bintang kuning besar, langit malam --seed 7 "
                       "--steps 12\n")
    assert run.returncode == 0, run.stderr[-3000:]
    saved = {int(i): Path(p) for i, p in SAVED.findall(run.stdout)}
    assert len(saved) == 2, run.stdout
    first, second = (stats.read(Image.open(saved[i])) for i in sorted(saved))
    assert (first.colour, first.background) == ("red", "blue"), first
    assert (second.colour, second.background) == ("yellow", "night"), second
    assert "a red circle on a blue background" in run.stdout  # the English in the caption


def test_an_unusable_image_folder_at_start_is_one_clear_line(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the images folder should be")
    config = write_config(tmp_path, storage={"images": str(blocker / "images")})
    run = chat(config, "/help\n")
    assert run.returncode == 2
    assert run.stderr.startswith("pelukis: storage error:") and "Traceback" not in run.stderr


async def test_an_image_folder_lost_while_running_gets_a_clear_answer(tmp_path):
    import asyncio
    import io
    import shutil

    from bot.app import App
    from bot.config import load_config
    from bot.frontends.console import ConsoleFrontEnd
    from bot.i18n import t
    from bot.models import Incoming

    app = await App.open(load_config(write_config(tmp_path), must_exist=True))
    out = io.StringIO()  # what the console user sees
    console = ConsoleFrontEnd(app.commands, app.board, lambda: None, stdin=io.StringIO(),
                              stdout=out)
    app.add_frontend(console)
    images = tmp_path / "images"
    await asyncio.to_thread(shutil.rmtree, images)
    await asyncio.to_thread(images.write_text, "now a file: the disk is 'full'")
    app.start()
    try:
        replies = await app.commands.handle(Incoming(
            platform="console", chat_id="console", user_id="u",
            text="/generate a green lamp --steps 1", locale="en"))
        await app.board.opened(replies[0].job_id, f"console:{replies[0].job_id}",
                               replies[0].text)
        for _ in range(600):
            if "couldn't save it" in out.getvalue():
                break
            await asyncio.sleep(0.1)
        assert f"[#{replies[0].job_id}] " + t("en", "storage_error") in out.getvalue()
        assert "Saved:" not in out.getvalue()
        helped = await app.commands.handle(Incoming(platform="console", chat_id="console",
                                                    user_id="u", text="/help", locale="en"))
        assert "/generate" in helped[0].text  # still answering
    finally:
        await app.close()


def test_the_chat_stays_clean_and_says_once_when_translation_goes_offline_and_back(tmp_path):
    """Logs go to var/pelukis.log, never between the chat's lines; a translator that fails
    for every prompt is one notice when it goes offline and one when it answers again."""
    from tests.test_translation_chain import FakeLibre

    libre = FakeLibre()
    libre.mode = "error"
    config = write_config(tmp_path, translation={
        "providers": ["libre"], "libre_url": libre.url, "breaker_cooldown_s": 0})
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--config", str(config)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT, start_new_session=True)
    prompts = ["kucing hitam di atas meja", "anjing merah di taman", "burung biru di pohon",
               "rumah besar di desa"]
    try:
        seen = ""

        def send(prompt: str) -> None:
            nonlocal seen
            proc.stdin.write(f"/generate {prompt} --steps 1\n")
            proc.stdin.flush()
            queued = len(QUEUED.findall(seen)) + 1
            while len(QUEUED.findall(seen)) < queued:  # translated and queued
                line = proc.stdout.readline()
                assert line, seen
                seen += line

        proc.stdin.write("/lang en\n")
        send(prompts[0])
        send(prompts[1])  # still failing: no second notice
        libre.mode = "ok"
        send(prompts[2])
        send(prompts[3])
        proc.stdin.close()
        out, err = proc.stdout.read(), proc.stderr.read()  # to the end: the chat exits
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        libre.close()
    out = seen + out
    assert proc.returncode == 0, err[-3000:]
    assert err == ""  # nothing on the terminal but the conversation
    assert not re.search(r"(DEBUG|INFO|WARNING|ERROR) [\w.]+: ", out)  # no log line
    assert "translation offline" not in out and "translation provider" not in out
    assert len(SAVED.findall(out)) == 4
    shown = captions(out)
    assert "EN[burung biru di pohon]" in shown[3] and "EN[rumah besar di desa]" in shown[4]
    log = (tmp_path / "var" / "pelukis.log").read_text()
    offline = [line for line in log.splitlines() if "translation offline" in line]
    assert len(offline) == 1 and " WARNING pelukis.translate: " in offline[0]
    assert "libre: " in offline[0]
    assert log.count("translation online again: libre answered") == 1
    assert "translation provider libre failed" not in log  # per prompt: INFO, below WARNING
