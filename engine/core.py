"""The engine: SD 2.1 pipeline + every style's LoRA loaded once; batches → PNGs + CLIP scores.

Used by the process loop (`engine.process`); imports torch/diffusers, so never by the bot.

Reproducibility. The same seed, prompt, style and parameters give byte-identical PNGs, and a
job gives the same bytes whether it runs alone or in a batch with others (checked in
tests/test_engine.py). Per-job ``torch.Generator``s make the starting noise batch-independent;
on CPU three things were not batch-invariant (found op by op, comparing each module's output
for a sample in a batch of 4 with the same sample run alone) and are fixed here:

* oneDNN (mkldnn) convolutions choose their algorithm/blocking by batch size: on CPU the
  pipeline and the scorer run with mkldnn off (PyTorch's native conv: one GEMM per sample).
* MKL's GEMM takes another path for small M, so a 2-D ``Linear`` (the UNet's timestep MLP and
  ``time_emb_proj``, CLIP's projections) gives other last bits for 2 rows than for 8: those
  layers run one row at a time (a handful of tiny GEMVs per step).
* The VAE's spatial attention returns a channels-last view for N > 1 but a plain one for
  N = 1 (a size-1 batch counts as both layouts); the GroupNorm and conv after it then take
  other kernels. Attention outputs are made contiguous, and GroupNorm gets contiguous input.

Large-M GEMMs (token × channel), SDPA attention, norms and the scheduler are batch-invariant
as they are. The cost on CPU is within noise at 64×64. On CUDA, cuBLAS/cuDNN choose kernels
by shape as well; there the engine stays fully batched and a job's last bits may depend on
the size of its batch (never on the other jobs' prompts or seeds).

The GPU path (each a setting in ``EngineSettings`` / ``[engine]``; "auto" = on for CUDA):

* fp16 weights on CUDA (``dtype = "auto"``); TF32 for what still runs in fp32 (``tf32``).
* Attention through PyTorch's ``scaled_dot_product_attention`` (``AttnProcessor2_0``) in the
  UNet and the VAE (``attention = "sdpa"``; flash / memory-efficient kernels on CUDA).
* Channels-last UNet (``channels_last``): cuDNN's fast NHWC convolutions.
* ``compile``: ``torch.compile`` of the UNet (``fullgraph=False``), warmed up at start at the
  native size for batch 1 and the batch cap, for every style, so no user pays for it.
* VAE slicing / tiling per batch, automatically for sides above ``vae_slicing_above`` /
  ``vae_tiling_above``; model CPU offload for GPUs under ``offload_below_gb``.
* ``fuse_lora``: when exactly one style has a LoRA, it is fused into the weights (no LoRA
  matmuls per step); a base-model request unfuses it, the next styled one fuses it again.
* The batch cap (``ReadyInfo.max_batch`` / ``batch_pixels``) from free GPU memory and a
  per-image estimate (measured on the warm-up run); out-of-memory stays the backstop.
* PNG encoding runs in a small thread pool while CLIP scores the batch (same bytes).
* The step callback does no device work: it reports the step number and checks a flag.
* The image safety check (``engine.safety``) reuses the CLIP image embeddings of the score
  step and the concept embeddings computed at start: no extra model pass per batch.
On CPU the defaults keep the batch-invariant path above (no channels-last, no compile).
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import torch
from PIL import Image

from engine.protocol import BatchRequest, EngineSettings, ImageResult, ReadyInfo
from engine.safety import SafetyChecker, blur, check_action, check_concepts
from engine.scoring import ClipScorer
from engine.styles import NONE, Style, StyleRegistry

log = logging.getLogger("pelukis.engine")

MAX_SEED = 2**32 - 1
MAX_CFG = 30.0
MAX_SAFETY_THRESHOLD = 100.0

SCHEDULERS = {
    "dpm++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler-a": ("EulerAncestralDiscreteScheduler", {}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
}

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")

# GPU memory one image needs while it is painted, per megapixel at 2 bytes per value (UNet
# activations for both CFG halves with SDPA, the VAE decode, the CLIP input): a conservative
# estimate used when it was not measured; SD 2.1 at 768² in fp16 is ~0.9 GB by it.
MB_PER_MEGAPIXEL_FP16 = 1536.0


class EngineError(Exception):
    """Base of the errors a batch can end with; ``kind`` is the protocol's error kind."""

    kind = "internal"


