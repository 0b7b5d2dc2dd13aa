"""Language identification: labelled prompts and edge cases."""

from pathlib import Path

import pytest

from bot.translation import Detection, detect_language

DATA = Path(__file__).parent / "data" / "lang_labelled.tsv"


def labelled() -> list[tuple[str, str]]:
    rows = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or "\t" not in line:
            continue
        label, prompt = line.split("\t", 1)
        rows.append((label, prompt))
    return rows


def test_labelled_accuracy() -> None:
    rows = labelled()
    assert len(rows) >= 40
    kinds = {label for label, _ in rows}
    assert {"id", "en", "mixed", "tags"} <= kinds
    wrong = []
    for label, prompt in rows:
        want = "en" if label == "tags" else label
        got = detect_language(prompt)
        if got.lang != want:
            wrong.append((prompt, want, got))
    accuracy = 1 - len(wrong) / len(rows)
    print(f"\ndetection accuracy: {accuracy:.1%} ({len(rows) - len(wrong)}/{len(rows)})")
    for prompt, want, got in wrong:
        print(f"  {prompt!r}: want {want}, got {got}")
    assert accuracy >= 0.95


@pytest.mark.parametrize("text", ["", "   ", "42", "3.14 16:9", "🐱🐶", "12345 😀", "!!! ...",
                                  '"Gojo Satoru"', "--seed 123 --cfg 7", "`x` (castle:1.3)"])
def test_nothing_to_identify(text: str) -> None:
    assert detect_language(text) == Detection("none", 1.0)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("kucing", "id"),
        ("harimau", "id"),
        ("kupu-kupu", "id"),
        ("bermain", "id"),
        ("castle", "en"),
        ("astronaut", "en"),
        ("anime girl dengan rambut pink", "mixed"),
        ("masterpiece, 1girl, best quality, pastel colors", "en"),
        ("lukisan cat air bunga mawar", "id"),
        ("main character, fantasy", "en"),
        ("kucing gendut bgt lagi tidur", "id"),
        ("kucing hitam --seed 42 (castle:1.3)", "id"),
    ],
)
def test_short_and_tricky(text: str, lang: str) -> None:
    assert detect_language(text).lang == lang


def test_confidence_is_a_probability() -> None:
    for _, prompt in labelled():
        c = detect_language(prompt).confidence
        assert 0.0 <= c <= 1.0
