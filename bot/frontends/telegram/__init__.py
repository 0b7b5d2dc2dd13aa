"""Telegram front end (python-telegram-bot 22, asyncio).

- ``service.py``: builds the Application (base_url, rate limiter), starts polling or a
  webhook, sets the command menu, stops cleanly.
- ``handlers.py``: turns updates into core calls and core replies into messages.
- ``delivery.py``: the dispatcher's side: status edits (throttled), progress, photos.
"""

import os

# Durations as timedelta (PTB 22's opt-in; the old int form is deprecated).
os.environ.setdefault("PTB_TIMEDELTA", "1")

from bot.frontends.telegram.service import TelegramService  # noqa: E402

__all__ = ["TelegramService"]
