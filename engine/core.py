"""The engine: SD 2.1 pipeline + every style's LoRA loaded once; batches → PNGs + CLIP scores.

Runs in the engine process only (`engine.process`; it imports torch/diffusers). How images
stay reproducible and batch-invariant, and what each GPU option does: docs/engine.md.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import torch
from PIL import Image

from engine import faults, gpu
from engine.errors import EngineError, ErrorKind
from engine.images import blur, encode_png
from engine.invariance import batch_invariant_kernels, make_batch_invariant
from engine.lora_check import LoraMisfit, ModelShape, check_lora
from engine.protocol import (
    BatchRequest,
    ImageResult,
    JobKind,
    JobSpec,
    ReadyInfo,
    StylesReloaded,
)
from engine.safety import SafetyChecker
from engine.scoring import ClipScorer
from engine.settings import SCHEDULERS, EngineSettings, is_single_file
from engine.styles import NONE, Style, StyleError, StyleRegistry, scan, weights_signature

log = logging.getLogger("pelukis.engine")

MAX_SEED = 2**32 - 1
MAX_CFG = 30.0
MAX_SAFETY_THRESHOLD = 100.0
MAX_INPUT_PIXELS = 4096 * 4096  # an input picture larger than this is refused undecoded
INPUT_FORMATS = ("PNG", "JPEG", "WEBP")  # what the bot sends (it normalises to PNG)

# the diffusers class (and its options) of each scheduler name of engine.settings
SCHEDULER_CLASSES = {
    "dpm++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler-a": ("EulerAncestralDiscreteScheduler", {}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
}
assert set(SCHEDULER_CLASSES) == set(SCHEDULERS)

StepFn = Callable[[int, int], None]  # (step, total) after each denoising step
AbortFn = Callable[[], bool]  # True = stop at the next step


def make_scheduler(config, name: str):
    """The named scheduler, from the model's scheduler config (which keeps its
    prediction_type: v_prediction for SD 2.1 768)."""
    import diffusers

    cls_name, extra = SCHEDULER_CLASSES[name]
    cls = getattr(diffusers, cls_name)
    # a model trained to zero terminal SNR (tiny) must be sampled on that schedule; PNDM has
    # no such option and would divide by the last step's zero signal
    if config.get("rescale_betas_zero_snr") and "rescale_betas_zero_snr" not in \
            inspect.signature(cls.__init__).parameters:
        raise ValueError(f"scheduler {name!r} cannot sample this model (trained to zero "
                         "terminal SNR); choose dpm++, ddim, euler or euler-a")
    return cls.from_config(config, **extra)


class Engine:
    """Loads the pipeline, every style's LoRA and the CLIP scorer once; runs batches."""

    def __init__(self, settings: EngineSettings):
        started = time.perf_counter()
        self.settings = settings
        # 1. what can fail fast: settings, device, the style manifests
        settings.check()
        self.fault_oom_above = faults.oom_above()
        self._pick_device()
        self.registry = StyleRegistry.load(settings.adapters)
        # 2. the pipeline, on its device with the GPU options
        self._load_pipeline()
        self._set_scheduler()
        self._apply_gpu_options()
        self._derive_img2img()
        # 3. every style's LoRA; CLIP for the score and the image check
        self._load_styles()
        self._load_extras()
        self._load_scorer()
        self._make_batch_invariant()
        self._load_safety_check()
        # 4. PNG pool, compile, warm-up, and how many images a batch may hold
        self._start_png_pool()
        self._compile()
        self._size_batches()
        self.info = self._ready_info(time.perf_counter() - started)

    # ---- load steps

    def _pick_device(self) -> None:
        """Device, dtype, CPU threads, and the GPU options in effect for this device."""
        s = self.settings
        self.device = gpu.resolve_device(s.device)
        self.dtype = gpu.resolve_dtype(s.dtype, self.device)
        self.dtype_name = str(self.dtype).removeprefix("torch.")
        cuda = self.device.type == "cuda"
        if s.threads > 0:
            torch.set_num_threads(s.threads)
        self.test_model = s.model == "tiny"
        self.tf32 = gpu.resolve_auto(s.tf32, cuda) and cuda
        self.channels_last = gpu.resolve_auto(s.channels_last, cuda)
        self.offload = cuda and gpu.resolve_auto(
            s.cpu_offload, gpu.total_gb(self.device) < s.offload_below_gb)
        self.compiled = bool(s.compile)
        if self.compiled and self.offload:
            log.warning("compile is off: it does not combine with CPU offload")
            self.compiled = False
        if self.tf32:
            gpu.enable_tf32()

    def _load_pipeline(self) -> None:
        """From a diffusers folder or hub id (at ``model_revision``), or a single-file
        checkpoint with its diffusers config from ``model_config`` (diffusers 0.42 maps SD 2
        checkpoints to the withdrawn stabilityai repos when it is not given)."""
        from diffusers import StableDiffusionPipeline

        s = self.settings
        source = self._model_source(s.model)
        pin = {"revision": s.model_revision} if s.model_revision and not self.test_model else {}
        options = dict(dtype=self.dtype, safety_checker=None, feature_extractor=None,
                       requires_safety_checker=False, **pin)
        log.info("loading %s%s on %s (%s)", source,
                 f" at {s.model_revision}" if pin else "", self.device, self.dtype_name)
        if is_single_file(source):
            self.pipe = StableDiffusionPipeline.from_single_file(
                source, config=s.single_file_config, **options)
        else:
            self.pipe = StableDiffusionPipeline.from_pretrained(source, **options)
        self.pipe.set_progress_bar_config(disable=True)
        self.native_size = int(self.pipe.unet.config.sample_size) * int(
            self.pipe.vae_scale_factor)

    def _set_scheduler(self) -> None:
        self.pipe.scheduler = make_scheduler(self.pipe.scheduler.config, self.settings.scheduler)

    def _apply_gpu_options(self) -> None:
        """SDPA attention, channels-last UNet, then the device (or model CPU offload)."""
        pipe = self.pipe
        if self.settings.attention == "sdpa":
            gpu.use_sdpa(pipe.unet, pipe.vae)
        if self.channels_last:
            pipe.unet.to(memory_format=torch.channels_last)
        if self.offload:
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            self.pipe = pipe.to(self.device)

    def _derive_img2img(self) -> None:
        """The img2img pipeline, made once ``from_pipe`` of the loaded one: the same UNet,
        VAE, text encoder and scheduler objects (and so the same LoRA adapters), no second
        copy of any weight. The dtype is passed: without it from_pipe upcasts shared fp16
        modules to fp32 in place. The two never run at once (one batch at a time)."""
        from diffusers import StableDiffusionImg2ImgPipeline

        # ``dtype`` is diffusers 0.42's name for ``torch_dtype`` (deprecated there)
        with _quiet_loading():  # its .to(dtype) of modules already in that dtype warns
            self.img2img = StableDiffusionImg2ImgPipeline.from_pipe(self.pipe, dtype=self.dtype)
        self.img2img.set_progress_bar_config(disable=True)

    def _load_extras(self) -> None:
        """The optional pipelines: the x4 upscaler and Stable unCLIP, their own weights (the
        upscaler has its own VAE and a 7-channel UNet: no LoRA; unCLIP's UNet is SD
        2.1-shaped and takes image embeddings: each style's LoRA is loaded into it too)."""
        from engine import tiny_extra

        s = self.settings
        self.upscaler = self._extra("StableDiffusionUpscalePipeline", s.upscale_model,
                                    tiny_extra.tiny_upscaler_dir)
        self.unclip = self._extra("StableUnCLIPImg2ImgPipeline", s.variations_model,
                                  tiny_extra.tiny_unclip_dir)
        self.unclip_styles: list[str] = []  # the styles whose LoRA the unCLIP UNet has too
        self._unclip_active: str | None = None
        if self.unclip is not None:
            for style in self.registry:
                if style.name in self.lora_styles:
                    self._unclip_lora(style, style.weights_for(self.test_model))
            if self.unclip_styles:
                self.unclip.disable_lora()

    def _unclip_lora(self, style: Style, path) -> None:
        """The style's LoRA into the unCLIP pipeline too (its UNet is SD 2.1-shaped): one
        that does not load there leaves the style a template for variations only."""
        try:
            with _quiet_loading():
                self.unclip.load_lora_weights(str(path), adapter_name=style.name)
        except Exception as exc:
            with _quiet_loading(), contextlib.suppress(Exception):
                self.unclip.delete_adapters(style.name)
            log.warning("style %r: LoRA not loaded into the unCLIP pipeline: %s", style.name,
                        _first_line(exc))
            return
        self.unclip_styles = sorted({*self.unclip_styles, style.name})

    def _extra(self, cls_name: str, model: str, tiny_dir):
        if not model:
            return None
        import diffusers

        source = str(tiny_dir(self.settings.cache)) if model == "tiny" else model
        log.info("loading %s %s on %s (%s)", cls_name, source, self.device, self.dtype_name)
        pipe = getattr(diffusers, cls_name).from_pretrained(source, dtype=self.dtype)
        pipe.set_progress_bar_config(disable=True)
        if self.settings.attention == "sdpa":
            gpu.use_sdpa(pipe.unet, pipe.vae)
        if self.offload:
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            pipe = pipe.to(self.device)
        if self.device.type == "cpu":
            make_batch_invariant(*(m for m in (pipe.unet, pipe.vae, pipe.text_encoder,
                                               getattr(pipe, "image_encoder", None))
                                   if m is not None))
        return pipe

    def _load_styles(self) -> None:
        """Each style's LoRA as a named adapter, once. A style without weights, or whose
        LoRA does not fit the model, is served as a prompt template (one line in the log,
        a note in READY); it never stops the others."""
        self.lora_styles: list[str] = []
        self.style_failures: dict[str, str] = {}
        self._tried: dict[str, tuple | None] = {}  # style → (file, mtime, size) last tried
        self._active: str | None = None  # the enabled adapter; None = LoRA disabled
        self._fused: str | None = None  # the adapter fused into the weights, if any
        self._lora_shape = ModelShape.from_modules(self.pipe.unet, self.pipe.text_encoder)
        for folder, problem in self.registry.problems.items():
            log.warning("style folder %r left out: %s", folder, problem)
        missing = []
        for style in self.registry:
            if style.declared_weights(self.test_model) is None:
                missing.append(style.name)
                self._tried[style.name] = None
                continue
            self._try_lora(style)
        if missing:
            log.warning("styles without LoRA weights (prompt template only): %s",
                        ", ".join(missing))
        self._settle_adapters()

    def _try_lora(self, style: Style, keep_previous: bool = False) -> None:
        """Load (or load again) ``style``'s LoRA; on failure note why, in one log line.
        ``keep_previous``: a new file that does not fit leaves the loaded version in use."""
        declared = style.declared_weights(self.test_model)
        path = style.weights_for(self.test_model)
        self._tried[style.name] = _signature(path)
        loaded = style.name in self.lora_styles
        if path is None:
            reason = f"weights file {declared.name} not found"
            if loaded:
                self._drop_adapter(style.name)
        else:
            reason = self._misfit(path)
            if reason is None:
                if loaded:
                    self._drop_adapter(style.name)
                reason = self._load_lora(style, path)
            elif loaded and keep_previous:
                reason += "; the previous version stays in use"
                self.style_failures[style.name] = reason
                log.warning("style %r: LoRA %s not loaded: %s", style.name, path, reason)
                return
            elif loaded:
                self._drop_adapter(style.name)
        if reason is None:
            self.style_failures.pop(style.name, None)
            return
        self.style_failures[style.name] = reason
        log.warning("style %r: LoRA %s not loaded: %s; served as a prompt template",
                    style.name, path or declared, reason)

    def _misfit(self, path) -> str | None:
        try:
            check_lora(path, self._lora_shape)
        except LoraMisfit as exc:
            return str(exc)
        return None

    def _load_lora(self, style: Style, path) -> str | None:
        """The adapter loaded, or the reason it was not (a partial adapter is removed)."""
        try:
            with _quiet_loading():
                self.pipe.load_lora_weights(str(path), adapter_name=style.name)
        except Exception as exc:  # whatever diffusers/peft raise: the style is a template
            self._drop_adapter(style.name)
            return f"diffusers could not load it: {_first_line(exc)}"
        self.lora_styles = sorted({*self.lora_styles, style.name})
        if getattr(self, "unclip", None) is not None:  # a reload: unCLIP gets it too
            self._unclip_lora(style, path)
        return None

    def _drop_adapter(self, name: str) -> None:
        with _quiet_loading(), contextlib.suppress(Exception):  # may be half-added or gone
            self.pipe.delete_adapters(name)
        self.lora_styles = [n for n in self.lora_styles if n != name]
        if name in getattr(self, "unclip_styles", ()):
            with _quiet_loading(), contextlib.suppress(Exception):
                self.unclip.delete_adapters(name)
            self.unclip_styles = [n for n in self.unclip_styles if n != name]

    def _settle_adapters(self) -> None:
        """After loading: LoRA off until a styled batch switches it on; fusing decided."""
        if self.lora_styles:
            self.pipe.disable_lora()
        self._active = None
        self.fuse = bool(self.settings.fuse_lora) and len(self.lora_styles) == 1
        if self.settings.fuse_lora and not self.fuse:
            log.warning("fuse_lora is off: it needs exactly one style with LoRA weights "
                        "(found %d)", len(self.lora_styles))

    def reload_styles(self, request_id: int = 0) -> StylesReloaded:
        """Rescan the adapters folder between batches: new and changed LoRAs (by file mtime
        and size) are loaded, removed ones deleted. A folder whose manifest no longer parses
        keeps its previous version (it may be being rewritten); a LoRA that does not fit is
        reported and skipped; every other style keeps working."""
        started = time.perf_counter()
        try:
            styles, problems = scan(self.settings.adapters, self.test_model)
        except StyleError as exc:
            log.warning("styles not reloaded: %s", exc)
            return StylesReloaded(request_id, self.registry.names(), list(self.lora_styles),
                                  failures=dict(self.style_failures), error=str(exc))
        old = {s.name: s for s in self.registry}
        new = {s.name: s for s in styles}
        for folder, problem in problems.items():
            log.warning("style folder %r not reloaded: %s", folder, problem)
            if folder in old:
                new[folder] = old[folder]
        self._switch_adapter(None)  # unfused and disabled while adapters change
        if self.unclip is not None and self.unclip_styles:
            self._switch_unclip(None)
        removed = sorted(old.keys() - new.keys())
        for name in removed:
            self._drop_adapter(name)
            self.style_failures.pop(name, None)
            self._tried.pop(name, None)
        added = sorted(new.keys() - old.keys())
        changed = sorted(n for n in new.keys() & old.keys() if new[n] != old[n])
        for name, style in sorted(new.items()):
            path = style.weights_for(self.test_model)
            now = _signature(path)
            if name in self._tried and self._tried[name] == now:
                continue  # the same LoRA file as last time (loaded, or failed for a reason)
            if style.declared_weights(self.test_model) is None:
                self._tried[name] = None
                if name in self.lora_styles:
                    self._drop_adapter(name)
                self.style_failures.pop(name, None)
            else:
                self._try_lora(style, keep_previous=True)
            if name not in added and name not in changed:
                changed.append(name)
        self.registry.replace(list(new.values()), problems)
        self._settle_adapters()
        took = time.perf_counter() - started
        log.info("styles reloaded in %.2f s: added %s, removed %s, changed %s, LoRA styles %s",
                 took, added, removed, sorted(changed), self.lora_styles)
        return StylesReloaded(
            request_id, styles=self.registry.names(), lora_styles=list(self.lora_styles),
            added=added, removed=removed, changed=sorted(changed),
            failures=dict(self.style_failures), problems=dict(problems), load_s=round(took, 3))

    def _load_scorer(self) -> None:
        clip = self.settings.clip_model
        source = self._tiny_clip() if clip == "tiny" else clip
        self.scorer = ClipScorer(source, self.device, self.dtype,
                                 revision=self.settings.clip_model_revision or None)

    def _make_batch_invariant(self) -> None:
        if self.device.type == "cpu":
            make_batch_invariant(self.pipe.unet, self.pipe.vae, self.pipe.text_encoder,
                                 self.scorer.model)

    def _load_safety_check(self) -> None:
        with batch_invariant_kernels(self.device):  # the unsafe concepts' embeddings, once
            self.safety = SafetyChecker(self.scorer, *self._unsafe_concepts())
        self.unsafe_action = self.settings.unsafe_action

    def _unsafe_concepts(self) -> tuple[list[str], list[str]]:
        """The unsafe concepts and the safe references they are weighed against: the
        configured concepts alone, or the tiny world's for the tiny CLIP (it knows no words
        but its world's, where one shape stands for everything unsafe and the others are
        the references)."""
        if self.settings.clip_model == "tiny":
            from engine.world.scene import SAFE_CONCEPTS, UNSAFE_CONCEPTS

            return list(UNSAFE_CONCEPTS), list(SAFE_CONCEPTS)
        return self.settings.unsafe_concepts, []

    def _start_png_pool(self) -> None:
        n = self.settings.encode_threads
        self._encoder = ThreadPoolExecutor(n, thread_name_prefix="png") if n > 0 else None

    def _compile(self) -> None:
        if self.compiled:
            gpu.compile_unet(self.pipe.unet, self.settings.compile_mode, len(self.lora_styles))

    def _size_batches(self) -> None:
        """The memory one image takes (measured on the warm-up run where there is one), and
        from it and the free GPU memory the batch cap."""
        s = self.settings
        self.image_bytes = int(s.memory_per_image_mb * 2**20) or gpu.estimate_image_bytes(
            self.native_size, self.native_size, self.dtype)
        self.warmup_s = 0.0
        if gpu.resolve_auto(s.warmup, self.device.type == "cuda" or self.compiled):
            self.warmup_s = self._warm_up()
        self.max_batch = gpu.batch_cap(s.max_batch, gpu.free_bytes(self.device),
                                       self.image_bytes, int(s.memory_reserve_mb * 2**20))

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
                with batch_invariant_kernels(self.device):
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

    def _ready_info(self, load_s: float) -> ReadyInfo:
        s = self.settings
        self.options = {
            "attention": gpu.attention_kind(self.pipe.unet),
            "channels_last": self.channels_last,
            "tf32": self.tf32,
            "compile": s.compile_mode if self.compiled else False,
            "cpu_offload": self.offload,
            "fuse_lora": self._fused or (self.lora_styles[0] if self.fuse else False),
            "vae_slicing": str(s.vae_slicing),
            "vae_tiling": str(s.vae_tiling),
            "image_mb": round(self.image_bytes / 2**20, 1),
            "warmup_s": round(self.warmup_s, 3),
            "encode_threads": s.encode_threads,
        }
        info = ReadyInfo(
            model=s.model,
            device=str(self.device),
            dtype=self.dtype_name,
            width=self.native_size,
            height=self.native_size,
            styles=self.registry.names(),
            lora_styles=list(self.lora_styles),
            test_model=self.test_model,
            load_s=round(load_s, 3),
            max_batch=self.max_batch,
            batch_pixels=self.max_batch * self.native_size * self.native_size,
            options=dict(self.options),
            style_failures=dict(self.style_failures),
            upscale_model=s.upscale_model if self.upscaler is not None else "",
            variations_model=s.variations_model if self.unclip is not None else "",
        )
        log.info("engine ready in %.1f s: %s, LoRA styles %s, batch cap %d, options %s",
                 info.load_s, s.model, self.lora_styles, self.max_batch, self.options)
        return info

    def _model_source(self, model: str) -> str:
        if model == "tiny":
            from engine.tiny import tiny_model_dir

            return str(tiny_model_dir(self.settings.cache))
        return model

    def _tiny_clip(self) -> str:
        from engine.tiny import tiny_clip_dir

        return str(tiny_clip_dir(self.settings.cache))

    # ---- validation

    def style_of(self, name: str | None) -> Style | None:
        if name is None or name.strip().lower() == NONE:
            return None
        return self.registry.get(name)

    def check_inputs(self, req: BatchRequest, batch_id: int = 0) -> None:
        """Every check before any work; raises EngineError(invalid) quoting the bad value."""
        s = self.settings

        def bad(msg: str) -> EngineError:
            return EngineError(ErrorKind.INVALID, f"batch {batch_id}: {msg}")

        if req.style is not None and (
            not isinstance(req.style, str) or not self.registry.known(req.style)
        ):
            known = ", ".join([NONE, *self.registry.names()])
            raise bad(f"unknown style {req.style!r} (known: {known})")
        if not isinstance(req.job_kind, JobKind):
            known = ", ".join(JobKind)
            raise bad(f"unknown job_kind {req.job_kind!r} (known: {known})")
        top = s.upscale_max_side if req.job_kind is JobKind.UPSCALE else s.max_side
        for key in ("width", "height"):
            v = getattr(req, key)
            if not _is_int(v) or v % 8 or not s.min_side <= v <= top:
                raise bad(f"{key} {v!r} must be a multiple of 8 in [{s.min_side}, {top}]")
        if not _is_int(req.steps) or not 1 <= req.steps <= s.steps_max:
            raise bad(f"steps {req.steps!r} must be an integer in [1, {s.steps_max}]")
        if (
            isinstance(req.cfg, bool)
            or not isinstance(req.cfg, int | float)
            or not 0 < req.cfg <= MAX_CFG
        ):
            raise bad(f"cfg {req.cfg!r} must be a number in (0, {MAX_CFG:g}]")
        if req.job_kind is JobKind.REFERENCE and self.unclip is None:
            raise bad("a reference job needs [engine] variations_model (Stable unCLIP)")
        if req.job_kind is not JobKind.TEXT:
            v = req.strength
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 1:
                raise bad(f"strength {v!r} must be a number in (0, 1]")
            if int(req.steps * v) < 1:
                raise bad(f"strength {v!r} × steps {req.steps} leaves no denoising step")
        if not isinstance(req.jobs, list) or not 1 <= len(req.jobs) <= s.max_batch:
            n = len(req.jobs) if isinstance(req.jobs, list) else req.jobs
            raise bad(f"{n!r} jobs; a batch holds 1 to {s.max_batch}")
        job_ids = [job.job_id for job in req.jobs]
        if len(set(job_ids)) != len(job_ids):
            raise bad(f"job ids {job_ids!r} repeat")
        for job in req.jobs:
            if not _is_int(job.seed) or not 0 <= job.seed <= MAX_SEED:
                raise bad(f"job {job.job_id}: seed {job.seed!r} must be in [0, {MAX_SEED}]")
            if not isinstance(job.prompt, str) or (
                req.job_kind is JobKind.TEXT and not job.prompt.strip()
            ):  # a picture job may come without words (a variation, an upscale)
                raise bad(f"job {job.job_id}: prompt {job.prompt!r} is empty")
            if not isinstance(job.negative, str):
                raise bad(f"job {job.job_id}: negative {job.negative!r} must be a string")
            if req.job_kind is JobKind.TEXT and job.image:
                raise bad(f"job {job.job_id}: a text job carries no picture")
            if req.job_kind is not JobKind.TEXT and not job.image:
                raise bad(f"job {job.job_id}: a {req.job_kind} job needs a picture")
            t = job.safety_threshold
            if (
                isinstance(t, bool)
                or not isinstance(t, int | float)
                or not 0 <= t <= MAX_SAFETY_THRESHOLD
            ):
                raise bad(f"job {job.job_id}: safety_threshold {t!r} must be a number in "
                          f"[0, {MAX_SAFETY_THRESHOLD:g}]")

    # ---- running

    def run_batch(
        self,
        req: BatchRequest,
        on_step: StepFn | None = None,
        should_abort: AbortFn | None = None,
        *,
        batch_id: int = 0,
    ) -> list[ImageResult]:
        """One pipeline call for the whole batch; results in job order. ``batch_id`` (given
        by the client) names the batch in messages, logs and results.

        Raises EngineError: invalid (nothing run), aborted, oom; anything else is an
        internal error."""
        # 1. check everything first: the request, an abort that came first, the OOM fault
        self.check_inputs(req, batch_id)
        if should_abort is not None and should_abort():
            raise EngineError(ErrorKind.ABORTED, f"batch {batch_id} aborted before it started")
        if 0 < self.fault_oom_above < len(req.jobs):  # faults.OOM_ABOVE (tests only)
            raise EngineError(ErrorKind.OOM, f"batch {batch_id}: simulated out of memory with "
                                             f"{len(req.jobs)} images")

        pictures = self._pictures(req, batch_id)

        # 2. the style's adapter (or none), in the pipeline that will paint
        style = self.style_of(req.style)
        if self.unclip is not None and req.job_kind in (JobKind.VARIATION, JobKind.REFERENCE):
            self._switch_unclip(style)
        else:
            self._switch_adapter(style)

        # 3. prompts through the style's template
        if style is None:
            prompts = [job.prompt for job in req.jobs]
            negatives = [job.negative for job in req.jobs]
        else:
            prompts = [style.render(job.prompt) for job in req.jobs]
            negatives = [style.negative_for(job.negative) for job in req.jobs]

        # 4. one pipeline call; per-job generators make each image independent of its batch
        started = time.perf_counter()
        images = self._paint(req, prompts, negatives, on_step, should_abort, batch_id,
                             pictures)
        generate_s = time.perf_counter() - started

        # 5. CLIP score against the plain English prompt, while the PNGs are encoded in the
        #    pool; the same image embeddings go to the safety check
        started = time.perf_counter()
        pooled, scores, unsafe = self._score(req.jobs, images, batch_id)
        score_s = time.perf_counter() - started
        pngs = pooled if pooled is not None else [encode_png(image) for image in images]

        # 6. one result per job; a flagged image is withheld or blurred
        results = []
        for i, (job, image, score, png) in enumerate(
            zip(req.jobs, images, scores, pngs, strict=True)
        ):
            unsafe_score, concept = unsafe.get(i, (0.0, ""))
            flagged = i in unsafe and unsafe_score >= job.safety_threshold
            if flagged:
                # never the prompt in the log
                log.info("batch %d job %d flagged unsafe: %r, score %.2f >= %g (%s)",
                         batch_id, job.job_id, concept, unsafe_score,
                         job.safety_threshold, self.unsafe_action)
                png = b"" if self.unsafe_action == "withhold" else encode_png(blur(image))
            results.append(ImageResult(
                batch_id=batch_id,
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

    def _switch_unclip(self, style: Style | None) -> None:
        """The unCLIP pipeline's adapter for a variation or reference batch (never fused)."""
        want = style.name if style is not None and style.name in self.unclip_styles else None
        if want == self._unclip_active:
            return
        if want is None:
            self.unclip.disable_lora()
        else:
            if self._unclip_active is None:
                self.unclip.enable_lora()
            self.unclip.set_adapters([want], [style.adapter_weight])
        self._unclip_active = want

    def _pictures(self, req: BatchRequest, batch_id: int) -> list[Image.Image] | None:
        """The jobs' input pictures, decoded and at the request's size (None for text).
        The bot checked and normalised them (bot/pictures.py); this refuses what still does
        not decode, as EngineError(invalid), before any work."""
        if req.job_kind is JobKind.TEXT:
            return None
        out = []
        for job in req.jobs:
            try:
                with Image.open(io.BytesIO(job.image)) as image:
                    if image.format not in INPUT_FORMATS:
                        raise ValueError(f"format {image.format}")
                    if image.width * image.height > MAX_INPUT_PIXELS:
                        raise ValueError(f"{image.width}x{image.height} is too large")
                    picture = image.convert("RGB")
            except (OSError, ValueError, Image.DecompressionBombError) as exc:
                raise EngineError(ErrorKind.INVALID, f"batch {batch_id}: job {job.job_id}: "
                                  f"the picture does not decode: {exc}") from None
            size = (req.width, req.height)
            if req.job_kind is JobKind.UPSCALE and self.upscaler is not None:
                # the x4 upscaler paints ×4 from a quarter of the output's size (its UNet
                # runs there); its result is fitted to the request's size. A ×2 request
                # is thus a ×4 of the picture halved.
                size = _snap(*_fit_within(picture.size, (req.width // 4, req.height // 4)))
            if picture.size != size:
                picture = picture.resize(size, Image.Resampling.LANCZOS)
            out.append(picture)
        return out

    def _paint(self, req: BatchRequest, prompts: list[str], negatives: list[str],
               on_step: StepFn | None, should_abort: AbortFn | None,
               batch_id: int, pictures: list[Image.Image] | None = None) -> list[Image.Image]:
        """The pipeline call. The step callback does no device work: it reports the step and
        checks the abort flag (an exception leaves at once, skipping the VAE decode).
        A job with a picture goes through the img2img pipeline (the same modules); an
        upscale is a hi-res img2img pass over the enlarged picture with the VAE tiled."""
        gen_device = "cpu" if self.device.type == "mps" else self.device
        generators = [torch.Generator(gen_device).manual_seed(job.seed) for job in req.jobs]

        def step_end(pipe, step: int, timestep, callback_kwargs):
            if on_step is not None:
                # = steps for most schedulers; a few (PNDM) take an extra timestep; img2img
                # runs only the last strength × steps of them
                total = int(pipe.num_timesteps)
                on_step(step + 1, total if pictures is not None else max(total, req.steps))
            if should_abort is not None and should_abort():
                pipe._interrupt = True
                raise _Interrupted
            return callback_kwargs

        gpu.set_vae_slicing_tiling(getattr(self.pipe, "vae", None), self.settings,
                                   req.width, req.height)
        if req.job_kind is JobKind.UPSCALE and not self.pipe.vae.use_tiling:
            self.pipe.vae.enable_tiling()  # the next batch sets it back for its size
        common = dict(
            prompt=prompts,
            negative_prompt=negatives if any(negatives) else None,
            num_inference_steps=req.steps,
            guidance_scale=float(req.cfg),
            num_images_per_prompt=1,
            generator=generators,
            callback_on_step_end=step_end,
            output_type="pil",
        )
        def legacy_step(step: int, timestep, latents) -> None:  # the extra pipelines' callback
            if on_step is not None:
                on_step(step + 1, req.steps)
            if should_abort is not None and should_abort():
                raise _Interrupted

        extra = dict(common, callback=legacy_step, callback_steps=1)
        del extra["callback_on_step_end"]
        try:
            with batch_invariant_kernels(self.device):
                if pictures is None:
                    return self.pipe(width=req.width, height=req.height, **common).images
                if req.job_kind is JobKind.UPSCALE and self.upscaler is not None:
                    noise = max(0, min(int(req.noise_level) or 20, 350))
                    gpu.set_vae_slicing_tiling(self.upscaler.vae, self.settings, req.width,
                                               req.height)
                    big = self.upscaler(image=pictures, noise_level=noise, **extra).images
                    return [im if im.size == (req.width, req.height) else
                            im.resize((req.width, req.height), Image.Resampling.LANCZOS)
                            for im in big]
                if req.job_kind in (JobKind.VARIATION, JobKind.REFERENCE) and \
                        self.unclip is not None:  # the image embedding + the text
                    return self.unclip(image=pictures, width=req.width, height=req.height,
                                       noise_level=int(req.noise_level), **extra).images
                return self.img2img(image=pictures, strength=float(req.strength),
                                    **common).images
        except _Interrupted:
            raise EngineError(ErrorKind.ABORTED, f"batch {batch_id} aborted") from None
        except torch.OutOfMemoryError as exc:
            gpu.free_memory(self.device)
            raise EngineError(
                ErrorKind.OOM,
                f"batch {batch_id}: out of memory with {len(req.jobs)} images "
                f"of {req.width}x{req.height}",
            ) from exc

    def _score(self, jobs: list[JobSpec], images: list[Image.Image], batch_id: int
               ) -> tuple[list[bytes] | None, list[float], dict[int, tuple[float, str]]]:
        """PNG bytes (encoded in the pool while CLIP runs; None without a pool), CLIP
        scores, and (unsafe score, concept) of the jobs with a safety threshold, by index."""
        pool: list[Future[bytes]] | None = None
        if self._encoder is not None:
            pool = [self._encoder.submit(encode_png, image) for image in images]
        try:
            with batch_invariant_kernels(self.device):
                image_embeds = self.scorer.embed_images(images)
                scores = self.scorer.score_embedded(image_embeds, [job.prompt for job in jobs])
                checked = [i for i, job in enumerate(jobs) if job.safety_threshold > 0]
                unsafe: dict[int, tuple[float, str]] = (
                    dict(zip(checked, self.safety.check(image_embeds[checked]), strict=True))
                    if checked else {}
                )
        except torch.OutOfMemoryError as exc:
            gpu.free_memory(self.device)
            raise EngineError(ErrorKind.OOM,
                              f"batch {batch_id}: out of memory while scoring") from exc
        finally:
            pngs = [f.result() for f in pool] if pool is not None else None
        return pngs, scores, unsafe


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide the load chatter of adding many adapters (per-adapter 'missing keys' reports
    that list the other adapters, peft's 'multiple adapters' warning) and of a failed load
    (diffusers logs every size mismatch before it raises): the engine says it in one line."""
    import diffusers
    import transformers

    level = transformers.logging.get_verbosity()
    d_level = diffusers.utils.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    diffusers.utils.logging.set_verbosity(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Already found a `peft_config`.*")
            warnings.filterwarnings("ignore", message=".*was active which is now deleted.*")
            yield
    finally:
        transformers.logging.set_verbosity(level)
        diffusers.utils.logging.set_verbosity(d_level)


def _snap(w: int, h: int) -> tuple[int, int]:
    """Sides down to multiples of 8 (at least 8)."""
    return max(8, w // 8 * 8), max(8, h // 8 * 8)


def _fit_within(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """``size`` scaled down (aspect kept) to fit in ``box``."""
    scale = min(1.0, box[0] / size[0], box[1] / size[1])
    return round(size[0] * scale), round(size[1] * scale)


def _signature(path) -> tuple | None:
    """(file, mtime, size) of a LoRA: what tells a reload that it changed."""
    sig = weights_signature(path)
    return (str(path), *sig) if sig is not None else None


def _first_line(exc: BaseException) -> str:
    """An exception in one short line (a state-dict error lists every mismatched key)."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    more = f" (+{len(text) - 1} more lines)" if len(text) > 1 else ""
    return f"{type(exc).__name__}: {first[:200]}{more}"


class _Interrupted(Exception):
    """Raised from the step callback to leave the pipeline at once (no VAE decode)."""


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


__all__ = ["Engine", "SCHEDULER_CLASSES", "make_scheduler"]
