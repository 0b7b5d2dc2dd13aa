"""DreamBooth: the prior-preservation term and the L2 penalty on the LoRA update are in the
loss, logged apart, and each moves the weights; class images are made once and cached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from engine.train import lora  # noqa: E402
from engine.train.cli import main  # noqa: E402
from engine.train.config import load_engine_settings  # noqa: E402
from engine.train.loop import Trainer  # noqa: E402
from engine.train.options import TrainOptions  # noqa: E402
from tests.train_fixtures import make_images, write_train_config  # noqa: E402

PRIOR_W, L2_W = 0.7, 0.05


@pytest.fixture(scope="module")
def trainer(tmp_path_factory: pytest.TempPathFactory) -> Trainer:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("db")
    make_images(root / "inst", 3, captions=False)
    settings = load_engine_settings(write_train_config(root, root / "adapters"))
    opts = TrainOptions(kind="dreambooth", name="sks", data=root / "inst", rank=4,
                        learning_rate=1e-2, steps=10, test_split=0,
                        instance_prompt="a photo of sks character",
                        class_prompt="a photo of a character", num_class_images=2,
                        class_inference_steps=2, prior_loss_weight=PRIOR_W, l2=L2_W,
                        class_dir=root / "class")
    t = Trainer(opts, settings)
    for _ in range(2):  # B starts at zero: after two steps ΔW ≠ 0
        t.train_step()
    return t


def test_the_l2_penalty_is_the_squared_norm_of_the_update(trainer: Trainer) -> None:
    by_hand = 0.0
    for layer in lora.lora_layers(trainer.unet):
        a = layer.lora_A["default"].weight.detach().double()
        b = layer.lora_B["default"].weight.detach().double()
        delta = layer.scaling["default"] * (b @ a)  # ΔW, formed explicitly
        by_hand += float((delta**2).sum())
    assert by_hand > 0
    assert float(lora.l2_penalty(trainer.unet).detach()) == pytest.approx(by_hand, rel=1e-5)


def test_the_loss_is_the_sum_of_its_terms_and_each_moves_the_weights(trainer: Trainer) -> None:
    terms = trainer.loss_terms()
    inst, prior, l2 = terms["instance_loss"], terms["prior_loss"], terms["l2"]
    v = {k: float(t.detach()) for k, t in terms.items()}
    assert v["instance_loss"] > 0 and v["prior_loss"] > 0 and v["l2"] > 0
    assert v["loss"] == pytest.approx(
        v["instance_loss"] + PRIOR_W * v["prior_loss"] + L2_W * v["l2"], rel=1e-6)
    params = trainer.params
    g_total = torch.autograd.grad(terms["loss"], params, retain_graph=True, allow_unused=True)
    g_prior = torch.autograd.grad(prior, params, retain_graph=True, allow_unused=True)
    g_l2 = torch.autograd.grad(l2, params, retain_graph=True, allow_unused=True)
    g_inst = torch.autograd.grad(inst, params, allow_unused=True)

    def flat(grads) -> torch.Tensor:
        return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()
                          for g, p in zip(grads, params, strict=True)])

    total, gi, gp, gl = flat(g_total), flat(g_inst), flat(g_prior), flat(g_l2)
    assert gp.norm() > 0 and gl.norm() > 0
    # float32 sums in another order: differences of a few 1e-9 on gradients near 1e-5
    scale = float(total.abs().max())
    torch.testing.assert_close(total, gi + PRIOR_W * gp + L2_W * gl, rtol=1e-4,
                               atol=1e-5 * scale)
    # without either term the update would be different
    assert (total - gi - L2_W * gl).norm() > 1e-3 * total.norm()
    assert (total - gi - PRIOR_W * gp).norm() > 1e-6 * total.norm()


def test_class_images_are_cached(trainer: Trainer) -> None:
    folder = trainer.class_folder
    files = sorted(folder.glob("*.png"))
    assert len(files) == 2 and len(trainer.class_images) == 2
    info = json.loads((folder / "class.json").read_text())
    assert info["prompt"] == "a photo of a character" and info["model"] == "tiny"
    stamps = [f.stat().st_mtime_ns for f in files]
    from engine.train.dreambooth import ensure_class_images

    again = ensure_class_images(None, folder, prompt="a photo of a character", count=2,
                                seed=42, resolution=64, steps=2)  # no pipeline: not asked
    assert again == files and [f.stat().st_mtime_ns for f in files] == stamps


def test_the_command_logs_each_term(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    make_images(tmp_path / "inst", 2, captions=False)
    config = write_train_config(tmp_path, tmp_path / "adapters")
    code = main(["dreambooth", "--data", str(tmp_path / "inst"), "--name", "sks-char",
                 "--config", str(config), "--instance-prompt", "a photo of sks character",
                 "--class-prompt", "a photo of a character", "--num-class-images", "2",
                 "--class-inference-steps", "2", "--class-dir", str(tmp_path / "class"),
                 "--steps", "3", "--rank", "4", "--lr", "1e-2", "--l2", "0.1",
                 "--prior-loss-weight", "0.5", "--validation-inference-steps", "2",
                 "--run-dir", str(tmp_path / "run")])
    assert code == 0
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text()
               .splitlines()]
    assert len(records) == 3
    for r in records:
        assert {"step", "loss", "lr", "instance_loss", "prior_loss", "l2"} <= set(r)
        assert r["loss"] == pytest.approx(r["instance_loss"] + 0.5 * r["prior_loss"]
                                          + 0.1 * r["l2"], rel=1e-6)
    assert records[0]["l2"] == 0.0 and records[-1]["l2"] > 0  # the update starts at zero
    manifest = (tmp_path / "adapters" / "sks-char" / "style.toml").read_text()
    assert 'prompt = "a photo of sks character, {prompt}"' in manifest
