"""The engine process: ``python -m engine '<EngineSettings JSON>'``.

Frames (see `engine.protocol`) come in on stdin and go out on a private copy of the original
stdout; fd 1 is pointed at stderr, so whatever a library prints can't corrupt the stream.

Threads:
* reader: reads frames from stdin. ABORT is handled right there (it flags the batch, and the
  running batch sees the flag at its next denoising step); everything else is queued for the
  main loop. EOF on stdin means the bot is gone: the running batch is stopped and the process
  exits.
* writer: writes queued frames, so the denoising loop never waits on the pipe.
* main: builds the Engine (DEAD + exit 1 if that fails), sends READY, then runs one batch at a
  time: PROGRESS per step, one RESULT per image (PNG payload), BATCH_DONE; or one ERROR
  (error: invalid | oom | aborted | internal). SHUTDOWN → exit 0. SIGTERM/SIGINT stop the
  running batch (ERROR aborted) and exit 0.

Messages the engine understands:
* ``{"kind": "generate", **BatchRequest}``
* ``{"kind": "abort", "batch_id": N}`` — the whole batch; or with ``"job_ids": [...]`` only
  those jobs: their RESULTs are withheld (listed in BATCH_DONE's ``aborted_job_ids``), and
  the batch stops when every job of it is aborted. An abort for a batch that is queued but
  not started yet makes it end at once with ERROR aborted; for an unknown or finished batch
  it is ignored.
* ``{"kind": "shutdown"}``
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import sys
import threading
import time
import traceback
from typing import Any, BinaryIO

from engine import protocol as P

log = logging.getLogger("pelukis.engine")

_EOF = {"kind": "_eof"}  # reader → main: stdin closed
_WAKE = {"kind": "_wake"}  # signal → main: look at the stop flag


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    """n bytes, or None at EOF before the first byte; EOFError inside a frame."""
    chunks = []
    got = 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            if got == 0:
                return None
            raise EOFError(f"stdin closed inside a frame ({got} of {n} bytes)")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO) -> tuple[dict[str, Any], bytes] | None:
    """One frame from ``stream``; None at a clean EOF."""
    header = _read_exact(stream, P.HEADER.size)
    if header is None:
        return None
    n_json, n_payload = P.decode_header(header)
    body = _read_exact(stream, n_json) if n_json else b""
    payload = _read_exact(stream, n_payload) if n_payload else b""
    if body is None or payload is None:
        raise EOFError("stdin closed inside a frame")
    try:
        msg = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadFrame(f"frame is not JSON: {exc}") from exc
    if not isinstance(msg, dict):
        raise BadFrame(f"frame JSON is not an object: {msg!r:.80}")
    return msg, payload


class BadFrame(ValueError):
    """A whole frame was read but its JSON is unusable; the stream itself is still in step."""


class Aborts:
    """Which batches (or jobs of them) were aborted; shared by the reader and the main loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[int, set[int]] = {}  # batch_id → job ids, for queued/running batches
        self._batches: set[int] = set()
        self._aborted_jobs: dict[int, set[int]] = {}

    def register(self, batch_id: int, job_ids: list[int]) -> None:
        with self._lock:
            self._jobs[batch_id] = set(job_ids)

    def abort(self, batch_id: int, job_ids: list[int] | None = None) -> bool:
        with self._lock:
            if batch_id not in self._jobs:
                return False
            if job_ids is None:
                self._batches.add(batch_id)
            else:
                done = self._aborted_jobs.setdefault(batch_id, set())
                done.update(job_ids)
                if self._jobs[batch_id] <= done:
                    self._batches.add(batch_id)
            return True

    def batch_aborted(self, batch_id: int) -> bool:
        with self._lock:
            return batch_id in self._batches

    def jobs_aborted(self, batch_id: int) -> set[int]:
        with self._lock:
            return set(self._aborted_jobs.get(batch_id, ()))

    def forget(self, batch_id: int) -> None:
        with self._lock:
            self._jobs.pop(batch_id, None)
            self._batches.discard(batch_id)
            self._aborted_jobs.pop(batch_id, None)


