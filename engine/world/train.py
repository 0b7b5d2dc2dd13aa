"""Train the `tiny` model on the tiny world, from a seed: ``python -m engine.world.train``.

Five stages, each a function of the recipe and its seed (CPU, fixed thread count):

1. the VAE (64×64 RGB ↔ 16×16×4 latents) on 32×32 crops, MSE + L1 + a light KL; its
   ``scaling_factor`` is set from the latents' standard deviation, as SD's is;
2. the VAE's decoder alone on whole pictures (the latents stay as they are);
3. the text encoder and the UNet together, v-prediction (as SD 2.1 768) with min-SNR-γ
   weights and an EMA of both, on the world's captions, a quarter of each batch on the
   pure-noise step, and attribute read-outs on the text states. 10 % of captions are
   replaced by an "unconditional" text ("" or negative-prompt words) so classifier-free
   guidance works with the negatives the engine sends, and 30 % are wrapped in a style
   template or padded with words outside the world, so the prompt's content survives the
   templates;
4. the tiny CLIP, contrastively (both directions, learned temperature) on the same world,
   with the unsafe shape among its subjects, in batches of groups that share a colour and
   a background, and with some captions naming only the shape ("a red skull");
5. the three styles' LoRAs, with the project's own LoRA trainer (``engine.train``) on
   restyled copies of the world (``engine.world.looks``), installed as the styles'
   ``test_weights``.

The weights are written to ``engine/assets/tiny`` and ``engine/assets/tiny-clip`` in
float16 (``engine.tiny`` builds the model folders from them); ``--out`` writes elsewhere.
``--quick`` runs every stage for a few steps (a smoke test of the recipe, not a model).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import shutil
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from engine.world.looks import LOOKS, render_look
from engine.world.scene import (
    BACKGROUNDS,
    COLOURS,
    POSITIONS,
    SHAPES,
    SIZE,
    SIZES,
    Scene,
    caption,
    held_out_combos,
    render_with_layer,
    sample_scene,
    short_caption,
)

log = logging.getLogger("pelukis.world")

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "engine" / "assets"
LATENT = SIZE // 4  # the VAE's latents are a quarter of the picture's side
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # the CLIP image processor's defaults
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# Words outside the world that prompts carry; the model learns they change nothing.
FILLER = ("cute beautiful funny happy little big old new nice lovely simple colorful bright "
          "drawing picture painting photo image art illustration cartoon sketch "
          "market village forest city street garden house room table friend family "
          "morning evening day summer winter one two three and with of the "
          "kucing lucu di pasar cat dog bird fish person child").split()
GENERIC_TEMPLATES = ("a picture of {prompt}", "{prompt}, high quality", "an illustration of "
                     "{prompt}", "{prompt}, digital art", "a drawing of {prompt}, simple")


@dataclass(frozen=True, slots=True)
class Recipe:
    seed: int = 20261202
    threads: int = 1  # one thread: the same on every machine, and no spinning when shared
    images: int = 16000
    vae_steps: int = 600
    vae_batch: int = 32
    vae_lr: float = 2e-3
    unet_steps: int = 5000
    unet_batch: int = 32
    unet_lr: float = 8e-4
    offset_noise: float = 0.1  # lets the model paint backgrounds far from the mean colour
    warmup: int = 200
    ema: float = 0.999
    snr_gamma: float = 5.0
    uncond_p: float = 0.1
    # the attribute read-outs on the text states: the words for colour, shape and place
    # must stay apart in the prompt's states, or the UNet cannot tell "red" from "top left"
    text_aux: float = 0.3
    # a quarter of each batch on the last (pure-noise) step, where only the words can say
    # where the shape goes: uniform timesteps alone left the place to chance (12 % right)
    unet_last_p: float = 0.25
    # the UNet's loss on the shape's latent pixels weighs 1 + this: the shape is about 7 % of
    # the picture, so plain MSE learns its colour last (0: plain). Measured (128 paintings,
    # cfg 2): 5 at 5,000 steps reads colour 95 % (plain 5,000: 83 %, 8,000: 94 %; plain
    # 3,500, the weights before: 72 %)
    unet_fg_weight: float = 5.0
    template_p: float = 0.3
    clip_steps: int = 2400  # 600 learned colour and place but not the shape (measured)
    # stage 2: the VAE decoder on whole pictures (crisp borders). 1,200 steps read a round
    # trip's colour right in 100 % of the held-out scenes (300: 92 %), but the painted
    # colour fell from 72 % to 64 % (measured): the decoder also reads the UNet's latents
    decoder_steps: int = 300
    decoder_batch: int = 16
    clip_batch: int = 128
    # scenes of one colour and background per group of a CLIP batch: in random batches the
    # colour and the background tell every pair apart, and the CLIP never learned the shape
    # (a skull and a circle of one colour scored alike, so the image check could not tell)
    clip_group: int = 8
    # captions naming only the shape, its colour, perhaps its place ("a red skull"): what
    # the image check compares a picture with
    clip_short_p: float = 0.3
    clip_lr: float = 1e-3
    lora_images: int = 320
    lora_steps: int = 600
    lora_batch: int = 8
    lora_rank: int = 8
    lora_lr: float = 1e-3
    # plain MSE: min-SNR weighs the noisy steps, where a look's palette and sky are laid
    # down, almost to nothing (to exactly nothing at the zero-SNR last step)
    lora_snr_gamma: float | None = None

    def quick(self) -> Recipe:
        return replace(self, images=256, vae_steps=3, unet_steps=3, clip_steps=3, warmup=1,
                       decoder_steps=2,
                       lora_images=16, lora_steps=2, lora_batch=2, unet_batch=8, clip_batch=16)


# --------------------------------------------------------------------------- data


@dataclass(slots=True)
class World:
    scenes: list[Scene]
    pixels: np.ndarray  # (N, 64, 64, 3) uint8
    shapes: np.ndarray  # (N, 16, 16) float32: the share of each latent pixel the shape covers

    @classmethod
    def draw(cls, count: int, seed: int, desc: str = "draw world") -> World:
        rng = random.Random(seed)
        exclude = held_out_combos()
        scenes = [sample_scene(rng, shapes=SHAPES, exclude=exclude) for _ in range(count)]
        pixels, shapes = [], []
        for s in tqdm(scenes, desc=desc, leave=False, file=sys.stderr):
            picture, fg = render_with_layer(s)
            pixels.append(np.asarray(picture))
            alpha = fg.getchannel("A").resize((LATENT, LATENT), Image.Resampling.BOX)
            shapes.append(np.asarray(alpha, dtype=np.float32) / 255.0)
        return cls(scenes, np.stack(pixels), np.stack(shapes))


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) → float (N, 3, H, W) in [-1, 1], as the VAE reads pictures."""
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def style_texts(adapters: Path) -> tuple[list[str], list[str]]:
    """The styles' prompt templates and negatives, from their manifests."""
    templates, negatives = [], []
    for manifest in sorted(adapters.glob("*/style.toml")):
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
        templates.append(data.get("prompt", "{prompt}"))
        if data.get("negative"):
            negatives.append(data["negative"])
    return templates, negatives


