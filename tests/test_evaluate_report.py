"""An evaluation report for a style, made through the bot's Engine on the tiny model: the
files exist, metrics.json holds sane values, and bad input is one line with exit code 2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from engine.evaluate.cli import main  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.test_evaluate_metrics import save_fake_inception  # noqa: E402
from tests.train_fixtures import make_images, write_train_config  # noqa: E402


@pytest.mark.slow  # ~18 s: 32 tiny images through the engine
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_a_report_for_a_style(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    config = write_train_config(tmp_path, ROOT / "adapters")  # kancil has a tiny LoRA
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# two prompts\na cat on a roof\n\na boat on a river\n")
    make_images(tmp_path / "ref", 3, captions=False)
    out = tmp_path / "report"
    code = main(["--style", "kancil", "--prompts", str(prompts), "--out", str(out),
                 "--config", str(config), "--reference", str(tmp_path / "ref"),
                 "--samples", "2", "--steps", "3", "--sweep-seeds", "2",
                 "--sweep-steps", "2,3", "--sweep-cfg", "4,8",
                 "--inception", str(save_fake_inception(tmp_path / "inception.pt"))])
    assert code == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["style"] == "kancil" and m["base_model"] == "tiny" and m["lora"] is True
    assert m["prompts"] == ["a cat on a roof", "a boat on a river"] and m["seeds"] == [0, 1]
    assert m["images_per_set"] == 4 and m["reference_images"] == 3
    for kind in ("base", "style"):
        clip = m["clip"][kind]
        assert clip["n"] == 4 and all(0 <= v <= 100 for v in clip["values"])
    assert m["cmmd_model"] == "tiny" and m["cmmd_reason"] is None
    assert set(m["cmmd"]) == {"style_vs_base", "style_vs_reference", "base_vs_reference"}
    assert all(math.isfinite(v) and v >= -1e-3 for v in m["cmmd"].values())
    assert m["cmmd"]["style_vs_base"] > 0  # the LoRA and template change the images
    assert m["fid_reason"] is None and m["fid"]["style_vs_base"] > 0
    cells = m["sweep"]["cells"]
    assert len(cells) == 2 * 2 * 2 and {c["steps"] for c in cells} == {2, 3}
    assert m["sweep"]["best"]["steps"] in (2, 3)
    for name in ("clip_scores.png", "sweep.png", "contact/prompt-01.png",
                 "contact/prompt-02.png"):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.width >= 300, name
    assert len(list((out / "samples" / "kancil").glob("*.png"))) == 4


def test_without_inception_fid_is_null_with_the_reason(tmp_path: Path, capsys) -> None:
    torch.set_num_threads(1)
    config = write_train_config(tmp_path, ROOT / "adapters")
    prompts = tmp_path / "p.txt"
    prompts.write_text("a lamp\n")
    out = tmp_path / "r"
    assert main(["--style", "retro-anime", "--prompts", str(prompts), "--out", str(out),
                 "--config", str(config), "--samples", "2", "--steps", "2",
                 "--no-sweep"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["fid"] is None and "--inception" in m["fid_reason"]
    assert m["sweep"] is None and set(m["cmmd"]) == {"style_vs_base"}
    capsys.readouterr()
    assert main(["--style", "nope", "--prompts", str(prompts), "--out", str(out),
                 "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "no such style" in err.strip().splitlines()[-1]
    assert main(["--style", "Bad Name", "--prompts", str(prompts), "--out", str(out)]) == 2
    assert main(["--style", "kancil", "--prompts", str(tmp_path / "missing.txt"),
                 "--out", str(out)]) == 2
