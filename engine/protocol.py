"""Messages between the bot and the engine process (torch-free: the bot imports this).

Transport: the engine's stdin (bot → engine) and a private copy of its stdout (engine → bot)
carry frames. One frame = 8-byte header (two big-endian u32: JSON length, payload length),
a UTF-8 JSON object with a ``kind`` key (a ``Kind``), then an optional binary payload (the PNG
bytes of a RESULT; a GENERATE's input pictures, one after another in job order, each job's
length in its ``image_len``). Library chatter in the engine goes to stderr, never into the
frame stream.
Every message is a dataclass below; ``encode``/``decode`` turn them into frames and back.

bot → engine
* GENERATE ``Generate(batch_id, batch)``: run one batch. The client numbers batches (1, 2, …);
  the batch's fields travel flat beside ``batch_id``. ``job_kind`` (a ``JobKind``) says what
  the batch paints: from words (text) or from each job's input picture (img2img, variation,
  upscale); the pictures are the frame's payload (PNG bytes, in job order), so nothing but
  this stream joins the two processes.
* ABORT ``Abort(batch_id, job_ids)``: stop at the next denoising step. ``job_ids`` None = the
  whole batch; otherwise only those jobs: their RESULTs are withheld (listed in BATCH_DONE's
  ``aborted_job_ids``), and the batch stops when every job of it is aborted. An abort for a
  batch that is queued but not started yet makes it end at once with ERROR aborted; for an
  unknown or finished batch it is ignored.
* SHUTDOWN ``Shutdown()``: exit 0 after the running batch.
* RELOAD_STYLES ``ReloadStyles(request_id)``: rescan the adapters folder between batches:
  load new or changed LoRAs (by file mtime and size), delete removed ones; answered with
  STYLES. A LoRA that does not fit is reported and skipped; the others keep working.

engine → bot
* READY ``ReadyInfo``: loaded (model, native size, styles, batch cap, the styles whose LoRA
  could not be loaded and why); sent once, first.
* STYLES ``StylesReloaded(request_id, …)``: the answer to RELOAD_STYLES: the new style list,
  what was added, removed or changed, and the failures.
* PROGRESS ``Progress(batch_id, step, total)``: one denoising step of a batch finished.
* RESULT ``ImageResult`` (payload: PNG bytes): one image of a batch, in job order.
* BATCH_DONE ``BatchDone(batch_id, results, aborted_job_ids)``: every RESULT was sent.
* ERROR ``Error(batch_id, error, message)``: the batch failed (``ErrorKind``: invalid | oom |
  aborted | internal); no RESULTs. ``batch_id`` is None for a frame that was not even JSON.
* DEAD ``Dead(message, retry)``: fatal (also when it could not start); the process is exiting.
  ``retry`` False: a start failure that will repeat (model missing, bad settings).

A batch ends with exactly one BATCH_DONE or ERROR. EOF on the engine's stdin means the bot is
gone; SIGTERM/SIGINT stop the running batch (ERROR aborted) and the process exits 0.
"""

from __future__ import annotations

import contextlib
import json
import struct
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar

from engine.errors import ErrorKind

HEADER = struct.Struct(">II")
MAX_JSON = 16 * 1024 * 1024


# A transport without frames (Ray) carries a message's payload in its body under this key.
PAYLOAD_KEY = "payload"


class Kind(StrEnum):
    # bot → engine
    GENERATE = "generate"
    ABORT = "abort"
    SHUTDOWN = "shutdown"
    RELOAD_STYLES = "reload_styles"
    # engine → bot
    READY = "ready"
    PROGRESS = "progress"
    RESULT = "result"
    BATCH_DONE = "batch_done"
    STYLES = "styles"
    ERROR = "error"
    DEAD = "dead"


class JobKind(StrEnum):
    """What a batch paints. Every kind but text starts from each job's input picture."""

    TEXT = "text"  # words only
    IMG2IMG = "img2img"  # redraw the picture with the prompt, at ``strength``
    VARIATION = "variation"  # new images close to it (unCLIP, or img2img with new seeds)
    UPSCALE = "upscale"  # the picture at width × height (the upscaler, or a hi-res pass)
    REFERENCE = "reference"  # the prompt painted to look like the picture (unCLIP only)


class _Message:
    """A message's JSON body is ``{"kind": KIND, **its fields}``; only RESULT has a payload."""

    __slots__ = ()
    KIND: ClassVar[Kind]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.KIND.value, **asdict(self)}

    def payload(self) -> bytes:
        return b""

    @classmethod
    def from_dict(cls, d: dict[str, Any], payload: bytes = b""):
        return cls(**{k: v for k, v in d.items() if k != "kind"})


# ------------------------------------------------------------------------ bot → engine


