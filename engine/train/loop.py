"""The training loop: load the base model as the engine does, add the LoRA, run optimizer
steps (gradient accumulation, min-SNR, mixed precision, DreamBooth's prior and L2 terms),
validate, checkpoint, resume, and install the style.

Resume is exact: a checkpoint holds the LoRA tensors, the optimizer, the LR scheduler, the
grad scaler, the noise generator and the global RNG states, and the step and data position.
The data order (a seeded permutation per epoch) and each sample's augmentation (seeded by its
position in that order) are functions of the seed, so nothing else has to be stored.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from engine import gpu
from engine.settings import EngineSettings
from engine.train import lora as lora_mod
from engine.train.augment import Augment
from engine.train.config import model_source
from engine.train.data import Example, Split, load_examples, split
from engine.train.dreambooth import class_key, ensure_class_images
from engine.train.errors import InputError
from engine.train.loss import per_sample_loss, prediction_target, snr_weights
from engine.train.manifest import check_name, install
from engine.train.options import SCHEDULERS, TrainOptions
from engine.train.rundir import CHECKPOINTS, RunDir, default_run_dir

log = logging.getLogger("pelukis.train")

STATE = "state.pt"
LORA_STATE = "lora.safetensors"
HELD_OUT_TIMESTEPS = (100, 350, 600, 850)  # of 1000: the held-out loss sees every regime
DEFAULT_STEPS = 1000


@dataclass(slots=True)
class Stream:
    """An endless seeded order over ``n`` examples: a fresh permutation per epoch."""

    n: int
    seed: int
    salt: int
    _cache: dict[int, np.ndarray] = field(default_factory=dict)

    def index(self, position: int) -> int:
        epoch, offset = divmod(position, self.n)
        if epoch not in self._cache:
            self._cache = {epoch: np.random.default_rng([self.seed, self.salt, epoch])
                           .permutation(self.n)}
        return int(self._cache[epoch][offset])


@dataclass(slots=True)
class Result:
    run_dir: Path
    lora: Path
    manifest: Path
    steps: int
    final_loss: float


class Trainer:
    def __init__(self, opts: TrainOptions, settings: EngineSettings):
        self.opts = opts
        self.settings = settings
        check_name(opts.name)
        self._check_options()
        self.device = gpu.resolve_device(opts.device or settings.device)
        self.weight_dtype = self._weight_dtype()
        self.test_model = settings.model == "tiny"
        self._load_data()
        self._load_model()
        self._load_class_data()
        self.params = lora_mod.add_lora(self.unet, opts.rank, self.alpha, opts.lora_dropout)
        if opts.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
        self._make_optimizer()

    # ---- set-up

    @property
    def alpha(self) -> float:
        return float(self.opts.alpha if self.opts.alpha is not None else self.opts.rank)

    def _check_options(self) -> None:
        o = self.opts
        if o.lr_scheduler not in SCHEDULERS:
            raise InputError(f"--lr-scheduler {o.lr_scheduler!r} is not one of "
                             f"{', '.join(SCHEDULERS)}")
        for name, value, least in (("--batch-size", o.batch_size, 1), ("--grad-accum",
                                   o.grad_accum, 1), ("--rank", o.rank, 1),
                                   ("--log-every", o.log_every, 1)):
            if value < least:
                raise InputError(f"{name} {value} must be at least {least}")
        if o.steps is not None and o.steps < 1:
            raise InputError(f"--steps {o.steps} must be at least 1")
        if o.epochs is not None and o.epochs <= 0:
            raise InputError(f"--epochs {o.epochs} must be above 0")
        if o.learning_rate <= 0:
            raise InputError(f"--lr {o.learning_rate} must be above 0")
        if o.snr_gamma is not None and o.snr_gamma <= 0:
            raise InputError(f"--snr-gamma {o.snr_gamma} must be above 0")
        if o.l2 < 0 or o.prior_loss_weight < 0:
            raise InputError("--l2 and --prior-loss-weight must not be negative")
        if o.kind == "dreambooth":
            if not o.instance_prompt:
                raise InputError("dreambooth needs --instance-prompt, e.g. "
                                 "\"a photo of sks character\"")
            if o.class_prompt and o.num_class_images < 1:
                raise InputError(f"--num-class-images {o.num_class_images} must be at least 1")

    def _weight_dtype(self) -> torch.dtype:
        mp = self.opts.mixed_precision
        if mp == "fp16" and self.device.type != "cuda":
            # refused rather than silently run in fp32: the operator asked for a GPU setting
            raise InputError(f"--mixed-precision fp16 needs a CUDA GPU (device is "
                             f"{self.device}); use --mixed-precision no or bf16")
        return {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[mp]

    def _load_data(self) -> None:
        o = self.opts
        fixed = o.instance_prompt if o.kind == "dreambooth" else None
        examples = load_examples(o.data, fixed_caption=fixed)
        self.split: Split = split(examples, o.test_split, o.seed)
        self.train_images = [_open_rgb(e.image) for e in self.split.train]

    def _load_model(self) -> None:
        from diffusers import DDPMScheduler, StableDiffusionPipeline

        source = model_source(self.settings)
        try:
            pipe = StableDiffusionPipeline.from_pretrained(
                source, dtype=self.weight_dtype, safety_checker=None,
                feature_extractor=None, requires_safety_checker=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot load the base model {self.settings.model!r}: "
                             f"{str(exc).splitlines()[0]}") from None
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe.to(self.device)
        self.unet, self.vae = self.pipe.unet, self.pipe.vae
        self.text_encoder, self.tokenizer = self.pipe.text_encoder, self.pipe.tokenizer
        self.vae.requires_grad_(False)
        self.text_encoder.requires_grad_(False)
        self.noise_scheduler = DDPMScheduler.from_config(self.pipe.scheduler.config)
        native = int(self.unet.config.sample_size) * int(self.pipe.vae_scale_factor)
        self.resolution = self.opts.resolution or native
        if self.resolution % 8 or self.resolution < 32:
            raise InputError(f"--resolution {self.resolution} must be a multiple of 8, "
                             "at least 32")
        o = self.opts
        self.augment = Augment(self.resolution, o.random_crop, o.crop_scale, flip=o.flip,
                               jitter=o.jitter)

    def _load_class_data(self) -> None:
        o = self.opts
        self.prior = o.kind == "dreambooth" and bool(o.class_prompt) and o.prior_loss_weight > 0
        self.class_images: list[Image.Image] = []
        if not self.prior:
            return
        key = class_key(self.settings.model, o.class_prompt, o.num_class_images, o.seed,
                        self.resolution, o.class_inference_steps)
        folder = o.class_dir or Path(self.settings.cache) / "class-images" / key
        paths = ensure_class_images(self._inference_pipe(), folder, prompt=o.class_prompt,
                                    count=o.num_class_images, seed=o.seed,
                                    resolution=self.resolution,
                                    steps=o.class_inference_steps,
                                    info={"model": self.settings.model, "key": key})
        self.class_folder = folder
        self.class_images = [_open_rgb(p) for p in paths]

    def _make_optimizer(self) -> None:
        from diffusers.optimization import get_scheduler

        o = self.opts
        self.optimizer = torch.optim.AdamW(self.params, lr=o.learning_rate,
                                           weight_decay=o.adam_weight_decay)
        per_step = o.batch_size * o.grad_accum
        if o.steps is not None:
            self.max_steps = o.steps
        elif o.epochs is not None:
            self.max_steps = max(1, math.ceil(o.epochs * len(self.split.train) / per_step))
        else:
            self.max_steps = DEFAULT_STEPS
        kwargs = {"num_cycles": o.lr_cycles} if o.lr_scheduler == "cosine_with_restarts" else {}
        self.lr_scheduler = get_scheduler(o.lr_scheduler, optimizer=self.optimizer,
                                          num_warmup_steps=o.lr_warmup_steps,
                                          num_training_steps=self.max_steps, **kwargs)
        self.scaler = (torch.amp.GradScaler("cuda")
                       if o.mixed_precision == "fp16" else None)
        self.gen = torch.Generator(self.device).manual_seed(o.seed)
        self.step = 0
        self.position = 0  # samples of the train order consumed
        self.class_position = 0
        self.train_order = Stream(len(self.split.train), o.seed, 1)
        self.class_order = Stream(max(1, len(self.class_images)), o.seed, 2)

    def _inference_pipe(self):
        """A pipeline over the training modules (the LoRA, once added, included) with the
        engine's default scheduler, for class images and validation."""
        from diffusers import StableDiffusionPipeline

        from engine.core import make_scheduler

        pipe = StableDiffusionPipeline(
            vae=self.vae, text_encoder=self.text_encoder, tokenizer=self.tokenizer,
            unet=self.unet, scheduler=make_scheduler(self.pipe.scheduler.config,
                                                     self.settings.scheduler),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    # ---- one step

    def _autocast(self):
        if self.opts.mixed_precision == "no":
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.weight_dtype)

    def _encode_text(self, captions: list[str]) -> torch.Tensor:
        ids = self.tokenizer(captions, padding="max_length", truncation=True,
                             max_length=self.tokenizer.model_max_length,
                             return_tensors="pt").input_ids.to(self.device)
        return self.text_encoder(ids, return_dict=False)[0]

    def _pixels(self, images: list[Image.Image], positions: list[int] | None,
                salt: int) -> torch.Tensor:
        """Augmented (or, without positions, plain) pixel batch."""
        if positions is None:
            tensors = [self.augment(im, None) for im in images]
        else:
            tensors = [self.augment(im, np.random.default_rng([self.opts.seed, salt, pos]))
                       for im, pos in zip(images, positions, strict=True)]
        return torch.stack(tensors).to(self.device, self.weight_dtype)

    def per_sample_losses(self, pixels: torch.Tensor, captions: list[str],
                          gen: torch.Generator, timesteps: torch.Tensor | None = None
                          ) -> torch.Tensor:
        """The (min-SNR weighted) diffusion loss of each sample: VAE latents, noise and
        timesteps drawn from ``gen`` (unless timesteps are given), the UNet's prediction
        against ε or v."""
        with torch.no_grad():
            latents = self.vae.encode(pixels).latent_dist.sample(generator=gen)
            latents = latents * self.vae.config.scaling_factor
            embeds = self._encode_text(captions)
        noise = torch.randn(latents.shape, generator=gen, device=self.device,
                            dtype=latents.dtype)
        if timesteps is None:
            timesteps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps,
                                      (latents.shape[0],), generator=gen, device=self.device)
        timesteps = timesteps.long()
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        target = prediction_target(self.noise_scheduler, latents, noise, timesteps)
        with self._autocast():
            pred = self.unet(noisy, timesteps, embeds, return_dict=False)[0]
        weights = (snr_weights(self.noise_scheduler, timesteps, self.opts.snr_gamma)
                   if self.opts.snr_gamma else None)
        return per_sample_loss(pred, target, weights)

    def loss_terms(self) -> dict[str, torch.Tensor]:
        """The next micro-batch's loss and its parts: ``instance_loss`` (the diffusion loss
        of the training images), ``prior_loss`` (of the class images), ``l2`` (Σ‖ΔW‖²) and
        ``loss`` = instance + prior_loss_weight · prior + l2_weight · l2."""
        o = self.opts
        n = o.batch_size
        positions = list(range(self.position, self.position + n))
        idx = [self.train_order.index(p) for p in positions]
        images = [self.train_images[i] for i in idx]
        captions = [self.split.train[i].caption for i in idx]
        self.position += n
        pixels = self._pixels(images, positions, 1)
        if self.prior:
            cpos = list(range(self.class_position, self.class_position + n))
            cidx = [self.class_order.index(p) for p in cpos]
            self.class_position += n
            pixels = torch.cat([pixels, self._pixels([self.class_images[i] for i in cidx],
                                                     cpos, 2)])
            captions = captions + [o.class_prompt] * n
        losses = self.per_sample_losses(pixels, captions, self.gen)
        terms = {"instance_loss": losses[:n].mean()}
        total = terms["instance_loss"]
        if self.prior:
            terms["prior_loss"] = losses[n:].mean()
            total = total + o.prior_loss_weight * terms["prior_loss"]
        if o.l2 > 0:
            terms["l2"] = lora_mod.l2_penalty(self.unet)
            total = total + o.l2 * terms["l2"]
        terms["loss"] = total
        return terms

    def train_step(self) -> dict[str, float]:
        """One optimizer step over ``grad_accum`` micro-batches; the logged record."""
        o = self.opts
        sums: dict[str, float] = {}
        for _ in range(o.grad_accum):
            terms = self.loss_terms()
            loss = terms["loss"] / o.grad_accum
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
            else:
                loss.backward()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) / o.grad_accum
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if o.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.params, o.max_grad_norm)
        lr = self.lr_scheduler.get_last_lr()[0]
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        record = {"step": self.step, "loss": sums.pop("loss"), "lr": lr,
                  "epoch": round(self.position / len(self.split.train), 4)}
        if o.kind == "dreambooth":
            record.update(sums)
        elif "l2" in sums:
            record["l2"] = sums["l2"]
        return record

    @torch.no_grad()
    def fixed_loss(self, examples: list[Example], seed: int | None = None) -> float:
        """The loss of ``examples`` with no augmentation, fixed noise and fixed timesteps
        (HELD_OUT_TIMESTEPS): the same number for the same weights, so it shows progress
        without the noise of the training loss. Does not touch the training RNG."""
        if not examples:
            return float("nan")
        gen = torch.Generator(self.device).manual_seed(self.opts.seed + 7 if seed is None
                                                       else seed)
        total, count = 0.0, 0
        images = [_open_rgb(e.image) for e in examples]
        for start in range(0, len(examples), max(1, self.opts.batch_size)):
            part = slice(start, start + max(1, self.opts.batch_size))
            pixels = self._pixels(images[part], None, 0)
            captions = [e.caption for e in examples[part]]
            for t in HELD_OUT_TIMESTEPS:
                ts = torch.full((pixels.shape[0],), t, device=self.device)
                losses = self.per_sample_losses(pixels, captions, gen, ts)
                total += float(losses.sum())
                count += len(losses)
        return total / count

    # ---- validation, checkpoints, resume

    def validation_prompts(self) -> list[str]:
        o = self.opts
        if o.validation_prompts:
            return list(o.validation_prompts)
        if o.kind == "dreambooth":
            return [o.instance_prompt]
        source = self.split.test or self.split.train
        return [e.caption for e in source[:2]]

    @torch.no_grad()
    def validate(self, run: RunDir) -> list[Path]:
        pipe = self._inference_pipe()
        gen_device = "cpu" if self.device.type == "mps" else self.device
        images = []
        self.unet.eval()
        try:
            for i, prompt in enumerate(self.validation_prompts()):
                g = torch.Generator(gen_device).manual_seed(self.opts.seed + i)
                with self._autocast():
                    images += pipe(prompt=prompt, width=self.resolution, height=self.resolution,
                                   num_inference_steps=self.opts.validation_inference_steps,
                                   generator=g, output_type="pil").images
        finally:
            self.unet.train()
        return run.save_validation(self.step, images)

    def save_checkpoint(self, run: RunDir) -> Path:
        target = run.checkpoint(self.step)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".step-{self.step}-", dir=target.parent))
        try:
            lora_mod.save_trainable(self.unet, tmp / LORA_STATE)
            torch.save(self._state(), tmp / STATE)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return target

    def _state(self) -> dict:
        np_state = np.random.get_state()
        return {
            "step": self.step, "position": self.position,
            "class_position": self.class_position,
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "generator": self.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy_rng": [np_state[0], np_state[1].tolist(), *np_state[2:]],
            "python_rng": random.getstate(),
            "meta": {"kind": self.opts.kind, "model": self.settings.model,
                     "rank": self.opts.rank, "alpha": self.alpha, "seed": self.opts.seed,
                     "batch_size": self.opts.batch_size, "grad_accum": self.opts.grad_accum,
                     "max_steps": self.max_steps},
        }

    def load_checkpoint(self, folder: Path) -> None:
        state_path = folder / STATE
        if not state_path.is_file() or not (folder / LORA_STATE).is_file():
            raise InputError(f"{folder}: not a checkpoint (needs {STATE} and {LORA_STATE})")
        try:
            state = torch.load(state_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle and zip errors of a damaged file
            raise InputError(f"{state_path}: not a readable checkpoint ({exc})") from None
        meta = state["meta"]
        if meta["kind"] != self.opts.kind:
            raise InputError(f"{folder}: a {meta['kind']} checkpoint cannot resume a "
                             f"{self.opts.kind} run")
        lora_mod.load_trainable(self.unet, folder / LORA_STATE)
        for key in ("seed", "batch_size", "grad_accum"):
            if meta[key] != getattr(self.opts, key):
                print(f"warning: the checkpoint was made with {key} = {meta[key]}, this run "
                      f"uses {getattr(self.opts, key)}: the curve will differ", file=sys.stderr)
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        if self.scaler is not None and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        name, keys, *rest = state["numpy_rng"]
        np.random.set_state((name, np.array(keys, dtype=np.uint32), *rest))
        random.setstate(state["python_rng"])
        self.step, self.position = state["step"], state["position"]
        self.class_position = state["class_position"]
        if self.step >= self.max_steps:
            raise InputError(f"{folder}: the checkpoint is at step {self.step}; ask for more "
                             f"--steps than that (now {self.max_steps})")

    # ---- the run

    def run(self) -> Result:
        o = self.opts
        resume = find_checkpoint(o) if o.resume else None
        run_dir = o.run_dir or (resume.parent.parent if resume else default_run_dir(o.name))
        run = RunDir(Path(run_dir).resolve())
        if resume is not None:
            self.load_checkpoint(resume)
            run.truncate_metrics(self.step)
        started = time.time()
        run.write_json("run.json", self._run_info(resume))
        self.unet.train()
        bar = tqdm(total=self.max_steps, initial=self.step, desc=f"train {o.name}",
                   unit="step", file=sys.stderr)
        record: dict = {}
        while self.step < self.max_steps:
            record = self.train_step()
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
            last = self.step == self.max_steps
            if o.validation_every and self.step % o.validation_every == 0 or last:
                if self.split.test:
                    record["test_loss"] = self.fixed_loss(self.split.test)
                self.validate(run)
            if self.step % o.log_every == 0 or last or "test_loss" in record:
                run.log(record)
            if o.checkpoint_every and self.step % o.checkpoint_every == 0:
                self.save_checkpoint(run)
                run.plot_loss()
        bar.close()
        run.plot_loss()
        final = run.path / "lora.safetensors"
        lora_mod.save_lora(self.unet, run.path, final.name)
        adapters = Path(o.adapters or self.settings.adapters)
        lora_path, manifest = install(
            lambda folder, name: lora_mod.save_lora(self.unet, folder, name), adapters, o.name,
            test_model=self.test_model, training=self._training_table(run, record, started),
            template=o.template or self._default_template(), title=o.title,
            description=o.description, adapter_weight=o.adapter_weight)
        return Result(run.path, lora_path, manifest, self.step, float(record.get("loss", "nan")))

    def _default_template(self) -> str:
        if self.opts.kind == "dreambooth":
            return f"{self.opts.instance_prompt}, {{prompt}}"
        return "{prompt}"

    def _run_info(self, resume: Path | None) -> dict:
        return {"options": self.opts.to_dict(), "base_model": self.settings.model,
                "device": str(self.device), "resolution": self.resolution,
                "max_steps": self.max_steps, "resumed_from": str(resume) if resume else None,
                "train": [str(e.image) for e in self.split.train],
                "test": [str(e.image) for e in self.split.test],
                "class_images": str(getattr(self, "class_folder", "")) or None}

    def _training_table(self, run: RunDir, record: dict, started: float) -> dict:
        o = self.opts
        return {"kind": o.kind, "base_model": self.settings.model, "run": str(run.path),
                "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "steps": self.step,
                "rank": o.rank, "alpha": self.alpha, "learning_rate": o.learning_rate,
                "lr_scheduler": o.lr_scheduler, "batch_size": o.batch_size,
                "grad_accum": o.grad_accum, "snr_gamma": o.snr_gamma,
                "resolution": self.resolution, "images": len(self.split.train),
                "test_images": len(self.split.test), "seed": o.seed,
                "instance_prompt": o.instance_prompt, "class_prompt": o.class_prompt,
                "l2": o.l2 or None, "final_loss": round(float(record.get("loss", 0.0)), 6),
                "seconds": round(time.time() - started, 1)}


def find_checkpoint(opts: TrainOptions) -> Path:
    """``--resume PATH`` (a checkpoint folder, or a run folder: its latest) or ``latest``
    (the newest checkpoint of ``--run-dir``, else of the newest ``runs/NAME-*``)."""
    if opts.resume != "latest":
        path = Path(opts.resume)
        if (path / CHECKPOINTS).is_dir():
            return _latest_in(path)
        if not path.is_dir():
            raise InputError(f"--resume {path}: no such checkpoint folder")
        return path
    if opts.run_dir is not None:
        return _latest_in(Path(opts.run_dir))
    runs = sorted((p for p in (Path.cwd() / "runs").glob(f"{opts.name}-*")
                   if (p / CHECKPOINTS).is_dir()), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise InputError(f"--resume latest: no run of {opts.name!r} with checkpoints "
                         "under runs/")
    return _latest_in(runs[-1])


def _latest_in(run_dir: Path) -> Path:
    steps = [(int(p.name.removeprefix("step-")), p)
             for p in (run_dir / CHECKPOINTS).glob("step-*") if p.name[5:].isdigit()]
    if not steps:
        raise InputError(f"{run_dir}: no checkpoints in {run_dir / CHECKPOINTS}")
    return max(steps)[1]


def _open_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def dump(result: Result) -> str:
    return json.dumps({"run_dir": str(result.run_dir), "lora": str(result.lora),
                       "manifest": str(result.manifest), "steps": result.steps,
                       "final_loss": result.final_loss})
