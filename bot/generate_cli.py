"""``python -m bot generate`` (one image, no chat) and ``python -m bot translate``."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from pathlib import Path

from tqdm import tqdm

from bot.config import Config
from bot.errors import UserError
from bot.i18n import t
from bot.parsing import SEED_MAX, parse_aspect, parse_cfg, parse_seed, parse_steps, size_for
from bot.storage import Store
from bot.translator import Translator
from engine.client import EngineClient, EngineError
from engine.protocol import BatchRequest, JobSpec
from engine.styles import NONE, StyleRegistry


async def generate(config: Config, args: argparse.Namespace) -> int:
    lang, limits = config.bot.language, config.limits
    styles = StyleRegistry.load(config.path(config.engine.adapters))
    try:
        style_name = (args.style or config.bot.default_style).lower()
        if not styles.known(style_name):
            raise UserError("style_unknown", name=style_name, names=", ".join(styles.names()))
        style = styles.get(style_name)
        seed = parse_seed(args.seed) if args.seed is not None else secrets.randbelow(SEED_MAX + 1)
        cfg = parse_cfg(args.cfg, limits) if args.cfg is not None else (
            (style.cfg if style else None) or limits.default_cfg)
        steps = parse_steps(args.steps, limits) if args.steps is not None else (
            (style.steps if style else None) or limits.default_steps)
        aspect = parse_aspect(args.ar, limits) if args.ar else "1:1"
        prompt = " ".join(args.prompt.split())
        if not prompt:
            raise UserError("generate_usage")
        if len(prompt) > limits.prompt_max_chars:
            raise UserError("prompt_too_long", length=len(prompt), limit=limits.prompt_max_chars)
    except UserError as err:
        print(f"pelukis: {t(lang, err.key, **err.values)}", file=sys.stderr)
        return 2
    store = await Store.open(config.path(config.storage.database),
                             config.path(config.storage.images))
    translator = Translator(config.translation, store)
    try:
        translation = await translator.to_english(prompt, raw=args.raw)
    finally:
        translator.close()
        await store.close()
    client = EngineClient(config.engine_settings())
    bar = tqdm(total=steps, desc="painting", unit="step", file=sys.stderr)
    try:
        info = await client.start()
        width, height = size_for(aspect, (info.width, info.height), limits.max_side)
        req = BatchRequest(1, style.name if style and style_name != NONE else None,
                           width, height, steps, cfg,
                           [JobSpec(1, translation.text, args.negative or "", seed)])
        results = await client.run_batch(req, lambda step, total: bar.update(step - bar.n))
    except EngineError as exc:
        print(f"pelukis: engine error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        bar.close()
        await client.close()
    result = results[0]
    out = Path(args.out or f"pelukis-{seed}.png")
    await asyncio.to_thread(_save, out, result.png)
    test = " (test model)" if info.test_model else ""
    print(f"prompt: {prompt}")
    print(f"english: {translation.text} [{translation.provider}]")
    print(f"style: {style.name if style else NONE}  seed: {seed}  cfg: {cfg:g}  steps: {steps}  "
          f"size: {width}x{height}")
    print(f"clip: {result.clip_score:.2f}{test}")
    print(f"saved: {out}")
    return 0


def _save(path: Path, png: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)


async def translate(config: Config, texts: list[str]) -> int:
    """One line per text: detected language, the English the model gets, who made it."""
    store = await Store.open(config.path(config.storage.database),
                             config.path(config.storage.images))
    translator = Translator(config.translation, store)
    try:
        lines = texts or [line.rstrip("\n") for line in sys.stdin]
        for text in lines:
            if not text.strip():
                continue
            tr = await translator.to_english(text)
            print(f"{tr.source_lang}\t{tr.text}\t{tr.provider}", flush=True)
    finally:
        translator.close()
        await store.close()
    return 0
