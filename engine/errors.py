"""The one error a batch (or the engine process) ends with: ``EngineError(kind, message)``.

Torch-free: the bot side raises and catches it too (the client turns ERROR and DEAD
messages into it). ``ErrorKind`` is a StrEnum, so ``exc.kind == "oom"`` compares as well.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    INVALID = "invalid"  # the request was refused before any work; the message quotes the value
    OOM = "oom"  # out of accelerator memory; the same jobs in smaller batches may fit
    ABORTED = "aborted"  # stopped by an abort, a signal or the bot going away; no images
    INTERNAL = "internal"  # an unexpected failure inside the engine; the process goes on
    DEAD = "dead"  # the engine process died or is not running; its batches are lost
    START = "start"  # the engine process could not start (bad settings, weights, model)
    BROKEN = "broken"  # it could not start and will not until the operator fixes something


class EngineError(Exception):
    """A batch failed, or the engine process did. ``str(exc)`` is ``"kind: message"``."""

    def __init__(self, kind: ErrorKind | str, message: str):
        self.kind = ErrorKind(kind)
        self.message = message
        super().__init__(f"{self.kind}: {message}")

    def __reduce__(self):
        return type(self), (self.kind, self.message)


__all__ = ["EngineError", "ErrorKind"]
