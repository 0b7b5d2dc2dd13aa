"""The base model and its paths from config.toml's ``[engine]`` table, without the bot.

The engine never imports the bot (tests/test_imports.py), so this reads the same file the
bot's ``bot/config.py`` validates, with the same rules for what matters here: relative paths
are relative to the config file, ``clip_model = "auto"`` is the tiny CLIP for ``tiny`` and
CLIP ViT-B/16 otherwise, and every ``[engine]`` key named like an ``EngineSettings`` field is
taken as it is. The bot validates the rest when it starts.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

from engine.settings import EngineSettings
from engine.train.errors import InputError

DEFAULT_CONFIG = "config.toml"
REAL_CLIP = "openai/clip-vit-base-patch16"  # = bot/config.py's "auto" for a real model


def load_engine_settings(path: str | Path = DEFAULT_CONFIG, *,
                         adapters: str | None = None) -> EngineSettings:
    """``[engine]`` of ``path`` as EngineSettings; a missing default file means the defaults,
    a missing file named on the command line is an InputError."""
    path = Path(path)
    data: dict = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{path}: not valid TOML: {exc}") from None
    elif str(path) != DEFAULT_CONFIG:
        raise InputError(f"{path}: config file not found")
    engine = data.get("engine", {})
    if not isinstance(engine, dict):
        raise InputError(f"{path}: [engine] must be a table")
    root = path.resolve().parent
    known = {f.name for f in fields(EngineSettings)}
    values = {k: v for k, v in engine.items() if k in known}
    clip = values.get("clip_model", "auto")
    if clip == "auto":
        values["clip_model"] = "tiny" if values.get("model", "tiny") == "tiny" else REAL_CLIP
    defaults = EngineSettings()
    for key in ("adapters", "cache"):
        values[key] = str(_relative_to(root, values.get(key, getattr(defaults, key))))
    if adapters is not None:
        values["adapters"] = str(Path(adapters).expanduser().resolve())
    try:
        settings = EngineSettings(**values)
        settings.check()
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: [engine] {exc}") from None
    return settings


def _relative_to(root: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else root / p


def model_source(settings: EngineSettings) -> str:
    """What ``from_pretrained`` gets for ``[engine] model``: the tiny folder (built on first
    use, as the engine does) or the hub id / folder as written."""
    if settings.model == "tiny":
        from engine.tiny import tiny_model_dir

        return str(tiny_model_dir(settings.cache))
    return settings.model


def clip_source(settings: EngineSettings, name: str | None = None) -> str:
    """A CLIP model name as config.toml writes it (``tiny`` = the tiny CLIP folder)."""
    name = settings.clip_model if name is None else name
    if name == "tiny":
        from engine.tiny import tiny_clip_dir

        return str(tiny_clip_dir(settings.cache))
    return name
