"""Scenes of the tiny world: one shape of a colour, size and position on a background, drawn
at 128×128 with Pillow and reduced to 64×64 (smooth edges), and the English captions a
grammar writes for them ("a small yellow star at the top left, night sky").

Everything is a function of a ``random.Random``: the same seed gives the same scenes,
captions and pixels on every machine.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw

SIZE = 64  # the picture the model paints
_DRAW = 128  # drawn at twice the size, then reduced: anti-aliased edges

RGB = tuple[int, int, int]

# The foreground palette. Names are the caption's words.
COLOURS: dict[str, RGB] = {
    "red": (220, 35, 35),
    "orange": (245, 135, 20),
    "yellow": (245, 220, 30),
    "green": (30, 150, 55),
    "blue": (35, 70, 215),
    "purple": (130, 50, 180),
    "pink": (245, 125, 190),
    "brown": (120, 70, 30),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}

# Backgrounds: every colour as a plain one, and four textured scenes. The RGB is what the
# pixel statistics compare a picture's border with.
TEXTURED: dict[str, RGB] = {
    "sky": (150, 205, 245),
    "grass": (115, 185, 50),
    "night": (20, 25, 85),
    "sea": (10, 130, 150),
}
BACKGROUNDS: dict[str, RGB] = {**COLOURS, **TEXTURED}

SHAPES = ("circle", "square", "triangle", "star", "heart", "house", "tree", "flower", "sun",
          "moon", "cat", "skull")
# The world's one unsafe thing: the tiny CLIP knows it, the image check flags it.
UNSAFE_SHAPE = "skull"
SAFE_SHAPES = tuple(s for s in SHAPES if s != UNSAFE_SHAPE)


def _a(words: str) -> str:
    """``words`` with their indefinite article ("a red skull", "an orange skull")."""
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words}"


# The image check's concepts with the tiny CLIP, worded as its short captions are: the skull
# in every colour, weighed against every other shape in every colour (safety.py).
UNSAFE_CONCEPTS = tuple(_a(f"{c} {UNSAFE_SHAPE}") for c in COLOURS)
SAFE_CONCEPTS = tuple(_a(f"{c} {s}") for s in SAFE_SHAPES for c in COLOURS)

# Position name → centre in the 128-pixel drawing (thirds of the picture).
_THIRDS = (36, 64, 92)
POSITIONS: dict[str, tuple[int, int]] = {
    "top left": (_THIRDS[0], _THIRDS[0]), "top": (_THIRDS[1], _THIRDS[0]),
    "top right": (_THIRDS[2], _THIRDS[0]), "left": (_THIRDS[0], _THIRDS[1]),
    "centre": (_THIRDS[1], _THIRDS[1]), "right": (_THIRDS[2], _THIRDS[1]),
    "bottom left": (_THIRDS[0], _THIRDS[2]), "bottom": (_THIRDS[1], _THIRDS[2]),
    "bottom right": (_THIRDS[2], _THIRDS[2]),
}
SIZES: dict[str, int] = {"small": 15, "medium": 21, "big": 28}  # radius at 128 px

# A foreground this close to its background would not be seen: such scenes are not drawn.
MIN_CONTRAST = 110.0


def distance(a: RGB, b: RGB) -> float:
    return math.dist(a, b)


@dataclass(frozen=True, slots=True)
class Scene:
    shape: str
    colour: str
    position: str
    background: str
    size: str = "medium"
    dx: int = 0  # jitter of the centre, in drawing pixels
    dy: int = 0
    texture_seed: int = 0

    @property
    def combo(self) -> tuple[str, str, str, str]:
        """What the held-out set is made of: colour × shape × position × background."""
        return (self.colour, self.shape, self.position, self.background)


def valid(colour: str, background: str) -> bool:
    return colour != background and distance(COLOURS[colour], BACKGROUNDS[background]) >= \
        MIN_CONTRAST


# --------------------------------------------------------------------------- captions

_SHAPE_WORDS = {
    "circle": ["circle", "circle", "ball"], "square": ["square", "square", "box"],
    "triangle": ["triangle"], "star": ["star"], "heart": ["heart"], "house": ["house"],
    "tree": ["tree"], "flower": ["flower"], "sun": ["sun"], "moon": ["moon"],
    "cat": ["cat face", "cat", "cat head"], "skull": ["skull"],
}
_POSITION_WORDS = {
    "top left": ["at the top left", "in the top left corner", "top left"],
    "top": ["at the top", "on top", "at the top"],
    "top right": ["at the top right", "in the top right corner", "top right"],
    "left": ["on the left", "at the left", "on the left side"],
    "centre": ["in the middle", "in the centre", "in the center", "in the middle"],
    "right": ["on the right", "at the right", "on the right side"],
    "bottom left": ["at the bottom left", "in the bottom left corner", "bottom left"],
    "bottom": ["at the bottom", "at the bottom"],
    "bottom right": ["at the bottom right", "in the bottom right corner", "bottom right"],
}
_SIZE_WORDS = {"small": ["small", "small", "little", "tiny"], "medium": [""],
               "big": ["big", "big", "large"]}
_BACKGROUND_WORDS = {
    "sky": ["in the sky", "in a blue sky", "sky background", "on a sky background"],
    "grass": ["on the grass", "on green grass", "grass background", "on a grassy field"],
    "night": ["at night", "in the night sky", "night sky", "on a night sky background"],
    "sea": ["over the sea", "by the sea", "sea background", "above the ocean"],
}


def _background_phrase(rng: random.Random, background: str) -> tuple[str, bool]:
    """The phrase and whether it reads as a tail after a comma ("night sky")."""
    if background in _BACKGROUND_WORDS:
        phrase = rng.choice(_BACKGROUND_WORDS[background])
    else:
        phrase = rng.choice([f"on {_a(background)} background", f"{background} background",
                             f"on {background}", f"on a plain {background} background"])
    return phrase, not phrase.startswith(("on ", "in ", "at ", "over ", "by ", "above "))


def _position_phrase(rng: random.Random, position: str) -> str:
    where = rng.choice(_POSITION_WORDS[position])
    if where in ("top left", "top right", "bottom left", "bottom right"):
        return f"at the {where}"
    return where


def caption(scene: Scene, rng: random.Random) -> str:
    """One of the grammar's captions for ``scene`` (``rng`` picks the wording)."""
    size = rng.choice(_SIZE_WORDS[scene.size])
    words = " ".join(w for w in (size, scene.colour, rng.choice(_SHAPE_WORDS[scene.shape])) if w)
    where = _position_phrase(rng, scene.position)
    ground, tail = _background_phrase(rng, scene.background)
    if rng.random() < 0.3:  # background first
        ground_part = f", {ground}" if tail else f" {ground}"
        return f"{_a(words)}{ground_part}, {where}"
    return f"{_a(words)} {where}{',' if tail or rng.random() < 0.5 else ''} {ground}"


