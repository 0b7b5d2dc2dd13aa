"""The console chat: the same commands in a terminal (``python -m bot chat``).

Interactive: line editing (readline) and a progress bar per image. Piped: reads one
command per line from stdin and, at end of input, waits until every job it started (and
any left from an earlier run) has ended, so scripts and tests can drive it.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from typing import TextIO

from tqdm import tqdm

from bot.app import App
from bot.caption import Caption
from bot.i18n import t
from bot.models import Incoming, Job, JobState, Result

PLATFORM = "console"
CHAT = "console"


class ConsoleFrontEnd:
    platform = PLATFORM

    def __init__(self, app: App, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout):
        self.app = app
        self.stdin = stdin
        self.out = stdout
        self.interactive = stdin.isatty() and stdout.isatty()
        self.user = getpass.getuser() or "you"
        self._bars: dict[int, tqdm] = {}
        self._last_status: dict[int, str] = {}

    def say(self, text: str, job_id: int | None = None) -> None:
        prefix = f"[#{job_id}] " if job_id is not None else ""
        print(prefix + text, file=self.out, flush=True)

    # -- front end API used by the dispatcher ------------------------------------------------
    async def job_status(self, job: Job, text: str) -> None:
        if self._last_status.get(job.id) != text:
            self._last_status[job.id] = text
            self.say(text, job.id)

    def job_progress(self, job: Job, step: int, total: int) -> None:
        bar = self._bars.get(job.id)
        if bar is None:
            bar = self._bars[job.id] = tqdm(
                total=total, desc=f"#{job.id}", unit="step", file=sys.stderr, leave=False,
                disable=not self.interactive, position=len(self._bars),
            )
        bar.update(step - bar.n)

    async def job_done(self, job: Job, result: Result, caption: Caption) -> None:
        self._close_bar(job.id)
        self.say(t(job.lang, "console_saved", path=result.image_path), job.id)
        self.say(caption.plain())

    async def job_failed(self, job: Job, text: str) -> None:
        self._close_bar(job.id)
        self.say(text, job.id)

    def _close_bar(self, job_id: int) -> None:
        bar = self._bars.pop(job_id, None)
        if bar is not None:
            bar.close()

    # -- the chat loop --------------------------------------------------------------------
    def _read_line(self) -> str | None:
        try:
            if self.interactive:
                return input("pelukis> ")
            line = self.stdin.readline()
            return line if line else None
        except EOFError:
            return None

    async def run(self) -> None:
        if self.interactive:
            import readline  # noqa: F401  (line editing and history for input())

            self.say(t(self.app.config.bot.language, "console_welcome"))
        while (line := await asyncio.to_thread(self._read_line)) is not None:
            line = line.strip()
            if not line:
                continue
            msg = Incoming(platform=PLATFORM, chat_id=CHAT, user_id=self.user,
                           user_name=self.user, text=line, private=True)
            for reply in await self.app.core.handle(msg):
                self.say(reply.text, reply.job_id)
                if reply.job_id is not None:
                    self._last_status[reply.job_id] = reply.text
        await self.wait_idle()

    async def wait_idle(self) -> None:
        """Until no console job is queued or running and every result has been shown."""
        store = self.app.store
        while True:
            busy = await store.jobs_in(JobState.QUEUED, JobState.RUNNING, platform=PLATFORM)
            if not busy:
                await self.app.dispatcher.drain()
                if not await store.undelivered(PLATFORM):
                    return
                await self.app.dispatcher.deliver_pending(PLATFORM)
            await asyncio.sleep(0.1)
