"""The one-shot subcommands, no chat: ``python -m bot generate`` (one image through the chat's
request path) and ``python -m bot translate``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import math
import sys
from pathlib import Path

from tqdm import tqdm

from bot.commands.generate import GENERATE
from bot.config import Config
from bot.errors import UserError
from bot.i18n import t
from bot.jobs.scheduler import batch_request, size_jobs
from bot.models import GenerateRequest, Incoming
from bot.pictures import load_picture, read_picture_file
from bot.policy.blocklist import Blocklist
from bot.policy.requests import JobResolver
from bot.policy.settings import Settings
from bot.storage import Store
from bot.translation.chain import Translator
from engine.backend import make_backend
from engine.errors import EngineError
from engine.styles import NONE, StyleRegistry

PLATFORM = "cli"  # its own settings scope; never shown in a chat


async def generate(config: Config, args: argparse.Namespace) -> int:
    """One picture through the same request path as ``/generate`` in a chat: the spec's
    checks, the translation, the prompt blocklist, the always-added safety negative and
    the image check; then straight to a fresh engine, with a progress bar."""
    lang = config.bot.language
    styles = StyleRegistry.load(config.path(config.engine.adapters))
    store = await Store.open(config.path(config.storage.database),
                             config.path(config.storage.images))
    translator = Translator(config.translation, store)
    msg = Incoming(platform=PLATFORM, chat_id=PLATFORM, user_id=getpass.getuser() or "cli",
                   text="", private=True)
    try:
        request = GENERATE.request(
            {"prompt": args.prompt, "style": args.style, "seed": args.seed, "cfg": args.cfg,
             "steps": args.steps, "negative": args.negative, "aspect_ratio": args.ar,
             "raw": args.raw, "strength": getattr(args, "strength", None)}, config.limits)
        ask = GenerateRequest(**request.values)
        picture = None
        if getattr(args, "image", None):
            picture = await load_picture(await read_picture_file(args.image, config.limits),
                                         config.limits)
        elif ask.strength is not None:
            raise UserError("strength_needs_picture")
        resolver = JobResolver(config, styles, translator, Blocklist(config.safety))
        settings = await Settings(config, store, styles).resolve(msg, style=ask.style)
        job = await resolver.resolve(msg, ask, settings)
    except UserError as err:
        print(f"pelukis: {t(lang, err.key, **err.values)}", file=sys.stderr)
        return 2
    finally:
        translator.close()
        await store.close()
    job.id = 1
    if picture is not None:  # as /generate with a picture: img2img
        strength = ask.strength or config.limits.default_strength
        job.kind, job.strength, job.aspect = "img2img", strength, picture.aspect
        job.steps = max(job.steps, math.ceil(1 / strength - 1e-9))
    client = make_backend(config.engine.backend, config.engine_settings(),
                          config.ray_settings())()
    bar = tqdm(total=job.steps, desc="painting", unit="step", file=sys.stderr)
    try:
        info = await client.start()
        size_jobs([job], (info.width, info.height), config.limits.max_side)
        req = batch_request([job])
        if picture is not None:
            req.jobs[0].image = picture.png
        results = await client.run_batch(req, lambda step, total: bar.update(step - bar.n))
    except EngineError as exc:
        print(f"pelukis: engine error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        bar.close()
        await client.close()
    result = results[0]
    if result.flagged and not result.png:
        print(f"pelukis: {t(lang, 'image_withheld', concept=result.unsafe_concept)}",
              file=sys.stderr)
        return 1
    out = Path(args.out or f"pelukis-{job.seed}.png")
    await asyncio.to_thread(_save, out, result.png)
    test = " (test model)" if info.test_model else ""
    print(f"prompt: {job.prompt}")
    print(f"english: {job.prompt_en} [{job.translator}]")
    print(f"style: {job.style or NONE}  seed: {job.seed}  cfg: {job.cfg:g}  "
          f"steps: {job.steps}  size: {job.width}x{job.height}")
    print(f"negative: {job.negative}")
    if result.flagged:
        print(f"image check: {t(lang, 'image_blurred')} ({result.unsafe_concept})")
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
