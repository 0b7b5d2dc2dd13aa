"""Messages between the bot and the engine process (torch-free).

Transport: the engine's stdin (bot → engine) and a private copy of its stdout (engine → bot)
carry frames. One frame = 8-byte header (two big-endian u32: JSON length, payload length),
a UTF-8 JSON object with a ``kind`` key, then an optional binary payload (PNG bytes for a
result). Library chatter in the engine goes to stderr, never into the frame stream.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass, field
from typing import Any

HEADER = struct.Struct(">II")
MAX_JSON = 16 * 1024 * 1024

# Message kinds, bot → engine
GENERATE = "generate"  # run one batch
ABORT = "abort"  # stop a batch (or some of its jobs) at the next denoising step
SHUTDOWN = "shutdown"

# Message kinds, engine → bot
READY = "ready"  # engine loaded: model, native size, styles
PROGRESS = "progress"  # one denoising step of a batch finished
RESULT = "result"  # one image of a batch (payload: PNG bytes)
BATCH_DONE = "batch_done"  # every result of the batch was sent
ERROR = "error"  # a batch failed (kind: invalid | oom | aborted | internal)
DEAD = "dead"  # fatal error; the process is exiting


@dataclass(slots=True)
class EngineSettings:
    """What the engine process needs to start; sent as JSON on its command line."""

    model: str = "tiny"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto (fp16 on CUDA, fp32 on CPU) | float32 | float16 | bfloat16
    clip_model: str = "tiny"
    adapters_dir: str = "adapters"
    cache_dir: str = "var/models"  # where the tiny model is built on first use
    scheduler: str = "dpm++"  # dpm++ | ddim | euler | euler-a | pndm
    max_batch: int = 4
    num_threads: int = 0  # torch CPU threads; 0 = torch's default
    min_size: int = 64
    max_size: int = 1024
    max_steps: int = 100
    # --- the GPU path (see engine/core.py). "auto" = on for CUDA, off elsewhere.
    attention: str = "sdpa"  # sdpa: PyTorch scaled_dot_product_attention | default: as loaded
    channels_last: bool | str = "auto"  # UNet weights/activations in channels-last layout
    tf32: bool | str = "auto"  # TF32 matmul + cuDNN (Ampere or later; fp32 ops only)
    compile: bool = False  # torch.compile the UNet; warmed up at start for the native size
    compile_mode: str = "reduce-overhead"  # default | reduce-overhead | max-autotune | ...
    warmup: bool | str = "auto"  # a short run at start (auto: on CUDA or with compile)
    vae_slicing: bool | str = "auto"  # decode a batch one image at a time (auto: big sides)
    vae_tiling: bool | str = "auto"  # decode in overlapping tiles (auto: very big sides)
    vae_slicing_above: int = 512  # auto slicing for images with a side above this
    vae_tiling_above: int = 1024  # auto tiling for images with a side above this
    cpu_offload: bool | str = "auto"  # model CPU offload (auto: GPUs under offload_below_gb)
    offload_below_gb: float = 6.0
    fuse_lora: bool = False  # fuse the LoRA into the weights when exactly one style has one
    memory_per_image_mb: float = 0.0  # per image at the native size; 0 = measure/estimate
    memory_reserve_mb: float = 1024.0  # GPU memory kept free when sizing batches
    encode_threads: int = 2  # PNG encoding beside CLIP scoring; 0 = inline
    fault_oom_above: int = 0  # fault injection for tests: larger batches raise out-of-memory
    # Image safety check with the CLIP model the engine holds: an image whose similarity to
    # any of these concepts (100 × cosine) reaches the job's ``safety_threshold`` is flagged.
    unsafe_concepts: list[str] = field(default_factory=lambda: [
        "nudity", "naked body", "sexual content", "pornography", "graphic violence", "gore",
        "blood and injuries", "dead body", "hate symbol", "weapon pointed at a person",
    ])
    unsafe_action: str = "withhold"  # withhold (no image) | blur (a heavily blurred image)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> EngineSettings:
        return cls(**json.loads(text))


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


@dataclass(slots=True)
class BatchRequest:
    """Jobs that share everything but prompt, negative and seed: one pipeline call."""

    batch_id: int
    style: str | None  # None = base model, adapters disabled
    width: int
    height: int
    steps: int
    cfg: float
    jobs: list[JobSpec] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": GENERATE, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BatchRequest:
        d = {k: v for k, v in d.items() if k != "kind"}
        d["jobs"] = [JobSpec(**j) for j in d.get("jobs", [])]
        return cls(**d)


@dataclass(slots=True)
class ImageResult:
    """One finished image (the PNG bytes travel as the frame's payload)."""

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

    def header(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("png")
        return {"kind": RESULT, **d}

    @classmethod
    def from_frame(cls, d: dict[str, Any], payload: bytes) -> ImageResult:
        d = {k: v for k, v in d.items() if k != "kind"}
        return cls(**d, png=payload)


@dataclass(slots=True)
class ReadyInfo:
    model: str
    device: str
    dtype: str
    width: int  # native image size
    height: int
    styles: list[str]  # every style the engine knows
    lora_styles: list[str]  # the ones with LoRA weights loaded
    test_model: bool  # True for `tiny`: random weights, scores mean nothing
    load_s: float = 0.0
    max_batch: int = 0  # images per batch that fit at the native size (0 = not reported)
    batch_pixels: int = 0  # width × height × images a batch may hold (0 = no limit)
    options: dict[str, Any] = field(default_factory=dict)  # the GPU-path options in effect

    def to_dict(self) -> dict[str, Any]:
        return {"kind": READY, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReadyInfo:
        return cls(**{k: v for k, v in d.items() if k != "kind"})


def encode(msg: dict[str, Any], payload: bytes = b"") -> bytes:
    body = json.dumps(msg, separators=(",", ":")).encode()
    return HEADER.pack(len(body), len(payload)) + body + payload


def decode_header(header: bytes) -> tuple[int, int]:
    n_json, n_payload = HEADER.unpack(header)
    if n_json > MAX_JSON:
        raise ValueError(f"engine frame too large: {n_json} bytes of JSON")
    return n_json, n_payload
