"""Image safety check with the engine's CLIP model (no second model, no second vision pass).

The unsafe concepts (``EngineSettings.unsafe_concepts``) are embedded once, at engine start.
An image's unsafe score is the largest 100 × max(cos, 0) between its projected CLIP image
embedding (the one the CLIP score step already computed) and a concept's text embedding; a
job with ``safety_threshold > 0`` is flagged when its score reaches the threshold, and its
image is then withheld or blurred (``EngineSettings.unsafe_action``, ``engine.images.blur``).

With reference concepts (the safe things an image may show instead, as the tiny CLIP's world
has: every other shape in every colour), the score is instead the CLIP's zero-shot answer:
100 × the probability, softmax(logit scale × cos) over unsafe and reference concepts
together, that the image shows an unsafe one. A small CLIP puts every picture of its world
close to every caption of its colour (a red circle is 0.5 from "a red skull"), so the
cosine alone does not separate; against the references it does (docs/tiny-world.md).

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
    """The unsafe (and reference) concepts' normalised CLIP text embeddings, computed once."""

    def __init__(self, scorer: ClipScorer, concepts: Sequence[str],
                 references: Sequence[str] = ()):
        self.concepts = check_concepts(list(concepts))
        self.references = check_concepts(list(references)) if self.concepts else []
        self.scale = scorer.logit_scale if self.references else 1.0
        if self.concepts:  # (C + R, D), normalised; the unsafe ones first
            self.concept_embeds = scorer.embed_texts(self.concepts + self.references)
        else:
            log.warning("no unsafe_concepts: the image safety check flags nothing")
            self.concept_embeds = torch.empty(0, 0)

    @torch.inference_mode()
    def check(self, image_embeds: torch.Tensor) -> list[tuple[float, str]]:
        """Per image (rows of normalised embeddings): (unsafe score, closest unsafe concept),
        the score = max over concepts of 100 × max(cos, 0), or with references 100 × the
        unsafe concepts' share of the softmax; rounded like the CLIP score."""
        if not self.concepts:
            return [(0.0, "") for _ in range(len(image_embeds))]
        embeds, unsafe = self.concept_embeds, len(self.concepts)
        out = []
        for row in image_embeds:
            cos = (embeds * row.to(embeds.device, embeds.dtype).unsqueeze(0)).sum(dim=-1)
            best = int(torch.argmax(cos[:unsafe]))
            if self.references:
                score = float(torch.softmax(self.scale * cos, dim=0)[:unsafe].sum())
            else:
                score = max(float(cos[best]), 0.0)
            out.append((round(100.0 * score, 4), self.concepts[best]))
        return out


__all__ = ["SafetyChecker"]
