"""``/queue`` and ``/cancel``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.commands.spec import Command, Request
from bot.frontends.base import Reply
from bot.i18n import t
from bot.models import Incoming, JobState
from bot.policy.requests import short

if TYPE_CHECKING:
    from bot.commands.registry import Commands


async def queue(cmds: Commands, msg: Incoming, req: Request, lang: str) -> list[Reply]:
    running = [j for j in await cmds.store.jobs_in(JobState.RUNNING, platform=msg.platform)
               if j.chat_id == msg.chat_id]
    queued = await cmds.store.queue()
    if not running and not queued:
        return [Reply(t(lang, "queue_empty"))]
    lines = [t(lang, "queue_header", count=len(running) + len(queued))]
    for job in running:
        lines.append(t(lang, "queue_running", user=job.user_name or job.user_id,
                       prompt=short(job.prompt)))
    for position, job in enumerate(queued, 1):
        if job.platform == msg.platform and job.chat_id == msg.chat_id:
            lines.append(t(lang, "queue_line", position=position,
                           user=job.user_name or job.user_id, prompt=short(job.prompt)))
    return [Reply("\n".join(lines))]


async def cancel(cmds: Commands, msg: Incoming, req: Request, lang: str) -> list[Reply]:
    ids = await cmds.store.cancel(msg.platform, msg.chat_id, msg.user_id)
    if not ids:
        return [Reply(t(lang, "cancel_none"))]
    await cmds.abort(ids)  # those already painting stop at the next step
    return [Reply(t(lang, "cancel_done", count=len(ids)))]


QUEUE = Command("queue", queue, aliases_id=("antrean", "antrian"), private_answer=True)
CANCEL = Command("cancel", cancel, aliases_id=("batal",), private_answer=True)
