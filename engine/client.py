"""Async client for the engine process (torch-free; this is what the bot imports).

It starts ``python -m engine SETTINGS_JSON`` as a child process, waits for READY, and runs
one batch at a time; it numbers the batches and knows which batch holds which job. One task
reads the frames beside the callers, so a caller never reads the pipe itself.

Logging: the client's own lines go to ``pelukis.engine_client``. The engine's stderr is
relayed record by record (``engine.logline``: one line each, tracebacks folded in) under the
engine process's own logger name and level: its modules log as ``pelukis.engine``,
diffusers and transformers under their own names. A line without that shape (a library's
print, a native crash report) goes to ``pelukis.engine`` at WARNING: the operator should see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.errors import EngineError, ErrorKind
from engine.logline import parse_line
from engine.protocol import (
    HEADER,
    Abort,
    BatchDone,
    BatchRequest,
    Dead,
    Error,
    Generate,
    ImageResult,
    Message,
    Progress,
    ReadyInfo,
    ReloadStyles,
    Shutdown,
    StylesReloaded,
    decode,
    decode_header,
    encode,
)
from engine.settings import EngineSettings

log = logging.getLogger("pelukis.engine_client")
engine_log = logging.getLogger("pelukis.engine")  # the engine's stderr lines without a logger

ProgressFn = Callable[[int, int], None]


@dataclass
class _Pending:
    job_ids: set[int]
    on_progress: ProgressFn | None
    results: list[ImageResult] = field(default_factory=list)
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class EngineClient:
    def __init__(self, settings: EngineSettings, *, python: str = sys.executable):
        self.settings = settings
        self.python = python
        self.info: ReadyInfo | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._ready: asyncio.Future | None = None
        self._pending: dict[int, _Pending] = {}  # batch id → the batch in flight
        self._tasks: list[asyncio.Task] = []
        self._next_batch = 1
        self._lock = asyncio.Lock()  # one batch at a time
        self._reloads: dict[int, asyncio.Future] = {}  # request id → its STYLES answer
        self._next_reload = 1

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def concurrency(self) -> int:
        """Batches it takes at once: one process, one batch (engine.backend)."""
        return 1

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self, timeout: float | None = None) -> ReadyInfo:
        """Start the engine process and wait until it has loaded the model; EngineError
        (start) when it cannot."""
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self._proc = await asyncio.create_subprocess_exec(
            self.python, "-m", "engine", self.settings.to_json(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            limit=2**26,
        )
        self._tasks = [
            asyncio.create_task(self._read_frames(), name="engine-frames"),
            asyncio.create_task(self._read_stderr(), name="engine-stderr"),
        ]
        self.info = await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        return self.info

    async def run_batch(
        self, req: BatchRequest, on_progress: ProgressFn | None = None
    ) -> list[ImageResult]:
        """Run one batch (the client gives it the next batch id); its results in job order.
        Raises EngineError when it fails or the process dies."""
        async with self._lock:
            if not self.alive:
                raise EngineError(ErrorKind.DEAD, "engine process is not running")
            batch_id = self._next_batch
            self._next_batch += 1
            pending = _Pending({job.job_id for job in req.jobs}, on_progress)
            self._pending[batch_id] = pending
            try:
                await self._send(Generate(batch_id, req))
                await pending.done
            finally:
                self._pending.pop(batch_id, None)
            return pending.results

    async def reload_styles(self, timeout: float | None = 600.0) -> StylesReloaded:
        """Ask the engine to rescan the adapters folder; it answers between batches with
        the new style list and what failed. EngineError (dead) when the process is gone."""
        if not self.alive or self.info is None:
            raise EngineError(ErrorKind.DEAD, "engine process is not running")
        request_id = self._next_reload
        self._next_reload += 1
        answer = asyncio.get_running_loop().create_future()
        self._reloads[request_id] = answer
        try:
            await self._send(ReloadStyles(request_id))
            return await asyncio.wait_for(answer, timeout)
        finally:
            self._reloads.pop(request_id, None)

    async def abort(self, job_ids: list[int]) -> None:
        """Stop these jobs at the next denoising step: their images are dropped, and a batch
        whose jobs are all aborted ends with EngineError (aborted). Job ids that are in no
        batch in flight are ignored."""
        if not self.alive:
            return
        wanted = set(job_ids)
        for batch_id, pending in list(self._pending.items()):
            ids = sorted(pending.job_ids & wanted)
            if ids:
                await self._send(Abort(batch_id, ids))

    async def close(self, timeout: float = 10.0) -> None:
        """Stop the engine process. A batch in flight may end first, for up to ``timeout``
        (closing stdin would abort it); then SHUTDOWN, and a kill if it has not exited
        ``timeout`` later."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._lock.acquire()
                self._lock.release()  # later batches find the process gone (dead)
            with contextlib.suppress(Exception):
                await self._send(Shutdown())
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def _send(self, msg: Message) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(encode(msg))
        await self._proc.stdin.drain()

    async def _read_frames(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        out = self._proc.stdout
        reason = "engine process exited"
        try:
            while True:
                n_json, n_payload = decode_header(await out.readexactly(HEADER.size))
                body = json.loads(await out.readexactly(n_json))
                payload = await out.readexactly(n_payload) if n_payload else b""
                msg = decode(body, payload)
                self._on_message(msg)
                if isinstance(msg, Dead):
                    reason = msg.message
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception as exc:  # a corrupt frame: treat the engine as dead
            reason = f"bad frame from engine: {exc!r}"
            log.error(reason)
        code = await self._proc.wait()
        self._fail_all(f"{reason} (exit code {code})")

    def _on_message(self, msg: Message) -> None:
        if isinstance(msg, ReadyInfo):
            if self._ready and not self._ready.done():
                self._ready.set_result(msg)
            return
        if isinstance(msg, Dead):
            self._fail_all(msg.message, retry=msg.retry)
            return
        if isinstance(msg, StylesReloaded):
            answer = self._reloads.get(msg.request_id)
            if answer is not None and not answer.done():
                answer.set_result(msg)
            return
        pending = self._pending.get(getattr(msg, "batch_id", None))
        if pending is None:
            return  # a late frame of a batch nobody waits for any more
        if isinstance(msg, Progress):
            if pending.on_progress is not None:
                pending.on_progress(msg.step, msg.total)
        elif isinstance(msg, ImageResult):
            pending.results.append(msg)
        elif isinstance(msg, BatchDone) and not pending.done.done():
            pending.done.set_result(None)
        elif isinstance(msg, Error) and not pending.done.done():
            pending.done.set_exception(EngineError(msg.error, msg.message))

    def _fail_all(self, message: str, retry: bool = True) -> None:
        """The process is gone: a start still waiting fails (start, or broken when it would
        fail again), every batch and reload (dead)."""
        if self._ready and not self._ready.done():
            kind = ErrorKind.START if retry else ErrorKind.BROKEN
            self._ready.set_exception(EngineError(kind, message))
        for pending in self._pending.values():
            if not pending.done.done():
                pending.done.set_exception(EngineError(ErrorKind.DEAD, message))
        for answer in self._reloads.values():
            if not answer.done():
                answer.set_exception(EngineError(ErrorKind.DEAD, message))

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for line in self._proc.stderr:
            text = line.decode(errors="replace").rstrip()
            if not text:
                continue
            record = parse_line(text)
            if record is not None:
                name, level, message = record
                logging.getLogger(name).log(level, "%s", message)
            else:
                engine_log.warning("%s", text)
