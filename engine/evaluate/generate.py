"""Images for the report, made by the bot's own ``Engine``: the base model (style none) and
the style, for the same prompts and seeds, with the CLIP score the chat's captions show."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image
from tqdm import tqdm

from engine.protocol import BatchRequest, JobSpec


@dataclass(slots=True)
class Sample:
    prompt_index: int
    prompt: str
    seed: int
    steps: int
    cfg: float
    style: str | None  # None = the base model
    clip: float
    image: Image.Image


def generate(engine, style: str | None, prompts: list[str], seeds: list[int], steps: int,
             cfg: float, desc: str) -> list[Sample]:
    """One sample per (prompt, seed), in batches of the engine's cap."""
    todo = [(i, p, s) for i, p in enumerate(prompts) for s in seeds]
    size = engine.native_size
    out: list[Sample] = []
    with tqdm(total=len(todo), desc=desc, unit="img") as bar:
        for start in range(0, len(todo), engine.max_batch):
            part = todo[start:start + engine.max_batch]
            req = BatchRequest(style=style, width=size, height=size, steps=steps, cfg=cfg,
                               jobs=[JobSpec(job_id=k + 1, prompt=p, seed=s)
                                     for k, (_, p, s) in enumerate(part)])
            for (i, p, s), result in zip(part, engine.run_batch(req), strict=True):
                image = Image.open(io.BytesIO(result.png))
                image.load()
                out.append(Sample(i, p, s, steps, cfg, style, result.clip_score,
                                  image.convert("RGB")))
            bar.update(len(part))
    return out
