"""The bot process's Prometheus metrics and its ``/metrics`` + ``/healthz`` endpoint.

Every series is defined here, with one small typed function per event, so a call site is
one line. The endpoint (``[metrics] address``) runs in its own thread, so a scrape never
waits on the event loop; the queue depth is read from SQLite at scrape time with a read-only
connection of its own. ``/healthz`` answers 200 while the event loop beats and the engine is
ready, 503 (with the reason) otherwise: the Dockerfile's HEALTHCHECK asks it.

Series (counters end in ``_total``; rates come from ``rate()`` in Prometheus):
``pelukis_jobs{state}`` and ``pelukis_jobs_undelivered`` (gauges, from the database),
``pelukis_job_wait_seconds`` (queued → painting), ``pelukis_batch_paint_seconds`` (the
engine's pipeline + CLIP time per batch), ``pelukis_images_painted_total``,
``pelukis_images_delivered_total{platform}`` (images per second: its rate),
``pelukis_engine_busy_seconds_total`` (busy fraction: its rate), ``pelukis_engine_up``,
``pelukis_style_switches_total``, ``pelukis_translations_total{provider,outcome}``,
``pelukis_moderation_actions_total{action}``, ``pelukis_errors_total{kind}``,
``pelukis_messages_sent_total{platform,method}``.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric

from bot.models import Job, JobState

log = logging.getLogger("pelukis.metrics")

REGISTRY = CollectorRegistry()
STALL_S = 10.0  # an event loop that has not beaten for this long is stalled

_WAIT_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
_PAINT_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)

_wait = Histogram("pelukis_job_wait_seconds", "Time from queued to painting started",
                  buckets=_WAIT_BUCKETS, registry=REGISTRY)
_paint = Histogram("pelukis_batch_paint_seconds",
                   "The engine's pipeline and CLIP time per batch", buckets=_PAINT_BUCKETS,
                   registry=REGISTRY)
_painted = Counter("pelukis_images_painted", "Images the engine returned", registry=REGISTRY)
_delivered = Counter("pelukis_images_delivered", "Pictures that reached their user",
                     ["platform"], registry=REGISTRY)
_busy = Counter("pelukis_engine_busy_seconds", "Seconds the engine had a batch in hand",
                registry=REGISTRY)
_engine_up = Gauge("pelukis_engine_up", "1 while the engine is ready", registry=REGISTRY)
_switches = Counter("pelukis_style_switches",
                    "Batches whose style differs from the batch before", registry=REGISTRY)
_translations = Counter("pelukis_translations",
                        "Translation attempts: provider (or cache/offline) and outcome",
                        ["provider", "outcome"], registry=REGISTRY)
_moderation = Counter("pelukis_moderation_actions",
                      "Style or image-check changes by moderators, blocked prompts, "
                      "flagged images", ["action"], registry=REGISTRY)
_errors = Counter("pelukis_errors", "Errors by kind (engine error kinds, delivery)",
                  ["kind"], registry=REGISTRY)
_messages = Counter("pelukis_messages_sent", "Requests to a chat platform's API",
                    ["platform", "method"], registry=REGISTRY)


@dataclass
class _Batches:
    """What the batch events share: the style painted last, when the batch in hand began,
    and which job runs were already counted (an out-of-memory split runs them again)."""

    style: str = "none"  # the engine starts on the base model
    since: float | None = None
    counted: dict[int, int] = field(default_factory=dict)  # job id → attempts


_batches = _Batches()
_lock = threading.Lock()  # batch events come from the loop; tests may call from threads


# -- events (one line at each call site) ------------------------------------------------------
def batch_started(batch: Sequence[Job]) -> None:
    """A batch goes to the engine: its jobs' waits, a style switch, busy from now."""
    now = time.time()
    with _lock:
        for job in batch:
            if _batches.counted.get(job.id) != job.attempts:
                _wait.observe(max(0.0, now - (job.created_at or now)))
        _batches.counted = {job.id: job.attempts for job in batch}
        style = (batch[0].style or "none") if batch else _batches.style
        if style != _batches.style:
            _switches.inc()
            _batches.style = style
        mono = time.monotonic()
        if _batches.since is not None:  # halves of a batch that ran out of memory
            _busy.inc(mono - _batches.since)
        _batches.since = mono


def batch_ended() -> None:
    """The batch in hand came back (images or an error): busy until now."""
    with _lock:
        if _batches.since is not None:
            _busy.inc(time.monotonic() - _batches.since)
            _batches.since = None


def batch_painted(results: Sequence[object]) -> None:
    """The engine's results of one batch (``ImageResult``s, which carry its timings)."""
    if results:
        first = results[0]
        _paint.observe(getattr(first, "generate_s", 0.0) + getattr(first, "score_s", 0.0))
        _painted.inc(len(results))