@dataclass(slots=True)
class JobSpec:
    """One image of a batch. ``prompt`` is the English prompt the user gave (after
    translation); the engine wraps it in the style's template and adds the style's
    default negative to ``negative``. The CLIP score is taken against ``prompt``."""

    job_id: int
    prompt: str
    negative: str = ""
    seed: int = 0
    safety_threshold: float = 0.0  # 0 = no image check; else flag at this unsafe score
    image: bytes = b""  # the input picture (PNG/JPEG bytes) of a non-text job; in the payload


@dataclass(slots=True)
class BatchRequest:
    """Jobs that share everything but prompt, negative and seed: one pipeline call. The
    client gives it a batch id when it sends it (``Generate``)."""

    style: str | None  # None = base model, adapters disabled
    width: int
    height: int
    steps: int
    cfg: float
    jobs: list[JobSpec] = field(default_factory=list)
    job_kind: JobKind = JobKind.TEXT
    strength: float = 0.0  # img2img/variation/upscale: how far from the picture (0-1)
    noise_level: int = 0  # unCLIP variations: the noise added to the image embedding

    def __post_init__(self) -> None:
        if isinstance(self.job_kind, str):
            with contextlib.suppress(ValueError):  # an unknown kind: check_inputs says so
                self.job_kind = JobKind(self.job_kind)


@dataclass(slots=True)
class Generate(_Message):
    KIND: ClassVar[Kind] = Kind.GENERATE
    batch_id: int
    batch: BatchRequest

    def to_dict(self) -> dict[str, Any]:
        batch = {f.name: getattr(self.batch, f.name) for f in fields(self.batch)}
        batch["job_kind"] = str(batch["job_kind"])
        batch["jobs"] = []
        for job in self.batch.jobs:
            spec = {f.name: getattr(job, f.name) for f in fields(job) if f.name != "image"}
            batch["jobs"].append({**spec, "image_len": len(job.image)})
        return {"kind": self.KIND.value, "batch_id": self.batch_id, **batch}

    def payload(self) -> bytes:
        return b"".join(job.image for job in self.batch.jobs)

    @classmethod
    def from_dict(cls, d: dict[str, Any], payload: bytes = b"") -> Generate:
        d = {k: v for k, v in d.items() if k != "kind"}
        batch_id = d.pop("batch_id", None)
        if not _is_int(batch_id):
            raise ValueError(f"batch_id {batch_id!r} is not an integer")
        jobs, at = [], 0
        for j in d.pop("jobs", []):
            if not isinstance(j, dict):
                raise TypeError(f"job {j!r} is not an object")
            j = dict(j)
            n = j.pop("image_len", 0)
            if not _is_int(n) or n < 0 or at + n > len(payload):
                raise ValueError(f"image_len {n!r} does not fit the payload")
            jobs.append(JobSpec(**j, image=payload[at:at + n]))
            at += n
        if at != len(payload):
            raise ValueError(f"{len(payload) - at} payload bytes belong to no job")
        return cls(batch_id, BatchRequest(**d, jobs=jobs))


@dataclass(slots=True)
class Abort(_Message):
    KIND: ClassVar[Kind] = Kind.ABORT
    batch_id: int
    job_ids: list[int] | None = None  # None = the whole batch

    def __post_init__(self) -> None:
        if not _is_int(self.batch_id):
            raise ValueError(f"batch_id {self.batch_id!r} is not an integer")
        if self.job_ids is not None:
            if not isinstance(self.job_ids, list) or not all(map(_is_int, self.job_ids)):
                raise ValueError(f"job_ids {self.job_ids!r} is not a list of integers")


@dataclass(slots=True)
class Shutdown(_Message):
    KIND: ClassVar[Kind] = Kind.SHUTDOWN


@dataclass(slots=True)
class ReloadStyles(_Message):
    KIND: ClassVar[Kind] = Kind.RELOAD_STYLES
    request_id: int

    def __post_init__(self) -> None:
        if not _is_int(self.request_id):
            raise ValueError(f"request_id {self.request_id!r} is not an integer")


# ------------------------------------------------------------------------ engine → bot


@dataclass(slots=True)
class ReadyInfo(_Message):
    KIND: ClassVar[Kind] = Kind.READY
    model: str
    device: str
    dtype: str
    width: int  # native image size
    height: int
    styles: list[str]  # every style the engine knows
    lora_styles: list[str]  # the ones with LoRA weights loaded
    test_model: bool  # True for `tiny`: trained on the tiny world only (engine/world)
    load_s: float = 0.0
    max_batch: int = 0  # images per batch that fit at the native size (0 = not reported)
    batch_pixels: int = 0  # width × height × images a batch may hold (0 = no limit)
    options: dict[str, Any] = field(default_factory=dict)  # the GPU-path options in effect
    # styles whose LoRA could not be loaded (name → reason): served as prompt templates
    style_failures: dict[str, str] = field(default_factory=dict)
    # the optional pipelines loaded ("" = none: variations and upscale use img2img)
    upscale_model: str = ""
    variations_model: str = ""


