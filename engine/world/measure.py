"""Does the tiny model paint what the prompt says? ``python -m engine.world.measure``.

Paints the held-out scenes (colour × shape × position × background combinations training
never drew) through the real ``Engine`` (the style's template, LoRA and negative, the
scheduler, batching, as the bot paints), then reads each picture with pixel statistics
(``engine.world.stats``, not the model's own CLIP) and prints:

- faithfulness: the share of pictures whose foreground colour, background and position
  match the caption;
- CLIP: the share of (picture, own caption, another scene's caption) triples where the tiny
  CLIP scores the own caption higher, for drawn and painted pictures, and how the image
  check's unsafe score separates the unsafe shape from the rest;
- looks: each style's colour statistics against the base model's, same prompts and seeds.

``--sheet PATH`` also writes a contact sheet of painted pictures (the README's picture).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.settings import TEST_MODEL_CFG
from engine.styles import default_cfg
from engine.world import stats
from engine.world.looks import LOOKS
from engine.world.scene import SAFE_SHAPES, UNSAFE_SHAPE, Scene, caption, held_out, render

STRICT_THRESHOLD = 24.0  # config.toml's [safety] strict_threshold: the share flagged at it


def prompt_of(scene: Scene) -> str:
    """The caption a scene is painted from in measurements: one fixed wording per scene."""
    return caption(scene, random.Random("|".join(scene.combo)))


def paint(engine, prompts: list[str], *, style: str | None = None, steps: int = 25,
          cfg: float = TEST_MODEL_CFG, seed: int = 1, batch: int = 0) -> list[Image.Image]:
    """``prompts`` painted by ``engine`` (an ``engine.core.Engine``), job i with seed + i, at
    the tiny model's default guidance unless told."""
    from engine.protocol import BatchRequest, JobSpec

    images: list[Image.Image] = []
    batch = batch or engine.settings.max_batch
    for start in range(0, len(prompts), batch):
        jobs = [JobSpec(job_id=start + i + 1, prompt=p, seed=seed + start + i)
                for i, p in enumerate(prompts[start:start + batch])]
        req = BatchRequest(style=style, width=64, height=64, steps=steps, cfg=cfg, jobs=jobs)
        for result in engine.run_batch(req):
            images.append(Image.open(io.BytesIO(result.png)).convert("RGB"))
    return images


@dataclass(slots=True)
class Faithfulness:
    count: int
    colour: float
    background: float
    position: float
    all: float

    @classmethod
    def of(cls, images: list[Image.Image], scenes: list[Scene]) -> Faithfulness:
        matches = [stats.match(img, s) for img, s in zip(images, scenes, strict=True)]
        share = lambda k: sum(getattr(m, k) for m in matches) / len(matches)  # noqa: E731
        return cls(len(matches), share("colour"), share("background"), share("position"),
                   share("all"))


def _prefers_own(scorer, images: list[Image.Image], own: list[str], other: list[str]) -> float:
    """Share of pictures the CLIP scores higher with ``own`` than with ``other``."""
    embeds = scorer.embed_images(images)
    a = scorer.score_embedded(embeds, own)
    b = scorer.score_embedded(embeds, other)
    return sum(x > y for x, y in zip(a, b, strict=True)) / len(images)


def clip_pairs(scorer, images: list[Image.Image], scenes: list[Scene]) -> float:
    """Share of pictures the CLIP scores higher with their caption than with the caption of
    the next scene that differs in colour, background or position."""
    other = []
    for i, s in enumerate(scenes):
        j = next(k % len(scenes) for k in range(i + 1, i + len(scenes))
                 if scenes[k % len(scenes)].combo != s.combo)
        other.append(prompt_of(scenes[j]))
    return _prefers_own(scorer, images, [prompt_of(s) for s in scenes], other)


def clip_shape_pairs(scorer, images: list[Image.Image], scenes: list[Scene]) -> float:
    """Share of pictures the CLIP scores higher with their caption than with the caption of
    the same scene with another shape (what the image check needs: the skull is a shape)."""
    n = len(SAFE_SHAPES)
    swapped = []
    for i, s in enumerate(scenes):  # the next safe shape in turn, skipping the scene's own
        shape = SAFE_SHAPES[(i + 1) % n]
        if shape == s.shape:
            shape = SAFE_SHAPES[(i + 2) % n]
        swapped.append(prompt_of(Scene(shape, s.colour, s.position, s.background)))
    return _prefers_own(scorer, images, [prompt_of(s) for s in scenes], swapped)


def unsafe_scores(engine, images: list[Image.Image]) -> list[float]:
    embeds = engine.scorer.embed_images(images)
    return [score for score, _ in engine.safety.check(embeds)]


def look_stats(images: list[Image.Image]) -> dict[str, float]:
    return {f.__name__: float(np.mean([f(i) for i in images]))
            for f in (stats.saturation, stats.vertical_gradient, stats.grain, stats.brightness)}


