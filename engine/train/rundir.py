"""A run folder: ``run.json`` (what was asked), ``metrics.jsonl`` (one JSON object per logged
step), ``loss.png``, ``validation/step-N/*.png`` and ``checkpoints/step-N/``."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from PIL import Image

METRICS = "metrics.jsonl"
LOSS_PLOT = "loss.png"
CHECKPOINTS = "checkpoints"
VALIDATION = "validation"


def default_run_dir(name: str, root: Path | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return (root or Path.cwd()) / "runs" / f"{name}-{stamp}"


def write_atomic(path: Path, data: bytes) -> None:
    """Write beside ``path`` and rename over it: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunDir:
    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    def checkpoint(self, step: int) -> Path:
        return self.path / CHECKPOINTS / f"step-{step}"

    def write_json(self, name: str, data: dict) -> None:
        write_atomic(self.path / name, (json.dumps(data, indent=2, default=str) + "\n").encode())

    def log(self, record: dict) -> None:
        with self.metrics_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict]:
        return read_metrics(self.metrics_path)

    def truncate_metrics(self, after_step: int) -> None:
        """On resume: keep the records up to the checkpoint's step, so the file holds one
        curve (the steps after it are logged again)."""
        kept = [r for r in self.read_metrics() if r.get("step", 0) <= after_step]
        write_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept).encode())

    def save_validation(self, step: int, images: list[Image.Image]) -> list[Path]:
        folder = self.path / VALIDATION / f"step-{step}"
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, image in enumerate(images):
            path = folder / f"{i:02d}.png"
            image.save(path)
            paths.append(path)
        return paths

    def plot_loss(self) -> Path:
        return plot_loss(self.read_metrics(), self.path / LOSS_PLOT)


def read_metrics(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def plot_loss(records: list[dict], out: Path) -> Path:
    """The training loss per step (raw and a moving average), the held-out loss where
    logged, and for DreamBooth the prior and L2 terms, on a second panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in records if "loss" in r]
    losses = [r["loss"] for r in records if "loss" in r]
    parts = [k for k in ("instance_loss", "prior_loss", "l2") if any(k in r for r in records)]
    fig, axes = plt.subplots(1, 2 if parts else 1, figsize=(11 if parts else 7, 4),
                             squeeze=False)
    ax = axes[0][0]
    ax.plot(steps, losses, color="#9ab", lw=0.8, label="loss")
    if len(losses) >= 5:
        k = max(2, len(losses) // 20)
        avg = [sum(losses[max(0, i - k + 1):i + 1]) / len(losses[max(0, i - k + 1):i + 1])
               for i in range(len(losses))]
        ax.plot(steps, avg, color="#146", lw=1.6, label=f"moving mean ({k})")
    test = [(r["step"], r["test_loss"]) for r in records if "test_loss" in r]
    if test:
        ax.plot(*zip(*test, strict=True), "o-", color="#c52", label="held-out loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("training loss")
    ax.grid(alpha=0.3)
    ax.legend()
    if parts:
        ax2 = axes[0][1]
        for key in parts:
            pts = [(r["step"], r[key]) for r in records if key in r]
            ax2.plot(*zip(*pts, strict=True), label=key)
        ax2.set_xlabel("step")
        ax2.set_title("loss terms")
        ax2.grid(alpha=0.3)
        ax2.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