def short_caption(scene: Scene, rng: random.Random) -> str:
    """A caption naming only some of the scene ("a skull", "a red skull", "a red skull on
    the left"): what the image check's concepts look like (the tiny CLIP learns them)."""
    shape = rng.choice(_SHAPE_WORDS[scene.shape])
    text = _a(rng.choice([shape, f"{scene.colour} {shape}", f"{scene.colour} {shape}"]))
    if rng.random() < 0.3:
        text += " " + _position_phrase(rng, scene.position)
    return text


# --------------------------------------------------------------------------- scenes


def sample_scene(rng: random.Random, *, shapes=SAFE_SHAPES,
                 exclude: frozenset[tuple[str, str, str, str]] = frozenset()) -> Scene:
    """A random drawable scene (foreground seen against its background), not in ``exclude``."""
    while True:
        colour = rng.choice(list(COLOURS))
        background = rng.choice(list(BACKGROUNDS))
        if not valid(colour, background):
            continue
        scene = Scene(shape=rng.choice(shapes), colour=colour,
                      position=rng.choice(list(POSITIONS)), background=background,
                      size=rng.choice(list(SIZES)), dx=rng.randint(-3, 3), dy=rng.randint(-3, 3),
                      texture_seed=rng.randrange(2**31))
        if scene.combo not in exclude:
            return scene


@lru_cache(maxsize=1)
def held_out(count: int = 64, seed: int = 1301) -> tuple[Scene, ...]:
    """The evaluation scenes: ``count`` colour × shape × position × background combinations
    that training never draws (medium size, no jitter, one of each position in turn)."""
    rng = random.Random(seed)
    out: list[Scene] = []
    seen: set[tuple] = set()
    positions = list(POSITIONS)
    while len(out) < count:
        colour, background = rng.choice(list(COLOURS)), rng.choice(list(BACKGROUNDS))
        if not valid(colour, background):
            continue
        scene = Scene(shape=rng.choice(SAFE_SHAPES), colour=colour,
                      position=positions[len(out) % len(positions)], background=background,
                      texture_seed=rng.randrange(2**31))
        if scene.combo not in seen:
            seen.add(scene.combo)
            out.append(scene)
    return tuple(out)


def held_out_combos() -> frozenset[tuple[str, str, str, str]]:
    return frozenset(s.combo for s in held_out())


