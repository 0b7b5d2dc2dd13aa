"""Image safety check with the engine's CLIP model (no second model, no second vision pass).

The unsafe concepts (``EngineSettings.unsafe_concepts``) are embedded once, at engine start.
An image's unsafe score is the largest 100 × max(cos, 0) between its projected CLIP image
embedding (the one the CLIP score step already computed) and a concept's text embedding; a
job with ``safety_threshold > 0`` is flagged when its score reaches the threshold, and its
image is then withheld or blurred (``EngineSettings.unsafe_action``, ``engine.images.blur``).

Each image is compared on its own (an elementwise product and a sum per image, no GEMM
across the batch), so its score does not depend on the other images of its batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from engine.scoring import ClipScorer
from engine.settings import check_concepts

log = logging.getLogger("pelukis.engine")


class SafetyChecker:
    """The unsafe concepts' normalised CLIP text embeddings, computed once."""

    def __init__(self, scorer: ClipScorer, concepts: Sequence[str]):
        self.concepts = check_concepts(list(concepts))
        if self.concepts:
            self.concept_embeds = scorer.embed_texts(self.concepts)  # (C, D), normalised
        else:
            log.warning("no unsafe_concepts: the image safety check flags nothing")
            self.concept_embeds = torch.empty(0, 0)

    @torch.inference_mode()
    def check(self, image_embeds: torch.Tensor) -> list[tuple[float, str]]:
        """Per image (rows of normalised embeddings): (unsafe score, closest concept), the
        score = max over concepts of 100 × max(cos, 0), rounded like the CLIP score."""
        if not self.concepts:
            return [(0.0, "") for _ in range(len(image_embeds))]
        concepts = self.concept_embeds
        out = []
        for row in image_embeds:
            cos = (concepts * row.to(concepts.device, concepts.dtype).unsqueeze(0)).sum(dim=-1)
            best = int(torch.argmax(cos))
            out.append((round(100.0 * max(float(cos[best]), 0.0), 4), self.concepts[best]))
        return out


__all__ = ["SafetyChecker"]
