"""The engine process end to end: `python -m engine SETTINGS` speaking frames on stdin/stdout."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.errors import ErrorKind
from engine.protocol import (
    HEADER,
    Abort,
    BatchDone,
    BatchRequest,
    Generate,
    ImageResult,
    JobSpec,
    Kind,
    Message,
    ReadyInfo,
    Shutdown,
    decode_header,
    encode,
    encode_raw,
)
from engine.settings import EngineSettings

pytest.importorskip("torch")

from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same folder as tests/test_engine.py uses: the tiny model is built once per session."""
    return tmp_path_factory.getbasetemp() / "pelukis-models"


class Engine:
    """A started engine process and a blocking frame reader (with a deadline)."""

    def __init__(self, settings: EngineSettings, log: Path):
        self.log = log
        self.stderr = log.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", settings.to_json()],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
        )

    def send(self, msg: Message | dict) -> None:
        self.proc.stdin.write(encode_raw(msg) if isinstance(msg, dict) else encode(msg))
        self.proc.stdin.flush()

    def _read(self, n: int) -> bytes:
        data = self.proc.stdout.read(n)
        if len(data) != n:
            raise AssertionError(f"engine stream ended; stderr:\n{self.log.read_text()[-3000:]}")
        return data

    def frame(self) -> tuple[dict, bytes]:
        n_json, n_payload = decode_header(self._read(HEADER.size))
        msg = json.loads(self._read(n_json))
        return msg, self._read(n_payload) if n_payload else b""

    def until(self, kind: str) -> list[tuple[dict, bytes]]:
        """Frames up to and including the first of ``kind``."""
        frames = []
        while True:
            frames.append(self.frame())
            if frames[-1][0]["kind"] in (kind, Kind.DEAD):
                return frames

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self.stderr.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


@pytest.fixture
def start(model_cache: Path, tmp_path: Path):
    started: list[Engine] = []

    def _start(**overrides) -> Engine:
        fields = {"model": "tiny", "clip_model": "tiny", "adapters": str(ROOT / "adapters"),
                  "cache": str(model_cache), "threads": 1, **overrides}
        settings = EngineSettings(**fields)
        engine = Engine(settings, tmp_path / f"engine-{len(started)}.log")
        started.append(engine)
        return engine

    yield _start
    for engine in started:
        engine.kill()


def generate(batch_id: int, steps: int = 3, width: int = 64) -> Generate:
    return Generate(batch_id, BatchRequest(
        style="kancil", width=width, height=64, steps=steps, cfg=7.0,
        jobs=[JobSpec(job_id=10 * batch_id + i, prompt=p, seed=i)
              for i, p in enumerate(["a cat", "a boat"])],
    ))


def test_round_trip(start) -> None:
    engine = start()
    msg, _ = engine.frame()
    assert msg["kind"] == Kind.READY, msg
    info = ReadyInfo.from_dict(msg)
    assert (info.model, info.width, info.height, info.test_model) == ("tiny", 64, 64, True)
    assert info.lora_styles == ["fantasy-landscape", "kancil", "retro-anime"]

    engine.send(generate(1))
    frames = engine.until(Kind.BATCH_DONE)
    kinds = [m["kind"] for m, _ in frames]
    assert kinds == [Kind.PROGRESS] * 3 + [Kind.RESULT] * 2 + [Kind.BATCH_DONE]
    assert [(m["step"], m["total"]) for m, _ in frames[:3]] == [(1, 3), (2, 3), (3, 3)]
    results = [ImageResult.from_dict(m, payload) for m, payload in frames[3:5]]
    assert [r.job_id for r in results] == [10, 11]
    for r in results:
        image = Image.open(io.BytesIO(r.png))
        assert image.format == "PNG" and image.size == (64, 64)
        assert 0 <= r.clip_score <= 100 and r.batch_id == 1
    assert frames[-1][0] == {"kind": Kind.BATCH_DONE, "batch_id": 1, "results": 2,
                             "aborted_job_ids": []}
    assert BatchDone.from_dict(frames[-1][0]) == BatchDone(1, 2, [])

    # an invalid batch is answered with ERROR; the process goes on
    engine.send(generate(2, width=65))
    (msg, _), = engine.until(Kind.ERROR)
    assert msg["batch_id"] == 2 and msg["error"] == ErrorKind.INVALID
    assert "width 65" in msg["message"]
    engine.send({"kind": Kind.GENERATE, "batch_id": 3, "jobs": "nonsense"})
    (msg, _), = engine.until(Kind.ERROR)
    assert msg["batch_id"] == 3 and msg["error"] == ErrorKind.INVALID
    engine.send({"kind": "paint", "batch_id": 3})  # not a kind at all
    (msg, _), = engine.until(Kind.ERROR)
    assert msg["error"] == ErrorKind.INVALID and "unknown message kind 'paint'" in msg["message"]
    engine.proc.stdin.write(HEADER.pack(5, 0) + b"nope!")  # a frame that is not JSON
    engine.proc.stdin.flush()
    (msg, _), = engine.until(Kind.ERROR)
    assert msg["batch_id"] is None and msg["error"] == ErrorKind.INVALID

    # the same request again: the same bytes
    engine.send(generate(1))
    again = [payload for m, payload in engine.until(Kind.BATCH_DONE) if m["kind"] == Kind.RESULT]
    assert again == [r.png for r in results]

    # abort: a long batch stops at once
    engine.send(generate(4, steps=100))
    engine.send(Abort(4))
    msg, _ = engine.until(Kind.ERROR)[-1]
    assert msg["batch_id"] == 4 and msg["error"] == ErrorKind.ABORTED, msg

    # abort of some jobs: their results are withheld
    engine.send(generate(5))
    engine.send(Abort(5, [50]))
    frames = engine.until(Kind.BATCH_DONE)
    assert [m["job_id"] for m, _ in frames if m["kind"] == Kind.RESULT] == [51]
    assert frames[-1][0]["aborted_job_ids"] == [50]

    engine.send(Shutdown())
    assert engine.wait() == 0
    assert engine.proc.stdout.read() == b""  # nothing after the last frame
    assert "INFO pelukis.engine" in engine.log.read_text()  # logs went to stderr


def test_stdin_eof_and_sigterm_end_the_process(start) -> None:
    first, second = start(), start()
    for engine in (first, second):
        assert engine.frame()[0]["kind"] == Kind.READY
    first.proc.stdin.close()  # the bot died
    assert first.wait() == 0
    second.send(generate(1, steps=100))
    assert second.frame()[0]["kind"] == Kind.PROGRESS  # running
    second.proc.send_signal(signal.SIGTERM)
    msg, _ = second.until(Kind.ERROR)[-1]
    assert msg["error"] == ErrorKind.ABORTED and "SIGTERM" in msg["message"]
    assert second.wait() == 0


def test_startup_failure_sends_dead(start, tmp_path: Path) -> None:
    engine = start(adapters=str(tmp_path / "missing"))
    started = time.monotonic()
    msg, _ = engine.frame()
    assert msg["kind"] == Kind.DEAD and "missing" in msg["message"]
    assert engine.wait() == 1
    assert time.monotonic() - started < 60