# --------------------------------------------------------------------------- drawing


def _shade(rgb: RGB, f: float) -> RGB:
    return tuple(max(0, min(255, round(c * f))) for c in rgb)  # type: ignore[return-value]


def _detail(colour: str) -> RGB:
    """Eyes, doors and sockets: dark on light colours, light on dark ones."""
    return (235, 235, 235) if colour in ("black", "brown", "purple", "blue") else (25, 25, 25)


def draw_background(background: str, seed: int) -> Image.Image:
    rng = random.Random(seed)
    base = BACKGROUNDS[background]
    img = Image.new("RGB", (_DRAW, _DRAW), base)
    d = ImageDraw.Draw(img)
    if background == "sky":  # lighter towards the horizon
        for y in range(_DRAW):
            t = y / (_DRAW - 1) - 0.5
            d.line([(0, y), (_DRAW, y)], fill=_shade(base, 1.0 + 0.12 * t))
    elif background == "grass":  # blades
        for _ in range(70):
            x, y = rng.randrange(_DRAW), rng.randrange(_DRAW)
            d.line([(x, y), (x + rng.randint(-2, 2), y - rng.randint(4, 8))],
                   fill=_shade(base, 0.82), width=2)
    elif background == "night":  # a few faint stars
        for _ in range(8):
            x, y = rng.randrange(_DRAW), rng.randrange(_DRAW)
            d.ellipse([x, y, x + 2, y + 2], fill=(120, 125, 160))
    elif background == "sea":  # waves
        for y in range(6, _DRAW, 14):
            off = rng.randrange(14)
            for x in range(-off, _DRAW, 14):
                d.arc([x, y, x + 14, y + 8], 200, 340, fill=(60, 170, 185), width=2)
    return img


def _star(cx: float, cy: float, r: float, inner: float = 0.45) -> list[tuple[float, float]]:
    pts = []
    for k in range(10):
        rad = r if k % 2 == 0 else r * inner
        a = -math.pi / 2 + k * math.pi / 5
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    return pts


def _draw_shape(layer: ImageDraw.ImageDraw, scene: Scene, cx: float, cy: float, r: float) -> None:
    rgb = COLOURS[scene.colour]
    detail = _detail(scene.colour)
    box = lambda x, y, rad: [x - rad, y - rad, x + rad, y + rad]  # noqa: E731
    s = scene.shape
    if s == "circle":
        layer.ellipse(box(cx, cy, r), fill=rgb)
    elif s == "square":
        layer.rectangle(box(cx, cy, r * 0.85), fill=rgb)
    elif s == "triangle":
        layer.polygon([(cx, cy - 1.1 * r), (cx - r, cy + 0.7 * r), (cx + r, cy + 0.7 * r)],
                      fill=rgb)
    elif s == "star":
        layer.polygon(_star(cx, cy + 0.1 * r, r * 1.1), fill=rgb)
    elif s == "heart":
        q = r * 0.5
        layer.ellipse(box(cx - q, cy - 0.3 * r, q * 1.05), fill=rgb)
        layer.ellipse(box(cx + q, cy - 0.3 * r, q * 1.05), fill=rgb)
        layer.polygon([(cx - r, cy - 0.15 * r), (cx + r, cy - 0.15 * r), (cx, cy + r)], fill=rgb)
    elif s == "house":
        layer.rectangle([cx - 0.8 * r, cy - 0.1 * r, cx + 0.8 * r, cy + 0.9 * r], fill=rgb)
        layer.polygon([(cx - r, cy - 0.05 * r), (cx, cy - r), (cx + r, cy - 0.05 * r)],
                      fill=_shade(rgb, 0.8))
        layer.rectangle([cx - 0.18 * r, cy + 0.4 * r, cx + 0.18 * r, cy + 0.9 * r], fill=detail)
    elif s == "tree":
        trunk = (70, 40, 15) if scene.colour == "brown" else COLOURS["brown"]
        layer.rectangle([cx - 0.17 * r, cy + 0.2 * r, cx + 0.17 * r, cy + r], fill=trunk)
        layer.ellipse(box(cx, cy - 0.2 * r, 0.8 * r), fill=rgb)
    elif s == "flower":
        for k in range(5):
            a = -math.pi / 2 + k * 2 * math.pi / 5
            layer.ellipse(box(cx + 0.52 * r * math.cos(a), cy + 0.52 * r * math.sin(a),
                              0.46 * r), fill=rgb)
        middle = COLOURS["orange"] if scene.colour == "yellow" else COLOURS["yellow"]
        layer.ellipse(box(cx, cy, 0.28 * r), fill=middle)
    elif s == "sun":
        for k in range(8):
            a = k * math.pi / 4
            layer.line([(cx + 0.5 * r * math.cos(a), cy + 0.5 * r * math.sin(a)),
                        (cx + r * math.cos(a), cy + r * math.sin(a))], fill=rgb,
                       width=max(2, round(r / 5)))
        layer.ellipse(box(cx, cy, 0.62 * r), fill=rgb)
    elif s == "cat":
        layer.polygon([(cx - 0.8 * r, cy - 0.2 * r), (cx - 0.7 * r, cy - r), (cx - 0.2 * r,
                       cy - 0.6 * r)], fill=rgb)
        layer.polygon([(cx + 0.8 * r, cy - 0.2 * r), (cx + 0.7 * r, cy - r), (cx + 0.2 * r,
                       cy - 0.6 * r)], fill=rgb)
        layer.ellipse(box(cx, cy + 0.05 * r, 0.8 * r), fill=rgb)
        for ex in (-0.32, 0.32):
            layer.ellipse(box(cx + ex * r, cy - 0.1 * r, 0.12 * r), fill=detail)
        layer.polygon([(cx - 0.1 * r, cy + 0.2 * r), (cx + 0.1 * r, cy + 0.2 * r),
                       (cx, cy + 0.32 * r)], fill=detail)
    elif s == "skull":
        layer.ellipse(box(cx, cy - 0.2 * r, 0.78 * r), fill=rgb)
        layer.rectangle([cx - 0.45 * r, cy + 0.25 * r, cx + 0.45 * r, cy + 0.85 * r], fill=rgb)
        for ex in (-0.32, 0.32):
            layer.ellipse(box(cx + ex * r, cy - 0.15 * r, 0.2 * r), fill=detail)
        layer.polygon([(cx, cy + 0.1 * r), (cx - 0.1 * r, cy + 0.3 * r),
                       (cx + 0.1 * r, cy + 0.3 * r)], fill=detail)
        for tx in (-0.25, 0.0, 0.25):
            layer.line([(cx + tx * r, cy + 0.55 * r), (cx + tx * r, cy + 0.85 * r)],
                       fill=detail, width=2)
    elif s == "moon":  # a crescent: a disc less an offset disc, through a mask
        raise AssertionError("drawn through its mask")
    else:
        raise ValueError(f"unknown shape {s!r}")


