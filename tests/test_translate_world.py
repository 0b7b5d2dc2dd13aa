"""The offline translator speaks the tiny world's English (engine/world/scene.py).

The offline default model ``tiny`` only knows the words of the world's caption grammar, so an
Indonesian prompt about a shape of a colour at a position on a background must come out in
those words: "lingkaran merah di atas latar biru" → "a red circle on a blue background"
(with its article: the world's captions all have one, and its model reads it).
"""

from __future__ import annotations

import itertools
import re
import time

import pytest

from bot.translation import OfflineTranslator, detect_language
from bot.translation.lexicon import load_lexicon
from engine.world.scene import (
    _POSITION_WORDS,
    _SHAPE_WORDS,
    COLOURS,
    POSITIONS,
    SHAPES,
    TEXTURED,
)


@pytest.fixture(scope="module")
def tr() -> OfflineTranslator:
    return OfflineTranslator()


def words(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", text.lower())


def has(output: str, phrase: str) -> bool:
    """*phrase* appears in *output* as whole words."""
    return f" {phrase} " in " " + " ".join(words(output)) + " "


def untranslated(prompt: str, output: str) -> list[str]:
    """Words of *prompt* left in *output* that are Indonesian (or unknown, not English)."""
    lex = load_lexicon()
    source = set(words(prompt))
    return [w for w in words(output)
            if w in source and (w in lex.indonesian or w not in lex.english)]


# (prompt, phrases the English must contain); "a/b" = either phrase
TABLE: list[tuple[str, list[str]]] = [
    # the brief's examples
    ("lingkaran merah di atas latar biru", ["red circle", "on a blue background"]),
    ("kotak kuning kecil di kiri atas, langit malam",
     ["small yellow box", "at the top left", "night sky"]),
    ("segitiga hijau besar di kanan, latar putih",
     ["big green triangle", "on the right", "white background"]),
    ("bintang ungu di tengah, di atas rumput", ["purple star", "in the middle", "on the grass"]),
    ("rumah oranye di bawah, di tepi laut", ["orange house", "at the bottom", "by the sea"]),
    ("persegi biru di bagian atas", ["blue square", "at the top"]),
    # shapes
    ("bulatan merah di kiri, latar kuning", ["red circle", "on the left", "yellow background"]),
    ("bola hitam di kanan bawah, latar putih",
     ["black ball", "at the bottom right", "white background"]),
    ("bujur sangkar hijau di tengah, latar belakang merah muda",
     ["green square", "in the middle", "pink background"]),
    ("segi empat biru di kiri bawah, langit", ["blue square", "at the bottom left", "sky"]),
    ("hati merah muda di tengah, latar putih", ["pink heart", "in the middle", "white background"]),
    ("pohon cokelat di kanan, padang rumput", ["brown tree", "on the right", "grass"]),
    ("bunga kuning kecil di bawah, di atas rumput",
     ["small yellow flower", "at the bottom", "on the grass"]),
    ("matahari jingga di kanan atas, langit", ["orange sun", "at the top right", "sky"]),
    ("bulan putih di kiri atas, langit malam", ["white moon", "at the top left", "night sky"]),
    ("wajah kucing hitam di pojok kanan bawah, latar belakang kuning",
     ["black cat face", "at the bottom right", "yellow background"]),
    ("kepala kucing putih di kiri bawah dengan latar merah",
     ["white cat head", "at the bottom left", "on a red background"]),
    ("kucing coklat di tengah, latar biru", ["brown cat", "in the middle", "blue background"]),
    ("tengkorak putih di tengah, latar hitam",
     ["white skull", "in the middle", "black background"]),
    # sizes: size before colour, whatever the Indonesian order
    ("bintang besar kuning di sebelah kiri", ["big yellow star", "on the left"]),
    ("lingkaran kecil ungu di bagian kanan", ["small purple circle", "on the right"]),
    ("hati mungil merah di atas, latar putih",
     ["tiny red heart", "at the top", "white background"]),
    ("segitiga oranye gede di bawah, langit", ["big orange triangle", "at the bottom", "sky"]),
    ("kotak merah sangat besar di tengah", ["very big red box", "in the middle"]),
    ("lingkaran berwarna merah di kanan", ["red circle", "on the right"]),
    ("lingkaran warna biru di kiri, latar warna kuning",
     ["blue circle", "on the left", "yellow background"]),
    ("lingkaran merah ukuran kecil di atas", ["small red circle", "at the top"]),
    ("lingkaran berukuran besar berwarna biru di kiri", ["big blue circle", "on the left"]),
    ("lingkaran merah ukuran sedang di kiri", ["red circle on the left"]),
    ("lingkaran merah sedang di kanan bawah", ["red circle at the bottom right"]),
    ("lingkaran sedang hijau di samping kiri", ["green circle on the left"]),
    # positions
    ("lingkaran biru di sebelah kanan, latar kuning", ["blue circle", "on the right"]),
    ("bintang merah di bagian kiri", ["red star", "on the left"]),
    ("bintang putih di sisi kanan, langit malam", ["white star", "on the right", "night sky"]),
    ("hati ungu di bagian bawah, latar kuning", ["purple heart", "at the bottom"]),
    ("bunga pink di bagian tengah, latar hitam", ["pink flower", "in the middle"]),
    ("rumah merah di tengah-tengah, di atas rumput",
     ["red house", "in the middle", "on the grass"]),
    ("pohon hijau di pojok kiri atas, latar putih", ["green tree", "at the top left"]),
    ("bulan kuning di sudut kanan atas, langit malam",
     ["yellow moon", "at the top right", "night sky"]),
    ("matahari merah di atas kanan, langit", ["red sun", "at the top right"]),
    ("kucing hitam di bawah kiri, latar putih", ["black cat", "at the bottom left"]),
    ("lingkaran merah di tengah gambar, latar biru", ["red circle", "in the middle"]),
    ("lingkaran merah kiri atas, latar biru",
     ["red circle", "at the top left", "blue background"]),
    ("segitiga biru, latar kuning, di kanan",
     ["blue triangle", "yellow background", "on the right"]),
    ("lingkaran merah di sebelah kiri atas", ["red circle", "at the top left"]),
    ("bintang kuning di ujung kiri", ["yellow star", "on the left"]),
    ("matahari merah di pojok kanan, langit", ["red sun", "on the right", "sky"]),
    ("lingkaran merah di kiri dan bintang biru di kanan",
     ["red circle", "on the left", "blue star", "on the right"]),
    ("bintang kuning di kiri di atas rumput", ["yellow star", "on the left", "on the grass"]),
    ("hati merah di kiri atas pada malam hari", ["red heart", "at the top left", "at night"]),
    ("rumah putih di atas laut", ["white house", "over the sea"]),
    ("matahari kuning di atas lautan", ["yellow sun", "over the sea"]),
    # a noun after the position: the position is of that noun
    ("pohon hijau di tengah laut", ["green tree", "in the middle of the sea"]),
    ("lingkaran merah di kiri rumah", ["red circle", "on the left of the house"]),
    ("bintang kuning di bagian atas rumah", ["yellow star", "at the top of the house"]),
    # backgrounds
    ("lingkaran merah dengan latar belakang hijau", ["red circle", "on a green background"]),
    ("lingkaran merah berlatar biru", ["red circle", "on a blue background"]),
    ("kotak putih pada latar hitam", ["white box", "on a black background"]),
    ("bintang kuning dengan latar langit malam", ["yellow star", "on a night sky background"]),
    ("kucing oranye di langit", ["orange cat", "in the sky"]),
    ("bulan putih di langit malam", ["white moon", "in the night sky"]),
    ("bintang putih pada malam hari", ["white star", "at night"]),
    ("bunga merah di padang rumput", ["red flower", "grass field"]),
    ("rumah cokelat, latar oranye", ["brown house", "orange background"]),
    ("bintang berlatar belakang biru", ["star", "on a blue background"]),
    ("bintang putih di kiri, latar belakangnya hitam",
     ["white star", "on the left", "black background"]),
    ("bulan kuning di tengah malam", ["yellow moon", "at midnight"]),
    # "di" written joined, and "ada"/"berada"/"terletak" ("there is", "is located")
    ("lingkaran merah dikiri atas, latar biru",
     ["red circle", "at the top left", "blue background"]),
    ("bintang kuning ditengah, langit malam", ["yellow star", "in the middle", "night sky"]),
    ("hati merah dibagian bawah diatas latar putih",
     ["red heart", "at the bottom", "on a white background"]),
    ("ada lingkaran merah di kiri", ["red circle", "on the left"]),
    ("segitiga biru berada di kanan atas", ["blue triangle", "at the top right"]),
    ("bulan terletak di pojok kiri atas, langit malam",
     ["moon", "at the top left", "night sky"]),
]


@pytest.mark.parametrize(("prompt", "phrases"), TABLE, ids=[p for p, _ in TABLE])
def test_world_prompts(tr: OfflineTranslator, prompt: str, phrases: list[str]) -> None:
    out = tr.translate(prompt)
    missing = [p for p in phrases if not any(has(out, alt) for alt in p.split("/"))]
    assert not missing, f"{prompt!r} -> {out!r} misses {missing}"
    assert not untranslated(prompt, out), f"{prompt!r} -> {out!r}"
    assert detect_language(prompt).lang == "id"  # or the chain would not translate it


def test_table_is_big_enough() -> None:
    assert len(TABLE) >= 40


@pytest.mark.parametrize(("prompt", "english"), [
    ("lingkaran merah di atas latar biru", "a red circle on a blue background"),
    ("kotak kuning kecil di kiri atas, langit malam",
     "a small yellow box at the top left, night sky"),
    ("segitiga hijau besar di kanan, latar putih",
     "a big green triangle on the right, white background"),
    ("bintang ungu di tengah, di atas rumput", "a purple star in the middle, on the grass"),
    ("rumah oranye di bawah, di tepi laut", "an orange house at the bottom, by the sea"),
    ("persegi biru di bagian atas", "a blue square at the top"),
])
def test_brief_examples_exactly(tr: OfflineTranslator, prompt: str, english: str) -> None:
    assert tr.translate(prompt) == english


@pytest.mark.parametrize(("prompt", "english"), [
    # what "di atas" / "di bawah" / "di tengah" meant before still holds with a noun after them
    ("kucing hitam tidur di atas sofa", "black cat sleeping on top of the sofa"),
    ("naga merah terbang di atas gunung berapi", "red dragon flying above the volcano"),
    ("seorang gadis anime dengan rambut pink di bawah pohon sakura",
     "an anime girl with pink hair under the cherry blossom tree"),
    ("rumah kayu tua di tengah hutan", "old wooden house in the middle of the forest"),
    ("tangan kiri", "left hand"),
    ("meja persegi", "square table"),
    ("burung terbang ke atas", "bird flying up"),
])
def test_other_prompts_keep_their_meaning(tr: OfflineTranslator, prompt: str,
                                          english: str) -> None:
    assert tr.translate(prompt) == english


# The Indonesian words for the world's colours, shapes, positions and backgrounds (variants
# are used in turn across the grid).
COLOURS_ID = {
    "red": ["merah"], "orange": ["oranye", "jingga"], "yellow": ["kuning"], "green": ["hijau"],
    "blue": ["biru"], "purple": ["ungu"], "pink": ["merah muda", "pink", "merah jambu"],
    "brown": ["cokelat", "coklat"], "white": ["putih"], "black": ["hitam"],
}
SHAPES_ID = {
    "circle": ["lingkaran", "bulatan", "bola"],
    "square": ["persegi", "kotak", "bujur sangkar", "segi empat"],
    "triangle": ["segitiga"], "star": ["bintang"], "heart": ["hati"], "house": ["rumah"],
    "tree": ["pohon"], "flower": ["bunga"], "sun": ["matahari"], "moon": ["bulan"],
    "cat": ["kucing", "wajah kucing", "kepala kucing"], "skull": ["tengkorak"],
}
POSITIONS_ID = {
    "top left": ["di kiri atas", "di pojok kiri atas", "di sudut kiri atas", "di atas kiri",
                 "dikiri atas"],
    "top": ["di atas", "di bagian atas"],
    "top right": ["di kanan atas", "di pojok kanan atas", "di bagian kanan atas"],
    "left": ["di kiri", "di sebelah kiri", "di bagian kiri", "di sisi kiri"],
    "centre": ["di tengah", "di bagian tengah", "di tengah-tengah", "di tengah gambar",
               "ditengah"],
    "right": ["di kanan", "di sebelah kanan", "di bagian kanan", "di sisi kanan"],
    "bottom left": ["di kiri bawah", "di pojok kiri bawah", "di bawah kiri"],
    "bottom": ["di bawah", "di bagian bawah", "dibawah"],
    "bottom right": ["di kanan bawah", "di sudut kanan bawah", "di bagian kanan bawah"],
}
TEXTURED_ID = {
    "sky": (["langit", "di langit", "latar langit"], "sky"),
    "night": (["langit malam", "pada malam hari", "di langit malam", "malam hari"], "night"),
    "grass": (["rumput", "di atas rumput", "padang rumput", "latar rumput"], "grass"),
    "sea": (["laut", "di atas laut", "lautan", "di tepi laut"], "sea"),
}
SIZES_ID = {"": "", "kecil": "small", "besar": "big", "mungil": "tiny", "gede": "big"}


def _backgrounds() -> list[tuple[str, list[str], str]]:
    """(world background, Indonesian phrases, English word the translation must contain)."""
    out = [(c, [f"latar {w}", f"latar belakang {w}", f"dengan latar {w}", f"berlatar {w}",
                f"di atas latar {w}"], f"{c} background") for c, ws in COLOURS_ID.items()
           for w in ws[:1]]
    out += [(name, phrases, word) for name, (phrases, word) in TEXTURED_ID.items()]
    return out


def test_vocabulary_covers_the_world() -> None:
    assert set(COLOURS_ID) == set(COLOURS) and set(SHAPES_ID) == set(SHAPES)
    assert set(POSITIONS_ID) == set(POSITIONS) and set(TEXTURED_ID) == set(TEXTURED)


def test_grid_translates_to_world_words(tr: OfflineTranslator) -> None:
    """Every colour × shape × position × background, built from Indonesian words, keeps the
    grammar's colour, shape and position words (and the background word)."""
    failures = []
    count = 0
    start = time.perf_counter()
    sizes = list(SIZES_ID.items())
    for k, (colour, shape, position, (_, grounds, ground_en)) in enumerate(
            itertools.product(COLOURS, SHAPES, POSITIONS, _backgrounds())):
        colour_id = COLOURS_ID[colour][k % len(COLOURS_ID[colour])]
        shape_id = SHAPES_ID[shape][k % len(SHAPES_ID[shape])]
        where_id = POSITIONS_ID[position][k % len(POSITIONS_ID[position])]
        ground_id = grounds[k % len(grounds)]
        size_id, size_en = sizes[k % len(sizes)]
        prompt = " ".join(w for w in (shape_id, colour_id, size_id) if w)
        prompt = f"{prompt} {where_id}, {ground_id}" if k % 2 else \
            f"{prompt}, {ground_id}, {where_id}"
        out = tr.translate(prompt)
        count += 1
        # size before colour, colour before the shape word ("big yellow star")
        thing = [" ".join(w for w in (size_en, colour, s) if w) for s in _SHAPE_WORDS[shape]]
        wheres = [f"at the {w}" if w in ("top left", "top right", "bottom left", "bottom right")
                  else w for w in _POSITION_WORDS[position]]
        ok = (any(has(out, t) for t in thing) and any(has(out, w) for w in wheres)
              and has(out, ground_en) and not untranslated(prompt, out))
        if not ok:
            failures.append(f"{prompt!r} -> {out!r}")
    elapsed = time.perf_counter() - start
    assert count == len(COLOURS) * len(SHAPES) * len(POSITIONS) * len(_backgrounds())
    assert not failures, f"{len(failures)} of {count}:\n" + "\n".join(failures[:30])
    assert elapsed < 30, f"{elapsed:.1f} s"
