"""The chat commands, answered once for every platform.

``Commands.handle(msg, request)`` answers one command with ``Reply`` objects; a front end
renders them. Who may run a command is decided here, from its spec (``Access``), for every
platform alike. A ``/generate`` job is written to SQLite (``queued``) before its reply says
so; the dispatcher takes it from there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.commands import buttons
from bot.commands.catalog import COMMANDS
from bot.commands.pictures import from_result
from bot.commands.spec import Access, Command, Request
from bot.config import Config
from bot.errors import UserError
from bot.frontends.base import Reply
from bot.i18n import t
from bot.jobs.status import position_text
from bot.models import SEED_MAX, Incoming, Job, JobState
from bot.policy.blocklist import Blocklist
from bot.policy.limits import check_quota
from bot.policy.requests import JobResolver
from bot.policy.settings import Scope, Settings
from bot.storage import Store
from bot.translation.chain import Translator
from engine.styles import StyleRegistry

if TYPE_CHECKING:
    from bot.styles_reload import ReloadOutcome

log = logging.getLogger("pelukis.commands")
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+|$)", re.S)


@dataclass(frozen=True, slots=True)
class TextCommand:
    """``/name@Bot args`` as typed, before the spec reads its options."""

    name: str  # lower case, without the slash
    args: str  # the rest of the text, stripped
    mention: str | None = None  # the bot name after @, if any


def read_command(text: str) -> TextCommand | None:
    """``/cmd@Bot args`` → TextCommand; None when the text is not a command."""
    text = text.strip()
    m = _COMMAND.match(text)
    if not m:
        return None
    return TextCommand(m.group(1).lower(), text[m.end():].strip(), m.group(2))


async def _nothing(job_ids: list[int]) -> None:
    return None


class Commands:
    """The services commands use, and the dispatch from a request to its handler."""

    def __init__(self, config: Config, store: Store, styles: StyleRegistry,
                 translator: Translator, wake: Callable[[], None] = lambda: None,
                 native_size: Callable[[], tuple[int, int] | None] = lambda: None,
                 abort: Callable[[list[int]], Awaitable[None]] | None = None,
                 blocklist: Blocklist | None = None,
                 specs: tuple[Command, ...] = COMMANDS,
                 reload_styles: Callable[[], Awaitable[ReloadOutcome]] | None = None):
        self.config = config
        self.store = store
        self.styles = styles
        self.translator = translator
        self.wake = wake  # tells the dispatcher there is new work
        self.native_size = native_size  # the engine's, once it is ready
        self.abort = abort or _nothing  # stops cancelled jobs that are running
        self.reload_styles = reload_styles  # `/style reload`; None where no engine runs
        # the engine's READY (which extra models it has); None until it is ready
        self.engine_info: Callable[[], Any] = lambda: None
        self.settings = Settings(config, store, styles)
        self.resolver = JobResolver(config, styles, translator,
                                    blocklist or Blocklist(config.safety))
        self.specs = specs
        self.by_name = {name: spec for spec in specs for name in spec.names}
        assert len(self.by_name) == sum(len(s.names) for s in specs), "a name is used twice"

    def spec(self, name: str) -> Command | None:
        return self.by_name.get(name.lower())

    # -- answering -------------------------------------------------------------------------
    async def handle(self, msg: Incoming, request: Request | TextCommand | None = None
                     ) -> list[Reply]:
        """Answer one chat message: a typed ``Request``, a ``TextCommand`` the front end
        has read already, or else ``msg.text``. Never raises for bad input."""
        if isinstance(request, Request):
            return await self._run(msg, request.command, lambda: request)
        text = request if request is not None else read_command(msg.text)
        spec = self.spec(text.name) if text is not None else None
        if text is None or spec is None:
            lang = await self.language(msg)
            if text is None:
                return [Reply(t(lang, "not_a_command"))] if msg.private else []
            return [Reply(t(lang, "unknown_command", command=text.name))]
        return await self._run(msg, spec, lambda: spec.parse(text.args, self.config.limits))

    async def handle_values(self, msg: Incoming, spec: Command, values: dict[str, Any]
                            ) -> list[Reply]:
        """Answer a command whose options the platform typed already (Discord): the spec
        checks them, with the same answers as for chat text."""
        return await self._run(msg, spec, lambda: spec.request(values, self.config.limits))

    async def _run(self, msg: Incoming, spec: Command, read: Callable[[], Request]
                   ) -> list[Reply]:
        """``read`` the request (its values checked), check access, run the handler."""
        lang = await self.language(msg)
        try:
            request = read()
            await self._check_access(msg, request)
            return await spec.handler(self, msg, request, lang)
        except UserError as err:
            return [Reply(t(lang, err.key, **err.values))]
        except sqlite3.OperationalError as exc:  # locked past busy_timeout, disk full, …
            log.error("database error while handling /%s: %s", spec.name, exc)
            return [Reply(t(lang, "db_busy"))]

    async def _check_access(self, msg: Incoming, request: Request) -> None:
        spec = request.command
        needs = spec.access is Access.MODERATORS or (
            spec.access is Access.MODERATORS_TO_CHANGE and request.changes)
        if needs and not await self.is_moderator(msg):
            raise UserError(spec.denied_key)

    async def language(self, msg: Incoming) -> str:
        return await self.settings.language(msg)

    async def is_moderator(self, msg: Incoming) -> bool:
        """A private chat's user, a platform moderator, or one of ``[bot] moderators``.
        The platform is asked (``msg.ask_moderator``) only when the others don't say."""
        if msg.private or msg.is_admin:
            return True
        mods = self.config.bot.moderators
        if msg.user_id in mods or f"{msg.platform}:{msg.user_id}" in mods:
            return True
        return bool(msg.ask_moderator is not None and await msg.ask_moderator())

    async def enqueue(self, job: Job) -> Reply:
        """Write the job (durable before the user hears "queued") and wake the dispatcher.
        An event the platform delivers again (``job.request`` seen) makes no second job."""
        seen = await self.store.job_for_request(job.platform, job.request) if job.request \
            else None
        if seen is not None:
            return Reply(t(job.lang, "queued_next"), job_id=seen.id)
        await self.store.add_job(job)
        queue = await self.store.queue()
        position = next((i for i, j in enumerate(queue, 1) if j.id == job.id), 1)
        self.wake()
        return Reply(position_text(job.lang, position), job_id=job.id)

    # -- buttons ---------------------------------------------------------------------------
    async def press(self, msg: Incoming, data: str) -> list[Reply]:
        """A button was pressed; ``msg.text`` is ignored, ``data`` is the button's."""
        lang = await self.language(msg)
        try:
            return await self._press(msg, buttons.decode(data), lang)
        except UserError as err:
            return [Reply(t(lang, err.key, **err.values))]

    async def _press(self, msg: Incoming, pressed: buttons.Pressed, lang: str) -> list[Reply]:
        if pressed.kind == "style":
            style = self.by_name["style"]
            return await self.handle(msg, style.request({"name": pressed.style},
                                                        self.config.limits))
        job = await self.store.job(pressed.job_id) if pressed.kind == "job" else None
        if job is None or job.platform != msg.platform or job.chat_id != msg.chat_id:
            return [Reply(t(lang, "job_gone"))]
        action = pressed.action
        if action is buttons.JobAction.REROLL:
            await check_quota(self.config.limits, self.store, msg,
                              lambda: self.is_moderator(msg))
            again = dataclasses.replace(
                job, id=0, user_id=msg.user_id, user_name=msg.user_name, lang=lang,
                seed=secrets.randbelow(SEED_MAX + 1), state=JobState.QUEUED, attempts=0,
                error="", error_key="", error_values={}, status_ref="", created_at=0.0,
                # an upscale keeps its size; every other size follows from the aspect
                width=job.width if job.kind == "upscale" else 0,
                height=job.height if job.kind == "upscale" else 0,
                reply_to=msg.message_id or job.reply_to, request=msg.request_id)
            return [await self.enqueue(again)]
        if action is buttons.JobAction.VARY:
            return await from_result(self, msg, job, lang, "variation")
        if action in (buttons.JobAction.UP2, buttons.JobAction.UP4):
            return await from_result(self, msg, job, lang, "upscale", int(action[2:]))
        if action is buttons.JobAction.SEED:
            await self.settings.set(msg, Scope.USER, seed=job.seed)
            return [Reply(t(lang, "seed_set", seed=job.seed))]
        if action is buttons.JobAction.FILE:
            result = await self.store.result(job.id)
            if result is None or not await asyncio.to_thread(Path(result.image_path).is_file):
                return [Reply(t(lang, "job_gone"))]
            return [Reply("", file_path=result.image_path,
                          file_name=f"pelukis-{job.id}-{job.seed}.png")]
        if action is buttons.JobAction.DELETE:
            if msg.user_id != job.user_id and not await self.is_moderator(msg):
                return [Reply(t(lang, "delete_not_allowed"))]
            log.info("image of job %d deleted by %s:%s", job.id, msg.platform, msg.user_id)
            return [Reply(t(lang, "deleted"), delete_message=True)]
        return [Reply(t(lang, "job_gone"))]
