"""The tiny world itself: scenes, captions, pixel statistics and the styles' looks (no model).

The statistics are what the model's tests judge pictures by, so they must read every drawn
scene right; the looks are what the style LoRAs learn, so each must move its statistic."""

from __future__ import annotations

import random

import pytest

from engine.world import stats
from engine.world.looks import LOOKS, render_look
from engine.world.scene import (
    BACKGROUNDS,
    COLOURS,
    POSITIONS,
    SHAPES,
    Scene,
    caption,
    held_out,
    held_out_combos,
    render,
    sample_scene,
    valid,
)


def test_statistics_read_every_held_out_scene_right() -> None:
    for scene in held_out():
        reading = stats.read(render(scene))
        assert (reading.colour, reading.background, reading.position) == (
            scene.colour, scene.background, scene.position), scene


def test_statistics_read_random_scenes_of_every_shape_and_size() -> None:
    rng = random.Random(5)
    scenes = [sample_scene(rng, shapes=SHAPES) for _ in range(400)]
    assert {s.shape for s in scenes} == set(SHAPES)
    right = sum(stats.match(render(s), s).all for s in scenes)
    assert right >= 396, right  # jitter can put a big shape's centroid over a third's edge


def test_statistics_see_a_wrong_picture() -> None:
    scene = Scene("circle", "red", "top left", "blue")
    wrong = [Scene("circle", "green", "top left", "blue"), Scene("circle", "red", "bottom right",
             "blue"), Scene("circle", "red", "top left", "yellow")]
    for other in wrong:
        assert not stats.match(render(other), scene).all
    assert stats.read(render(scene)).foreground_share > 0.02


def test_held_out_combinations_are_never_drawn_for_training() -> None:
    combos = held_out_combos()
    assert len(combos) == len(held_out()) >= 50
    assert {s.position for s in held_out()} == set(POSITIONS)
    rng = random.Random(11)
    assert not any(sample_scene(rng, exclude=combos).combo in combos for _ in range(3000))


def test_captions_name_the_scene_in_the_grammar_words() -> None:
    rng = random.Random(2)
    for _ in range(300):
        scene = sample_scene(rng, shapes=SHAPES)
        text = caption(scene, rng)
        assert scene.colour in text
        assert text.startswith(("a ", "an ")) and "  " not in text
        if scene.background in COLOURS:
            assert text.count(scene.background) >= 1
        side = scene.position.split()[-1]
        assert side in text or (scene.position == "centre" and (
            "middle" in text or "cent" in text)), text


def test_every_scene_shows_its_foreground() -> None:
    for colour in COLOURS:
        for background in BACKGROUNDS:
            if valid(colour, background):
                scene = Scene("square", colour, "centre", background)
                assert stats.read(render(scene)).colour == colour, (colour, background)


@pytest.mark.parametrize("look", LOOKS)
def test_each_look_moves_its_statistic(look: str) -> None:
    rng = random.Random(3)
    scenes = [sample_scene(rng) for _ in range(24)]
    base = [render(s) for s in scenes]
    styled = [render_look(s, look) for s in scenes]
    mean = lambda f, imgs: sum(f(i) for i in imgs) / len(imgs)  # noqa: E731
    if look == "retro-anime":  # pastel and grain
        assert mean(stats.saturation, styled) < 0.75 * mean(stats.saturation, base)
        assert mean(stats.grain, styled) > 2 * mean(stats.grain, base)
    elif look == "kancil":  # saturated
        assert mean(stats.saturation, styled) > 1.1 * mean(stats.saturation, base)
    else:  # a gradient sky: darker above, lighter below
        assert mean(stats.vertical_gradient, styled) > mean(stats.vertical_gradient, base) + 0.1
