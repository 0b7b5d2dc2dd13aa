"""The trained style in the adapters folder: ``NAME/lora.safetensors`` and ``NAME/style.toml``,
each written beside its place and renamed into it, so a running engine never reads half a file.

A retrained style keeps its manifest as written (texts, template, comments); only the weights
key of this base model (``test_weights`` for ``tiny``, ``weights`` for a real model) and the
``[training]`` table (base model, run folder, settings) are replaced.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import tomllib
from pathlib import Path

from engine.styles import MANIFEST, NAME_RE, RESERVED, StyleError, load_style
from engine.train.errors import InputError
from engine.train.rundir import write_atomic

LORA_FILE = "lora.safetensors"
TINY_LORA_FILE = "tiny-lora.safetensors"
TRAINING_TABLE = "training"


def check_name(name: str) -> str:
    if not NAME_RE.match(name) or name in RESERVED:
        raise InputError(f"style name {name!r} must be lowercase a-z, 0-9 and '-' (at most 32, "
                         f"starting with a letter or digit; not {' or '.join(sorted(RESERVED))})")
    return name


def weights_key(test_model: bool) -> str:
    return "test_weights" if test_model else "weights"


def weight_file(folder: Path, test_model: bool) -> str:
    """The LoRA file name for this base model: the one the manifest already names, else
    lora.safetensors (tiny-lora.safetensors for tiny when lora.safetensors is the real
    model's)."""
    data = _read(folder / MANIFEST)
    current = data.get(weights_key(test_model))
    if isinstance(current, str) and current:
        return current
    other = data.get(weights_key(not test_model))
    return TINY_LORA_FILE if test_model and other == LORA_FILE else LORA_FILE


def _read(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc}); fix or remove it before retraining"
                         ) from None


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return json.dumps(str(v), ensure_ascii=False)  # a TOML basic string


def new_manifest(name: str, *, template: str, title: str | None,
                 description: str | None, adapter_weight: float) -> str:
    title = title or name.replace("-", " ").title()
    lines = [f"name = {_value(name)}", f"prompt = {_value(template)}",
             f"adapter_weight = {_value(adapter_weight)}", ""]
    for lang in ("id", "en"):
        lines += [f"[{lang}]", f"title = {_value(title)}",
                  f"description = {_value(description or '')}", ""]
    return "\n".join(lines)


def set_top_level(text: str, key: str, value: object) -> str:
    """``key = value`` among the top-level keys (before the first table), replaced in place or
    added after the last of them."""
    header = re.search(r"(?m)^[ \t]*\[", text)
    head, tail = (text[: header.start()], text[header.start():]) if header else (text, "")
    line = f"{key} = {_value(value)}"
    pattern = re.compile(rf"(?m)^{re.escape(key)}\s*=.*$")
    if pattern.search(head):
        head = pattern.sub(lambda _: line, head, count=1)
    else:
        head = head.rstrip("\n") + "\n" + line + "\n\n"
    return head + tail


def drop_table(text: str, table: str) -> str:
    """``text`` without the ``[table]`` section (up to the next table header or the end)."""
    return re.sub(rf"(?ms)^\[{re.escape(table)}\]\s*$.*?(?=^[ \t]*\[|\Z)", "", text).rstrip() + "\n"


def with_training(text: str, training: dict) -> str:
    body = "\n".join(f"{k} = {_value(v)}" for k, v in training.items() if v is not None)
    return drop_table(text, TRAINING_TABLE) + f"\n[{TRAINING_TABLE}]\n{body}\n"


def install(unet_saver, adapters: Path, name: str, *, test_model: bool, training: dict,
            template: str, title: str | None, description: str | None,
            adapter_weight: float) -> tuple[Path, Path]:
    """Write the LoRA (``unet_saver(folder, weight_name)`` saves it) and the manifest into
    ``adapters/name``; return both paths. The manifest is checked by engine/styles.py's own
    loader before it replaces the old one."""
    folder = adapters / check_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / MANIFEST
    file_name = weight_file(folder, test_model)
    tmp = Path(tempfile.mkdtemp(prefix=".train-", dir=folder))
    try:
        saved = unet_saver(tmp, file_name)
        target = folder / file_name
        saved.replace(target)
        old = manifest.read_text(encoding="utf-8") if manifest.is_file() else new_manifest(
            name, template=template, title=title, description=description,
            adapter_weight=adapter_weight)
        text = with_training(set_top_level(old, weights_key(test_model), file_name), training)
        (tmp / MANIFEST).write_text(text, encoding="utf-8")
        try:
            _check_manifest(tmp / MANIFEST, folder)
        except StyleError as exc:
            raise InputError(f"{manifest}: the manifest would not load: {exc}") from None
        write_atomic(manifest, text.encode("utf-8"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target, manifest


def _check_manifest(candidate: Path, folder: Path) -> None:
    """Load ``candidate`` as if it were ``folder``'s manifest (the name must match the
    folder), with engine/styles.py's loader."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / folder.name
        probe.mkdir()
        shutil.copy(candidate, probe / MANIFEST)
        load_style(probe)
