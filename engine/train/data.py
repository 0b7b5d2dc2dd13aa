"""Training data: a folder of images with sidecar ``.txt`` captions, or a CSV with ``image``
and ``caption`` columns (paths relative to the CSV); every file checked before training.

The split into train and test is a seeded shuffle, so the same data and seed give the same
split on every machine (and on resume).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from engine.train.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
CSV_COLUMNS = ("image", "caption")


@dataclass(frozen=True, slots=True)
class Example:
    image: Path
    caption: str


@dataclass(frozen=True, slots=True)
class Split:
    train: list[Example]
    test: list[Example]


def load_examples(path: str | Path, *, captions: bool = True,
                  fixed_caption: str | None = None) -> list[Example]:
    """Every example under ``path`` (a folder or a .csv), in a stable order, each image opened
    and verified. With ``fixed_caption`` (DreamBooth's instance prompt) captions are not read."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        examples = _from_csv(path, fixed_caption)
    elif path.is_dir():
        examples = _from_folder(path, captions and fixed_caption is None, fixed_caption)
    elif not path.exists():
        raise InputError(f"{path}: no such file or folder")
    else:
        raise InputError(f"{path}: give a folder of images or a .csv with columns "
                         f"{', '.join(CSV_COLUMNS)}")
    if not examples:
        raise InputError(f"{path}: no images found ({', '.join(IMAGE_SUFFIXES)})")
    for example in examples:
        check_image(example.image)
    return examples


def _from_folder(folder: Path, need_captions: bool, fixed: str | None) -> list[Example]:
    images = sorted(p for p in folder.iterdir()
                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    examples = []
    for image in images:
        if not need_captions:
            examples.append(Example(image, fixed or ""))
            continue
        sidecar = image.with_suffix(".txt")
        if not sidecar.is_file():
            raise InputError(f"{image}: caption file {sidecar.name} is missing")
        caption = sidecar.read_text(encoding="utf-8").strip()
        if not caption:
            raise InputError(f"{sidecar}: the caption is empty")
        examples.append(Example(image, caption))
    return examples


def _from_csv(path: Path, fixed: str | None) -> list[Example]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in CSV_COLUMNS
                       if c not in columns and not (c == "caption" and fixed)]
            if missing:
                raise InputError(f"{path}: the CSV needs the columns {', '.join(CSV_COLUMNS)} "
                                 f"(missing: {', '.join(missing)}; found: "
                                 f"{', '.join(columns) or 'none'})")
            rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read the CSV: {exc}") from None
    examples = []
    for line, row in enumerate(rows, start=2):
        if not row.get("image"):
            raise InputError(f"{path}:{line}: the image column is empty")
        caption = fixed or row.get("caption", "")
        if not caption:
            raise InputError(f"{path}:{line}: the caption is empty")
        examples.append(Example((path.parent / row["image"]).resolve(), caption))
    return examples


def check_image(path: Path) -> None:
    """InputError unless ``path`` is an image Pillow can decode completely."""
    if not path.is_file():
        raise InputError(f"{path}: image not found")
    try:
        with Image.open(path) as image:
            image.load()  # decodes every byte: a truncated file fails here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from None


def split(examples: list[Example], test_fraction: float, seed: int) -> Split:
    """A seeded shuffle, then the first ``test_fraction`` (rounded, at least one example when
    there are two or more and the fraction is above zero) goes to test."""
    if not 0.0 <= test_fraction < 1.0:
        raise InputError(f"--test-split {test_fraction} must be in [0, 1)")
    order = list(examples)
    random.Random(seed).shuffle(order)
    n_test = round(len(order) * test_fraction)
    if test_fraction > 0 and len(order) >= 2:
        n_test = max(1, n_test)
    n_test = min(n_test, len(order) - 1)
    return Split(train=order[n_test:], test=order[:n_test])
