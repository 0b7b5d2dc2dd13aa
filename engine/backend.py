"""What the bot's dispatcher needs of an engine backend (torch-free, ray-free).

Two implement it: ``engine.client.EngineClient`` (``[engine] backend = "local"``: one child
process on this machine) and ``engine.ray_client.RayEngineClient`` (``"ray"``: replicas on
Ray Serve, docs/ray.md). Both wrap the same ``engine.core.Engine`` and speak the messages of
``engine.protocol``; both end a failed batch with ``EngineError`` and its ``ErrorKind``, so the
dispatcher's policy (split on oom, refuse invalid, requeue with the attempt counted on dead
or internal, restart with backoff, stop restarting after a lasting start failure) is the
same for both: it lives in ``bot/jobs/dispatcher.py`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from engine.protocol import BatchRequest, ImageResult, ReadyInfo, StylesReloaded
from engine.settings import EngineSettings, RaySettings

ProgressFn = Callable[[int, int], None]
BACKENDS = ("local", "ray")


class EngineBackend(Protocol):
    info: ReadyInfo | None

    @property
    def alive(self) -> bool:
        """False once it is gone: the dispatcher starts a new one (with backoff)."""

    @property
    def concurrency(self) -> int:
        """How many batches it takes at once (local: 1)."""

    async def start(self, timeout: float | None = None) -> ReadyInfo:
        """Ready to paint; EngineError (start, or broken when it would fail again)."""

    async def run_batch(self, req: BatchRequest,
                        on_progress: ProgressFn | None = None) -> list[ImageResult]:
        """The batch's results in job order; EngineError when it fails."""

    async def abort(self, job_ids: list[int]) -> None:
        """Stop these jobs; their images are never returned."""

    async def reload_styles(self, timeout: float | None = 600.0) -> StylesReloaded:
        """Rescan the adapters folder."""

    async def close(self, timeout: float = 10.0) -> None:
        """Let the batches in flight end (up to ``timeout``), then stop."""


def make_backend(backend: str, settings: EngineSettings,
                 ray_settings: RaySettings | None = None) -> Callable[[], EngineBackend]:
    """A factory of fresh backends of this kind (the dispatcher makes one per start)."""
    if backend == "ray":
        from engine.ray_client import RayEngineClient

        ray = ray_settings or RaySettings()
        return lambda: RayEngineClient(settings, ray)
    if backend != "local":
        raise ValueError(f"unknown engine backend {backend!r} (known: {', '.join(BACKENDS)})")
    from engine.client import EngineClient

    return lambda: EngineClient(settings)


__all__ = ["BACKENDS", "EngineBackend", "ProgressFn", "make_backend"]
