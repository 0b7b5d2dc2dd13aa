"""The engine as a Ray Serve deployment: each replica holds one ``Engine`` (engine/core.py, the
same class the local engine process runs) with the pipeline and every style's LoRA loaded.

Runs on the Ray workers (it imports torch through ``Engine``, lazily, in the replica). The bot
side is ``engine.ray_client``; what the operator sets and watches: docs/ray.md.

A request is one batch the dispatcher formed (jobs with one ``Job.batch_key``), as
``Generate(0, batch).to_dict()``, sent with ``multiplexed_model_id`` =
``engine.ray_client.batch_model_id(batch)``.
The answer streams back: ``(body, payload)`` pairs of protocol messages: PROGRESS after
each denoising step, a RESULT per image, then BATCH_DONE, or one ERROR.

* ``@serve.multiplexed``: the model id is the batch's key, so Serve routes a key to a
  replica that ran it lately: its style's adapter is already active (style affinity). No
  weights move: every replica loads every style at start.
* ``@serve.batch``: requests with the same model id that arrive within ``batch_wait_s``
  (compatible batches: same key) are merged into one pipeline call of up to
  ``batch_size`` images. Serve splits a batch by model id and runs the parts
  concurrently; one lock per replica keeps a single pipeline call on the GPU at a time.
* Cancellation: when the bot cancels a request (``DeploymentResponseGenerator.cancel``),
  its jobs are marked aborted here, and the pipeline stops at its next step once every job
  of the call is aborted; an aborted job's images are never sent.
* Styles: ``reconfigure`` (Serve calls it on every replica when the bot redeploys with a new
  ``user_config``) rescans the adapters folder between batches.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from ray import serve

from engine.errors import EngineError, ErrorKind
from engine.protocol import (
    PAYLOAD_KEY,
    BatchDone,
    BatchRequest,
    Error,
    Generate,
    ImageResult,
    Progress,
    StylesReloaded,
)
from engine.settings import EngineSettings, RaySettings

log = logging.getLogger("pelukis.engine")
serve_log = logging.getLogger("ray.serve")  # Serve's replica log file (docs/ray.md)

Event = tuple[dict[str, Any], bytes]  # a protocol message: its JSON body and its payload


def _images(bodies: list[dict[str, Any]]) -> int:
    """@serve.batch's size of a batch: its images, not its requests."""
    return sum(len(b.get("jobs") or []) for b in bodies)


def _event(msg) -> Event:
    return msg.to_dict(), msg.payload()


