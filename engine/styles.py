"""Style packs: one folder per style under ``adapters/`` with a ``style.toml`` manifest.

Torch-free: the bot reads the same registry for names, descriptions and defaults, the engine
for templates and LoRA weights. Style names are looked up here, never joined into paths from
user text.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "style.toml"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
NONE = "none"  # the base model, no template, adapters disabled


class StyleError(ValueError):
    """A manifest that cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class StyleText:
    title: str
    description: str


@dataclass(frozen=True, slots=True)
class Style:
    name: str
    folder: Path
    template: str  # contains "{prompt}"
    negative: str  # default negative prompt of the style
    cfg: float | None
    steps: int | None
    adapter_weight: float
    weights: Path | None  # LoRA for the real model (diffusers or kohya .safetensors)
    test_weights: Path | None  # LoRA shaped for the `tiny` test model
    text: dict[str, StyleText]  # language code → title/description

    def render(self, prompt: str) -> str:
        return self.template.replace("{prompt}", prompt)

    def negative_for(self, user_negative: str) -> str:
        return ", ".join(p for p in (user_negative.strip(), self.negative) if p)

    def weights_for(self, test_model: bool) -> Path | None:
        path = self.test_weights if test_model else self.weights
        return path if path is not None and path.is_file() else None

    def title(self, lang: str) -> str:
        return (self.text.get(lang) or self.text.get("en") or StyleText(self.name, "")).title

    def description(self, lang: str) -> str:
        return (self.text.get(lang) or self.text.get("en") or StyleText("", "")).description


def _file_in(folder: Path, value: object, key: str, where: Path) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or "/" in value or "\\" in value or value.startswith("."):
        raise StyleError(f"{where}: '{key}' must be a file name inside the style folder")
    return folder / value


def load_style(folder: Path) -> Style:
    path = folder / MANIFEST
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise StyleError(f"{path}: {exc}") from exc
    name = data.get("name", folder.name)
    if name != folder.name or not NAME_RE.match(name) or name == NONE:
        raise StyleError(f"{path}: 'name' must equal the folder name and match {NAME_RE.pattern}")
    template = data.get("prompt", "{prompt}")
    if not isinstance(template, str) or "{prompt}" not in template:
        raise StyleError(f"{path}: 'prompt' must be a string containing {{prompt}}")
    text = {}
    for lang in ("id", "en"):
        section = data.get(lang, {})
        if not isinstance(section, dict) or "title" not in section:
            raise StyleError(f"{path}: [{lang}] needs 'title' and 'description'")
        text[lang] = StyleText(str(section["title"]), str(section.get("description", "")))
    try:
        cfg = float(data["cfg"]) if "cfg" in data else None
        steps = int(data["steps"]) if "steps" in data else None
        weight = float(data.get("adapter_weight", 1.0))
    except (TypeError, ValueError) as exc:
        raise StyleError(f"{path}: cfg, steps and adapter_weight must be numbers") from exc
    return Style(
        name=name,
        folder=folder,
        template=template,
        negative=str(data.get("negative", "")),
        cfg=cfg,
        steps=steps,
        adapter_weight=weight,
        weights=_file_in(folder, data.get("weights"), "weights", path),
        test_weights=_file_in(folder, data.get("test_weights"), "test_weights", path),
        text=text,
    )


class StyleRegistry:
    """All styles found under one folder, by name."""

    def __init__(self, styles: list[Style]):
        self._styles = {s.name: s for s in sorted(styles, key=lambda s: s.name)}

    @classmethod
    def load(cls, root: str | Path) -> StyleRegistry:
        root = Path(root)
        if not root.is_dir():
            raise StyleError(f"styles folder not found: {root}")
        folders = [p for p in root.iterdir() if (p / MANIFEST).is_file()]
        return cls([load_style(p) for p in folders])

    def get(self, name: str | None) -> Style | None:
        """The style called ``name``; None for ``none``/unknown (check with ``known``)."""
        if not name:
            return None
        return self._styles.get(name.strip().lower())

    def known(self, name: str) -> bool:
        key = name.strip().lower()
        return key == NONE or key in self._styles

    def names(self) -> list[str]:
        return list(self._styles)

    def __iter__(self):
        return iter(self._styles.values())

    def __len__(self) -> int:
        return len(self._styles)