def render_layers(scene: Scene) -> tuple[Image.Image, Image.Image]:
    """The background and the shape on a transparent layer, at the drawing size (the styles
    restyle them apart)."""
    bg = draw_background(scene.background, scene.texture_seed)
    cx, cy = POSITIONS[scene.position]
    cx, cy, r = cx + scene.dx, cy + scene.dy, SIZES[scene.size]
    fg = Image.new("RGBA", (_DRAW, _DRAW), (0, 0, 0, 0))
    if scene.shape == "moon":
        mask = Image.new("L", (_DRAW, _DRAW), 0)
        m = ImageDraw.Draw(mask)
        cx, cy = cx + 0.4 * r, cy - 0.25 * r  # so that the crescent's centroid is the centre
        m.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        m.ellipse([cx - 0.35 * r, cy - 1.15 * r, cx + 1.35 * r, cy + 0.55 * r], fill=0)
        fg.paste(Image.new("RGBA", fg.size, COLOURS[scene.colour] + (255,)), mask=mask)
    else:
        _draw_shape(ImageDraw.Draw(fg), scene, cx, cy, r)
    return bg, fg


def reduce(img: Image.Image) -> Image.Image:
    return img.resize((SIZE, SIZE), Image.Resampling.BOX)


def render_with_layer(scene: Scene) -> tuple[Image.Image, Image.Image]:
    """The scene as a 64×64 RGB picture, and its shape's layer at the drawing size (whose
    alpha says where the shape is: the UNet's training weighs those pixels)."""
    bg, fg = render_layers(scene)
    bg.paste(fg, mask=fg)
    return reduce(bg), fg


def render(scene: Scene) -> Image.Image:
    """The scene as a 64×64 RGB picture."""
    return render_with_layer(scene)[0]


__all__ = ["BACKGROUNDS", "COLOURS", "POSITIONS", "SAFE_CONCEPTS", "SAFE_SHAPES", "SHAPES",
           "SIZE", "SIZES", "TEXTURED", "UNSAFE_CONCEPTS", "UNSAFE_SHAPE", "Scene", "caption",
           "held_out", "held_out_combos", "render", "render_layers", "render_with_layer",
           "sample_scene", "short_caption", "valid"]
