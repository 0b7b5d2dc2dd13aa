"""Telegram front end (python-telegram-bot 22, asyncio).

- ``service.py``: builds the Application (base_url, rate limiter), starts polling or a
  webhook, sets the command menu, stops cleanly.
- ``handlers.py``: turns updates into command requests and replies into messages.
- ``frontend.py``: how a job's status message looks here (``TelegramFrontEnd``): status
  edits, the chat action, the finished photo or note. The board throttles and stores.
- ``render.py``: the caption as Telegram HTML within its UTF-16 limit.
"""

import os

# Durations as timedelta (PTB 22's opt-in; the old int form is deprecated).
os.environ.setdefault("PTB_TIMEDELTA", "1")

from bot.frontends.telegram.service import TelegramService  # noqa: E402

__all__ = ["TelegramService"]
