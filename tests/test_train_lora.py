"""LoRA training on the tiny model: the loss goes down, the run folder and the style are
written, an Engine loads the style and it changes the image, and --resume continues the
same curve. CPU, one thread (the thread count changes the numbers)."""

from __future__ import annotations

import io
import json
import tomllib
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from engine.core import Engine  # noqa: E402
from engine.protocol import BatchRequest, JobSpec  # noqa: E402
from engine.styles import StyleRegistry, load_style  # noqa: E402
from engine.train.cli import main  # noqa: E402
from engine.train.config import load_engine_settings  # noqa: E402
from engine.train.loop import Trainer  # noqa: E402
from engine.train.options import TrainOptions  # noqa: E402
from tests.train_fixtures import make_images, write_train_config  # noqa: E402

STEPS = 6
ARGS = ["--rank", "4", "--lr", "3e-3", "--batch-size", "2", "--seed", "7",
        "--validation-inference-steps", "2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One CLI run of STEPS steps with checkpoints every 3, into a fresh adapters folder
    that already holds a manifest for the style (a retrain keeps its texts)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("lora")
    data = root / "data"
    make_images(data, 5)
    adapters = root / "adapters"
    (adapters / "pixel").mkdir(parents=True)
    (adapters / "pixel" / "style.toml").write_text(
        '# my comment\nname = "pixel"\nprompt = "pixel art of {prompt}"\nadapter_weight = 1.0\n'
        'weights = "lora.safetensors"\n\n[id]\ntitle = "Piksel"\ndescription = "Seni piksel"\n'
        '\n[en]\ntitle = "Pixel"\ndescription = "Pixel art"\n')
    config = write_train_config(root, adapters)
    run = root / "run"
    code = main(["lora", "--data", str(data), "--name", "pixel", "--config", str(config),
                 "--steps", str(STEPS), "--checkpoint-every", "3", "--validation-every", "3",
                 "--run-dir", str(run), *ARGS])
    assert code == 0
    return {"root": root, "data": data, "adapters": adapters, "config": config, "run": run}


def _losses(run: Path) -> list[tuple[int, float]]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in records]


def test_a_short_run_lowers_the_loss_on_a_fixed_batch(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    make_images(tmp_path / "d", 4)
    settings = load_engine_settings(write_train_config(tmp_path, tmp_path / "a"))
    opts = TrainOptions(kind="lora", name="fixed", data=tmp_path / "d", rank=4,
                        learning_rate=5e-3, steps=12, batch_size=2, test_split=0,
                        lr_scheduler="constant", random_crop=False, flip=0, jitter=0)
    trainer = Trainer(opts, settings)
    batch = trainer.split.train[:2]
    before = trainer.fixed_loss(batch)
    assert trainer.fixed_loss(batch) == before  # fixed noise and timesteps: a fixed number
    for _ in range(12):
        trainer.train_step()
    after = trainer.fixed_loss(batch)
    assert after < 0.98 * before, (before, after)


def test_the_run_folder(trained: dict) -> None:
    run: Path = trained["run"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, STEPS + 1))
    assert all(r["loss"] > 0 and r["lr"] > 0 for r in records)
    assert "test_loss" in records[2] and "test_loss" in records[-1]  # 5 images: 4 + 1 held out
    for step in (3, 6):
        assert (run / "checkpoints" / f"step-{step}" / "state.pt").is_file()
        assert len(list((run / "validation" / f"step-{step}").glob("*.png"))) == 1
    with Image.open(run / "loss.png") as plot:
        assert plot.format == "PNG" and plot.width > 300
    info = json.loads((run / "run.json").read_text())
    assert info["base_model"] == "tiny" and len(info["train"]) == 4 and len(info["test"]) == 1


def test_the_style_is_installed_and_keeps_its_texts(trained: dict) -> None:
    folder = trained["adapters"] / "pixel"
    text = (folder / "style.toml").read_text()
    data = tomllib.loads(text)
    assert text.startswith("# my comment")
    assert data["prompt"] == "pixel art of {prompt}" and data["en"]["title"] == "Pixel"
    assert data["weights"] == "lora.safetensors"  # the real model's file is left alone
    assert data["test_weights"] == "tiny-lora.safetensors"  # tiny's own file
    assert data["training"]["base_model"] == "tiny" and data["training"]["steps"] == STEPS
    assert data["training"]["run"] == str(trained["run"].resolve())
    style = load_style(folder)
    assert style.weights_for(True) == folder / "tiny-lora.safetensors"
    assert not list(folder.glob(".*"))  # no temp files left behind
    from safetensors.torch import load_file

    keys = load_file(str(folder / "tiny-lora.safetensors"))
    assert keys and all(k.startswith("unet.") for k in keys)  # diffusers format


def test_an_engine_loads_the_style_and_it_changes_the_image(trained: dict) -> None:
    torch.set_num_threads(1)
    settings = load_engine_settings(trained["config"])
    engine = Engine(settings)
    assert StyleRegistry.load(trained["adapters"]).names() == ["pixel"]
    assert engine.lora_styles == ["pixel"]

    def image(style: str | None) -> bytes:
        req = BatchRequest(style=style, width=64, height=64, steps=3, cfg=7.5,
                           jobs=[JobSpec(job_id=1, prompt="a lighthouse", seed=3)])
        return engine.run_batch(req)[0].png

    base, styled = image(None), image("pixel")
    assert base != styled
    # the template alone does not explain it: the same rendered prompt on the base differs
    req = BatchRequest(style=None, width=64, height=64, steps=3, cfg=7.5,
                       jobs=[JobSpec(job_id=1, prompt="pixel art of a lighthouse", seed=3)])
    assert engine.run_batch(req)[0].png != styled
    assert Image.open(io.BytesIO(styled)).size == (64, 64)


def test_resume_continues_the_same_curve(trained: dict, capsys) -> None:
    torch.set_num_threads(1)
    full = _losses(trained["run"])
    resumed = trained["root"] / "resumed"
    code = main(["lora", "--data", str(trained["data"]), "--name", "pixel", "--config",
                 str(trained["config"]), "--steps", str(STEPS), "--run-dir", str(resumed),
                 "--resume", str(trained["run"] / "checkpoints" / "step-3"), *ARGS])
    assert code == 0
    again = _losses(resumed)
    assert [s for s, _ in again] == [4, 5, 6]
    for (step, a), (_, b) in zip(full[3:], again, strict=True):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-7), step
    # and a checkpoint with another LoRA shape is refused in one line
    capsys.readouterr()
    code = main(["lora", "--data", str(trained["data"]), "--name", "pixel", "--config",
                 str(trained["config"]), "--steps", str(STEPS), "--run-dir",
                 str(trained["root"] / "other"), "--resume", str(trained["run"]), *ARGS,
                 "--rank", "8"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "does not fit this base model" in err.strip().splitlines()[-1]


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction"])
def test_min_snr_weights_stay_finite_on_a_zero_terminal_snr_schedule(kind: str) -> None:
    import torch
    from diffusers import DDPMScheduler

    from engine.train.loss import snr_weights

    sched = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                          rescale_betas_zero_snr=True, prediction_type=kind)
    w = snr_weights(sched, torch.tensor([0, 500, 999]), 5.0)
    assert torch.isfinite(w).all()
    # SNR 0 at the last step: min(SNR, γ)/SNR → 1 for ε, min(SNR, γ)/(SNR + 1) = 0 for v
    assert float(w[2]) == (1.0 if kind == "epsilon" else 0.0)
