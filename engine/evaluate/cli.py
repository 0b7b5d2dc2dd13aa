"""``python -m engine.evaluate --style NAME --prompts FILE [--reference DIR] --out DIR``.

Bad input is one line on stderr and exit code 2. CMMD or FID that cannot be computed (no
CMMD model weights here, no ``--inception`` file) are null in metrics.json with the reason.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from engine.evaluate.inputs import CMMD_MODEL
from engine.settings import TEST_MODEL_CFG
from engine.train.errors import InputError

PROG = "python -m engine.evaluate"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Compare a style with the base model: "
                                "CLIP score, CMMD, FID, a seed/steps/cfg sweep.")
    p.add_argument("--style", required=True)
    p.add_argument("--prompts", required=True, type=Path, help="one prompt a line (# comments)")
    p.add_argument("--reference", type=Path, help="a folder of real images of the style")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--config", type=Path, default=Path("config.toml"))
    p.add_argument("--adapters", type=Path, help="default: [engine] adapters")
    p.add_argument("--samples", type=int, default=4, help="seeds per prompt")
    p.add_argument("--seed", type=int, default=0, help="the first seed")
    p.add_argument("--steps", type=int, help="default: the style's steps, else 25")
    p.add_argument("--cfg", type=float, help="default: the style's cfg, else 7.5 (tiny: its "
                   f"test_cfg, else {TEST_MODEL_CFG:g})")
    p.add_argument("--sweep-seeds", type=int, default=2, help="seeds per sweep cell")
    p.add_argument("--sweep-steps", default="10,25,40")
    p.add_argument("--sweep-cfg", default="4,7.5,11")
    p.add_argument("--no-sweep", dest="sweep", action="store_false")
    p.add_argument("--cmmd-model", default="auto",
                   help=f"a CLIP model (auto: {CMMD_MODEL}; the tiny CLIP for tiny)")
    p.add_argument("--inception", type=Path,
                   help="TorchScript inception-2015-12-05.pt (StyleGAN2-ADA / clean-fid) "
                        "for FID")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from engine.train.cli import quiet_loading

    quiet_loading()
    try:
        from engine.evaluate.run import evaluate

        metrics = evaluate(args)
    except InputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {args.out / 'metrics.json'}")
    clip = metrics["clip"]
    print(f"CLIP score: base {clip['base']['mean']:.2f}, {args.style} {clip['style']['mean']:.2f}")
    for key in ("cmmd", "fid"):
        value = metrics[key]
        shown = (", ".join(f"{k} {v:.4f}" for k, v in value.items()) if value is not None
                 else f"null ({metrics[key + '_reason']})")
        print(f"{key.upper()}: {shown}")
    return 0