class Captions:
    """The captions a training step sees: the grammar's, some unconditional, some wrapped."""

    def __init__(self, recipe: Recipe, adapters: Path, seed: int):
        self.r = recipe
        self.rng = random.Random(seed)
        templates, negatives = style_texts(adapters)
        self.templates = list(templates) + list(GENERIC_TEMPLATES)
        words = [w.strip() for n in negatives + ["nsfw, nude, naked, gore"] for w in n.split(",")]
        self.negative_words = [w for w in words if w]

    def unconditional(self) -> str:
        if self.rng.random() < 0.5:
            return ""
        k = self.rng.randint(1, min(8, len(self.negative_words)))
        return ", ".join(self.rng.sample(self.negative_words, k))

    def __call__(self, scene: Scene) -> tuple[str, bool]:
        """A caption of ``scene`` and whether it describes it (False: unconditional)."""
        rng = self.rng
        text = caption(scene, rng)
        if rng.random() < self.r.uncond_p:
            return self.unconditional(), False
        if rng.random() < self.r.template_p:
            if rng.random() < 0.6:
                return rng.choice(self.templates).replace("{prompt}", text), True
            words = " ".join(rng.sample(FILLER, rng.randint(1, 4)))
            return (f"{words} {text}" if rng.random() < 0.5 else f"{text}, {words}"), True
        return text, True