@dataclass(slots=True)
class StylesReloaded(_Message):
    """The answer to ReloadStyles. ``failures``: styles kept without (or with the previous
    version of) their LoRA, name → reason; ``problems``: style folders left out (a manifest
    that does not parse), folder → reason; ``error``: the rescan itself failed (nothing
    changed)."""

    KIND: ClassVar[Kind] = Kind.STYLES
    request_id: int
    styles: list[str] = field(default_factory=list)
    lora_styles: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    load_s: float = 0.0
    error: str = ""


@dataclass(slots=True)
class Progress(_Message):
    KIND: ClassVar[Kind] = Kind.PROGRESS
    batch_id: int
    step: int
    total: int


@dataclass(slots=True)
class ImageResult(_Message):
    """One finished image (the PNG bytes travel as the frame's payload)."""

    KIND: ClassVar[Kind] = Kind.RESULT
    batch_id: int
    job_id: int
    seed: int
    clip_score: float  # 100 × max(cosine, 0)
    width: int
    height: int
    generate_s: float  # the batch's pipeline time
    score_s: float  # the batch's CLIP scoring time
    unsafe_score: float = 0.0  # max over unsafe concepts of 100 × cosine (0 when unchecked)
    unsafe_concept: str = ""  # the concept it was closest to, when flagged
    flagged: bool = False  # withheld (png empty) or blurred, per ``unsafe_action``
    png: bytes = b""

    def to_dict(self) -> dict[str, Any]:
        d = _Message.to_dict(self)
        d.pop("png")
        return d

    def payload(self) -> bytes:
        return self.png

    @classmethod
    def from_dict(cls, d: dict[str, Any], payload: bytes = b"") -> ImageResult:
        return cls(**{k: v for k, v in d.items() if k != "kind"}, png=payload)


@dataclass(slots=True)
class BatchDone(_Message):
    KIND: ClassVar[Kind] = Kind.BATCH_DONE
    batch_id: int
    results: int  # RESULT frames sent for the batch
    aborted_job_ids: list[int] = field(default_factory=list)  # their results were withheld


@dataclass(slots=True)
class Error(_Message):
    KIND: ClassVar[Kind] = Kind.ERROR
    batch_id: int | None
    error: ErrorKind
    message: str

    def __post_init__(self) -> None:
        self.error = ErrorKind(self.error)


@dataclass(slots=True)
class Dead(_Message):
    KIND: ClassVar[Kind] = Kind.DEAD
    message: str
    retry: bool = True  # False: a start failure that will happen again until fixed


Message = (Generate | Abort | Shutdown | ReloadStyles | ReadyInfo | Progress | ImageResult
           | BatchDone | StylesReloaded | Error | Dead)
MESSAGES: dict[Kind, type] = {
    cls.KIND: cls
    for cls in (Generate, Abort, Shutdown, ReloadStyles, ReadyInfo, Progress, ImageResult,
                BatchDone, StylesReloaded, Error, Dead)
}


# ------------------------------------------------------------------------ frames


def encode(msg: Message) -> bytes:
    """One frame holding ``msg``."""
    return encode_raw(msg.to_dict(), msg.payload())


def encode_raw(body: dict[str, Any], payload: bytes = b"") -> bytes:
    """One frame from a JSON object as it is (tests use it for malformed messages)."""
    data = json.dumps(body, separators=(",", ":")).encode()
    return HEADER.pack(len(data), len(payload)) + data + payload


def decode_header(header: bytes) -> tuple[int, int]:
    n_json, n_payload = HEADER.unpack(header)
    if n_json > MAX_JSON:
        raise ValueError(f"engine frame too large: {n_json} bytes of JSON")
    return n_json, n_payload


def decode(body: dict[str, Any], payload: bytes = b"") -> Message:
    """The message a frame's JSON object and payload hold. ValueError for an unknown kind;
    TypeError, ValueError or KeyError for fields that do not fit it."""
    try:
        kind = Kind(body.get("kind"))
    except ValueError:
        raise ValueError(f"unknown message kind {body.get('kind')!r}") from None
    return MESSAGES[kind].from_dict(body, payload)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


__all__ = [
    "HEADER", "MAX_JSON", "Abort", "BatchDone", "BatchRequest", "Dead", "Error", "ErrorKind",
    "Generate", "ImageResult", "JobKind", "JobSpec", "Kind", "Message", "Progress", "ReadyInfo",
    "ReloadStyles", "Shutdown", "StylesReloaded", "decode", "decode_header", "encode", "encode_raw",
]
