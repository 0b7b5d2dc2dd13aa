"""The console chat: the same commands in a terminal (``python -m bot chat``).

Interactive: line editing and completion of command names (readline, from the command
specs) and a progress bar per image. Log lines never come between the conversation's: the
chat logs to a file (``[bot] log_file``, else ``var/pelukis.log``; the welcome says where).
Piped: reads one command per line from stdin and, at
end of input, waits until every job it started (and any left from an earlier run) has
ended, so scripts and tests can drive it.
"""

from __future__ import annotations

import asyncio
import getpass
import re
import shlex
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from bot.commands.registry import Commands
from bot.frontends.base import Note, Picture
from bot.i18n import t
from bot.jobs.status import StatusBoard
from bot.models import Incoming, Job
from bot.pictures import read_picture_file

PLATFORM = "console"
CHAT = "console"


_IMAGE = re.compile(r"(?:(?<=\s)|^)(?:--|—|–)(?:image|gambar)(?:=|\s+)(\"[^\"]*\"|'[^']*'|\S+)")


def split_image(line: str) -> tuple[str, str | None]:
    """``/generate a cat --image ~/cat.jpg`` → the line without the option, and the path
    (quotes allowed for a path with spaces): the console's way to send a picture."""
    m = _IMAGE.search(line)
    if m is None:
        return line, None
    raw = m.group(1)
    path = shlex.split(raw)[0] if raw[0] in "\"'" else raw
    return (line[:m.start()] + line[m.end():]).strip(), path


def completions(commands: Commands, text: str) -> list[str]:
    """Command names (every alias, both languages) that start with ``text``."""
    return sorted(f"/{name} " for name in commands.by_name if f"/{name}".startswith(text))


class ConsoleFrontEnd:
    platform = PLATFORM

    def __init__(self, commands: Commands, board: StatusBoard,
                 idle: Callable[[], Awaitable[None]], default_lang: str = "id",
                 stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout,
                 log_file: Path | None = None, tiny_model: bool = False):
        self.commands = commands
        self.board = board
        self.idle = idle  # until every console job has ended and been shown
        self.default_lang = default_lang
        self.stdin = stdin
        self.out = stdout
        self.interactive = stdin.isatty() and stdout.isatty()
        self.user = getpass.getuser() or "you"
        self._bars: dict[int, tqdm] = {}
        self.log_file = log_file  # where this process logs (told in the welcome)
        self.tiny_model = tiny_model  # the welcome suggests prompts from the tiny world

    def say(self, text: str, job_id: int | None = None) -> None:
        prefix = f"[#{job_id}] " if job_id is not None else ""
        print(prefix + text, file=self.out, flush=True)

    # -- a job's status: one line per change -------------------------------------------------
    @staticmethod
    def _job_id(ref: str) -> int | None:
        tail = ref.rpartition(":")[2]
        return int(tail) if tail.isdigit() else None

    def edit_interval(self, ref: str) -> float:
        return 0.0

    def progress_step(self, ref: str) -> int:
        return 0  # progress is a bar, not lines

    def progress_text(self, lang: str, percent: int) -> str:
        return t(lang, "progress", percent=percent)

    async def edit_status(self, ref: str, text: str) -> None:
        self.say(text, self._job_id(ref))

    # a terminal has no message budget: every job has its own status line, always opened
    # by this front end, and a cancelled job's bar is closed (its lines stay printed)
    budget = None

    async def open_status(self, job: Job, text: str) -> str:
        self.say(text, job.id)
        return f"{CHAT}:{job.id}"

    async def send_shared(self, chat_id: str, text: str) -> str:
        self.say(text)
        return f"{CHAT}:shared"

    async def edit_shared(self, ref: str, text: str) -> None:
        self.say(text)

    async def delete_status(self, ref: str) -> None:
        job_id = self._job_id(ref)
        bar = self._bars.pop(job_id, None) if job_id is not None else None
        if bar is not None:
            bar.close()

    def on_progress(self, job: Job, step: int, total: int) -> None:
        bar = self._bars.get(job.id)
        if bar is None:
            bar = self._bars[job.id] = tqdm(
                total=total, desc=f"#{job.id}", unit="step", file=sys.stderr, leave=False,
                disable=not self.interactive, position=len(self._bars),
            )
        bar.update(step - bar.n)

    async def finish(self, job: Job, ref: str, outcome: Picture | Note) -> str:
        bar = self._bars.pop(job.id, None)
        if bar is not None:
            bar.close()
        if isinstance(outcome, Picture):
            self.say(t(job.lang, "console_saved", path=outcome.result.image_path), job.id)
            self.say(outcome.caption.plain())
        else:
            self.say(outcome.text, job.id)
        return ref or f"{CHAT}:{job.id}"

    # -- the chat loop --------------------------------------------------------------------
    def _read_line(self) -> str | None:
        try:
            if self.interactive:
                return input("pelukis> ")
            line = self.stdin.readline()
            return line if line else None
        except EOFError:
            return None

    def _enable_completion(self) -> None:
        import readline  # line editing and history for input()

        def complete(text: str, state: int) -> str | None:
            found = completions(self.commands, text)
            return found[state] if state < len(found) else None

        readline.set_completer_delims(" ")
        readline.set_completer(complete)
        readline.parse_and_bind("tab: complete")

    async def run(self) -> None:
        if self.interactive:
            self._enable_completion()
            self.say(t(self.default_lang, "console_welcome"))
            if self.tiny_model:
                self.say(t(self.default_lang, "console_try_tiny"))
            if self.log_file is not None:
                self.say(t(self.default_lang, "console_log", path=self.log_file))
        while (line := await asyncio.to_thread(self._read_line)) is not None:
            line = line.strip()
            if not line:
                continue
            line, image = split_image(line)
            fetch = None
            if image is not None:
                async def fetch(path: str = image) -> bytes:
                    return await read_picture_file(path, self.commands.config.limits)
            msg = Incoming(platform=PLATFORM, chat_id=CHAT, user_id=self.user,
                           user_name=self.user, text=line, private=True,
                           fetch_picture=fetch)
            for reply in await self.commands.handle(msg):
                self.say(reply.text, reply.job_id)
                if reply.job_id is not None:
                    await self.board.opened(reply.job_id, f"{CHAT}:{reply.job_id}", reply.text)
        await self.idle()
