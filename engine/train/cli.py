"""``python -m engine.train lora|dreambooth ...``: parse, train, print where things went.

Bad input (data, options, a checkpoint that does not fit) is one line on stderr and exit
code 2; the last stdout line is a JSON summary (run folder, LoRA, manifest, steps, loss).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from engine.train.errors import InputError
from engine.train.options import SCHEDULERS, TrainOptions

PROG = "python -m engine.train"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path,
                   help="a folder of images (+ .txt captions for lora) or a CSV with "
                        "image,caption columns")
    p.add_argument("--name", required=True, help="the style's name (a-z, 0-9, -)")
    p.add_argument("--config", type=Path, default=Path("config.toml"),
                   help="the base model is its [engine] model (default ./config.toml)")
    p.add_argument("--adapters", type=Path, help="default: [engine] adapters")
    p.add_argument("--run-dir", type=Path, help="default: runs/NAME-<timestamp>")
    p.add_argument("--device", help="default: [engine] device")
    g = p.add_argument_group("adapter")
    g.add_argument("--rank", type=int, default=16)
    g.add_argument("--alpha", type=float, help="LoRA alpha (default: = rank)")
    g.add_argument("--lora-dropout", type=float, default=0.0)
    g = p.add_argument_group("optimisation")
    g.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float, default=1e-4)
    g.add_argument("--lr-scheduler", default="cosine_with_restarts", choices=SCHEDULERS)
    g.add_argument("--lr-warmup-steps", type=int, default=0)
    g.add_argument("--lr-cycles", type=int, default=1, help="restarts of cosine_with_restarts")
    g.add_argument("--steps", type=int, help="optimizer steps (default 1000 unless --epochs)")
    g.add_argument("--epochs", type=float, help="passes over the training images")
    g.add_argument("--batch-size", type=int, default=1)
    g.add_argument("--grad-accum", type=int, default=1, help="micro-batches per step")
    g.add_argument("--max-grad-norm", type=float, default=1.0, help="0 = no clipping")
    g.add_argument("--snr-gamma", type=float, default=5.0, help="min-SNR γ; 0 = plain MSE")
    g.add_argument("--mixed-precision", default="no", choices=("no", "fp16", "bf16"),
                   help="fp16 needs CUDA (refused on CPU)")
    g.add_argument("--gradient-checkpointing", action="store_true")
    g.add_argument("--seed", type=int, default=42)
    g = p.add_argument_group("data")
    g.add_argument("--resolution", type=int, help="default: the base model's native size")
    g.add_argument("--test-split", type=float, help="held-out fraction (lora 0.2, "
                                                     "dreambooth 0)")
    g.add_argument("--no-random-crop", dest="random_crop", action="store_false",
                   help="centre crop instead of a random resized crop")
    g.add_argument("--crop-scale", type=float, default=0.8,
                   help="least area fraction a random crop keeps")
    g.add_argument("--flip", type=float, default=0.5, help="horizontal flip probability")
    g.add_argument("--jitter", type=float, default=0.05,
                   help="colour jitter (brightness/contrast/saturation ± this)")
    g = p.add_argument_group("validation and checkpoints")
    g.add_argument("--validation-prompt", dest="validation_prompts", action="append",
                   default=[], help="repeatable; default: held-out captions")
    g.add_argument("--validation-every", type=int, default=0, help="steps; 0 = at the end")
    g.add_argument("--validation-inference-steps", type=int, default=25)
    g.add_argument("--checkpoint-every", type=int, default=0, help="steps; 0 = none")
    g.add_argument("--resume", help="a checkpoint folder, a run folder, or 'latest'")
    g.add_argument("--log-every", type=int, default=1)
    g = p.add_argument_group("a new style's manifest")
    g.add_argument("--template", help="prompt template with {prompt}")
    g.add_argument("--title", help="the style's title (id and en)")
    g.add_argument("--description")
    g.add_argument("--adapter-weight", type=float, default=1.0)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Train a style's LoRA on the base "
                                "model of config.toml and install it in the adapters folder.")
    sub = p.add_subparsers(dest="kind", required=True)
    lo = sub.add_parser("lora", help="a style from captioned images")
    _common(lo)
    lo.add_argument("--l2", type=float, default=0.0, help="weight of Σ‖ΔW‖² (default 0)")
    db = sub.add_parser("dreambooth", help="a subject from 10-50 images and a rare token")
    _common(db)
    db.add_argument("--instance-prompt", required=True,
                    help='e.g. "a photo of sks character"')
    db.add_argument("--class-prompt", help='e.g. "a photo of a character"; turns on prior '
                                           "preservation")
    db.add_argument("--num-class-images", type=int, default=100)
    db.add_argument("--prior-loss-weight", type=float, default=1.0)
    db.add_argument("--class-dir", type=Path, help="default: [engine] cache/class-images/KEY")
    db.add_argument("--class-inference-steps", type=int, default=25)
    db.add_argument("--l2", type=float, default=1e-3,
                    help="weight of the L2 penalty Σ‖ΔW‖² (default 1e-3; 0 = off)")
    return p


def options(args: argparse.Namespace) -> TrainOptions:
    values = {k: v for k, v in vars(args).items() if v is not None}
    if values.get("snr_gamma") == 0:
        values["snr_gamma"] = None
    values.setdefault("test_split", 0.2 if args.kind == "lora" else 0.0)
    values["snr_gamma"] = values.get("snr_gamma")
    return TrainOptions(**values)


def quiet_loading() -> None:
    """No per-file loading bars from diffusers/transformers: ours are the ones that count."""
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_loading()
    try:
        opts = options(args)
        from engine.train.config import load_engine_settings

        settings = load_engine_settings(opts.config, adapters=None)
        from engine.train.loop import Trainer, dump

        result = Trainer(opts, settings).run()
    except InputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    print(f"style {opts.name!r}: {result.lora} and {result.manifest}")
    print(f"run folder: {result.run_dir} (metrics.jsonl, loss.png, validation/)")
    print(dump(result))
    return 0
