"""``python -m bot doctor``: is this set-up able to run, and if not, what to fix.

One line a check: ``ok``, ``warn`` or ``FAIL``, what was looked at, and for a problem what to
do. Checks: the config (every bad key, not just the first), the tokens (present or not, never
shown), the model and CLIP model (tiny, a local folder, a single file with its config, or the
Hugging Face cache at the pinned revision), the GPU and its memory, free disk where the model
cache, the database and the images live, the database (opens, integrity, migrations), and
every style (manifest, LoRA fit from its header against the model's ``config.json`` — the
same check the engine runs before loading; nothing heavy is loaded). Exit code 1 when
something is broken.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from bot.config import Config
from engine.settings import is_single_file

LOW_DISK = 5 * 2**30  # a model download and some images
VERY_LOW_DISK = 200 * 2**20


@dataclass(frozen=True, slots=True)
class Finding:
    level: str  # "ok" | "warn" | "FAIL"
    what: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.level:<4} {self.what}" + (f" — fix: {self.fix}" if self.fix else "")


Report = Callable[[Finding], None]


def run_doctor(config_path: str | Path, out: Callable[[str], None] = print) -> int:
    """Every check in turn, printed as it is made; 1 when any failed, else 0."""
    failed = False

    def report(f: Finding) -> None:
        nonlocal failed
        failed = failed or f.level == "FAIL"
        out(f.line())

    config = check_config(Path(config_path), report)
    check_tokens(config, report)
    if config is not None:
        settings = config.engine_settings()
        model_dir = check_model(config, report)
        check_clip(settings.clip_model, settings.clip_model_revision, settings.cache, report)
        check_gpu(config, report)
        check_ray(config, report)
        check_disk(config, report)
        check_database(config, report)
        check_styles(config, model_dir, report)
    else:
        check_gpu(None, report)
    out("broken: fix the FAIL lines above" if failed else "everything needed is in place")
    return 1 if failed else 0


# ------------------------------------------------------------------------ config and tokens


def check_config(path: Path, report: Report) -> Config | None:
    if not path.is_file():
        report(Finding("warn", f"config: {path} not found; the defaults apply",
                       "copy config.toml from the repository and edit it"))
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        report(Finding("FAIL", f"config: {path} is not valid TOML: {exc}",
                       "correct the line it names"))
        return None
    try:
        config = Config(**data, root=path.resolve().parent)
    except ValidationError as exc:
        for error in exc.errors():  # every bad key, one line each
            loc = [str(p) for p in error["loc"]]
            key = f"[{loc[0]}] {'.'.join(loc[1:])}" if len(loc) > 1 else f"[{loc[0]}]"
            msg = "unknown key" if error["type"] == "extra_forbidden" else \
                error["msg"].removeprefix("Value error, ")
            got = error.get("input")
            shown = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
            report(Finding("FAIL", f"config: {path}: {key}: {msg}{shown}",
                           "set a valid value or remove the key (config.toml documents each)"))
        return None
    except TypeError as exc:
        report(Finding("FAIL", f"config: {path}: {exc}", "correct the section it names"))
        return None
    report(Finding("ok", f"config: {path} parses and every value is valid"))
    return config


def check_tokens(config: Config | None, report: Report) -> None:
    """Whether each secret is set; its value is never shown."""
    tokens = {name: bool(os.environ.get(name, "").strip())
              for name in ("TELEGRAM_TOKEN", "DISCORD_TOKEN")}
    shown = ", ".join(f"{name} {'set' if there else 'not set'}" for name, there in tokens.items())
    if any(tokens.values()):
        report(Finding("ok", f"tokens: {shown}"))
    else:
        report(Finding("warn", f"tokens: {shown}: only `python -m bot chat` can run",
                       "export TELEGRAM_TOKEN and/or DISCORD_TOKEN to serve a platform"))
    providers = config.translation.providers if config is not None else []
    if "deepl" in providers and not os.environ.get("DEEPL_API_KEY", "").strip():
        report(Finding("FAIL", "tokens: [translation] providers lists deepl but DEEPL_API_KEY "
                       "is not set", "export DEEPL_API_KEY or remove deepl from providers"))


# ------------------------------------------------------------------------ models


def cached_snapshot(repo_id: str, revision: str = "") -> Path | None:
    """The repo's snapshot folder in the Hugging Face cache at ``revision``, or None."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision or None,
                                      local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, OSError, ValueError):
        return None


