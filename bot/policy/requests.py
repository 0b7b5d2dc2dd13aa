"""A ``/generate`` request plus the effective settings → a ``Job``: one function, used by
the chat (``bot/commands/generate.py``) and by ``python -m bot generate`` alike, so both get
the same translation, prompt blocklist, always-added safety negative and image check."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from bot import metrics
from bot.config import Config
from bot.errors import UserError
from bot.models import SEED_MAX, GenerateRequest, Incoming, Job
from bot.policy.blocklist import Blocklist
from bot.policy.settings import Effective
from bot.translation.chain import Translator
from engine.styles import StyleRegistry

log = logging.getLogger("pelukis.requests")


def short(text: str, n: int = 60) -> str:
    """One line of at most ``n`` characters, for lists and error messages."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True, slots=True)
class JobResolver:
    config: Config
    styles: StyleRegistry
    translator: Translator
    blocklist: Blocklist

    def check_style(self, name: str) -> None:
        if not self.styles.known(name):
            raise UserError("style_unknown", name=short(name, 40),
                            names=", ".join(self.styles.names()))

    async def resolve(self, msg: Incoming, req: GenerateRequest, settings: Effective) -> Job:
        """Raises ``UserError`` (unknown style, blocked prompt) before anything is stored.
        ``settings`` must have been resolved with the request's ``--style``, if any."""
        limits, safety = self.config.limits, self.config.safety
        # 1. the style: asked for, or the chat's
        if req.style:
            self.check_style(req.style)
        # 2. the English the model gets
        prompt = req.prompt
        translation = await self.translator.to_english(prompt, raw=req.raw or settings.raw)
        # 3. the prompt blocklist, on what was written and on its English
        blocked = self.blocklist.check(prompt, translation.text)
        if blocked is not None:
            metrics.moderation("prompt_blocked")
            log.info("moderation: prompt blocked for %s:%s in %s (term %r in the %s)",
                     msg.platform, msg.user_id, msg.chat_id, blocked.term, blocked.where)
            raise UserError("prompt_blocked")
        # 4. parameters: this request's options over the effective settings, within limits
        seed = req.seed if req.seed is not None else settings.seed
        negative = req.negative if req.negative is not None else settings.negative
        return Job(
            platform=msg.platform,
            chat_id=msg.chat_id,
            user_id=msg.user_id,
            user_name=msg.user_name,
            reply_to=msg.message_id,
            prompt=prompt,
            prompt_en=translation.text,
            translator=translation.provider,
            style=settings.style.name if settings.style else None,
            negative=", ".join(n for n in (negative, safety.negative) if n),
            seed=seed if seed is not None else secrets.randbelow(SEED_MAX + 1),
            cfg=min(max(req.cfg or settings.cfg, limits.cfg_min), limits.cfg_max),
            steps=min(max(req.steps or settings.steps, limits.steps_min),
                      limits.steps_max),
            aspect=req.aspect_ratio or "1:1",
            lang=settings.lang,
            request=msg.request_id,
            safety=settings.safety_threshold,
        )
