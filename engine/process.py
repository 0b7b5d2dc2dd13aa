"""The engine process: ``python -m engine '<EngineSettings JSON>'``.

Frames (the messages and their rules: `engine.protocol`) come in on stdin and go out on a
private copy of the original stdout; fd 1 is pointed at stderr, so whatever a library prints
can't corrupt the stream.

Threads:
* reader: reads frames from stdin. ABORT is handled right there (it flags the batch, and the
  running batch sees the flag at its next denoising step); everything else is queued for the
  main loop. EOF on stdin means the bot is gone: the running batch is stopped and the process
  exits.
* writer: writes queued frames, so the denoising loop never waits on the pipe.
* main: builds the Engine (DEAD + exit 1 if that fails; ``retry`` false when it would fail
  again: a model that is not there, bad settings), sends READY, then runs one batch at a
  time, and RELOAD_STYLES between batches. SHUTDOWN → exit 0. SIGTERM/SIGINT stop the
  running batch (ERROR aborted) and exit 0.
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

from engine.errors import EngineError, ErrorKind
from engine.logline import route_library_logs, setup_engine_logging
from engine.protocol import (
    HEADER,
    Abort,
    BatchDone,
    Dead,
    Error,
    Generate,
    Kind,
    Message,
    Progress,
    ReloadStyles,
    Shutdown,
    StylesReloaded,
    decode,
    decode_header,
    encode,
)
from engine.settings import EngineSettings

log = logging.getLogger("pelukis.engine")

_EOF = object()  # reader → main: stdin closed
_WAKE = object()  # signal or writer → main: look at the stop flag
_KINDS = {kind.value for kind in Kind}


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
    header = _read_exact(stream, HEADER.size)
    if header is None:
        return None
    n_json, n_payload = decode_header(header)
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
    def __init__(self, settings: EngineSettings, stdin: BinaryIO, frames_out: BinaryIO):
        self.settings = settings
        self.stdin = stdin
        self.frames_out = frames_out
        # Generate, Shutdown, an Error to answer in turn, _EOF or _WAKE
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
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
                    self.send(Error(None, ErrorKind.INVALID, str(exc)))
                    continue
                if frame is None:
                    break
                self._receive(*frame)
        except Exception as exc:  # a broken stream: nothing more can be read reliably
            log.error("engine input stream broken: %s", exc)
        log.info("stdin closed: the bot is gone")
        self._request_stop("stdin closed")
        self.inbox.put(_EOF)

    def _receive(self, body: dict[str, Any], payload: bytes) -> None:
        """One message from the bot: an abort now, the rest in turn by the main loop."""
        kind = body.get("kind")
        try:
            msg = decode(body, payload)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            if kind == Kind.ABORT:
                log.warning("malformed abort ignored: %s", exc)
                return
            batch_id = body.get("batch_id")
            known = isinstance(kind, str) and kind in _KINDS
            text = f"malformed {kind} message: {exc}" if known else str(exc)
            self.inbox.put(Error(batch_id if _is_int(batch_id) else None,
                                 ErrorKind.INVALID, text))
            return
        if isinstance(msg, Abort):
            found = self.aborts.abort(msg.batch_id, msg.job_ids)
            log.info("abort batch %s%s%s", msg.batch_id,
                     f" jobs {msg.job_ids}" if msg.job_ids is not None else "",
                     "" if found else " (not queued: ignored)")
        elif isinstance(msg, Generate):
            try:
                self.aborts.register(msg.batch_id, [job.job_id for job in msg.batch.jobs])
            except TypeError:
                pass  # unhashable job ids: the engine's input check refuses the batch
            self.inbox.put(msg)
        elif isinstance(msg, Shutdown | ReloadStyles):
            self.inbox.put(msg)
        else:
            log.warning("message kind %r ignored: the engine does not take it", kind)
            self.inbox.put(Error(getattr(msg, "batch_id", None), ErrorKind.INVALID,
                                 f"unknown message kind {kind!r}"))

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

    def send(self, msg: Message) -> None:
        self.outbox.put(encode(msg))

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
            self.send(Dead(f"{type(exc).__name__}: {exc}"))
            return 1
        finally:
            self.outbox.put(None)
            writer.join(timeout=10)

    def _serve(self) -> int:
        from engine.core import Engine

        try:
            self.engine = Engine(self.settings)
        except Exception as exc:
            retry = start_may_succeed_later(exc)
            if retry:
                log.exception("engine failed to start")
            else:  # a missing model or bad settings: one line, no traceback to wade through
                log.error("engine failed to start: %s: %s", type(exc).__name__, exc)
            self.send(Dead(f"{type(exc).__name__}: {exc}", retry=retry))
            return 1
        self.send(self.engine.info)

        while True:
            if self.stop.is_set():
                log.info("exiting: %s", self.stop_reason)
                return 0
            try:
                msg = self.inbox.get(timeout=1.0)
            except queue.Empty:
                continue
            if isinstance(msg, Shutdown):
                log.info("shutdown requested")
                return 0
            if isinstance(msg, Generate):
                self._generate(msg)
            elif isinstance(msg, ReloadStyles):
                self._reload_styles(msg)
            elif isinstance(msg, Error):  # a message the reader could not use, answered in turn
                log.warning("%s", msg.message)
                self.send(msg)
                self._forget(msg.batch_id)

    def _generate(self, msg: Generate) -> None:
        batch_id, req = msg.batch_id, msg.batch

        def on_step(step: int, total: int) -> None:
            self.send(Progress(batch_id, step, total))

        def should_abort() -> bool:
            return self.stop.is_set() or self.aborts.batch_aborted(batch_id)

        started = time.perf_counter()
        try:
            results = self.engine.run_batch(req, on_step, should_abort, batch_id=batch_id)
        except EngineError as exc:
            message = exc.message
            if exc.kind == ErrorKind.ABORTED and self.stop.is_set():
                message = f"{message} (engine stopping: {self.stop_reason})"
            log.info("batch %s: %s: %s", batch_id, exc.kind, message)
            self.send(Error(batch_id, exc.kind, message))
        except Exception as exc:
            log.error("batch %s failed:\n%s", batch_id, traceback.format_exc())
            self.send(Error(batch_id, ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}"))
        else:
            withheld = self.aborts.jobs_aborted(batch_id)
            sent = 0
            for result in results:
                if result.job_id in withheld:
                    continue
                self.send(result)
                sent += 1
            self.send(BatchDone(batch_id, sent, sorted(withheld)))
            log.info("batch %s: %d image(s) in %.2f s", batch_id, sent,
                     time.perf_counter() - started)
        finally:
            self._forget(batch_id)

    def _reload_styles(self, msg: ReloadStyles) -> None:
        try:
            answer = self.engine.reload_styles(msg.request_id)
        except Exception as exc:  # never takes the loaded styles down with it
            log.error("reloading styles failed:\n%s", traceback.format_exc())
            answer = StylesReloaded(msg.request_id, self.engine.registry.names(),
                                    list(self.engine.lora_styles),
                                    failures=dict(self.engine.style_failures),
                                    error=f"{type(exc).__name__}: {exc}")
        self.send(answer)

    def _forget(self, batch_id: Any) -> None:
        if _is_int(batch_id):
            self.aborts.forget(batch_id)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# start failures worth a restart: memory another process may free, a network hiccup
_TRANSIENT = {"OutOfMemoryError", "ConnectionError", "TimeoutError", "Timeout",
              "ConnectTimeout", "ReadTimeout", "ConnectError", "RemoteDisconnected"}
# ... except these: offline mode, or files not in the cache, stay so until the operator acts
_LASTING = {"OfflineModeIsEnabled", "LocalEntryNotFoundError", "RepositoryNotFoundError",
            "RevisionNotFoundError", "EntryNotFoundError", "GatedRepoError"}


def start_may_succeed_later(exc: BaseException) -> bool:
    """Whether the same start could work if tried again. A model id that is not on the hub
    or in the cache, a missing folder, bad settings or a config error fail every time."""
    seen: BaseException | None = exc
    chain = []
    while seen is not None and len(chain) < 20:
        chain.append({cls.__name__ for cls in type(seen).__mro__})
        seen = seen.__cause__ or seen.__context__
    if any(names & _LASTING for names in chain):
        return False
    return any(names & _TRANSIENT for names in chain)


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
    route_library_logs()  # their warnings keep their level in the bot's log


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

    setup_engine_logging(os.environ.get("PELUKIS_ENGINE_LOG", "INFO"))
    try:
        settings = EngineSettings.from_json(argv[0]) if argv else EngineSettings()
    except (TypeError, ValueError) as exc:
        message = f"bad engine settings: {exc}"
        log.error(message)
        frames_out.write(encode(Dead(message)))
        return 1

    _quiet_libraries()
    proc = EngineProcess(settings, stdin, frames_out)
    signal.signal(signal.SIGTERM, proc.on_signal)
    signal.signal(signal.SIGINT, proc.on_signal)
    return proc.run()
