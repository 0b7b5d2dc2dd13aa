"""Async client for the engine process (torch-free; this is what the bot imports).

It starts ``python -m engine SETTINGS_JSON`` as a child process, waits for READY, and runs
one batch at a time. Frames are read by one task beside the callers (vLLM's split: the
pipe is read outside the work loop); the engine's stderr is forwarded to logging.
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

from engine import protocol as p

log = logging.getLogger("pelukis.engine")

ProgressFn = Callable[[int, int], None]


class EngineError(Exception):
    """A batch failed. ``kind``: invalid | oom | aborted | internal | dead."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


@dataclass
class _Pending:
    on_progress: ProgressFn | None
    results: list[p.ImageResult] = field(default_factory=list)
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class EngineClient:
    def __init__(self, settings: p.EngineSettings, *, python: str = sys.executable):
        self.settings = settings
        self.python = python
        self.info: p.ReadyInfo | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._ready: asyncio.Future | None = None
        self._pending: dict[int, _Pending] = {}
        self._tasks: list[asyncio.Task] = []
        self._next_batch = 1
        self._lock = asyncio.Lock()  # one batch at a time

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self, timeout: float | None = None) -> p.ReadyInfo:
        """Start the engine process and wait until it has loaded the model."""
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
        self, req: p.BatchRequest, on_progress: ProgressFn | None = None
    ) -> list[p.ImageResult]:
        """Run one batch; raises EngineError when it fails or the process dies."""
        async with self._lock:
            if not self.alive:
                raise EngineError("dead", "engine process is not running")
            req.batch_id = req.batch_id or self._next_batch
            self._next_batch = max(self._next_batch, req.batch_id) + 1
            pending = _Pending(on_progress)
            self._pending[req.batch_id] = pending
            try:
                await self._send(req.to_dict())
                await pending.done
            finally:
                self._pending.pop(req.batch_id, None)
            return pending.results

    async def abort(self, batch_id: int, job_ids: list[int] | None = None) -> None:
        """Stop a batch at its next step; with ``job_ids`` only those jobs' images."""
        if self.alive:
            msg: dict = {"kind": p.ABORT, "batch_id": batch_id}
            if job_ids is not None:
                msg["job_ids"] = job_ids
            await self._send(msg)

    async def close(self, timeout: float = 10.0) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(Exception):
                await self._send({"kind": p.SHUTDOWN})
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

    async def _send(self, msg: dict) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(p.encode(msg))
        await self._proc.stdin.drain()

    async def _read_frames(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        out = self._proc.stdout
        reason = "engine process exited"
        try:
            while True:
                n_json, n_payload = p.decode_header(await out.readexactly(p.HEADER.size))
                msg = json.loads(await out.readexactly(n_json))
                payload = await out.readexactly(n_payload) if n_payload else b""
                self._on_frame(msg, payload)
                if msg["kind"] == p.DEAD:
                    reason = msg.get("message", reason)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception as exc:  # a corrupt frame: treat the engine as dead
            reason = f"bad frame from engine: {exc!r}"
            log.error(reason)
        code = await self._proc.wait()
        self._fail_all(EngineError("dead", f"{reason} (exit code {code})"))

    def _on_frame(self, msg: dict, payload: bytes) -> None:
        kind = msg["kind"]
        if kind == p.READY:
            if self._ready and not self._ready.done():
                self._ready.set_result(p.ReadyInfo.from_dict(msg))
            return
        pending = self._pending.get(msg.get("batch_id", -1))
        if kind == p.DEAD:
            self._fail_all(EngineError("dead", msg.get("message", "engine died")))
        elif pending is None:
            return  # a late frame of a batch nobody waits for any more
        elif kind == p.PROGRESS:
            if pending.on_progress is not None:
                pending.on_progress(msg["step"], msg["total"])
        elif kind == p.RESULT:
            pending.results.append(p.ImageResult.from_frame(msg, payload))
        elif kind == p.BATCH_DONE and not pending.done.done():
            pending.done.set_result(None)
        elif kind == p.ERROR and not pending.done.done():
            error = EngineError(msg.get("error", "internal"), msg.get("message", ""))
            pending.done.set_exception(error)

    def _fail_all(self, exc: EngineError) -> None:
        if self._ready and not self._ready.done():
            self._ready.set_exception(exc)
        for pending in self._pending.values():
            if not pending.done.done():
                pending.done.set_exception(exc)

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for line in self._proc.stderr:
            text = line.decode(errors="replace").rstrip()
            if text:
                # the engine logs "LEVEL name: message"; keep its level on this side
                level = logging.getLevelName(text.split(" ", 1)[0])
                log.log(level if isinstance(level, int) else logging.INFO, "%s", text)
