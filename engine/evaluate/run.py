"""One evaluation: generate, score, compare, sweep, write the report (see ``cli``)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from engine.evaluate import metrics as m
from engine.evaluate import report
from engine.evaluate.generate import Sample, generate
from engine.evaluate.inputs import CMMD_MODEL, numbers, read_prompts, read_reference
from engine.styles import NAME_RE, NONE, default_cfg
from engine.train.errors import InputError

log = logging.getLogger("pelukis.evaluate")
DEFAULT_STEPS = 25


def _engine(args: argparse.Namespace):
    from engine.core import Engine
    from engine.train.config import load_engine_settings

    settings = load_engine_settings(args.config, adapters=args.adapters)
    try:
        return Engine(settings)
    except Exception as exc:  # a model or LoRA that does not load: one line for the operator
        raise InputError(f"the engine could not start: {str(exc).splitlines()[0]}") from None


def evaluate(args: argparse.Namespace) -> dict:
    # 1. everything that can be wrong, before any model is loaded
    if not NAME_RE.match(args.style) or args.style == NONE:
        raise InputError(f"--style {args.style!r} must be a style name (a-z, 0-9, -), "
                         f"not {NONE!r}")
    prompts = read_prompts(args.prompts)
    reference = read_reference(args.reference) if args.reference else None
    if args.samples < 1:
        raise InputError(f"--samples {args.samples} must be at least 1")
    sweep_steps = numbers(args.sweep_steps, int, "--sweep-steps") if args.sweep else []
    sweep_cfg = numbers(args.sweep_cfg, float, "--sweep-cfg") if args.sweep else []
    if args.inception is not None and not args.inception.is_file():
        raise InputError(f"--inception {args.inception}: file not found")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    # 2. the engine the bot uses, and the style in it
    engine = _engine(args)
    style = engine.registry.get(args.style)
    if style is None:
        known = ", ".join(engine.registry.names()) or "none"
        raise InputError(f"--style {args.style!r}: no such style in {engine.settings.adapters} "
                         f"(known: {known})")
    steps = args.steps or style.steps or DEFAULT_STEPS
    cfg = args.cfg or default_cfg(style, engine.test_model)
    seeds = [args.seed + i for i in range(args.samples)]

    # 3. base and style images for the same prompts and seeds
    base = generate(engine, None, prompts, seeds, steps, cfg, "base images")
    styled = generate(engine, style.name, prompts, seeds, steps, cfg, f"{style.name} images")
    report.save_samples(out, base, "base")
    report.save_samples(out, styled, style.name)

    # 4. CLIP score, CMMD, FID
    base_clip = [s.clip for s in base]
    style_clip = [s.clip for s in styled]
    result: dict = {
        "style": style.name, "base_model": engine.settings.model,
        "lora": style.name in engine.lora_styles,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "prompts": prompts, "seeds": seeds,
        "steps": steps, "cfg": cfg, "images_per_set": len(base),
        "reference_images": len(reference) if reference else 0,
        "clip": {"base": m.summary(base_clip), "style": m.summary(style_clip),
                 "delta_mean": round(float(np.mean(style_clip) - np.mean(base_clip)), 4),
                 "per_prompt": _per_prompt(prompts, base, styled)},
    }
    cmmd_model = args.cmmd_model
    if cmmd_model == "auto":
        cmmd_model = "tiny" if engine.settings.model == "tiny" else CMMD_MODEL
    result["cmmd_model"] = cmmd_model
    result["cmmd"], result["cmmd_reason"] = _cmmd(engine, cmmd_model, base, styled, reference)
    result["inception"] = str(args.inception) if args.inception else None
    result["fid"], result["fid_reason"] = _fid(engine, args.inception, base, styled, reference)

    # 5. the sweep over seeds × steps × cfg, style only
    files = {"clip_plot": str(report.plot_scores(out, base_clip, style_clip, style.name))}
    if args.sweep:
        result["sweep"] = _sweep(engine, style.name, prompts, args.seed, args.sweep_seeds,
                                 sweep_steps, sweep_cfg)
        files["sweep_plot"] = str(report.plot_sweep(out, result["sweep"]["cells"], style.name))
    else:
        result["sweep"] = None
    files["contact_sheets"] = [str(p) for p in report.contact_sheets(out, base, styled,
                                                                     style.name)]
    result["files"] = files
    report.write_metrics(out, result)
    return result


def _per_prompt(prompts: list[str], base: list[Sample], styled: list[Sample]) -> list[dict]:
    rows = []
    for i, prompt in enumerate(prompts):
        b = [s.clip for s in base if s.prompt_index == i]
        s = [s.clip for s in styled if s.prompt_index == i]
        rows.append({"prompt": prompt, "base_mean": round(float(np.mean(b)), 4),
                     "style_mean": round(float(np.mean(s)), 4)})
    return rows


def _pairs(base, styled, reference) -> dict:
    pairs = {"style_vs_base": (styled, base)}
    if reference is not None:
        pairs["style_vs_reference"] = (styled, reference)
        pairs["base_vs_reference"] = (base, reference)
    return pairs


def _cmmd(engine, model: str, base: list[Sample], styled: list[Sample], reference):
    from engine.evaluate.features import ClipEmbedder
    from engine.train.config import clip_source

    try:
        embedder = ClipEmbedder(clip_source(engine.settings, model), engine.device)
    except Exception as exc:  # weights not in the cache and no hub here, or not a CLIP
        reason = f"CMMD model {model!r} could not be loaded: {str(exc).splitlines()[0]}"
        print(f"warning: {reason}", file=sys.stderr)
        return None, reason
    emb = {"base": embedder.embed([s.image for s in base]),
           "style": embedder.embed([s.image for s in styled])}
    if reference is not None:
        emb["reference"] = embedder.embed(reference)
    values = {"style_vs_base": m.cmmd(emb["style"], emb["base"])}
    if reference is not None:
        values["style_vs_reference"] = m.cmmd(emb["style"], emb["reference"])
        values["base_vs_reference"] = m.cmmd(emb["base"], emb["reference"])
    return {k: round(v, 6) for k, v in values.items()}, None


def _fid(engine, inception: Path | None, base, styled, reference):
    if inception is None:
        return None, ("no InceptionV3 weights: pass --inception inception-2015-12-05.pt "
                      "(the TorchScript file of StyleGAN2-ADA / clean-fid)")
    from engine.evaluate.features import InceptionFeatures

    try:
        net = InceptionFeatures(inception, engine.device)
    except Exception as exc:
        raise InputError(f"--inception {inception}: not a TorchScript model "
                         f"({str(exc).splitlines()[0]})") from None
    feats = {"base": net.features([s.image for s in base]),
             "style": net.features([s.image for s in styled])}
    if reference is not None:
        feats["reference"] = net.features(reference)
    if min(len(f) for f in feats.values()) < 2:
        return None, "FID needs at least two images in each set"
    values = {"style_vs_base": m.fid(feats["style"], feats["base"])}
    if reference is not None:
        values["style_vs_reference"] = m.fid(feats["style"], feats["reference"])
        values["base_vs_reference"] = m.fid(feats["base"], feats["reference"])
    return {k: round(v, 6) for k, v in values.items()}, None


def _sweep(engine, style: str, prompts: list[str], first_seed: int, n_seeds: int,
           steps: list[int], cfgs: list[float]) -> dict:
    seeds = [first_seed + i for i in range(max(1, n_seeds))]
    cells = []
    for s in steps:
        for g in cfgs:
            samples = generate(engine, style, prompts, seeds, s, g, f"sweep steps {s} cfg {g:g}")
            for seed in seeds:
                clip = [x.clip for x in samples if x.seed == seed]
                cells.append({"seed": seed, "steps": s, "cfg": g,
                              "clip_mean": round(float(np.mean(clip)), 4)})
    means = {}
    for c in cells:
        means.setdefault((c["steps"], c["cfg"]), []).append(c["clip_mean"])
    (best_steps, best_cfg), best = max(means.items(), key=lambda kv: np.mean(kv[1]))
    return {"seeds": seeds, "steps": steps, "cfg": cfgs, "cells": cells,
            "best": {"steps": best_steps, "cfg": best_cfg,
                     "clip_mean": round(float(np.mean(best)), 4)}}