def picture_delivered(platform: str) -> None:
    _delivered.labels(platform).inc()


def translation(provider: str, outcome: str) -> None:
    """``outcome``: ok | error | timeout | skipped (its breaker is open); the chain's own
    answers are provider ``cache`` or ``offline`` with outcome ok."""
    _translations.labels(provider, outcome).inc()


def moderation(action: str) -> None:
    """``action``: style_set | safety_set | prompt_blocked | image_flagged."""
    _moderation.labels(action).inc()


def error(kind: str) -> None:
    """An engine ``ErrorKind`` value, or ``delivery``, ``storage``."""
    _errors.labels(str(kind)).inc()


def message_sent(platform: str, method: str) -> None:
    _messages.labels(platform, method).inc()


_ROUTE_PART = re.compile(r"^[a-z@_\-]{1,19}$")  # words, not snowflakes or tokens


def discord_route(verb: str, path: str) -> str:
    """A Discord REST path as a label without ids or tokens:
    ``POST /api/v10/channels/123/messages`` → ``POST channels/messages``."""
    parts = [p for p in path.split("/") if _ROUTE_PART.match(p) and p != "api"]
    return f"{verb} {'/'.join(parts)}"


# -- the queue, read at scrape time -----------------------------------------------------------
class QueueCollector:
    """``pelukis_jobs{state}`` and ``pelukis_jobs_undelivered`` from the jobs table, with a
    read-only connection of its own per scrape (the scrape thread, never the event loop)."""

    def __init__(self, database: Path):
        self.database = Path(database)

    def counts(self) -> tuple[dict[str, int], int]:
        con = sqlite3.connect(self.database.resolve().as_uri() + "?mode=ro", uri=True,
                              timeout=2.0)
        try:
            states = dict(con.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"))
            (undelivered,) = con.execute(
                "SELECT COUNT(*) FROM jobs WHERE state IN (?, ?) AND delivered_at IS NULL",
                (JobState.DONE, JobState.FAILED)).fetchone()
        finally:
            con.close()
        return {s.value: int(states.get(s.value, 0)) for s in JobState}, int(undelivered)

    def collect(self) -> Iterable[Metric]:
        try:
            states, undelivered = self.counts()
        except sqlite3.Error as exc:  # no series beats a wrong one; the scrape still answers
            log.warning("metrics: cannot read the queue from %s: %s", self.database, exc)
            return
        jobs = GaugeMetricFamily("pelukis_jobs", "Jobs in the database by state",
                                 labels=["state"])
        for state, n in states.items():
            jobs.add_metric([state], n)
        yield jobs
        yield GaugeMetricFamily("pelukis_jobs_undelivered",
                                "Jobs ended (done or failed) whose user has not been sent "
                                "the outcome yet", value=undelivered)

    def describe(self) -> Iterable[Metric]:
        return []  # collected at scrape time only (never at registration)


# -- health ----------------------------------------------------------------------------------
class Health:
    """The event loop beats (``beat``, every second from a task); the engine's state comes
    from ``engine`` (called in the endpoint's thread: it only reads attributes)."""

    def __init__(self, engine: Callable[[], bool]):
        self.engine = engine
        self._beat = time.monotonic()

    def beat(self) -> None:
        self._beat = time.monotonic()

    def check(self) -> tuple[bool, dict[str, str]]:
        stalled = time.monotonic() - self._beat
        loop = "ok" if stalled < STALL_S else f"stalled for {stalled:.0f} s"
        engine = "ready" if self.engine() else "not ready"
        return loop == "ok" and engine == "ready", {"loop": loop, "engine": engine}


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # a scrape is not news
        pass


@dataclass
class Endpoint:
    server: WSGIServer
    thread: threading.Thread
    address: tuple[str, int]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9464``, ``:9464`` = every interface) → (host, port)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def serve(address: str, database: Path, health: Health) -> Endpoint:
    """Start the endpoint thread; OSError when the address can't be bound."""
    registry = CollectorRegistry()  # the process's series plus the queue, per endpoint
    registry.register(_Joined(REGISTRY))
    registry.register(QueueCollector(database))
    metrics_app = make_wsgi_app(registry)
    _engine_up.set_function(lambda: float(health.engine()))

    def app(environ, start_response):
        if environ.get("PATH_INFO") == "/healthz":
            ok, detail = health.check()
            body = json.dumps(detail).encode()
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
            return [body]
        return metrics_app(environ, start_response)

    host, port = parse_address(address)
    server = make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    bound = server.server_address
    log.info("metrics: http://%s:%d/metrics and /healthz", bound[0], bound[1])
    return Endpoint(server, thread, (str(bound[0]), int(bound[1])))


class _Joined:
    """Another registry's series inside this one (the module's, shared by endpoints)."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()

    def describe(self) -> Iterable[Metric]:
        return []
