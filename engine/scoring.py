"""CLIP score: how well an image matches its prompt.

score = 100 × max(cos(image_embedding, text_embedding), 0), with the projected embeddings of a
CLIP model (as torchmetrics' CLIPScore defines it, computed directly: torchmetrics breaks on
transformers 5.x, where ``get_*_features`` return an output object whose ``.pooler_output``
is the projected embedding).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from transformers import CLIPModel, CLIPTokenizer
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

log = logging.getLogger("pelukis.engine")


def _embedding(out) -> torch.Tensor:
    """transformers 5.x returns an output object (projection in ``pooler_output``); 4.x a tensor."""
    if isinstance(out, torch.Tensor):
        return out
    return out.pooler_output


class ClipScorer:
    """A CLIP model + its processors, from a local folder or a hub id."""

    def __init__(self, model: str | Path, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32, revision: str | None = None):
        self.name = str(model)
        self.device = torch.device(device)
        self.dtype = dtype
        pin = {"revision": revision} if revision else {}  # a hub commit or tag
        self.model = CLIPModel.from_pretrained(str(model), dtype=dtype, **pin).to(
            self.device).eval()
        self.tokenizer = CLIPTokenizer.from_pretrained(str(model), **pin)
        self.processor = CLIPImageProcessorPil.from_pretrained(str(model), **pin)
        self.max_length = min(
            int(self.tokenizer.model_max_length or 77),
            int(self.model.config.text_config.max_position_embeddings),
        )

    @property
    def logit_scale(self) -> float:
        """The model's learned temperature, e^t: cosines × this are its logits."""
        return float(self.model.logit_scale.detach().float().exp())

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenizer(
            list(texts), padding="max_length", truncation=True, max_length=self.max_length,
            return_tensors="pt",
        ).to(self.device)
        out = self.model.get_text_features(
            input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
        )
        return torch.nn.functional.normalize(_embedding(out).float(), dim=-1)

    @torch.inference_mode()
    def embed_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        pixels = self.processor(images=list(images), return_tensors="pt")["pixel_values"]
        out = self.model.get_image_features(pixel_values=pixels.to(self.device, self.dtype))
        return torch.nn.functional.normalize(_embedding(out).float(), dim=-1)

    def score(self, images: Sequence[Image.Image], texts: Sequence[str]) -> list[float]:
        """One score in [0, 100] per (image, text) pair, computed as one batch."""
        if len(images) != len(texts):
            raise ValueError(f"{len(images)} images but {len(texts)} texts")
        if not images:
            return []
        return self.score_embedded(self.embed_images(images), texts)

    def score_embedded(self, image_embeds: torch.Tensor, texts: Sequence[str]) -> list[float]:
        """``score`` for images already embedded by ``embed_images`` (the engine reuses the
        embeddings for its safety check instead of running the vision tower twice)."""
        if len(image_embeds) != len(texts):
            raise ValueError(f"{len(image_embeds)} images but {len(texts)} texts")
        if not texts:
            return []
        cos = (image_embeds * self.embed_texts(texts)).sum(dim=-1)
        return [round(100.0 * max(float(c), 0.0), 4) for c in cos.cpu()]
