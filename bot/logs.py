"""Logging for the bot process: one handler, tokens redacted from every line."""

from __future__ import annotations

import logging
import os
import re

SECRET_ENV = ("TELEGRAM_TOKEN", "DISCORD_TOKEN", "DEEPL_API_KEY")
# Telegram tokens also hide in URLs that libraries log: /bot<id>:<secret>/
_TOKEN_RE = re.compile(r"\d{6,}:[A-Za-z0-9_-]{30,}")


class RedactSecrets(logging.Filter):
    """Keeps tokens out of every log line, our own and libraries'."""

    @staticmethod
    def redact(text: str) -> str:
        clean = _TOKEN_RE.sub("[token]", text)
        for name in SECRET_ENV:
            value = os.environ.get(name)
            if value and len(value) >= 8:
                clean = clean.replace(value, f"[{name}]")
        return clean

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:  # tracebacks quote URLs and arguments too
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # httpx logs every request URL at INFO, and Telegram's URLs hold the token; the filter
    # redacts it anyway, but these lines are noise.
    logging.getLogger("httpx").setLevel(max(logging.getLevelName(level), logging.WARNING))
