"""The tiny world: 64×64 scenes of one shape drawn with Pillow, their English captions, the
pixel statistics that check a picture against its caption, and the three styles' restylings.

The `tiny` model (engine/tiny.py) is trained on this world (``python -m engine.world.train``),
so the offline default really paints what the prompt says and the tests can tell. Pillow and
numpy only: no torch here (the bot's tests import it).
"""

from engine.world.scene import (
    BACKGROUNDS,
    COLOURS,
    POSITIONS,
    SHAPES,
    SIZES,
    UNSAFE_SHAPE,
    Scene,
    caption,
    held_out,
    render,
    sample_scene,
)

__all__ = ["BACKGROUNDS", "COLOURS", "POSITIONS", "SHAPES", "SIZES", "UNSAFE_SHAPE", "Scene",
           "caption", "held_out", "render", "sample_scene"]
