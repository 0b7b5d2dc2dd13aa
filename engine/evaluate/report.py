"""The report's files: metrics.json, the plots (CLIP score distributions, the sweep) and one
contact sheet per prompt (base and style side by side, one row per seed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from engine.evaluate.generate import Sample
from engine.train.rundir import write_atomic

LABEL_H = 16
SHEET_CELL = 256  # images are shown at least this big, nearest-neighbour for tiny ones


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_metrics(out: Path, metrics: dict) -> Path:
    path = out / "metrics.json"
    write_atomic(path, (json.dumps(metrics, indent=2, allow_nan=False) + "\n").encode())
    return path


def plot_scores(out: Path, base: list[float], style: list[float], name: str) -> Path:
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    bins = np.linspace(min(base + style) - 0.5, max(base + style) + 0.5, 16)
    ax1.hist(base, bins=bins, alpha=0.6, label=f"base (mean {np.mean(base):.2f})",
             color="#888")
    ax1.hist(style, bins=bins, alpha=0.6, label=f"{name} (mean {np.mean(style):.2f})",
             color="#d62")
    ax1.set_xlabel("CLIP score")
    ax1.set_ylabel("images")
    ax1.set_title("CLIP score distribution")
    ax1.legend()
    ax2.boxplot([base, style], tick_labels=["base", name])
    ax2.set_ylabel("CLIP score")
    ax2.set_title("same prompts and seeds")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    path = out / "clip_scores.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_sweep(out: Path, cells: list[dict], name: str) -> Path:
    """A heatmap of the mean CLIP score per (steps, cfg), over seeds and prompts, and the
    score against steps, one line per cfg (the seeds' spread shaded)."""
    plt = _plt()
    steps = sorted({c["steps"] for c in cells})
    cfgs = sorted({c["cfg"] for c in cells})
    grid = np.array([[np.mean([c["clip_mean"] for c in cells
                               if c["steps"] == s and c["cfg"] == g]) for g in cfgs]
                     for s in steps])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    im = ax1.imshow(grid, cmap="viridis", aspect="auto", origin="lower")
    ax1.set_xticks(range(len(cfgs)), [f"{g:g}" for g in cfgs])
    ax1.set_yticks(range(len(steps)), [str(s) for s in steps])
    ax1.set_xlabel("guidance scale (cfg)")
    ax1.set_ylabel("steps")
    ax1.set_title(f"{name}: mean CLIP score")
    for i in range(len(steps)):
        for j in range(len(cfgs)):
            ax1.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", color="w",
                     fontsize=8)
    fig.colorbar(im, ax=ax1)
    for g in cfgs:
        per_seed = {}
        for c in cells:
            if c["cfg"] == g:
                per_seed.setdefault(c["steps"], []).append(c["clip_mean"])
        mean = [np.mean(per_seed[s]) for s in steps]
        lo = [np.min(per_seed[s]) for s in steps]
        hi = [np.max(per_seed[s]) for s in steps]
        (line,) = ax2.plot(steps, mean, "o-", label=f"cfg {g:g}")
        ax2.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.15)
    ax2.set_xlabel("steps")
    ax2.set_ylabel("CLIP score")
    ax2.set_title("by steps (band: spread over seeds)")
    ax2.grid(alpha=0.3)
    ax2.legend()
    fig.tight_layout()
    path = out / "sweep.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def contact_sheets(out: Path, base: list[Sample], style: list[Sample], name: str
                   ) -> list[Path]:
    """contact/prompt-NN.png: the prompt on top, then per seed the base image and the
    style's image side by side, each labelled with its seed and CLIP score."""
    folder = out / "contact"
    folder.mkdir(parents=True, exist_ok=True)
    font = ImageFont.load_default()
    by_prompt: dict[int, list[tuple[Sample, Sample]]] = {}
    for b, s in zip(base, style, strict=True):
        by_prompt.setdefault(b.prompt_index, []).append((b, s))
    paths = []
    for index, pairs in sorted(by_prompt.items()):
        w, h = pairs[0][0].image.size
        scale = max(1, SHEET_CELL // max(w, h))
        cw, ch = w * scale, h * scale
        sheet = Image.new("RGB", (2 * cw + 12, 2 * LABEL_H + len(pairs) * (ch + LABEL_H + 4)),
                          "white")
        draw = ImageDraw.Draw(sheet)
        draw.text((4, 2), _fit(pairs[0][0].prompt, 2 * cw // 6), fill="black", font=font)
        draw.text((4, LABEL_H + 1), "base", fill="#444", font=font)
        draw.text((cw + 12, LABEL_H + 1), name, fill="#a30", font=font)
        y = 2 * LABEL_H
        for b, s in pairs:
            for x, sample in ((4, b), (cw + 8, s)):
                sheet.paste(sample.image.resize((cw, ch), Image.Resampling.NEAREST), (x, y))
                draw.text((x, y + ch + 1), f"seed {sample.seed}  CLIP {sample.clip:.2f}",
                          fill="black", font=font)
            y += ch + LABEL_H + 4
        path = folder / f"prompt-{index + 1:02d}.png"
        sheet.save(path)
        paths.append(path)
    return paths


def save_samples(out: Path, samples: list[Sample], kind: str) -> None:
    folder = out / "samples" / kind
    folder.mkdir(parents=True, exist_ok=True)
    for s in samples:
        s.image.save(folder / f"p{s.prompt_index + 1:02d}-seed{s.seed}.png")


def _fit(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(1, chars - 3)] + "..."
