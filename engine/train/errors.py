"""The one error a training or evaluation run reports as a single line (exit code 2)."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from the operator (data, options, a checkpoint that does not fit): the CLI
    prints the message on one line, without a traceback, and exits with 2."""
