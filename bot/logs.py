"""Logging for the bot process: one handler, tokens redacted from every line.

Lines are text (``time LEVEL logger: message``) or, with ``[bot] log_format = "json"``, one
JSON object per line (time, level, logger, message, and the job/chat ids where a record has
them, from ``extra=`` or ``log_ids``), to stderr or to ``[bot] log_file``. The engine
process's records arrive relayed under their own logger names and levels
(``engine.logline``), libraries' warnings included.
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.handlers
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

SECRET_ENV = ("TELEGRAM_TOKEN", "DISCORD_TOKEN", "DEEPL_API_KEY", "LIBRETRANSLATE_API_KEY")
# Telegram tokens also hide in URLs that libraries log: /bot<id>:<secret>/
_TOKEN_RE = re.compile(r"\d{6,}:[A-Za-z0-9_-]{30,}")
ID_FIELDS = ("job_id", "chat_id")  # what a JSON line carries when the record has it
_IDS: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "pelukis_log_ids", default=None)
LogFormat = Literal["text", "json"]
CONSOLE_LOG = "var/pelukis.log"  # the console chat's log when [bot] log_file is ""


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


def log_ids(**ids: object) -> None:
    """Tag this task's later records with ids (``job_id=…``, ``chat_id=…``). asyncio gives
    every task its own copy of the context, so a delivery task's ids stay its own."""
    _IDS.set({**(_IDS.get() or {}), **ids})


class JsonLines(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ids = _IDS.get() or {}
        for name in ID_FIELDS:
            value = getattr(record, name, ids.get(name))
            if value is not None:
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["traceback"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(level: str, fmt: LogFormat = "text", file: Path | None = None) -> None:
    """The root handler: stderr, or ``file`` (a WatchedFileHandler: logrotate may move it)."""
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.WatchedFileHandler(file, encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets())
    handler.setFormatter(JsonLines() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)  # a library's warnings.warn with its level, not a bare print
    # httpx logs every request URL at INFO, and Telegram's URLs hold the token; the filter
    # redacts it anyway, but these lines are noise.
    logging.getLogger("httpx").setLevel(max(logging.getLevelName(level), logging.WARNING))