def model_folder(model: str, revision: str, cache: str) -> tuple[Path | None, str]:
    """Where a diffusers model is on this machine (None if nowhere) and what it is."""
    if model == "tiny":
        from engine.tiny import tiny_folder_name

        folder = Path(cache) / tiny_folder_name()
        return folder, "the tiny test model" + ("" if folder.is_dir() else
                                                 " (assembled from engine/assets on first use)")
    local = Path(model).expanduser()
    if local.is_dir():
        return local, f"the local folder {local}"
    if local.is_absolute() or model.startswith((".", "~")):
        return None, f"the local folder {local}, which does not exist"
    at = f" at {revision}" if revision else ""
    snap = cached_snapshot(model, revision)
    return snap, f"{model}{at} in the Hugging Face cache" if snap else f"{model}{at}"


def check_model(config: Config, report: Report) -> Path | None:
    """The model's diffusers folder (config.json files for the LoRA check), if present."""
    s = config.engine_settings()
    if is_single_file(s.model):
        file = config.path(s.model)
        if not file.is_file():
            report(Finding("FAIL", f"model: the checkpoint {file} does not exist",
                           "put the file there or correct [engine] model"))
        else:
            report(Finding("ok", f"model: the single-file checkpoint {file}"))
        folder, what = model_folder(s.single_file_config, s.model_revision, s.cache)
        if folder is None:
            report(Finding("FAIL", f"model_config: {what}: not cached",
                           "run `python -m bot fetch-models`"))
        else:
            report(Finding("ok", f"model_config: {what}"))
        return folder
    folder, what = model_folder(s.model, s.model_revision, s.cache)
    if s.model == "tiny":
        report(Finding("ok", f"model: {what}"))
        return folder if folder.is_dir() else None
    if folder is None:
        report(Finding("FAIL", f"model: {what}: not cached",
                       "run `python -m bot fetch-models` (or set [engine] model to a folder)"))
    elif not (folder / "model_index.json").is_file():
        report(Finding("FAIL", f"model: {what} has no model_index.json: not a diffusers model",
                       "point [engine] model at a diffusers folder, or a single file with "
                       "model_config"))
    else:
        report(Finding("ok", f"model: {what}"))
        if not s.model_revision and not Path(s.model).expanduser().is_dir():
            report(Finding("warn", "model: no model_revision pinned; the mirrors are "
                           "unofficial and may change", "set [engine] model_revision to the "
                           "commit you tested (the hub page's history lists them)"))
    return folder


def check_clip(clip: str, revision: str, cache: str, report: Report) -> None:
    if clip == "tiny":
        report(Finding("ok", "clip_model: the tiny test CLIP"))
        return
    folder, what = model_folder(clip, revision, cache)
    if folder is None:
        report(Finding("FAIL", f"clip_model: {what}: not cached",
                       "run `python -m bot fetch-models`"))
    else:
        report(Finding("ok", f"clip_model: {what}"))


# ------------------------------------------------------------------------ machine


GPU_PROBE = """
import json, torch
print(json.dumps([[torch.cuda.get_device_name(i), *torch.cuda.mem_get_info(i)]
                  for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []))
"""


def check_gpu(config: Config | None, report: Report) -> None:
    device = config.engine.device if config is not None else "auto"
    real = config is not None and config.engine.model != "tiny"
    # torch is the engine's: asked in a child process, never imported into the bot's
    probe = subprocess.run([sys.executable, "-c", GPU_PROBE], capture_output=True, text=True,
                           timeout=120)
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        report(Finding("FAIL", f"gpu: torch cannot be imported: {reason}",
                       "pip install -e . in the project's environment"))
        return
    gpus = json.loads(probe.stdout.strip().splitlines()[-1])
    if not gpus:
        if device.startswith("cuda"):
            report(Finding("FAIL", f"gpu: [engine] device = {device!r} but CUDA is not "
                           "available", "install a CUDA build of torch, or set device = auto"))
        elif real:
            report(Finding("warn", "gpu: no CUDA device: the real model runs on the CPU, "
                           "minutes an image", "run it on a machine with an NVIDIA GPU"))
        else:
            report(Finding("ok", "gpu: none (the tiny model runs on the CPU)"))
        return
    for i, (name, free, total) in enumerate(gpus):
        level = "warn" if real and total < 6 * 2**30 else "ok"
        report(Finding(level, f"gpu {i}: {name}, {free / 2**30:.1f} of {total / 2**30:.1f} GiB "
                       "free", "under 6 GiB the engine offloads to the CPU (slower)"
                       if level == "warn" else ""))