@serve.deployment
class EngineReplica:
    """One engine on one GPU (or CPU share)."""

    def __init__(self, settings_json: str, ray_json: str):
        from engine.core import Engine  # torch: on the replica only

        ray_settings = RaySettings.from_json(ray_json)
        self.engine = Engine(EngineSettings.from_json(settings_json))
        self.gpu = threading.Lock()  # one pipeline call at a time on this replica
        self.aborted: set[int] = set()  # job ids whose request was cancelled
        self.styles_version = 0
        self.last_reload: StylesReloaded | None = None
        self.batches = 0
        # a batch from the dispatcher is never split: it may hold up to [engine] max_batch
        self._merge.set_max_batch_size(max(1, ray_settings.batch_size,
                                           self.engine.settings.max_batch))
        self._merge.set_batch_wait_timeout_s(ray_settings.batch_wait_s)

    # -- Serve hooks --------------------------------------------------------------------
    def reconfigure(self, user_config: dict) -> None:
        version = int(user_config.get("styles_version", 0))
        if version <= self.styles_version:
            return
        self.styles_version = version
        with self.gpu:  # between batches
            try:
                self.last_reload = self.engine.reload_styles(version)
            except Exception as exc:  # the loaded styles stay
                log.exception("reloading styles failed")
                self.last_reload = StylesReloaded(
                    version, self.engine.registry.names(), list(self.engine.lora_styles),
                    failures=dict(self.engine.style_failures), error=f"{type(exc).__name__}: {exc}")

    # -- what the bot calls ---------------------------------------------------------------
    def ready(self) -> dict[str, Any]:
        """The engine's READY (model, device, styles, batch cap)."""
        return self.engine.info.to_dict()

    def styles(self) -> dict[str, Any]:
        """The answer of the last style reload on this replica (or the current list)."""
        if self.last_reload is not None:
            return self.last_reload.to_dict()
        return StylesReloaded(0, self.engine.registry.names(),
                              list(self.engine.lora_styles),
                              failures=dict(self.engine.style_failures)).to_dict()

    @serve.multiplexed(max_num_models_per_replica=64)
    async def _model(self, model_id: str) -> str:
        return model_id  # every style is loaded: the id only steers routing

    async def generate(self, body: dict[str, Any]) -> AsyncIterator[Event]:
        """One batch from the bot (``Generate.to_dict()``): its events, streamed."""
        await self._model(serve.get_multiplexed_model_id())
        job_ids = [int(j["job_id"]) for j in body.get("jobs", []) if isinstance(j, dict)
                   and isinstance(j.get("job_id"), int)]
        finished = False
        try:
            async for event in self._merge(body):
                if event is not None:
                    yield event
            finished = True
        finally:
            if not finished:  # cancelled by the bot (or the stream broke): stop painting
                self.aborted.update(job_ids)

    # -- the batch ------------------------------------------------------------------------
    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.01, batch_size_fn=_images)
    async def _merge(self, bodies: list[dict[str, Any]]) -> AsyncIterator[list[Event | None]]:
        """Requests with one model id (compatible batches) as one pipeline call; every
        request gets the shared PROGRESS, then its own RESULTs and BATCH_DONE."""
        n = len(bodies)
        try:
            reqs = [Generate.from_dict({**{k: v for k, v in b.items() if k != PAYLOAD_KEY},
                                        "batch_id": 0}, b.get(PAYLOAD_KEY, b"")).batch
                    for b in bodies]
        except (TypeError, ValueError, KeyError) as exc:
            yield [_event(Error(0, ErrorKind.INVALID, f"malformed batch: {exc}"))] * n
            return
        merged = BatchRequest(**{f: getattr(reqs[0], f) for f in reqs[0].__slots__
                                 if f != "jobs"},
                              jobs=[job for req in reqs for job in req.jobs])
        owner = {job.job_id: i for i, req in enumerate(reqs) for job in req.jobs}
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        ids = {job.job_id for job in merged.jobs}
        self.aborted -= ids  # a job that runs again is not aborted any more

        def on_step(step: int, total: int) -> None:
            loop.call_soon_threadsafe(events.put_nowait, Progress(0, step, total))

        def should_abort() -> bool:
            return ids <= self.aborted

        def paint() -> list[ImageResult]:
            with self.gpu:
                self.batches += 1
                serve_log.info("pelukis batch %d: %d request(s), jobs %s, model id %s",
                               self.batches, n, sorted(ids), serve.get_multiplexed_model_id())
                return self.engine.run_batch(merged, on_step, should_abort,
                                             batch_id=self.batches)

        started = time.perf_counter()
        task = asyncio.ensure_future(asyncio.to_thread(paint))
        task.add_done_callback(lambda _: events.put_nowait(None))
        while True:
            item = await events.get()
            if item is None:
                break
            yield [_event(item)] * n
        try:
            results = task.result()
        except EngineError as exc:
            yield [_event(Error(0, exc.kind, exc.message))] * n
            return
        except Exception as exc:
            log.exception("batch failed")
            yield [_event(Error(0, ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}"))] * n
            return
        finally:
            self.aborted -= ids
        serve_log.info("pelukis batch %d: %d image(s) in %.2f s", self.batches, len(results),
                       time.perf_counter() - started)
        per: list[list[ImageResult]] = [[] for _ in range(n)]
        for result in results:
            per[owner[result.job_id]].append(result)
        # one RESULT per image (in job order), then BATCH_DONE, for every request at once;
        # a request with fewer images gets None (ignored by the bot) for the rest
        longest = max(len(p) for p in per)
        for k in range(longest):
            yield [_event(p[k]) if k < len(p) else None for p in per]
        yield [_event(BatchDone(0, len(p))) for p in per]


def build(settings: EngineSettings, ray_settings: RaySettings, num_gpus: float,
          styles_version: int = 0, name: str = "PelukisEngine"):
    """The Serve application for these settings (``serve.run`` deploys it); ``name``: the
    deployment's (``engine.ray_client.DEPLOYMENT``)."""
    r = ray_settings
    autoscaling = None
    replicas: int | None = r.max_replicas
    if r.min_replicas != r.max_replicas:
        autoscaling = {"min_replicas": r.min_replicas, "max_replicas": r.max_replicas,
                       "initial_replicas": max(1, r.min_replicas),
                       "target_ongoing_requests": r.target_ongoing_requests,
                       "upscale_delay_s": r.upscale_delay_s,
                       "downscale_delay_s": r.downscale_delay_s}
        replicas = None
    options: dict[str, Any] = {
        "name": name,
        "ray_actor_options": {"num_cpus": r.num_cpus, "num_gpus": num_gpus},
        "max_ongoing_requests": max(r.max_ongoing_requests, 1),
        "user_config": {"styles_version": styles_version},
        "health_check_period_s": 5,
        "graceful_shutdown_timeout_s": 30,
    }
    if autoscaling is not None:
        options["autoscaling_config"] = autoscaling
    else:
        options["num_replicas"] = replicas
    return EngineReplica.options(**options).bind(settings.to_json(), r.to_json())
