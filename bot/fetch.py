"""``python -m bot fetch-models``: download what the config names into the Hugging Face cache.

The model (a diffusers repo: its components' configs and safetensors weights, not the 5 GB
single-file checkpoints beside them), a single-file model's ``model_config`` (configs only),
the CLIP model, each at its pinned revision, and the optional ``variations_model`` and
``upscale_model`` pipelines (at main). ``tiny`` and local folders are skipped. The
disk it needs (file sizes from the hub's metadata, minus what is cached already) is said
first, with the space free, and nothing is fetched when it does not fit. Progress bars are
huggingface_hub's own. ``HF_ENDPOINT`` and ``HF_TOKEN`` are read by huggingface_hub.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bot.config import Config
from engine.settings import is_single_file

# weights diffusers/transformers never read when a .safetensors file sits beside them
OTHER_WEIGHTS = (".bin", ".msgpack", ".h5", ".ot", ".onnx", ".pb", ".ckpt", ".pt")
CONFIG_FILES = (".json", ".txt", ".model")  # what a config-only fetch takes


@dataclass(frozen=True, slots=True)
class Fetch:
    what: str  # the config key it comes from
    repo: str
    revision: str  # as configured ("" = main)
    kind: str  # "pipeline" | "transformers" | "config"


@dataclass(frozen=True, slots=True)
class Plan:
    fetch: Fetch
    sha: str  # the commit the revision resolves to
    files: dict[str, int]  # file → size in bytes
    missing: int  # bytes not in the cache yet


def wanted(config: Config) -> list[Fetch]:
    """What the config names that lives on the hub."""
    s = config.engine_settings()
    out = []
    if is_single_file(s.model):
        if _on_hub(s.single_file_config):
            out.append(Fetch("model_config", s.single_file_config, s.model_revision, "config"))
    elif _on_hub(s.model):
        out.append(Fetch("model", s.model, s.model_revision, "pipeline"))
    if _on_hub(s.clip_model):
        out.append(Fetch("clip_model", s.clip_model, s.clip_model_revision, "transformers"))
    for key in ("variations_model", "upscale_model"):  # the optional picture pipelines
        if _on_hub(getattr(s, key)):
            out.append(Fetch(key, getattr(s, key), "", "pipeline"))
    return out


def _on_hub(name: str) -> bool:
    if not name or name == "tiny":
        return False
    path = Path(name).expanduser()
    return not (path.exists() or path.is_absolute() or name.startswith((".", "~")))


def choose(files: dict[str, int], kind: str) -> dict[str, int]:
    """The files a from_pretrained of this kind reads: configs, tokenizers, and one set of
    weights (safetensors, full precision) per folder."""
    chosen: dict[str, int] = {}
    folders: dict[str, list[str]] = {}
    for name in files:
        folders.setdefault(str(PurePosixPath(name).parent), []).append(name)
    for folder, names in folders.items():
        if kind == "pipeline" and folder == "." and "model_index.json" in names:
            names = ["model_index.json"]  # the root's big checkpoints are not the pipeline's
        for name in names:
            base = PurePosixPath(name).name
            if base.startswith(".") or base.endswith(".md"):
                continue
            if kind == "config":
                if base.endswith(CONFIG_FILES):
                    chosen[name] = files[name]
                continue
            variant = len(base.split(".")) > 2  # model.fp16.safetensors, *.non_ema.bin
            has_safe = any(n.endswith(".safetensors") and len(PurePosixPath(n).name.split("."))
                           == 2 for n in names)
            if variant and base.endswith((".safetensors", *OTHER_WEIGHTS)):
                continue
            if has_safe and base.endswith(OTHER_WEIGHTS):
                continue
            chosen[name] = files[name]
    return chosen


def plan(fetch: Fetch) -> Plan:
    """Ask the hub what the revision holds and how big it is; what the cache lacks."""
    from huggingface_hub import HfApi, try_to_load_from_cache

    info = HfApi().model_info(fetch.repo, revision=fetch.revision or None, files_metadata=True)
    files = {s.rfilename: int(s.size or 0) for s in info.siblings or []}
    chosen = choose(files, fetch.kind)
    missing = sum(size for name, size in chosen.items()
                  if not isinstance(try_to_load_from_cache(fetch.repo, name, revision=info.sha),
                                    str))
    return Plan(fetch, info.sha, chosen, missing)


def fetch_models(config: Config, out=print) -> int:
    """Plan every download, say the disk it needs, then fetch; the exit code."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    todo = wanted(config)
    if not todo:
        out("nothing to fetch: the config names only tiny or local models")
        return 0
    plans = []
    for fetch in todo:
        at = f" at {fetch.revision}" if fetch.revision else ""
        try:
            p = plan(fetch)
        except (HfHubHTTPError, OSError, ValueError) as exc:
            out(f"pelukis: {fetch.what} {fetch.repo}{at}: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}")
            return 1
        plans.append(p)
        out(f"{fetch.what}: {fetch.repo}{at} (commit {p.sha[:12]}): {len(p.files)} files, "
            f"{_size(sum(p.files.values()))}, {_size(p.missing)} to download")
    cache = Path(constants.HF_HUB_CACHE)
    probe = cache
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    need = sum(p.missing for p in plans)
    free = shutil.disk_usage(probe).free
    out(f"needs {_size(need)} in {cache}; {_size(free)} free there")
    if need > free:
        out("pelukis: not enough disk space: free some, or point HF_HOME at a bigger disk")
        return 1
    for p in plans:
        if not p.missing:
            continue
        try:
            snapshot_download(p.fetch.repo, revision=p.sha, allow_patterns=sorted(p.files))
        except (HfHubHTTPError, OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()
            out(f"pelukis: {p.fetch.what} {p.fetch.repo}: download failed: "
                f"{type(exc).__name__}: {first[0] if first else ''}")
            return 1
    out("done: the models are in the cache" + (
        "" if all(p.fetch.revision for p in plans) else
        "; pin them: set model_revision / clip_model_revision to the commits above"))
    return 0


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"
