"""The bot's client of the engine on Ray Serve (``[engine] backend = "ray"``; docs/ray.md).

It has the interface of ``EngineClient`` (``engine.backend.EngineBackend``), so the
dispatcher's batching, retries and restart policy are the same for both backends. Torch-free;
``ray`` is imported when it starts (the optional ``ray`` extra).

* start: connect to ``[ray] address`` (or start a local cluster), deploy the Serve
  application of ``engine.ray_serve`` (replicas that each load the ``Engine``), wait until
  every replica is up, and take READY from one of them.
* run_batch: one streaming request per batch (``handle.options(stream=True,
  multiplexed_model_id=…)``); PROGRESS is relayed to ``on_progress`` as it arrives.
* Ray Serve delivers at most once: a replica that dies fails every request it held
  (``ActorDiedError`` and friends) and nothing retries them. That is ``EngineError(dead)``
  here, and the dispatcher puts those jobs back in the SQLite queue with their attempt
  counted, as it does when the local engine process dies. Serve starts a new replica.
* abort: a batch whose jobs are all aborted is cancelled (the replica stops at its next
  denoising step); the images of jobs aborted alone are dropped here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from engine.errors import EngineError, ErrorKind
from engine.protocol import (
    PAYLOAD_KEY,
    BatchDone,
    BatchRequest,
    Error,
    Generate,
    ImageResult,
    Progress,
    ReadyInfo,
    StylesReloaded,
    decode,
)
from engine.settings import EngineSettings, RaySettings

log = logging.getLogger("pelukis.engine_client")
DEPLOYMENT = "PelukisEngine"  # the Serve deployment of engine.ray_serve
# what this process started (a start that timed out leaves it to the next client's close):
# its connection to the cluster (ray.init), and the local cluster itself (address = "")
_OWNED = {"connected": False, "cluster": False}

# Ray's errors for a replica, worker or node that went away with the request
_LOST = {"ActorDiedError", "RayActorError", "ActorUnavailableError", "WorkerCrashedError",
         "NodeDiedError", "ObjectLostError", "OwnerDiedError", "LocalRayletDiedError",
         "ActorUnschedulableError", "TaskUnschedulableError", "RaySystemError",
         "DeploymentUnavailableError", "BackPressureError"}


def batch_model_id(req: BatchRequest) -> str:
    """The multiplexed model id of a batch: its style, and a hash of every batch-level field
    (size, steps, cfg and whatever a later kind of job adds), so requests with the same id
    can share one pipeline call."""
    body = Generate(0, req).to_dict()
    body.pop("jobs", None)
    digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    return f"{req.style or 'none'}.{digest}"


def ray_available() -> str | None:
    """None when ``ray[serve]`` can be imported; else why not (for doctor and tests)."""
    try:
        import ray  # noqa: F401
        from ray import serve  # noqa: F401
    except ImportError as exc:
        return f"ray[serve] is not installed (pip install '.[ray]'): {exc}"
    return None


@dataclass
class _InFlight:
    job_ids: set[int]
    aborted: set[int] = field(default_factory=set)
    stream: Any = None  # the DeploymentResponseGenerator


class RayEngineClient:
    """``EngineClient``'s interface over a Ray Serve application."""

    def __init__(self, settings: EngineSettings, ray_settings: RaySettings):
        self.settings = settings
        self.ray = ray_settings
        self.info: ReadyInfo | None = None
        self.pid: int | None = None  # no engine process of ours
        self.num_gpus = ray_settings.num_gpus
        self._handle = None
        self._closed = False
        self._in_flight: dict[int, _InFlight] = {}
        self._idle = asyncio.Event()  # no batch in flight
        self._idle.set()
        self._next_batch = 1
        self._styles_version = 0

    # -- the backend interface ----------------------------------------------------------
    @property
    def alive(self) -> bool:
        if self._handle is None or self._closed:
            return False
        import ray

        return ray.is_initialized()

    @property
    def concurrency(self) -> int:
        """Batches the dispatcher may have in flight: every replica's ongoing requests
        (the ones past the first wait on the replica, which lets Serve's autoscaler see the
        queue and @serve.batch merge compatible batches)."""
        return max(1, self.ray.max_replicas * self.ray.max_ongoing_requests)

    async def start(self, timeout: float | None = None) -> ReadyInfo:
        """Connect or start the cluster, deploy, wait for the replicas; EngineError (start)
        when that fails, (broken) when ray is not installed."""
        missing = ray_available()
        if missing is not None:
            raise EngineError(ErrorKind.BROKEN, missing)
        timeout = timeout or self.ray.start_timeout_s
        try:
            self.info = await asyncio.wait_for(asyncio.to_thread(self._deploy), timeout)
        except TimeoutError:
            raise EngineError(ErrorKind.START, f"Ray Serve replicas not ready after "
                                               f"{timeout:g} s") from None
        except EngineError:
            raise
        except Exception as exc:
            log.error("Ray backend failed to start: %s: %s", type(exc).__name__, exc)
            raise EngineError(ErrorKind.START, f"{type(exc).__name__}: {_short(exc)}") from exc
        log.info("Ray Serve application %r ready: %d replica(s) max, %g GPU / %g CPU each",
                 self.ray.app_name, self.ray.max_replicas, self.num_gpus, self.ray.num_cpus)
        return self.info

    def _deploy(self) -> ReadyInfo:
        import ray
        from ray import serve

        from engine import ray_serve

        if not ray.is_initialized():
            if self.ray.address:
                ray.init(address=self.ray.address, namespace=self.ray.namespace,
                         log_to_driver=False)
            else:
                ray.init(address="local", num_cpus=self.ray.local_num_cpus or None,
                         include_dashboard=False,
                         namespace=self.ray.namespace, log_to_driver=False)
                _OWNED["cluster"] = True
            _OWNED["connected"] = True
        gpus = ray.cluster_resources().get("GPU", 0.0)
        if self.num_gpus > gpus:  # an autoscaling cluster may still add GPU nodes
            log.warning("[ray] num_gpus = %g per replica, but the cluster has %g GPU(s) now: "
                        "replicas wait for a GPU node (up to start_timeout_s = %g s)",
                        self.num_gpus, gpus, self.ray.start_timeout_s)
        serve.start(proxy_location="Disabled")
        app = ray_serve.build(self.settings, self.ray, self.num_gpus, self._styles_version,
                              DEPLOYMENT)
        self._handle = serve.run(app, name=self.ray.app_name, route_prefix=None)
        body = self._handle.ready.remote().result(timeout_s=self.ray.start_timeout_s)
        return ReadyInfo.from_dict(body)

    async def run_batch(self, req: BatchRequest, on_progress=None) -> list[ImageResult]:
        """One batch on some replica; its results in job order. EngineError when it fails:
        (dead) when the replica or the cluster went away with it."""
        if not self.alive:
            raise EngineError(ErrorKind.DEAD, "Ray backend is not running")
        batch_id = self._next_batch
        self._next_batch += 1
        flight = _InFlight({job.job_id for job in req.jobs})
        self._in_flight[batch_id] = flight
        self._idle.clear()
        results: list[ImageResult] = []
        try:
            handle = self._handle.options(stream=True, multiplexed_model_id=batch_model_id(req))
            message = Generate(batch_id, req)
            # the input pictures of picture jobs travel beside the body, as in a frame
            flight.stream = handle.generate.remote({**message.to_dict(),
                                                    PAYLOAD_KEY: message.payload()})
            done = False
            async for event in flight.stream:
                if event is None:
                    continue
                msg = decode(*event)
                if isinstance(msg, Progress):
                    if on_progress is not None:
                        on_progress(msg.step, msg.total)
                elif isinstance(msg, ImageResult):
                    msg.batch_id = batch_id
                    if msg.job_id not in flight.aborted:
                        results.append(msg)
                elif isinstance(msg, Error):
                    raise EngineError(msg.error, msg.message)
                elif isinstance(msg, BatchDone):
                    done = True
            if flight.job_ids <= flight.aborted:
                raise EngineError(ErrorKind.ABORTED, f"batch {batch_id} aborted")
            if not done:
                raise EngineError(ErrorKind.DEAD, f"batch {batch_id}: the stream ended early")
            return results
        except EngineError:
            raise
        except asyncio.CancelledError:
            if flight.stream is not None:
                flight.stream.cancel()
            raise
        except Exception as exc:
            raise self._error(batch_id, flight, exc) from exc
        finally:
            self._in_flight.pop(batch_id, None)
            if not self._in_flight:
                self._idle.set()

    def _error(self, batch_id: int, flight: _InFlight, exc: Exception) -> EngineError:
        names = {cls.__name__ for cls in type(exc).__mro__}
        if "RequestCancelledError" in names or "TaskCancelledError" in names or (
                flight.job_ids <= flight.aborted):
            return EngineError(ErrorKind.ABORTED, f"batch {batch_id} aborted")
        cause = getattr(exc, "cause", None)
        if isinstance(cause, EngineError):
            return cause
        if names & _LOST:
            log.warning("batch %d lost with its Ray replica: %s", batch_id, _short(exc))
            return EngineError(ErrorKind.DEAD, f"Ray replica lost: {type(exc).__name__}: "
                                               f"{_short(exc)}")
        log.error("batch %d failed on Ray: %s: %s", batch_id, type(exc).__name__, _short(exc))
        return EngineError(ErrorKind.INTERNAL, f"{type(exc).__name__}: {_short(exc)}")

    async def abort(self, job_ids: list[int]) -> None:
        """Drop these jobs' images; a batch whose jobs are all aborted is cancelled, which
        stops its replica at the next denoising step."""
        wanted = set(job_ids)
        for flight in list(self._in_flight.values()):
            hit = flight.job_ids & wanted
            if not hit:
                continue
            flight.aborted |= hit
            if flight.job_ids <= flight.aborted and flight.stream is not None:
                flight.stream.cancel()

    async def reload_styles(self, timeout: float | None = 600.0) -> StylesReloaded:
        """Every replica rescans the adapters folder (a new ``user_config``: Serve calls
        each replica's ``reconfigure``); the answer is one replica's."""
        if not self.alive:
            raise EngineError(ErrorKind.DEAD, "Ray backend is not running")
        self._styles_version += 1

        def redeploy() -> dict[str, Any]:
            from ray import serve

            from engine import ray_serve

            app = ray_serve.build(self.settings, self.ray, self.num_gpus,
                                  self._styles_version, DEPLOYMENT)
            self._handle = serve.run(app, name=self.ray.app_name, route_prefix=None)
            return self._handle.styles.remote().result(timeout_s=timeout)

        try:
            body = await asyncio.wait_for(asyncio.to_thread(redeploy), timeout)
        except Exception as exc:
            raise EngineError(ErrorKind.DEAD, f"style reload on Ray failed: {_short(exc)}"
                              ) from exc
        return StylesReloaded.from_dict(body)

    async def close(self, timeout: float = 10.0) -> None:
        """Batches in flight may end first (for up to ``timeout``); then the application is
        deleted, and a local cluster of ours shut down."""
        if self._closed:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        self._closed = True
        if ray_available() is not None:
            return

        def shut() -> None:
            import ray
            from ray import serve

            if not ray.is_initialized():
                return
            if self._handle is not None:
                with contextlib.suppress(Exception):  # Serve stops the replicas in its time
                    serve.delete(self.ray.app_name, _blocking=False)
            if _OWNED["cluster"]:
                with contextlib.suppress(Exception):
                    serve.shutdown()
            if _OWNED["connected"]:  # a driver that exits without this aborts at exit
                ray.shutdown()
                _OWNED.update(connected=False, cluster=False)

        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.to_thread(shut), max(timeout, 30.0))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:300]


__all__ = ["DEPLOYMENT", "RayEngineClient", "batch_model_id", "ray_available"]