class EngineInputError(EngineError, ValueError):
    """The request is invalid; the message quotes the bad value. Nothing was run."""

    kind = "invalid"


class EngineOOM(EngineError):
    """Out of accelerator memory; a smaller batch may fit."""

    kind = "oom"


class EngineAborted(EngineError):
    """``should_abort`` said stop; the batch produced no images."""

    kind = "aborted"


# --------------------------------------------------------------------------- helpers


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} asked for, but CUDA is not available")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r} (known: auto, {', '.join(DTYPES)})")
    return DTYPES[name]


def flag(value: bool | str, auto: bool) -> bool:
    """A setting that is True/False or "auto" (→ ``auto``); "on"/"off" are accepted too."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return auto
    if text in ("on", "true", "yes", "1"):
        return True
    if text in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"{value!r} is not one of true, false, auto")


def estimate_image_bytes(width: int, height: int, dtype: torch.dtype) -> int:
    """The estimated GPU memory one image of a batch takes (see MB_PER_MEGAPIXEL_FP16)."""
    element = torch.tensor([], dtype=dtype).element_size()
    megapixels = width * height / 1e6
    return int(MB_PER_MEGAPIXEL_FP16 * megapixels * element / 2 * 2**20)


def batch_cap(max_batch: int, free_bytes: int | None, per_image_bytes: int,
              reserve_bytes: int = 0) -> int:
    """Images per batch that fit: ``(free − reserve) // per_image``, within [1, max_batch].

    ``free_bytes`` None (no accelerator to ask) or a non-positive estimate → ``max_batch``."""
    if free_bytes is None or per_image_bytes <= 0:
        return max_batch
    fits = (free_bytes - reserve_bytes) // per_image_bytes
    return int(max(1, min(max_batch, fits)))


def _rowwise_linear(module: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``module(x)``, but a 2-D input is computed one row at a time, so a row's result does
    not depend on how many rows came with it."""
    if x.dim() != 2 or x.shape[0] < 2:
        return torch.nn.functional.linear(x, module.weight, module.bias)
    return torch.cat(
        [torch.nn.functional.linear(row, module.weight, module.bias) for row in x.split(1)]
    )


