"""The evaluation's inputs, checked before any model loads: prompts, reference images,
number lists."""

from __future__ import annotations

from pathlib import Path

from engine.train.errors import InputError

CMMD_MODEL = "openai/clip-vit-large-patch14-336"  # CLIP ViT-L/14@336, as the CMMD paper


def numbers(text: str, kind, option: str) -> list:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{option} {text!r} must be a comma-separated list of numbers"
                         ) from None
    if not values:
        raise InputError(f"{option} is empty")
    return values


def read_prompts(path: Path) -> list[str]:
    if not path.is_file():
        raise InputError(f"{path}: prompts file not found")
    prompts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise InputError(f"{path}: no prompts (one a line)")
    return prompts


def read_reference(folder: Path) -> list:
    from PIL import Image

    from engine.train.data import IMAGE_SUFFIXES, check_image

    if not folder.is_dir():
        raise InputError(f"--reference {folder}: not a folder")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise InputError(f"--reference {folder}: no images found")
    images = []
    for p in paths:
        check_image(p)
        with Image.open(p) as im:
            images.append(im.convert("RGB"))
    return images
