"""Offline Indonesian → English translator: test set, grammar, protection, speed."""

import re
import time
from pathlib import Path

import pytest

from bot.translation import OfflineTranslator, lexicon_size

DATA = Path(__file__).parent / "data" / "id_prompts.tsv"


@pytest.fixture(scope="module")
def tr() -> OfflineTranslator:
    return OfflineTranslator()


def missing_words(output: str, expected: str) -> list[str]:
    """Expected words (| separated, / for alternatives) absent from *output*.

    Whole words, case-insensitive; a regular plural (-s, -es, -ies) also matches.
    """
    text = " " + " ".join(re.findall(r"[\w'-]+", output.lower())) + " "
    missing = []
    for group in expected.split("|"):
        found = False
        for alt in group.lower().split("/"):
            forms = {alt, alt + "s", alt + "es"}
            if alt.endswith("y"):
                forms.add(alt[:-1] + "ies")
            if any(f" {form} " in text for form in forms):
                found = True
                break
        if not found:
            missing.append(group)
    return missing


def test_prompt_set(tr: OfflineTranslator) -> None:
    rows = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        prompt, expected = line.split("\t")
        rows.append((prompt, expected))
    assert len(rows) >= 60
    failures = []
    for prompt, expected in rows:
        out = tr.translate(prompt)
        miss = missing_words(out, expected)
        if miss:
            failures.append((prompt, out, miss))
    rate = 1 - len(failures) / len(rows)
    print(f"\noffline translation: {rate:.1%} of {len(rows)} prompts")
    for prompt, out, miss in failures:
        print(f"  {prompt!r} -> {out!r} missing {miss}")
    assert rate >= 0.85


def test_lexicon_size() -> None:
    assert lexicon_size() >= 1500


@pytest.mark.parametrize(
    ("source", "english"),
    [
        ("kucing hitam", "black cat"),
        ("kucing hitam besar", "big black cat"),
        ("kucing yang lucu", "cute cat"),
        ("kucing-kucing", "cats"),
        ("kucing2 lucu", "cute cats"),
        ("kupu-kupu", "butterfly"),
        ("tiga kucing", "three cats"),
        ("tiga ekor kucing", "three cats"),
        ("dua orang anak", "two children"),
        ("rumah nenek", "grandmother's house"),
        ("matahari terbenam", "sunset"),
        ("sedang berlari", "running"),
        ("gadis yang sedang tidur", "sleeping girl"),
        ("kucing besar sekali", "very big cat"),
        ("kucing gede bgt", "very big cat"),
        ("seorang gadis anime dengan rambut pink di bawah pohon sakura",
         "an anime girl with pink hair under the cherry blossom tree"),
        ("kancil cerdik dan buaya di sungai", "clever mouse deer and crocodile in the river"),
        ("kucing lucu di pasar", "cute cat in the market"),
        ("gadis berambut panjang", "girl with long hair"),
        ("dimakan harimau", "eaten by tiger"),
        ("rumahnya", "house"),
        ("tahun 90an", "90s"),
        ("anak-anak bermain di pantai", "children playing on the beach"),
        ("sebuah apel", "an apple"),
    ],
)
def test_grammar(tr: OfflineTranslator, source: str, english: str) -> None:
    assert tr.translate(source) == english


@pytest.mark.parametrize(
    "text",
    [
        "masterpiece, 1girl, best quality, pastel colors",
        "a black cat sleeping on a sofa",
        "portrait of an old wizard, dramatic lighting",
    ],
)
def test_english_passes_through(tr: OfflineTranslator, text: str) -> None:
    assert tr.translate(text) == text


def test_mixed_prompt(tr: OfflineTranslator) -> None:
    assert tr.translate("anime girl dengan rambut pink") == "anime girl with pink hair"
    assert tr.translate("gadis cantik wearing a red dress") == "beautiful girl wearing a red dress"


@pytest.mark.parametrize(
    "kept",
    ["--seed 42", '"Gojo"', "`Gojo`", "(castle:1.3)", "<lora:retro:0.8>", "[kabut]",
     "--style retro-anime", "'Oyen'", "https://x.com/k", "16:9"],
)
def test_protected_segments_survive(tr: OfflineTranslator, kept: str) -> None:
    out = tr.translate(f"kucing hitam {kept} di atas sofa")
    assert kept in out
    assert "black cat" in out and "sofa" in out


def test_protected_keep_their_place(tr: OfflineTranslator) -> None:
    out = tr.translate('gadis "Gojo" dan `Sukuna` di (castle:1.3) --seed 42')
    assert out == 'girl "Gojo" and `Sukuna` in (castle:1.3) --seed 42'


def test_unknown_words_kept_as_written(tr: OfflineTranslator) -> None:
    assert tr.translate("Gojo Satoru di hutan") == "Gojo Satoru in the forest"
    assert tr.translate("xyzzy") == "xyzzy"


def test_commas_and_whitespace(tr: OfflineTranslator) -> None:
    out = tr.translate("  kucing hitam ,  resolusi tinggi,pencahayaan sinematik  ")
    assert out == "black cat, high resolution, cinematic lighting"


@pytest.mark.parametrize(
    "text", ["", "   ", "🐱🐶", "42", "3.14", "!!!", "\n\t", "-", "--", "yang"]
)
def test_degenerate_input_does_not_crash(tr: OfflineTranslator, text: str) -> None:
    out = tr.translate(text)
    assert isinstance(out, str)
    for ch in text:
        if not ch.isspace() and text.strip() not in ("yang",):
            assert ch in out


def test_long_prompt_is_fast(tr: OfflineTranslator) -> None:
    unit = "seorang gadis anime dengan rambut pink di bawah pohon sakura, kucing hitam tidur, "
    text = (unit * (3000 // len(unit) + 1))[:3000]
    tr.translate("pemanasan")
    start = time.perf_counter()
    out = tr.translate(text)
    elapsed = time.perf_counter() - start
    assert "cherry blossom tree" in out
    assert elapsed < 0.2, f"{elapsed * 1000:.1f} ms"


def test_no_heavy_imports() -> None:
    import subprocess
    import sys

    code = (
        "import sys, bot.translation as t; t.OfflineTranslator().translate('kucing'); "
        "t.detect_language('kucing hitam'); "
        "bad = [m for m in ('torch', 'transformers', 'diffusers', 'requests', 'httpx') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).parent.parent)
    assert result.returncode == 0, result.stdout + result.stderr