def _contiguous_group_norm(module: torch.nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` on a contiguous copy of ``x``: the CPU kernel for channels-last input
    sums in another order, and whether a reshaped tensor comes out channels-last depends on
    its batch size (N=1 counts as both layouts)."""
    return torch.nn.functional.group_norm(
        x.contiguous(), module.num_groups, module.weight, module.bias, module.eps
    )


def _contiguous_output(module: torch.nn.Module, args, output):
    return output.contiguous() if isinstance(output, torch.Tensor) else output


def _batch_invariant(*models: torch.nn.Module) -> None:
    from diffusers.models.attention_processor import Attention

    for model in models:
        for module in model.modules():
            if type(module) is torch.nn.Linear:
                module.forward = partial(_rowwise_linear, module)
            elif type(module) is torch.nn.GroupNorm:
                module.forward = partial(_contiguous_group_norm, module)
            elif isinstance(module, Attention):
                # The VAE's spatial attention returns a channels-last view for N > 1 and a
                # contiguous one for N = 1; later convs and norms then take other kernels.
                module.register_forward_hook(_contiguous_output)


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide the load chatter of adding many adapters (per-adapter 'missing keys' reports
    that list the other adapters, peft's 'multiple adapters' warning)."""
    import transformers

    level = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Already found a `peft_config`.*")
            yield
    finally:
        transformers.logging.set_verbosity(level)


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes with no metadata (no time, no text chunks): same pixels → same bytes."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


# --------------------------------------------------------------------------- engine


class Engine:
    """Loads the pipeline, every style's LoRA and the CLIP scorer once; runs batches."""

    def __init__(self, settings: EngineSettings):
        from diffusers import StableDiffusionPipeline

        started = time.perf_counter()
        self.settings = settings
        self.device = resolve_device(settings.device)
        self.dtype = resolve_dtype(settings.dtype, self.device)
        cuda = self.device.type == "cuda"
        if settings.num_threads > 0:
            torch.set_num_threads(settings.num_threads)
        self.test_model = settings.model == "tiny"
        if settings.scheduler not in SCHEDULERS:
            raise ValueError(
                f"unknown scheduler {settings.scheduler!r} (known: {', '.join(SCHEDULERS)})"
            )
        if settings.attention not in ("sdpa", "default"):
            raise ValueError(f"unknown attention {settings.attention!r} (known: sdpa, default)")
        if settings.compile_mode not in COMPILE_MODES:
            raise ValueError(f"unknown compile_mode {settings.compile_mode!r} "
                             f"(known: {', '.join(COMPILE_MODES)})")
        self.unsafe_action = check_action(settings.unsafe_action)
        check_concepts(settings.unsafe_concepts)
        self.registry = StyleRegistry.load(settings.adapters_dir)

        # the options in effect (reported in ReadyInfo.options)
        self.tf32 = flag(settings.tf32, cuda) and cuda
        self.channels_last = flag(settings.channels_last, cuda)
        self.offload = cuda and flag(settings.cpu_offload, _total_gb(self.device)
                                     < settings.offload_below_gb)
        self.compiled = bool(settings.compile)
        if self.compiled and self.offload:
            log.warning("compile is off: it does not combine with CPU offload")
            self.compiled = False
        if self.tf32:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

        source = self._model_source(settings.model)
        dtype_name = str(self.dtype).removeprefix("torch.")
        log.info("loading %s on %s (%s)", source, self.device, dtype_name)
        pipe = StableDiffusionPipeline.from_pretrained(
            source,
            dtype=self.dtype,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.scheduler = self._make_scheduler(pipe.scheduler.config, settings.scheduler)
        pipe.set_progress_bar_config(disable=True)
        if settings.attention == "sdpa":
            _use_sdpa(pipe.unet, pipe.vae)
        if self.channels_last:
            pipe.unet.to(memory_format=torch.channels_last)
        if self.offload:
            pipe.enable_model_cpu_offload(device=self.device)
            self.pipe = pipe
        else:
            self.pipe = pipe.to(self.device)
        self.native_size = int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)

        self.lora_styles: list[str] = []
        missing = []
        with _quiet_loading():
            for style in self.registry:
                path = style.weights_for(self.test_model)
                if path is None:
                    missing.append(style.name)
                    continue
                try:
                    pipe.load_lora_weights(str(path), adapter_name=style.name)
                except Exception as exc:
                    raise RuntimeError(
                        f"style {style.name!r}: cannot load LoRA weights {path}: {exc}"
                    ) from exc
                self.lora_styles.append(style.name)
        if missing:
            log.warning("styles without LoRA weights (prompt template only): %s",
                        ", ".join(missing))
        if self.lora_styles:
            pipe.disable_lora()
        self._active: str | None = None  # the enabled adapter; None = LoRA disabled
        self._fused: str | None = None  # the adapter fused into the weights, if any
        self.fuse = bool(settings.fuse_lora) and len(self.lora_styles) == 1
        if settings.fuse_lora and not self.fuse:
            log.warning("fuse_lora is off: it needs exactly one style with LoRA weights "
                        "(found %d)", len(self.lora_styles))

        clip_source = (
            self._tiny_clip() if settings.clip_model == "tiny" else settings.clip_model
        )
        self.scorer = ClipScorer(clip_source, self.device, self.dtype)

        if self.device.type == "cpu":
            _batch_invariant(pipe.unet, pipe.vae, pipe.text_encoder, self.scorer.model)
        with self._kernels():  # the unsafe concepts' text embeddings, once
            self.safety = SafetyChecker(self.scorer, settings.unsafe_concepts)

        self._encoder = (
            ThreadPoolExecutor(settings.encode_threads, thread_name_prefix="png")
            if settings.encode_threads > 0 else None
        )

        if self.compiled:
            if len(self.lora_styles) > 3:
                # each adapter state is its own graph: keep them all cached
                import torch._dynamo as dynamo

                limit = dynamo.config.cache_size_limit
                dynamo.config.cache_size_limit = max(limit, 2 * len(self.lora_styles) + 4)
            pipe.unet.compile(mode=settings.compile_mode, fullgraph=False)

        # the batch cap from free GPU memory (measured on the warm-up run where there is one)
        self.image_bytes = int(settings.memory_per_image_mb * 2**20) or estimate_image_bytes(
            self.native_size, self.native_size, self.dtype)
        self.warmup_s = 0.0
        if flag(settings.warmup, cuda or self.compiled):
            self.warmup_s = self._warm_up()
        self.max_batch = batch_cap(settings.max_batch, _free_bytes(self.device),
                                   self.image_bytes, int(settings.memory_reserve_mb * 2**20))
        self.options = {
            "attention": _attention_kind(pipe.unet),
            "channels_last": self.channels_last,
            "tf32": self.tf32,
            "compile": settings.compile_mode if self.compiled else False,
            "cpu_offload": self.offload,
            "fuse_lora": self._fused or (self.lora_styles[0] if self.fuse else False),
            "vae_slicing": str(settings.vae_slicing),
            "vae_tiling": str(settings.vae_tiling),
            "image_mb": round(self.image_bytes / 2**20, 1),
            "warmup_s": round(self.warmup_s, 3),
            "encode_threads": settings.encode_threads,
        }

        self.info = ReadyInfo(
            model=settings.model,
            device=str(self.device),
            dtype=dtype_name,
            width=self.native_size,
            height=self.native_size,
            styles=self.registry.names(),
            lora_styles=list(self.lora_styles),
            test_model=self.test_model,
            load_s=round(time.perf_counter() - started, 3),
            max_batch=self.max_batch,
            batch_pixels=self.max_batch * self.native_size * self.native_size,
            options=dict(self.options),
        )
        log.info("engine ready in %.1f s: %s, LoRA styles %s, batch cap %d, options %s",
                 self.info.load_s, settings.model, self.lora_styles, self.max_batch,
                 self.options)

    def _warm_up(self) -> float:
        """Runs the pipeline at the native size (2 steps) so that compilation, cuDNN
        autotuning and lazy CUDA init happen now, not in a user's request: batch 1 and the
        configured max_batch, for the base model and every LoRA style when compiled (each
        adapter state is a graph of its own). The batch-1 run measures the memory one image
        takes, unless ``memory_per_image_mb`` says it."""
        started = time.perf_counter()
        size = self.native_size
        styles: list[str | None] = [None]
        if self.compiled:
            styles += list(self.lora_styles)
        sizes = sorted({1, self.settings.max_batch}) if self.compiled else [1]
        measure = (self.device.type == "cuda" and not self.offload
                   and not self.settings.memory_per_image_mb)
        for n in sizes:
            for name in styles:
                self._switch_adapter(self.style_of(name))
                if measure and n == 1:
                    torch.cuda.synchronize(self.device)
                    torch.cuda.reset_peak_memory_stats(self.device)
                    base = torch.cuda.memory_allocated(self.device)
                with self._kernels():
                    self.pipe(prompt=["warm-up"] * n, width=size, height=size,
                              num_inference_steps=2, guidance_scale=7.5, output_type="pil")
                if measure and n == 1:
                    torch.cuda.synchronize(self.device)
                    peak = torch.cuda.max_memory_allocated(self.device) - base
                    # + the VAE/CLIP slack and allocator fragmentation
                    self.image_bytes = max(int(peak * 1.25), 1)
                    measure = False
        self._switch_adapter(None)
        took = time.perf_counter() - started
        log.info("warm-up: %.1f s (batch sizes %s, %d adapter state(s))", took, sizes,
                 len(styles))
        return took

    # ---- loading

    def _model_source(self, model: str) -> str:
        if model == "tiny":
            from engine.tiny import tiny_model_dir

            return str(tiny_model_dir(self.settings.cache_dir))
        return model

    def _tiny_clip(self) -> str:
        from engine.tiny import tiny_clip_dir

        return str(tiny_clip_dir(self.settings.cache_dir))

    @staticmethod
    def _make_scheduler(config, name: str):
        import diffusers

        cls_name, extra = SCHEDULERS[name]
        # from_config keeps the model's prediction_type (v_prediction for SD 2.1 768).
        return getattr(diffusers, cls_name).from_config(config, **extra)

    # ---- validation

    def style_of(self, name: str | None) -> Style | None:
        if name is None or name.strip().lower() == NONE:
            return None
        return self.registry.get(name)

    def check_inputs(self, req: BatchRequest) -> None:
        """Every check before any work; raises EngineInputError quoting the bad value."""
        s = self.settings

        def bad(msg: str) -> EngineInputError:
            return EngineInputError(f"batch {req.batch_id}: {msg}")

        if req.style is not None and (
            not isinstance(req.style, str) or not self.registry.known(req.style)
        ):
            known = ", ".join([NONE, *self.registry.names()])
            raise bad(f"unknown style {req.style!r} (known: {known})")
        for key in ("width", "height"):
            v = getattr(req, key)
            if not _is_int(v) or v % 8 or not s.min_size <= v <= s.max_size:
                raise bad(f"{key} {v!r} must be a multiple of 8 in [{s.min_size}, {s.max_size}]")
        if not _is_int(req.steps) or not 1 <= req.steps <= s.max_steps:
            raise bad(f"steps {req.steps!r} must be an integer in [1, {s.max_steps}]")
        if (
            isinstance(req.cfg, bool)
            or not isinstance(req.cfg, int | float)
            or not 0 < req.cfg <= MAX_CFG
        ):
            raise bad(f"cfg {req.cfg!r} must be a number in (0, {MAX_CFG:g}]")
        if not isinstance(req.jobs, list) or not 1 <= len(req.jobs) <= s.max_batch:
            n = len(req.jobs) if isinstance(req.jobs, list) else req.jobs
            raise bad(f"{n!r} jobs; a batch holds 1 to {s.max_batch}")
        job_ids = [job.job_id for job in req.jobs]
        if len(set(job_ids)) != len(job_ids):
            raise bad(f"job ids {job_ids!r} repeat")
        for job in req.jobs:
            if not _is_int(job.seed) or not 0 <= job.seed <= MAX_SEED:
                raise bad(f"job {job.job_id}: seed {job.seed!r} must be in [0, {MAX_SEED}]")
            if not isinstance(job.prompt, str) or not job.prompt.strip():
                raise bad(f"job {job.job_id}: prompt {job.prompt!r} is empty")
            if not isinstance(job.negative, str):
                raise bad(f"job {job.job_id}: negative {job.negative!r} must be a string")
            t = job.safety_threshold
            if (
                isinstance(t, bool)
                or not isinstance(t, int | float)
                or not 0 <= t <= MAX_SAFETY_THRESHOLD
            ):
                raise bad(f"job {job.job_id}: safety_threshold {t!r} must be a number in "
                          f"[0, {MAX_SAFETY_THRESHOLD:g}]")

    # ---- running

    def _switch_adapter(self, style: Style | None) -> None:
        want = style.name if style is not None and style.name in self.lora_styles else None
        if want == self._active:
            return
        if self._fused is not None:  # leave the fused state first
            self.pipe.unfuse_lora()
            self._fused = None
        if want is None:
            self.pipe.disable_lora()
        else:
            if self._active is None:
                self.pipe.enable_lora()
            self.pipe.set_adapters([want], [style.adapter_weight])
            if self.fuse:
                self.pipe.fuse_lora(adapter_names=[want], lora_scale=1.0)
                self._fused = want
        log.debug("adapter %s → %s%s", self._active, want, " (fused)" if self._fused else "")
        self._active = want

    def _vae_for(self, width: int, height: int) -> None:
        """VAE slicing/tiling for this batch's size (auto: sides above the thresholds)."""
        s = self.settings
        side = max(width, height)
        vae = getattr(self.pipe, "vae", None)
        if vae is None:
            return
        if flag(s.vae_slicing, side > s.vae_slicing_above) != bool(vae.use_slicing):
            (vae.disable_slicing if vae.use_slicing else vae.enable_slicing)()
        if flag(s.vae_tiling, side > s.vae_tiling_above) != bool(vae.use_tiling):
            (vae.disable_tiling if vae.use_tiling else vae.enable_tiling)()

    def run_batch(
        self,
        req: BatchRequest,
        on_step: Callable[[int, int], None] | None = None,
        should_abort: Callable[[], bool] | None = None,
    ) -> list[ImageResult]:
        """One pipeline call for the whole batch; results in job order.

        Raises EngineInputError (nothing run), EngineAborted, EngineOOM; anything else is an
        internal error."""
        # 1. validate everything first
        self.check_inputs(req)
        if should_abort is not None and should_abort():
            raise EngineAborted(f"batch {req.batch_id} aborted before it started")
        if 0 < self.settings.fault_oom_above < len(req.jobs):  # fault injection (tests)
            raise EngineOOM(f"batch {req.batch_id}: simulated out of memory with "
                            f"{len(req.jobs)} images")

        # 2. the style's adapter (or none)
        style = self.style_of(req.style)
        self._switch_adapter(style)

        # 3. prompts through the style's template
        if style is None:
            prompts = [job.prompt for job in req.jobs]
            negatives = [job.negative for job in req.jobs]
        else:
            prompts = [style.render(job.prompt) for job in req.jobs]
            negatives = [style.negative_for(job.negative) for job in req.jobs]

        # 4. one pipeline call; per-job generators make each image independent of its batch
        gen_device = "cpu" if self.device.type == "mps" else self.device
        generators = [torch.Generator(gen_device).manual_seed(job.seed) for job in req.jobs]

        def step_end(pipe, step: int, timestep, callback_kwargs):
            if on_step is not None:
                # = steps for most schedulers; a few (PNDM) take an extra timestep
                on_step(step + 1, max(int(pipe.num_timesteps), req.steps))
            if should_abort is not None and should_abort():
                pipe._interrupt = True
                raise _Interrupted
            return callback_kwargs

        self._vae_for(req.width, req.height)
        started = time.perf_counter()
        try:
            with self._kernels():
                images = self.pipe(
                    prompt=prompts,
                    negative_prompt=negatives if any(negatives) else None,
                    width=req.width,
                    height=req.height,
                    num_inference_steps=req.steps,
                    guidance_scale=float(req.cfg),
                    num_images_per_prompt=1,
                    generator=generators,
                    callback_on_step_end=step_end,
                    output_type="pil",
                ).images
        except _Interrupted:
            raise EngineAborted(f"batch {req.batch_id} aborted") from None
        except torch.OutOfMemoryError as exc:
            self._free_memory()
            raise EngineOOM(
                f"batch {req.batch_id}: out of memory with {len(req.jobs)} images "
                f"of {req.width}x{req.height}"
            ) from exc
        generate_s = time.perf_counter() - started

        # 5. PNGs off the critical path: encoded in the pool while CLIP scores the batch
        if self._encoder is not None:
            pngs = [self._encoder.submit(encode_png, image) for image in images]
        else:
            pngs = None

        # 6. CLIP score against the plain English prompt; the same image embeddings go to
        #    the safety check (jobs with safety_threshold > 0 only)
        started = time.perf_counter()
        try:
            with self._kernels():
                image_embeds = self.scorer.embed_images(images)
                scores = self.scorer.score_embedded(image_embeds,
                                                    [job.prompt for job in req.jobs])
                checked = [i for i, job in enumerate(req.jobs) if job.safety_threshold > 0]
                unsafe: dict[int, tuple[float, str]] = (
                    dict(zip(checked, self.safety.check(image_embeds[checked]), strict=True))
                    if checked else {}
                )
        except torch.OutOfMemoryError as exc:
            self._free_memory()
            raise EngineOOM(f"batch {req.batch_id}: out of memory while scoring") from exc
        finally:
            encoded = [f.result() for f in pngs] if pngs is not None else None
        score_s = time.perf_counter() - started
        if encoded is None:
            encoded = [encode_png(image) for image in images]

        results = []
        for i, (job, image, score, png) in enumerate(
            zip(req.jobs, images, scores, encoded, strict=True)
        ):
            unsafe_score, concept = unsafe.get(i, (0.0, ""))
            flagged = i in unsafe and unsafe_score >= job.safety_threshold
            if flagged:
                # never the prompt in the log
                log.info("batch %d job %d flagged unsafe: %r, score %.2f >= %g (%s)",
                         req.batch_id, job.job_id, concept, unsafe_score,
                         job.safety_threshold, self.unsafe_action)
                png = b"" if self.unsafe_action == "withhold" else encode_png(blur(image))
            results.append(ImageResult(
                batch_id=req.batch_id,
                job_id=job.job_id,
                seed=job.seed,
                clip_score=score,
                width=image.width,
                height=image.height,
                generate_s=round(generate_s, 4),
                score_s=round(score_s, 4),
                unsafe_score=unsafe_score,
                unsafe_concept=concept if flagged else "",
                flagged=flagged,
                png=png,
            ))
        return results

    @contextlib.contextmanager
    def _kernels(self) -> Iterator[None]:
        """Batch-invariant CPU kernels: mkldnn off (see the module docstring)."""
        if self.device.type != "cpu":
            yield
            return
        previous = torch.backends.mkldnn.enabled
        torch.backends.mkldnn.enabled = False
        try:
            yield
        finally:
            torch.backends.mkldnn.enabled = previous

    def _free_memory(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def _use_sdpa(*models: torch.nn.Module) -> None:
    """Every attention layer through ``F.scaled_dot_product_attention`` (AttnProcessor2_0).
    diffusers picks it by default; this makes sure of it (a config or an older load path can
    leave the classic processor, which materialises the attention matrix)."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    for model in models:
        kinds = {type(p).__name__ for p in model.attn_processors.values()}
        if kinds and kinds != {"AttnProcessor2_0"}:
            model.set_attn_processor(AttnProcessor2_0())


def _attention_kind(model: torch.nn.Module) -> str:
    kinds = sorted({type(p).__name__ for p in model.attn_processors.values()})
    return ",".join(kinds)


def _total_gb(device: torch.device) -> float:
    if device.type != "cuda":
        return float("inf")
    return torch.cuda.get_device_properties(device).total_memory / 2**30


def _free_bytes(device: torch.device) -> int | None:
    """Free accelerator memory now; None where there is nothing to ask (CPU)."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    # what PyTorch's allocator holds but does not use is free for the next batch as well
    cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return int(free + max(cached, 0))


class _Interrupted(Exception):
    """Raised from the step callback to leave the pipeline at once (no VAE decode)."""


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


__all__ = [
    "Engine",
    "batch_cap",
    "estimate_image_bytes",
    "flag",
    "EngineAborted",
    "EngineError",
    "EngineInputError",
    "EngineOOM",
    "encode_png",
    "resolve_device",
    "resolve_dtype",
]
