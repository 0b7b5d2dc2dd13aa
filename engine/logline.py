"""How the engine process's log records cross its stderr to the bot (torch-free).

The engine writes one line per record, ``LEVEL logger.name: message``, with the record's own
newlines (a traceback, a long library warning) folded into ``NEWLINE``, so a record stays one
line on the pipe and the bot's client (``engine.client``) relays it whole, under the same
logger name and level. diffusers and transformers log through handlers of their own
(``[transformers] message``, no level): ``route_library_logs`` sends their records through
the engine's formatter instead, so their warnings stay warnings in the bot's log.
"""

from __future__ import annotations

import logging
import re
import sys

NEWLINE = "\x1f"  # ASCII unit separator: a record's newline while it crosses the pipe
_LINE = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.\-]+): (.*)$", re.S)
# Libraries whose loggers have their own stderr handler and do not propagate by default.
LIBRARIES = ("diffusers", "transformers")
# Known, expected warnings an operator cannot act on, shown at INFO: torchvision is left out
# on purpose (it fails to import beside torch 2.13), and its PIL fallback is what we use.
_EXPECTED = ("requires torchvision (not installed)",)


class OneLineFormatter(logging.Formatter):
    """``LEVEL logger.name: message`` on one line, traceback included."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", NEWLINE)


class _Expected(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and any(
                text in record.getMessage() for text in _EXPECTED):
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def parse_line(text: str) -> tuple[str, int, str] | None:
    """(logger name, level, message) of a record line; None for anything else on stderr
    (a library's print, a native crash report)."""
    m = _LINE.match(text)
    if m is None:
        return None
    return m[2], logging.getLevelName(m[1]), m[3].replace(NEWLINE, "\n")


def setup_engine_logging(level: str) -> None:
    """The engine process's logging: every record one line on stderr; Python warnings
    (``warnings.warn``) become records too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter())
    handler.addFilter(_Expected())
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler],
                        force=True)
    logging.captureWarnings(True)


def route_library_logs() -> None:
    """diffusers' and transformers' records through the root handler, with their level and
    logger name; their own handler (message only) removed. Call after importing them."""
    for name in LIBRARIES:
        module = sys.modules.get(name)
        if module is None:
            continue
        module.utils.logging.disable_default_handler()
        module.utils.logging.enable_propagation()