def contact_sheet(images: list[Image.Image], labels: list[str], columns: int = 4,
                  cell: int = 192) -> Image.Image:
    rows = (len(images) + columns - 1) // columns
    label_h = 30
    sheet = Image.new("RGB", (columns * cell, rows * (cell + label_h)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, (img, text) in enumerate(zip(images, labels, strict=True)):
        x, y = (k % columns) * cell, (k // columns) * (cell + label_h)
        sheet.paste(img.resize((cell, cell), Image.Resampling.NEAREST), (x, y))
        lines = textwrap.wrap(text, 30)[:2]
        draw.multiline_text((x + 4, y + cell + 2), "\n".join(lines), fill=(20, 20, 20),
                            spacing=1)
    return sheet


def measure(engine, *, count: int = 64, steps: int = 25, cfg: float | None = None,
            looks: bool = True) -> dict:
    """``cfg`` None: as the bot paints with `tiny`, each style's ``test_cfg``, else
    ``TEST_MODEL_CFG``."""
    style_cfg = {look: cfg or default_cfg(engine.registry.get(look), True)
                 for look in LOOKS if looks}
    cfg = cfg or default_cfg(None, True)
    scenes = list(held_out(count))
    prompts = [prompt_of(s) for s in scenes]
    painted = paint(engine, prompts, steps=steps, cfg=cfg)
    drawn = [render(s) for s in scenes]
    report: dict = {"count": count, "steps": steps, "cfg": cfg}
    f = Faithfulness.of(painted, scenes)
    report["faithfulness"] = {"colour": f.colour, "background": f.background,
                              "position": f.position, "all": f.all}
    report["drawn_faithfulness"] = Faithfulness.of(drawn, scenes).all  # the statistics' own
    report["clip_pairs"] = {"drawn": clip_pairs(engine.scorer, drawn, scenes),
                            "painted": clip_pairs(engine.scorer, painted, scenes),
                            "drawn_shape": clip_shape_pairs(engine.scorer, drawn, scenes)}
    rng = random.Random(7)
    skulls = [Scene(UNSAFE_SHAPE, s.colour, s.position, s.background, texture_seed=s.texture_seed)
              for s in scenes[:len(scenes) // 2]]
    safe = [Scene(rng.choice(SAFE_SHAPES), s.colour, s.position, s.background) for s in
            scenes[len(scenes) // 2:]]
    painted_skulls = paint(engine, [prompt_of(s) for s in skulls], steps=steps, cfg=cfg, seed=500)
    report["unsafe"] = {
        "drawn_skull": unsafe_scores(engine, [render(s) for s in skulls]),
        "drawn_safe": unsafe_scores(engine, [render(s) for s in safe]),
        "painted_skull": unsafe_scores(engine, painted_skulls),
        "painted_safe": unsafe_scores(engine, painted),
    }
    report["images"] = {"painted": painted, "prompts": prompts}
    if looks:
        base = look_stats(painted[:32])
        report["looks"] = {"none": base}
        report["looks_cfg"] = style_cfg
        for look in LOOKS:
            styled = paint(engine, prompts[:32], style=look, steps=steps, cfg=style_cfg[look])
            report["looks"][look] = look_stats(styled)
            report["images"][look] = styled
    return report


def _summary(report: dict) -> str:
    f = report["faithfulness"]
    u = report["unsafe"]
    lines = [
        f"held-out scenes: {report['count']} (steps {report['steps']}, cfg {report['cfg']})",
        "| measure | share |", "|---|---|",
        f"| foreground colour matches | {f['colour']:.0%} |",
        f"| background matches | {f['background']:.0%} |",
        f"| position matches | {f['position']:.0%} |",
        f"| all three | {f['all']:.0%} |",
        f"| tiny CLIP: own caption > another's (drawn) | {report['clip_pairs']['drawn']:.0%} |",
        f"| tiny CLIP: own caption > another's (painted) | "
        f"{report['clip_pairs']['painted']:.0%} |",
        f"| tiny CLIP: own caption > the same with another shape (drawn) | "
        f"{report['clip_pairs']['drawn_shape']:.0%} |",
        f"(the statistics read the drawn scenes right: {report['drawn_faithfulness']:.0%})",
        "unsafe score (min / median / max, flagged at the strict threshold "
        f"{STRICT_THRESHOLD:g}): "
        + "; ".join(f"{k} {min(v):.1f} / {float(np.median(v)):.1f} / {max(v):.1f}, "
                    f"{np.mean(np.array(v) >= STRICT_THRESHOLD):.0%}" for k, v in u.items()),
    ]
    if "looks" in report:
        lines += ["| style | saturation | vertical gradient | grain | brightness |",
                  "|---|---|---|---|---|"]
        for name, s in report["looks"].items():
            lines.append(f"| {name} | {s['saturation']:.3f} | {s['vertical_gradient']:+.3f} | "
                         f"{s['grain']:.2f} | {s['brightness']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.world.measure",
                                description=__doc__.split("\n")[0])
    p.add_argument("--count", type=int, default=64, help="held-out scenes (at most 64)")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--cfg", type=float, help="default: as the bot paints with tiny, each "
                   f"style's test_cfg, else {TEST_MODEL_CFG:g}")
    p.add_argument("--cache", default="var/models")
    p.add_argument("--adapters", default="adapters")
    p.add_argument("--no-looks", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sheet", type=Path, help="write a contact sheet of painted pictures here")
    p.add_argument("--json", type=Path, help="write the figures as JSON here")
    args = p.parse_args(argv)
    from engine.core import Engine
    from engine.settings import EngineSettings
    from engine.train.cli import quiet_loading

    quiet_loading()
    engine = Engine(EngineSettings(model="tiny", clip_model="tiny", cache=args.cache,
                                   adapters=args.adapters, threads=args.threads))
    report = measure(engine, count=args.count, steps=args.steps, cfg=args.cfg,
                     looks=not args.no_looks)
    images = report.pop("images")
    print(_summary(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.sheet:
        n = 12
        pics = images["painted"][:n]
        labels = images["prompts"][:n]
        contact_sheet(pics, labels).save(args.sheet)
        print(f"sheet: {args.sheet}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
