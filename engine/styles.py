"""Style packs: one folder per style under ``adapters/`` with a ``style.toml`` manifest.

Torch-free: the bot reads the same registry for names, descriptions and defaults, the engine
for templates and LoRA weights. Style names are looked up here, never joined into paths from
user text.
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from engine.settings import DEFAULT_CFG, TEST_MODEL_CFG

MANIFEST = "style.toml"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
NONE = "none"  # the base model, no template, adapters disabled
RELOAD = "reload"  # `/style reload` rescans the adapters folder
RESERVED = frozenset({NONE, RELOAD})  # words of /style that no style may be called


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
    test_cfg: float | None  # the guidance for the `tiny` test model (it wants far less)
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
        path = self.declared_weights(test_model)
        return path if path is not None and path.is_file() else None

    def declared_weights(self, test_model: bool) -> Path | None:
        """The LoRA file the manifest names for this model, whether it exists or not."""
        return self.test_weights if test_model else self.weights

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


def default_cfg(style: Style | None, test_model: bool, *, real: float = DEFAULT_CFG,
                test: float = TEST_MODEL_CFG) -> float:
    """The guidance when the user sets none: the style's for the model in use (``test_cfg``
    for `tiny`, ``cfg`` for SD 2.1), else that model's default."""
    own = (style.test_cfg if test_model else style.cfg) if style else None
    return own or (test if test_model else real)


def load_style(folder: Path) -> Style:
    path = folder / MANIFEST
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise StyleError(f"{path}: {exc}") from exc
    name = data.get("name", folder.name)
    if name != folder.name or not NAME_RE.match(name) or name in RESERVED:
        raise StyleError(f"{path}: 'name' must equal the folder name, match {NAME_RE.pattern} "
                         f"and not be {' or '.join(sorted(RESERVED))}")
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
        test_cfg = float(data["test_cfg"]) if "test_cfg" in data else None
        steps = int(data["steps"]) if "steps" in data else None
        weight = float(data.get("adapter_weight", 1.0))
    except (TypeError, ValueError) as exc:
        raise StyleError(f"{path}: cfg, test_cfg, steps and adapter_weight must be numbers") \
            from exc
    return Style(
        name=name,
        folder=folder,
        template=template,
        negative=str(data.get("negative", "")),
        cfg=cfg,
        test_cfg=test_cfg,
        steps=steps,
        adapter_weight=weight,
        weights=_file_in(folder, data.get("weights"), "weights", path),
        test_weights=_file_in(folder, data.get("test_weights"), "test_weights", path),
        text=text,
    )


class StyleRegistry:
    """All styles found under one folder, by name.

    One object is shared by everything in the bot that reads styles; ``replace`` swaps its
    contents in place after a reload, so every holder sees the new list at once. ``notes``
    are the styles whose LoRA the engine could not load (name → reason): served as prompt
    templates, and said so in ``/style``. ``problems`` are the folders left out (folder
    name → reason: a manifest that does not parse)."""

    def __init__(self, styles: list[Style], problems: dict[str, str] | None = None):
        self._styles: dict[str, Style] = {}
        self.problems: dict[str, str] = {}
        self.notes: dict[str, str] = {}
        self.replace(styles, problems or {})

    @classmethod
    def load(cls, root: str | Path) -> StyleRegistry:
        """Every style folder under ``root``; a folder whose manifest can't be used is left
        out and named in ``problems`` (one bad style never stops the others)."""
        styles, problems = scan(root)
        return cls(styles, problems)

    def replace(self, styles: list[Style], problems: dict[str, str] | None = None) -> None:
        self._styles = {s.name: s for s in sorted(styles, key=lambda s: s.name)}
        self.problems = dict(problems or {})
        self.notes = {k: v for k, v in self.notes.items() if k in self._styles}

    def set_notes(self, failures: dict[str, str], loaded: list[str] | tuple = ()) -> None:
        """The engine's LoRA failures (READY, or a reload's answer); a style still served
        with a previous version of its LoRA (``loaded``) gets no note."""
        self.notes = {k: v for k, v in failures.items() if k in self._styles and k not in loaded}

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
        return iter(list(self._styles.values()))

    def __len__(self) -> int:
        return len(self._styles)


def scan(root: str | Path, test_model: bool | None = None
         ) -> tuple[list[Style], dict[str, str]]:
    """The usable styles under ``root`` and the folders that are not (name → reason).
    With ``test_model`` (a reload), a folder whose manifest names a LoRA for that model that
    is not there yet is incomplete and left out too: a trainer writes the manifest and the
    weights, and the style is picked up once both are in place. StyleError only when
    ``root`` itself is missing."""
    root = Path(root)
    if not root.is_dir():
        raise StyleError(f"styles folder not found: {root}")
    styles, problems = [], {}
    for folder in sorted(p for p in root.iterdir() if (p / MANIFEST).is_file()):
        try:
            style = load_style(folder)
        except StyleError as exc:
            problems[folder.name] = str(exc)
            continue
        declared = style.declared_weights(test_model) if test_model is not None else None
        if declared is not None and not declared.is_file():
            problems[folder.name] = f"{folder / MANIFEST}: incomplete: {declared.name} not found"
            continue
        styles.append(style)
    return styles, problems


def weights_signature(path: Path | None) -> tuple[int, int] | None:
    """(mtime in ns, size) of a LoRA file: a retrained file is loaded again on reload."""
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def folder_snapshot(root: str | Path) -> dict[str, tuple[int, int]]:
    """(mtime in ns, size) of every file one level inside each style folder: what the
    adapters-folder watch compares between polls."""
    root = Path(root)
    snap: dict[str, tuple[int, int]] = {}
    try:
        folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return snap
    for folder in folders:
        try:
            files = [f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")]
        except OSError:
            continue
        for f in files:
            with contextlib.suppress(OSError):
                st = f.stat()
                snap[f"{folder.name}/{f.name}"] = (st.st_mtime_ns, st.st_size)
    return snap
