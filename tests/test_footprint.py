"""The bot process stays light: no torch, a fast --help, a small RSS."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.conftest import ROOT, write_config

BOT_MODULES = [
    "bot.cli", "bot.app", "bot.commands.registry", "bot.jobs.dispatcher", "bot.storage",
    "bot.jobs.status", "bot.jobs.delivery", "bot.policy.requests",
    "bot.frontends.console", "bot.oneshot", "bot.translation.chain", "engine.client",
    "engine.protocol", "engine.styles", "engine.errors", "engine.settings", "engine.faults",
    "bot.frontends.telegram", "bot.frontends.discord",
    "bot.translation",
]
HEAVY = ("torch", "diffusers", "transformers", "peft", "accelerate")


def test_bot_side_imports_no_torch():
    code = (
        f"import sys\nfor m in {BOT_MODULES!r}: __import__(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r}]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_help_is_fast():
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True,
                             text=True, check=True, cwd=ROOT)
        best = min(best, time.perf_counter() - start)
    assert "chat" in out.stdout and "generate" in out.stdout
    print(f"python -m bot --help: {best * 1000:.0f} ms")
    assert best < 1.5


def _rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_bot_process_rss_excluding_the_engine(tmp_path):
    config = write_config(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--config", str(config)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        cwd=ROOT,
    )
    proc.stdin.write("/lang en\n/generate a red boat --steps 2 --seed 1\n")
    proc.stdin.flush()
    peak = 0.0
    out = ""
    while "Saved:" not in out:
        line = proc.stdout.readline()
        if not line:
            break
        out += line
        peak = max(peak, _rss_mb(proc.pid))
    peak = max(peak, _rss_mb(proc.pid))
    proc.stdin.close()
    proc.wait(timeout=60)
    assert "Saved:" in out, out
    print(f"bot process RSS (engine excluded): {peak:.0f} MB")
    assert 0 < peak < 150
