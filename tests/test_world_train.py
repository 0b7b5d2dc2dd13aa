"""`python -m engine.world.train --quick`: every stage of the tiny model's recipe runs and
writes what the engine loads (a smoke test; the real run takes about an hour)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_recipe_runs_every_stage_and_installs_the_style_loras(tmp_path: Path) -> None:
    weights, adapters = tmp_path / "weights", tmp_path / "adapters"
    shutil.copytree(ROOT / "adapters", adapters)
    env = {**os.environ, "PELUKIS_TINY_WEIGHTS": str(weights)}
    run = subprocess.run(
        [sys.executable, "-m", "engine.world.train", "--quick", "--out", str(weights / "tiny"),
         "--adapters", str(adapters), "--runs", str(tmp_path / "runs")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(summary["final_loss"]) == {"vae", "decoder", "unet", "clip"}
    card = json.loads((weights / "tiny" / "recipe.json").read_text())
    assert card["recipe"]["unet_steps"] == 3 and set(card["looks"]) == {
        "retro-anime", "kancil", "fantasy-landscape"}
    assert (weights / "tiny-clip" / "model.safetensors").is_file()
    for name in card["looks"]:
        manifest = tomllib.loads((adapters / name / "style.toml").read_text(encoding="utf-8"))
        assert manifest["training"]["steps"] == 2
        assert (adapters / name / manifest["test_weights"]).is_file()
    # the shipped weights were not touched
    assert "PELUKIS_TINY_WEIGHTS" not in os.environ
    load = subprocess.run(
        [sys.executable, "-c", "from engine.tiny import tiny_model_dir; from diffusers import "
         "StableDiffusionPipeline as P; import sys; "
         "p = P.from_pretrained(str(tiny_model_dir(sys.argv[1]))); "
         "print(p.unet.config.sample_size * p.vae_scale_factor, p.unet.config.addition_embed_type,"
         " p.scheduler.config.rescale_betas_zero_snr)", str(tmp_path / "cache")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert load.returncode == 0 and load.stdout.strip() == "64 None True", load.stderr[-2000:]
