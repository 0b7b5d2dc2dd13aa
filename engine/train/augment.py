"""Augmentation with Pillow, numpy and torch (torchvision does not install beside torch 2.13):
resize, random resized crop, horizontal flip, colour jitter, normalisation to [-1, 1].

Each sample's randomness comes from a numpy Generator the caller seeds from (run seed, sample
position), so a resumed run augments every sample exactly as the uninterrupted run did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageEnhance

RESAMPLE = Image.Resampling.BICUBIC


@dataclass(frozen=True, slots=True)
class Augment:
    resolution: int = 512
    random_crop: bool = True  # False: centre crop
    crop_scale: float = 0.8  # least fraction of the resized image's area a random crop keeps
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.5  # probability of a horizontal flip
    jitter: float = 0.05  # brightness/contrast/saturation factors drawn from [1 - j, 1 + j]

    def __call__(self, image: Image.Image, rng: np.random.Generator | None) -> torch.Tensor:
        """3×R×R float tensor in [-1, 1]; ``rng=None`` = no randomness (centre crop, no flip,
        no jitter), for validation and the held-out loss."""
        image = resize_shorter(image.convert("RGB"), self.resolution)
        if rng is not None and self.random_crop:
            image = random_resized_crop(image, self.resolution, rng, self.crop_scale,
                                        self.crop_ratio)
        else:
            image = center_crop(image, self.resolution)
        if rng is not None:
            if rng.random() < self.flip:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            if self.jitter > 0:
                image = color_jitter(image, rng, self.jitter)
        return normalize(image)


def resize_shorter(image: Image.Image, size: int) -> Image.Image:
    w, h = image.size
    scale = size / min(w, h)
    if scale == 1:
        return image
    return image.resize((max(size, round(w * scale)), max(size, round(h * scale))), RESAMPLE)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def random_resized_crop(image: Image.Image, size: int, rng: np.random.Generator,
                        min_scale: float, ratio: tuple[float, float]) -> Image.Image:
    """torchvision's RandomResizedCrop: a box of random area (``min_scale``..1 of the image)
    and aspect ratio (log-uniform in ``ratio``), resized to size×size; centre crop after ten
    misses."""
    w, h = image.size
    area = w * h
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(min_scale, 1.0)
        aspect = math.exp(rng.uniform(*log_ratio))
        cw = round(math.sqrt(target * aspect))
        ch = round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            left = int(rng.integers(0, w - cw + 1))
            top = int(rng.integers(0, h - ch + 1))
            return image.resize((size, size), RESAMPLE, box=(left, top, left + cw, top + ch))
    return center_crop(image, size)


def color_jitter(image: Image.Image, rng: np.random.Generator, amount: float) -> Image.Image:
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhancer(image).enhance(float(rng.uniform(1 - amount, 1 + amount)))
    return image


def normalize(image: Image.Image) -> torch.Tensor:
    """HWC uint8 → CHW float in [-1, 1] (mean 0.5, std 0.5 per channel, as SD's VAE expects)."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy((array - 0.5) / 0.5).permute(2, 0, 1).contiguous()