# What the text encoder's summary must tell apart (an auxiliary loss, heads discarded).
ATTRIBUTES = {"colour": tuple(COLOURS), "shape": SHAPES, "position": tuple(POSITIONS),
              "background": tuple(BACKGROUNDS), "size": tuple(SIZES)}


class AttributeHeads(torch.nn.Module):
    """Linear read-outs of a scene's attributes from the text encoder's pooled state.

    Trained jointly from scratch, the text encoder learned colour and background (the UNet
    uses them from its first steps) but gave "top left" and "bottom right" almost the same
    states (a distance of 1.8 against 83 for another background), so the UNet had no
    position to read and never learned to place the shape. These heads make every
    attribute a direction of the text states; only the text encoder is kept."""

    def __init__(self, hidden: int):
        super().__init__()
        self.heads = torch.nn.ModuleDict({k: torch.nn.Linear(hidden, len(v))
                                          for k, v in ATTRIBUTES.items()})

    def loss(self, pooled: torch.Tensor, scenes: list[Scene], keep: torch.Tensor) -> torch.Tensor:
        if not keep.any():
            return pooled.sum() * 0.0
        total = pooled.new_zeros(())
        for name, head in self.heads.items():
            values = ATTRIBUTES[name]
            labels = torch.tensor([values.index(getattr(s, name)) for s in scenes])
            total = total + F.cross_entropy(head(pooled[keep]), labels[keep])
        return total / len(self.heads)


# --------------------------------------------------------------------------- helpers


