"""The tiny model paints what the prompt says, in the style asked (the real Engine, judged by
pixel statistics, not by the model's own CLIP).

These are the tests that fail when the prompt is dropped, the images of a batch are swapped,
the style is ignored, or the CLIP score stops meaning anything. Held-out scenes are
colour × shape × position × background combinations the model never saw in training.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from engine.core import Engine  # noqa: E402
from engine.settings import EngineSettings  # noqa: E402
from engine.world import stats  # noqa: E402
from engine.world.measure import (  # noqa: E402
    STRICT_THRESHOLD,
    Faithfulness,
    clip_pairs,
    clip_shape_pairs,
    look_stats,
    paint,
    prompt_of,
    unsafe_scores,
)
from engine.world.scene import UNSAFE_SHAPE, Scene, held_out, render  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STEPS = 12


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "pelukis-models"


@pytest.fixture(scope="module")
def engine(model_cache: Path) -> Engine:
    torch.set_num_threads(1)
    return Engine(EngineSettings(model="tiny", clip_model="tiny", adapters=str(ROOT / "adapters"),
                                 cache=str(model_cache), threads=1))


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    return list(held_out())[:16]


@pytest.fixture(scope="module")
def painted(engine: Engine, scenes: list[Scene]):
    return paint(engine, [prompt_of(s) for s in scenes], steps=STEPS)


def test_held_out_prompts_are_painted_as_written(painted, scenes) -> None:
    f = Faithfulness.of(painted, scenes)
    # chance is 1 in 10 for colour, 1 in 14 for background, 1 in 9 for position; these 16
    # reach 100 %, 100 % and 100 % at 12 steps and guidance 2 (docs/tiny-world.md has all 64:
    # 95 % colour at 25 steps)
    assert f.colour >= 0.8 and f.background >= 0.9 and f.position >= 0.8, f


def test_without_the_prompt_the_picture_is_not_the_scene(engine, painted, scenes) -> None:
    blank = paint(engine, ["a picture"] * len(scenes), steps=STEPS)  # no world words
    with_prompt = sum(stats.match(i, s).colour and stats.match(i, s).background
                      for i, s in zip(painted, scenes, strict=True))
    without = sum(stats.match(i, s).colour and stats.match(i, s).background
                  for i, s in zip(blank, scenes, strict=True))
    assert without <= 3 < with_prompt - 4, (without, with_prompt)


def test_each_picture_of_a_batch_is_its_own_prompt(engine) -> None:
    """Four prompts that differ in every colour, in one batch and in the reverse order: each
    picture shows its own prompt's colours, wherever it sits in the batch."""
    scenes = [Scene("circle", "red", "centre", "blue"), Scene("square", "yellow", "left", "black"),
              Scene("star", "white", "top", "green"), Scene("heart", "blue", "right", "yellow")]
    prompts = [prompt_of(s) for s in scenes]
    forward = paint(engine, prompts, steps=STEPS, seed=40, batch=4)
    backward = paint(engine, prompts[::-1], steps=STEPS, seed=40, batch=4)
    for pictures, order in ((forward, scenes), (backward, scenes[::-1])):
        readings = [stats.read(p) for p in pictures]
        assert [r.background for r in readings] == [s.background for s in order], readings
        assert sum(r.colour == s.colour for r, s in zip(readings, order, strict=True)) >= 3


@pytest.fixture(scope="module")
def looks(engine, scenes) -> dict[str, dict[str, float]]:
    prompts = [prompt_of(s) for s in scenes[:8]]
    out = {"none": look_stats(paint(engine, prompts, steps=25))}
    for style in ("retro-anime", "kancil", "fantasy-landscape"):
        out[style] = look_stats(paint(engine, prompts, style=style, steps=25))
    return out


def test_retro_is_paler_and_brighter(looks) -> None:
    assert looks["retro-anime"]["saturation"] < 0.95 * looks["none"]["saturation"], looks
    assert looks["retro-anime"]["brightness"] > looks["none"]["brightness"] + 0.02, looks


def test_kancil_draws_outlines(looks) -> None:
    # edge energy; shipped: 3.17 against 2.64 on these 8 (+20 %; 32 prompts: +20 %), and
    # the same prompts without the style read 1.0
    assert looks["kancil"]["grain"] > 1.12 * looks["none"]["grain"], looks


def test_fantasy_paints_a_gradient_sky(looks) -> None:
    assert looks["fantasy-landscape"]["vertical_gradient"] > \
        looks["none"]["vertical_gradient"] + 0.02, looks


def test_the_tiny_clip_prefers_a_picture_s_own_caption(engine, painted, scenes) -> None:
    drawn = [render(s) for s in held_out()]
    assert clip_pairs(engine.scorer, drawn, list(held_out())) >= 0.9
    assert clip_pairs(engine.scorer, painted, scenes) >= 0.6


def test_the_tiny_clip_knows_the_shape(engine) -> None:
    """Own caption against the same caption with another shape (the skull is a shape)."""
    drawn = [render(s) for s in held_out()]
    assert clip_shape_pairs(engine.scorer, drawn, list(held_out())) >= 0.9  # 100 % shipped


def test_the_image_check_tells_the_skull_from_the_other_shapes(engine) -> None:
    """At the shipped strict threshold (config.toml), drawn skulls are flagged and the same
    scenes with their own shapes are not: the check judges the picture, not its colours."""
    scenes = list(held_out())
    skulls = [Scene(UNSAFE_SHAPE, s.colour, s.position, s.background, size=s.size)
              for s in scenes]
    unsafe = unsafe_scores(engine, [render(s) for s in skulls])
    safe = unsafe_scores(engine, [render(s) for s in scenes])
    flagged = sum(x >= STRICT_THRESHOLD for x in unsafe) / len(unsafe)
    false = sum(x >= STRICT_THRESHOLD for x in safe) / len(safe)
    # shipped: 89 % of the skulls, 19 % of the others (7 of 11 houses, 4 of 12 flowers, a
    # moon); a CLIP blind to the shape flags all or none of both
    assert flagged >= 0.75 and false <= 0.3, (flagged, false)


def test_the_clip_score_is_higher_for_the_right_prompt(engine, painted, scenes) -> None:
    """What the caption shows: the score of a picture with its prompt beats a wrong one."""
    right = engine.scorer.score(painted, [prompt_of(s) for s in scenes])
    wrong = engine.scorer.score(painted, [prompt_of(s) for s in scenes[1:] + scenes[:1]])
    assert sum(r > w for r, w in zip(right, wrong, strict=True)) >= 0.6 * len(scenes)
    assert max(right) > 10.0  # not the random model's zeros
