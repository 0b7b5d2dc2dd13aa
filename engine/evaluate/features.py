"""Image embeddings for CMMD (a CLIP vision tower) and FID (InceptionV3 pool features).

CMMD's images are resized to the CLIP model's input size with bicubic interpolation, scaled
to [0, 1] and normalised with the model's mean and std (no centre crop), as
google-research/cmmd's ``embedding.py`` feeds CLIP ViT-L/14@336; the embeddings are
L2-normalised.

FID uses the TorchScript InceptionV3 of StyleGAN2-ADA / clean-fid
(``inception-2015-12-05.pt``): ``model(images_uint8_NCHW, return_features=True)`` → N×2048
pool3 features. Images go in at 299×299 (PIL bicubic, clean-fid's "clean" resize).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

INCEPTION_SIZE = 299


class ClipEmbedder:
    def __init__(self, model: str, device: torch.device | str = "cpu"):
        from transformers import CLIPModel
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        self.name = model
        self.device = torch.device(device)
        self.model = CLIPModel.from_pretrained(model, dtype=torch.float32).to(self.device).eval()
        proc = CLIPImageProcessorPil.from_pretrained(model)
        crop = proc.crop_size or {}
        self.size = int(crop.get("height") or self.model.config.vision_config.image_size)
        self.mean = torch.tensor(proc.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(proc.image_std, dtype=torch.float32).view(1, 3, 1, 1)

    @torch.inference_mode()
    def embed(self, images: Sequence[Image.Image], batch: int = 16) -> np.ndarray:
        out = []
        for start in range(0, len(images), batch):
            arrays = [np.asarray(im.convert("RGB").resize((self.size, self.size),
                                                          Image.Resampling.BICUBIC),
                                 dtype=np.float32) / 255.0
                      for im in images[start:start + batch]]
            pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
            pixels = ((pixels - self.mean) / self.std).to(self.device)
            emb = self.model.get_image_features(pixel_values=pixels)
            emb = emb if isinstance(emb, torch.Tensor) else emb.pooler_output
            out.append(torch.nn.functional.normalize(emb.float(), dim=-1).cpu().numpy())
        return np.concatenate(out)


class InceptionFeatures:
    def __init__(self, path: str | Path, device: torch.device | str = "cpu"):
        self.path = Path(path)
        self.device = torch.device(device)
        with warnings.catch_warnings():  # the published weights are TorchScript, by design
            warnings.filterwarnings("ignore", message=".*torch.jit.load.*deprecated")
            self.model = torch.jit.load(str(self.path), map_location=self.device).eval()

    @torch.inference_mode()
    def features(self, images: Sequence[Image.Image], batch: int = 16) -> np.ndarray:
        out = []
        for start in range(0, len(images), batch):
            arrays = [np.asarray(im.convert("RGB").resize((INCEPTION_SIZE, INCEPTION_SIZE),
                                                          Image.Resampling.BICUBIC))
                      for im in images[start:start + batch]]
            x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
            feats = self.model(x.to(self.device), return_features=True)
            out.append(feats.float().cpu().numpy().reshape(len(arrays), -1))
        return np.concatenate(out).astype(np.float64)