class EngineProcess:
    def __init__(self, settings: P.EngineSettings, stdin: BinaryIO, frames_out: BinaryIO):
        self.settings = settings
        self.stdin = stdin
        self.frames_out = frames_out
        self.inbox: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.aborts = Aborts()
        self.stop = threading.Event()  # signal, EOF on stdin, or a dead frame stream
        self.stop_reason = ""
        self.engine = None

    # ---- threads

    def _reader(self) -> None:
        try:
            while True:
                try:
                    frame = read_frame(self.stdin)
                except BadFrame as exc:
                    log.error("%s", exc)
                    self._error(None, "invalid", str(exc))
                    continue
                if frame is None:
                    break
                msg, _payload = frame
                kind = msg.get("kind")
                if kind == P.ABORT:
                    job_ids = msg.get("job_ids")
                    found = self.aborts.abort(int(msg.get("batch_id", -1)),
                                              None if job_ids is None else list(job_ids))
                    log.info("abort batch %s%s%s", msg.get("batch_id"),
                             f" jobs {job_ids}" if job_ids is not None else "",
                             "" if found else " (not queued: ignored)")
                    continue
                if kind == P.GENERATE:
                    try:
                        self.aborts.register(int(msg["batch_id"]),
                                             [int(j["job_id"]) for j in msg.get("jobs", [])])
                    except (KeyError, TypeError, ValueError):
                        pass  # the main loop reports it as invalid
                self.inbox.put(msg)
        except Exception as exc:  # a broken stream: nothing more can be read reliably
            log.error("engine input stream broken: %s", exc)
        log.info("stdin closed: the bot is gone")
        self._request_stop("stdin closed")
        self.inbox.put(_EOF)

    def _writer(self) -> None:
        while True:
            frame = self.outbox.get()
            if frame is None:
                return
            try:
                self.frames_out.write(frame)
                self.frames_out.flush()
            except (BrokenPipeError, OSError, ValueError) as exc:
                log.error("engine output stream broken: %s", exc)
                self._request_stop("stdout closed")
                self.inbox.put(_WAKE)
                return

    def send(self, msg: dict[str, Any], payload: bytes = b"") -> None:
        self.outbox.put(P.encode(msg, payload))

    def _request_stop(self, reason: str) -> None:
        if not self.stop.is_set():
            self.stop_reason = reason
            self.stop.set()

    def on_signal(self, signum, frame) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        self._request_stop(signal.Signals(signum).name)
        self.inbox.put(_WAKE)  # SimpleQueue.put is reentrant: safe in a signal handler

    # ---- main loop

    def run(self) -> int:
        writer = threading.Thread(target=self._writer, name="engine-writer", daemon=True)
        writer.start()
        reader = threading.Thread(target=self._reader, name="engine-reader", daemon=True)
        reader.start()
        try:
            return self._serve()
        except Exception as exc:
            log.exception("engine loop failed")
            self.send({"kind": P.DEAD, "message": f"{type(exc).__name__}: {exc}"})
            return 1
        finally:
            self.outbox.put(None)
            writer.join(timeout=10)

    def _serve(self) -> int:
        from engine.core import Engine

        try:
            self.engine = Engine(self.settings)
        except Exception as exc:
            log.exception("engine failed to start")
            self.send({"kind": P.DEAD, "message": f"{type(exc).__name__}: {exc}"})
            return 1
        self.send(self.engine.info.to_dict())

        while True:
            if self.stop.is_set():
                log.info("exiting: %s", self.stop_reason)
                return 0
            try:
                msg = self.inbox.get(timeout=1.0)
            except queue.Empty:
                continue
            kind = msg.get("kind")
            if kind == P.SHUTDOWN:
                log.info("shutdown requested")
                return 0
            if kind in (_EOF["kind"], _WAKE["kind"]):
                continue
            if kind == P.GENERATE:
                self._generate(msg)
            else:
                log.warning("unknown message kind %r ignored", kind)
                self.send({"kind": P.ERROR, "batch_id": msg.get("batch_id"),
                           "error": "invalid", "message": f"unknown message kind {kind!r}"})

    def _generate(self, msg: dict[str, Any]) -> None:
        from engine.core import EngineError

        batch_id = msg.get("batch_id")
        try:
            req = P.BatchRequest.from_dict(msg)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            self._error(batch_id, "invalid", f"malformed generate message: {exc}")
            self._forget(batch_id)
            return

        def on_step(step: int, total: int) -> None:
            self.send({"kind": P.PROGRESS, "batch_id": req.batch_id, "step": step,
                       "total": total})

        def should_abort() -> bool:
            return self.stop.is_set() or self.aborts.batch_aborted(req.batch_id)

        started = time.perf_counter()
        try:
            results = self.engine.run_batch(req, on_step=on_step, should_abort=should_abort)
        except EngineError as exc:
            if exc.kind == "aborted" and self.stop.is_set():
                exc = type(exc)(f"{exc} (engine stopping: {self.stop_reason})")
            log.info("batch %s: %s: %s", req.batch_id, exc.kind, exc)
            self._error(req.batch_id, exc.kind, str(exc))
        except Exception as exc:
            log.error("batch %s failed:\n%s", req.batch_id, traceback.format_exc())
            self._error(req.batch_id, "internal", f"{type(exc).__name__}: {exc}")
        else:
            withheld = self.aborts.jobs_aborted(req.batch_id)
            sent = 0
            for result in results:
                if result.job_id in withheld:
                    continue
                self.send(result.header(), result.png)
                sent += 1
            self.send({"kind": P.BATCH_DONE, "batch_id": req.batch_id, "results": sent,
                       "aborted_job_ids": sorted(withheld)})
            log.info("batch %s: %d image(s) in %.2f s", req.batch_id, sent,
                     time.perf_counter() - started)
        finally:
            self._forget(req.batch_id)

    def _error(self, batch_id: Any, error: str, message: str) -> None:
        self.send({"kind": P.ERROR, "batch_id": batch_id, "error": error, "message": message})

    def _forget(self, batch_id: Any) -> None:
        if isinstance(batch_id, int):
            self.aborts.forget(batch_id)


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import diffusers
        import transformers

        diffusers.utils.logging.disable_progress_bar()
        transformers.utils.logging.disable_progress_bar()
    except Exception:  # pragma: no cover - best effort
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The frame stream is a private copy of stdout; fd 1 now goes to stderr.
    sys.stdout.flush()
    frames_fd = os.dup(1)
    os.dup2(2, 1)
    frames_out = os.fdopen(frames_fd, "wb", buffering=0)
    # Unbuffered: a daemon reader blocked in a BufferedReader would abort the interpreter
    # at exit ("could not acquire lock for <stdin> at interpreter shutdown").
    stdin = open(0, "rb", buffering=0, closefd=False)

    level = os.environ.get("PELUKIS_ENGINE_LOG", "INFO").upper()
    logging.basicConfig(
        stream=sys.stderr, level=getattr(logging, level, logging.INFO),
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = P.EngineSettings.from_json(argv[0]) if argv else P.EngineSettings()
    except (TypeError, ValueError) as exc:
        message = f"bad engine settings: {exc}"
        log.error(message)
        frames_out.write(P.encode({"kind": P.DEAD, "message": message}))
        return 1

    _quiet_libraries()
    proc = EngineProcess(settings, stdin, frames_out)
    signal.signal(signal.SIGTERM, proc.on_signal)
    signal.signal(signal.SIGINT, proc.on_signal)
    return proc.run()