def _lr(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


class Ema:
    """Exponential moving average of parameters (warmed up: decay grows with the step)."""

    def __init__(self, modules: list[torch.nn.Module], decay: float):
        self.params = [p for m in modules for p in m.parameters()]
        self.shadow = [p.detach().clone() for p in self.params]
        self.decay = decay

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for s, p in zip(self.shadow, self.params, strict=True):
            s.mul_(d).add_(p.detach(), alpha=1 - d)

    @torch.no_grad()
    def copy_to(self) -> None:
        for s, p in zip(self.shadow, self.params, strict=True):
            p.copy_(s)


def _tokens(tokenizer, texts: list[str]) -> torch.Tensor:
    return tokenizer(texts, padding="max_length", truncation=True,
                     max_length=tokenizer.model_max_length, return_tensors="pt").input_ids


# --------------------------------------------------------------------------- stages


def train_vae(vae, world: World, r: Recipe, gen: torch.Generator) -> list[float]:
    opt = torch.optim.AdamW(vae.parameters(), lr=r.vae_lr, weight_decay=0.0)
    losses = []
    vae.train()
    bar = tqdm(range(r.vae_steps), desc="1/5 vae", file=sys.stderr)
    for step in bar:
        _set_lr(opt, _lr(step, r.vae_steps, r.vae_lr, min(r.warmup, r.vae_steps // 5 + 1)))
        idx = torch.randint(len(world.scenes), (r.vae_batch,), generator=gen)
        # 32×32 crops: a quarter of the work, and flat shapes are local (the mid-block's
        # attention sees 8×8 latents here, 16×16 in use)
        oy, ox = (int(v) for v in torch.randint(0, 33, (2,), generator=gen))
        x = to_tensor(world.pixels[idx.numpy(), oy:oy + 32, ox:ox + 32])
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen)
        rec = vae.decode(z).sample
        loss = F.mse_loss(rec, x) + 0.5 * F.l1_loss(rec, x) + 1e-6 * post.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        losses.append(float(loss))
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    vae.eval()
    return losses


def train_decoder(vae, world: World, r: Recipe, gen: torch.Generator) -> list[float]:
    """The decoder alone on whole 64×64 pictures (the encoder, so the latents, unchanged):
    stage 1 saw crops, and left a faint frame at the picture's borders."""
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    opt = torch.optim.AdamW(params, lr=r.vae_lr / 4, weight_decay=0.0)
    losses = []
    vae.train()
    bar = tqdm(range(r.decoder_steps), desc="2/5 decoder", file=sys.stderr)
    for step in bar:
        _set_lr(opt, _lr(step, r.decoder_steps, r.vae_lr / 4, 20))
        idx = torch.randint(len(world.scenes), (r.decoder_batch,), generator=gen)
        x = to_tensor(world.pixels[idx.numpy()])
        with torch.no_grad():
            post = vae.encode(x).latent_dist
            z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen)
        rec = vae.decode(z).sample
        loss = F.mse_loss(rec, x) + 0.5 * F.l1_loss(rec, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(float(loss))
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    vae.eval()
    return losses


def clip_tokenizer():
    """SD 2's CLIP tokenizer, built offline from the BPE file (engine.tiny)."""
    import tempfile

    from transformers import CLIPTokenizer

    from engine import tiny

    with tempfile.TemporaryDirectory() as tmp:
        tiny.write_tokenizer(Path(tmp))
        return CLIPTokenizer.from_pretrained(tmp)


def saved_vae(out: Path):
    """The VAE as saved in ``out`` (float16 on disk), in float32."""
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(out / "vae", dtype=torch.float32)


@torch.no_grad()
def encode_latents(vae, world: World, batch: int = 64) -> torch.Tensor:
    """Every picture's latent mean (unscaled)."""
    out = []
    for i in tqdm(range(0, len(world.scenes), batch), desc="   encode", leave=False,
                  file=sys.stderr):
        out.append(vae.encode(to_tensor(world.pixels[i:i + batch])).latent_dist.mean)
    return torch.cat(out)


def train_unet(unet, text_encoder, tokenizer, scheduler, latents: torch.Tensor, world: World,
               captions: Captions, r: Recipe, gen: torch.Generator) -> list[float]:
    """v-prediction on uniform timesteps, ``r.unet_last_p`` of each batch moved to the last
    (pure-noise) one, with min-SNR-γ weights floored at 1 and the attribute read-outs on
    the text states when ``r.text_aux``."""
    heads = AttributeHeads(text_encoder.config.hidden_size) if r.text_aux else None
    params = list(unet.parameters()) + list(text_encoder.parameters())
    extra = list(heads.parameters()) if heads is not None else []
    opt = torch.optim.AdamW(params + extra, lr=r.unet_lr, weight_decay=1e-2)
    ema = Ema([unet, text_encoder], r.ema)
    alphas = scheduler.alphas_cumprod.float()
    snr = alphas / (1 - alphas)
    last = scheduler.config.num_train_timesteps - 1
    shapes = torch.from_numpy(world.shapes)
    losses: list[float] = []
    auxes: list[float] = []
    unet.train()
    text_encoder.train()
    bar = tqdm(range(r.unet_steps), desc="3/5 unet+text", file=sys.stderr)
    for step in bar:
        _set_lr(opt, _lr(step, r.unet_steps, r.unet_lr, r.warmup))
        idx = torch.randint(len(world.scenes), (r.unet_batch,), generator=gen)
        x0 = latents[idx]
        scenes = [world.scenes[i] for i in idx.tolist()]
        texts, keep = zip(*(captions(sc) for sc in scenes), strict=True)
        t = torch.randint(0, last + 1, (len(idx),), generator=gen)
        if r.unet_last_p:  # the pure-noise step: only the words can say where the shape goes
            t = torch.where(torch.rand(len(idx), generator=gen) < r.unet_last_p, last, t)
        noise = torch.randn(x0.shape, generator=gen)
        noise = noise + r.offset_noise * torch.randn((*x0.shape[:2], 1, 1), generator=gen)
        a = alphas[t].sqrt().view(-1, 1, 1, 1)
        s = (1 - alphas[t]).sqrt().view(-1, 1, 1, 1)
        xt = a * x0 + s * noise
        target = a * noise - s * x0  # v
        encoded = text_encoder(_tokens(tokenizer, list(texts)))
        pred = unet(xt, t, encoded[0]).sample
        # min-SNR-γ on the x0 error, floored at 1: plain min-SNR weighs the noisiest steps
        # (SNR → 0, where the layout is decided) to nothing
        weight = torch.clamp(snr[t], min=1.0, max=r.snr_gamma) / (snr[t] + 1)
        err = (pred - target) ** 2
        if r.unet_fg_weight:
            err = err * (1 + r.unet_fg_weight * shapes[idx]).unsqueeze(1)
        loss = (weight * err.mean(dim=(1, 2, 3))).mean()
        if heads is not None:
            aux = heads.loss(encoded[1], scenes, torch.tensor(keep))
            loss_total = loss + r.text_aux * aux
        else:
            loss_total = loss
        opt.zero_grad(set_to_none=True)
        loss_total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema.update(step)
        losses.append(float(loss))
        auxes.append(float(aux) if heads is not None else 0.0)
        bar.set_postfix(loss=f"{np.mean(losses[-100:]):.4f}", aux=f"{np.mean(auxes[-100:]):.3f}")
    ema.copy_to()
    unet.eval()
    text_encoder.eval()
    return losses


def clip_pixels(pixels: np.ndarray) -> torch.Tensor:
    """The CLIP image processor's normalisation (the pictures are already 64×64)."""
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _clip_batch(groups: list[torch.Tensor], r: Recipe, gen: torch.Generator) -> torch.Tensor:
    """``r.clip_batch`` scene indices, in groups of ``r.clip_group`` that share a colour and
    a background (so only the shape, the place and the size tell a group's pairs apart)."""
    size = max(1, r.clip_group)
    picks = torch.randperm(len(groups), generator=gen)[:max(1, r.clip_batch // size)]
    # without replacement: a scene twice in a batch would be its own negative
    return torch.cat([groups[g][torch.randperm(len(groups[g]), generator=gen)[:size]]
                      for g in picks.tolist()])


def train_clip(model, tokenizer, world: World, r: Recipe, gen: torch.Generator,
               seed: int) -> list[float]:
    by_look: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(world.scenes):
        by_look.setdefault((s.colour, s.background), []).append(i)
    groups = [torch.tensor(v) for _, v in sorted(by_look.items())]
    opt = torch.optim.AdamW(model.parameters(), lr=r.clip_lr, weight_decay=1e-2)
    rng = random.Random(seed)
    losses = []
    model.train()
    bar = tqdm(range(r.clip_steps), desc="4/5 clip", file=sys.stderr)
    for step in bar:
        _set_lr(opt, _lr(step, r.clip_steps, r.clip_lr, min(100, r.clip_steps // 5 + 1)))
        idx = _clip_batch(groups, r, gen)
        texts = [(short_caption if rng.random() < r.clip_short_p else caption)(
            world.scenes[i], rng) for i in idx.tolist()]
        out = model(input_ids=_tokens(tokenizer, texts),
                    pixel_values=clip_pixels(world.pixels[idx.numpy()]))
        labels = torch.arange(len(idx))
        loss = (F.cross_entropy(out.logits_per_image, labels)
                + F.cross_entropy(out.logits_per_text, labels)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(float(loss))
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    model.eval()
    return losses


def save_pipeline(pipe, out: Path) -> None:
    """The pipeline in float16 (no tokenizer: engine.tiny writes it from the BPE file),
    replacing what was there."""
    shutil.rmtree(out, ignore_errors=True)
    for m in (pipe.unet, pipe.vae, pipe.text_encoder):
        m.to(torch.float16)
    pipe.save_pretrained(out, safe_serialization=True)
    shutil.rmtree(out / "tokenizer", ignore_errors=True)


def save_clip(clip_model, clip_processor, clip_out: Path) -> None:
    """The tiny CLIP in float16, replacing what was there."""
    shutil.rmtree(clip_out, ignore_errors=True)
    clip_model.to(torch.float16).save_pretrained(clip_out, safe_serialization=True)
    clip_processor.save_pretrained(clip_out)


def train_looks(r: Recipe, cache: Path, adapters: Path, runs: Path, seed: int,
                looks: tuple[str, ...] = LOOKS) -> dict[str, dict]:
    """Stage 5: each style's LoRA on its restyled world, through engine.train."""
    from engine.settings import EngineSettings
    from engine.train.loop import Trainer
    from engine.train.options import TrainOptions
    from engine.world.scene import held_out_combos

    templates = {p.parent.name: tomllib.loads(p.read_text(encoding="utf-8")).get("prompt")
                 for p in adapters.glob("*/style.toml")}
    results = {}
    for k, look in enumerate(looks):
        data = runs / f"data-{look}"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        rng = random.Random(seed + 100 + k)
        for i in range(r.lora_images):
            scene = sample_scene(rng, exclude=held_out_combos())
            render_look(scene, look).save(data / f"{i:04d}.png")
            text = caption(scene, rng)
            (data / f"{i:04d}.txt").write_text(templates[look].replace("{prompt}", text),
                                                 encoding="utf-8")
        opts = TrainOptions(
            kind="lora", name=look, data=data, adapters=adapters, run_dir=runs / f"lora-{look}",
            rank=r.lora_rank, learning_rate=r.lora_lr, lr_scheduler="cosine",
            lr_warmup_steps=min(20, r.lora_steps // 5), steps=r.lora_steps,
            batch_size=r.lora_batch, seed=seed + k, test_split=0.1, random_crop=False,
            flip=0.0, jitter=0.0, snr_gamma=r.lora_snr_gamma,
            validation_prompts=["a red circle in the middle, on a blue background"],
            validation_inference_steps=12, log_every=10)
        settings = EngineSettings(model="tiny", cache=str(cache), adapters=str(adapters),
                                  threads=r.threads)
        result = Trainer(opts, settings).run()
        results[look] = {"steps": result.steps, "final_loss": result.final_loss,
                         "lora": str(result.lora)}
    return results


# --------------------------------------------------------------------------- main


def _round_trip(*modules: torch.nn.Module) -> None:
    """Through float16 and back, as saving and loading the shipped weights does: a run that
    starts from saved weights continues from exactly these."""
    for m in modules:
        m.to(torch.float16).to(torch.float32)


def _write_card(card: dict, *folders: Path) -> None:
    for folder in folders:
        (folder / "recipe.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def build(r: Recipe, out: Path, clip_out: Path, *, cache: Path, adapters: Path, runs: Path,
          looks: bool = True, from_stage: int = 1) -> dict:
    """Every stage in order; ``from_stage`` 3, 4 or 5 starts from the weights in ``out``."""
    from diffusers import StableDiffusionPipeline

    from engine import tiny

    started = time.time()
    torch.set_num_threads(r.threads)
    world = World.draw(r.images, r.seed)
    card = {"recipe": asdict(r), "final_loss": {}, "timings": {},
            "command": "python -m engine.world.train"}
    if from_stage > 1:
        card = json.loads((out / "recipe.json").read_text(encoding="utf-8"))
        card["recipe"] = asdict(r)
    loss, timings = card["final_loss"], card["timings"]
    c = tiny._build_pipeline_components()
    if from_stage == 1:
        t0 = time.time()
        gen = torch.Generator().manual_seed(r.seed)
        loss["vae"] = float(np.mean(train_vae(c["vae"], world, r, gen)[-50:]))
        latents = encode_latents(c["vae"], world)
        c["vae"].register_to_config(scaling_factor=float(1.0 / latents.std()))
        _round_trip(c["vae"])
        loss["decoder"] = float(np.mean(train_decoder(
            c["vae"], world, r, torch.Generator().manual_seed(r.seed + 10))[-50:]))
        _round_trip(c["vae"])
        timings["vae_s"] = round(time.time() - t0, 1)
    else:
        c["vae"] = saved_vae(out)
    card["vae_scaling_factor"] = float(c["vae"].config.scaling_factor)
    tokenizer = clip_tokenizer() if from_stage <= 4 else None  # the UNet's and the CLIP's
    if from_stage <= 3:
        t0 = time.time()
        latents = encode_latents(c["vae"], world) * c["vae"].config.scaling_factor
        losses = train_unet(c["unet"], c["text_encoder"], tokenizer, c["scheduler"], latents,
                            world, Captions(r, adapters, r.seed + 21), r,
                            torch.Generator().manual_seed(r.seed + 20))
        loss["unet"] = float(np.mean(losses[-200:]))
        timings["unet_s"] = round(time.time() - t0, 1)
        # saved now, with its card: a later stage that fails is rerun with --from-stage 4
        save_pipeline(StableDiffusionPipeline(**c, tokenizer=tokenizer, safety_checker=None,
                                              feature_extractor=None,
                                              requires_safety_checker=False), out)
        _write_card(card, out)
    if from_stage <= 4:
        t0 = time.time()
        clip_model, processor = tiny.clip_components()
        loss["clip"] = float(np.mean(train_clip(
            clip_model, tokenizer, world, r, torch.Generator().manual_seed(r.seed + 30),
            r.seed + 31)[-50:]))
        timings["clip_s"] = round(time.time() - t0, 1)
        save_clip(clip_model, processor, clip_out)
        _write_card(card, out, clip_out)
    if looks:
        t0 = time.time()
        card["looks"] = train_looks(r, cache, adapters, runs, r.seed + 40)
        timings["looks_s"] = round(time.time() - t0, 1)
    timings["total_s"] = round(time.time() - started, 1)
    _write_card(card, out, clip_out)
    return card


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.world.train",
                                description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=ASSETS / "tiny",
                   help="the pipeline's weights (default engine/assets/tiny)")
    p.add_argument("--clip-out", type=Path, help="default: beside --out, tiny-clip")
    p.add_argument("--adapters", type=Path, default=ROOT / "adapters",
                   help="the styles whose test_weights stage 5 trains")
    p.add_argument("--runs", type=Path, default=ROOT / "var" / "world-train",
                   help="working folder: LoRA data, runs, a model cache")
    p.add_argument("--quick", action="store_true", help="a few steps a stage (smoke test)")
    p.add_argument("--no-looks", action="store_true", help="skip stage 5 (the style LoRAs)")
    p.add_argument("--from-stage", type=int, choices=(1, 3, 4, 5), default=1,
                   help="start from this stage on the weights already in --out: 3 the UNet "
                        "and on (on the saved VAE), 4 the CLIP and the styles, 5 the styles")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, help="torch CPU threads (the recipe's: 1; the "
                   "weights depend on it)")
    for stage in ("vae", "unet", "clip", "lora"):
        p.add_argument(f"--{stage}-steps", type=int, help="override the recipe's step count")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from engine.train.cli import quiet_loading

    quiet_loading()
    r = Recipe() if args.seed is None else Recipe(seed=args.seed)
    r = r.quick() if args.quick else r
    steps = {f"{k}_steps": getattr(args, f"{k}_steps") for k in ("vae", "unet", "clip", "lora")}
    r = replace(r, **{k: v for k, v in steps.items() if v is not None})
    if args.threads:
        r = replace(r, threads=args.threads)
    clip_out = args.clip_out or args.out.parent / "tiny-clip"
    args.runs.mkdir(parents=True, exist_ok=True)
    card = build(r, args.out, clip_out, cache=args.runs / "models", adapters=args.adapters,
                 runs=args.runs, looks=not args.no_looks, from_stage=args.from_stage)
    print(json.dumps({"out": str(args.out), "clip": str(clip_out), **card["timings"],
                      "final_loss": card["final_loss"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
