"""DreamBooth's prior preservation: class images made by the base model, cached.

The cache folder is keyed by everything that decides the images (model, class prompt, count,
seed, size, steps), so a second run with the same class reuses them and a changed setting
makes a new set instead of mixing two.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch
from tqdm import tqdm

from engine.train.rundir import write_atomic

CLASS_INFO = "class.json"


def class_key(model: str, prompt: str, count: int, seed: int, resolution: int,
              steps: int) -> str:
    blob = json.dumps([model, prompt, count, seed, resolution, steps])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def ensure_class_images(pipe, folder: Path, *, prompt: str, count: int, seed: int,
                        resolution: int, steps: int, batch: int = 4,
                        info: dict | None = None) -> list[Path]:
    """``count`` images of ``prompt`` from ``pipe`` (the base model, no LoRA) in ``folder``,
    made once; image i uses seed ``seed + i``, so a partly filled cache is completed with the
    same images an uninterrupted run would have made."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:04d}.png" for i in range(count)]
    todo = [i for i, p in enumerate(paths) if not p.is_file()]
    if todo:
        device = pipe.unet.device
        gen_device = "cpu" if device.type == "mps" else device
        with tqdm(total=len(todo), desc="class images", unit="img") as bar:
            for start in range(0, len(todo), batch):
                part = todo[start:start + batch]
                gens = [torch.Generator(gen_device).manual_seed(seed + i) for i in part]
                with torch.no_grad():
                    images = pipe(prompt=[prompt] * len(part), width=resolution,
                                  height=resolution, num_inference_steps=steps,
                                  generator=gens, output_type="pil").images
                for i, image in zip(part, images, strict=True):
                    buf = io.BytesIO()
                    image.save(buf, format="PNG")
                    write_atomic(paths[i], buf.getvalue())
                bar.update(len(part))
        write_atomic(folder / CLASS_INFO,
                     (json.dumps({"prompt": prompt, "count": count, "seed": seed,
                                  "resolution": resolution, "steps": steps, **(info or {})},
                                 indent=2) + "\n").encode())
    return paths
