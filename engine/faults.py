"""Fault injection for the crash tests: the one testing seam, read from the environment only.

Never set in production. Nothing here is in ``config.toml``; a child engine process
inherits the variables of the bot that starts it.

* ``PELUKIS_FAULT=<point>``: the bot process dies (``os._exit(137)``, as a SIGKILL would) at
  that point of a job's life; the points are ``POINTS``.
* ``PELUKIS_FAULT_OOM_ABOVE=N``: the engine answers every batch of more than N images with an
  out-of-memory error (0 or unset: off).
"""

from __future__ import annotations

import os

FAULT = "PELUKIS_FAULT"
OOM_ABOVE = "PELUKIS_FAULT_OOM_ABOVE"

POINTS = (
    "exit_after_store",  # the image is stored, not yet sent
    "exit_after_send",  # the image is sent, not yet marked delivered
)


def exit_if(point: str) -> None:
    """Die here, as a SIGKILL would, when ``PELUKIS_FAULT`` names ``point``."""
    if point not in POINTS:
        raise ValueError(f"unknown fault point {point!r} (known: {', '.join(POINTS)})")
    if os.environ.get(FAULT, "") == point:
        os._exit(137)


def oom_above() -> int:
    """``PELUKIS_FAULT_OOM_ABOVE`` as a number of images; 0 = no simulated out-of-memory."""
    text = os.environ.get(OOM_ABOVE, "").strip()
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{OOM_ABOVE}={text!r} is not a whole number") from None
    if value < 0:
        raise ValueError(f"{OOM_ABOVE}={text!r} must be 0 or more")
    return value


__all__ = ["FAULT", "OOM_ABOVE", "POINTS", "exit_if", "oom_above"]