def check_ray(config: Config, report: Report) -> None:
    """[engine] backend = "ray": the optional extra is installed (docs/ray.md)."""
    if config.engine.backend != "ray":
        return
    from engine.ray_client import ray_available

    missing = ray_available()
    if missing is not None:
        report(Finding("FAIL", f"ray: {missing}", "pip install '.[ray]' (or set [engine] "
                       "backend = \"local\")"))
        return
    r = config.ray
    where = f"the cluster at {r.address}" if r.address else "a local cluster the bot starts"
    report(Finding("ok", f"ray: ray[serve] installed; {where}, {r.min_replicas}–"
                   f"{r.max_replicas} replica(s) of {r.num_gpus:g} GPU / {r.num_cpus:g} CPU"))
    if r.num_gpus == 0 and config.engine.model != "tiny":
        report(Finding("warn", "ray: [ray] num_gpus = 0: the replicas paint on CPUs",
                       "set num_gpus = 1 on a GPU cluster"))


def check_disk(config: Config, report: Report) -> None:
    from huggingface_hub import constants

    places = {"model cache": Path(constants.HF_HUB_CACHE),
              "database": config.path(config.storage.database).parent,
              "images": config.path(config.storage.images)}
    for what, where in places.items():
        probe = where
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent  # the folder is made on first use: its nearest parent
        free = shutil.disk_usage(probe).free
        text = f"disk: {what} ({where}): {free / 2**30:.1f} GiB free"
        if free < VERY_LOW_DISK:
            report(Finding("FAIL", text, "free space on that disk"))
        elif free < LOW_DISK:
            report(Finding("warn", text, "an SD 2.1 download needs about 5 GiB"))
        else:
            report(Finding("ok", text))


def check_database(config: Config, report: Report) -> None:
    from bot.storage.db import migrations

    path = config.path(config.storage.database)
    if not path.exists():
        report(Finding("ok", f"database: {path} does not exist yet (made at first start)"))
        return
    latest = len(migrations())
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            (check,) = con.execute("PRAGMA integrity_check").fetchone()
            (version,) = con.execute("PRAGMA user_version").fetchone()
        finally:
            con.close()
    except sqlite3.Error as exc:
        report(Finding("FAIL", f"database: {path} cannot be read: {exc}",
                       "restore it from a backup, or move it away to start afresh"))
        return
    if check != "ok":
        report(Finding("FAIL", f"database: {path} is damaged: {check}",
                       "restore it from a backup (sqlite3 .recover can save what is left)"))
    elif version > latest:
        report(Finding("FAIL", f"database: {path} is at schema {version}, newer than this "
                       f"code ({latest})", "run the newer Pelukis, or restore a backup"))
    elif version < latest:
        report(Finding("ok", f"database: {path} at schema {version}; the bot upgrades it to "
                       f"{latest} at start"))
    else:
        report(Finding("ok", f"database: {path} healthy, schema {version} (current)"))


# ------------------------------------------------------------------------ styles


def check_styles(config: Config, model_dir: Path | None, report: Report) -> None:
    from engine.lora_check import LoraMisfit, ModelShape, check_lora, read_header
    from engine.styles import StyleError, StyleRegistry

    root = config.path(config.engine.adapters)
    try:
        registry = StyleRegistry.load(root)
    except StyleError as exc:
        report(Finding("FAIL", f"styles: {exc}", "create the folder or correct "
                       "[engine] adapters"))
        return
    for folder, problem in registry.problems.items():
        report(Finding("FAIL", f"style {folder}: {problem}", "correct its style.toml"))
    test_model = config.engine.model == "tiny"
    shape = None
    if test_model and (model_dir is None or not model_dir.is_dir()):
        from engine.tiny import tiny_model_dir

        model_dir = tiny_model_dir(config.engine_settings().cache)  # its known shape, offline
    if model_dir is not None:
        try:
            shape = ModelShape.from_folder(model_dir)
        except (OSError, ValueError, KeyError):
            shape = None
    for style in registry:
        declared = style.declared_weights(test_model)
        if declared is None:
            report(Finding("ok", f"style {style.name}: a prompt template (no LoRA for this "
                           "model)"))
            continue
        if not declared.is_file():
            report(Finding("FAIL", f"style {style.name}: {declared} not found",
                           "put the LoRA there or remove the key from its style.toml"))
            continue
        try:
            if shape is None:
                read_header(declared)
                report(Finding("warn", f"style {style.name}: {declared} reads as safetensors; "
                               "its fit is unchecked (the model is not on this machine)"))
                continue
            fit = check_lora(declared, shape)
        except LoraMisfit as exc:
            report(Finding("FAIL", f"style {style.name}: {declared}: {exc}",
                           "use a LoRA trained for this base model (or retrain it: "
                           "python -m engine.train lora)"))
            continue
        report(Finding("ok", f"style {style.name}: {declared.name} fits ({fit.format} "
                       f"format, {fit.layers} layers)"))
