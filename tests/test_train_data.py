"""Training input: folders and CSVs, the seeded split, augmentation, and the one-line errors
for bad input (real wrong files, through the real command line)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from engine.train.augment import Augment  # noqa: E402
from engine.train.cli import main  # noqa: E402
from engine.train.data import load_examples, split  # noqa: E402
from engine.train.errors import InputError  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.train_fixtures import make_images, write_train_config  # noqa: E402


def test_folder_and_csv_give_the_same_examples(tmp_path: Path) -> None:
    paths = make_images(tmp_path / "d", 5)
    folder = load_examples(tmp_path / "d")
    assert [e.image for e in folder] == paths
    assert folder[2].caption == "a blue square on a red gradient, number 2"
    csv = tmp_path / "d" / "data.csv"
    rows = "".join(f'{p.name},"{p.with_suffix(".txt").read_text()}"\n' for p in paths)
    csv.write_text("image,caption\n" + rows)
    from_csv = load_examples(csv)
    assert [(e.image, e.caption) for e in from_csv] == [(e.image, e.caption) for e in folder]


def test_split_is_seeded_80_20(tmp_path: Path) -> None:
    examples = load_examples(Path(make_images(tmp_path, 10)[0]).parent)
    a, b, c = split(examples, 0.2, 1), split(examples, 0.2, 1), split(examples, 0.2, 2)
    assert (len(a.train), len(a.test)) == (8, 2)
    assert a == b and a.test != c.test
    assert set(e.image for e in a.train) | set(e.image for e in a.test) == {
        e.image for e in examples}


def test_augmentation_is_seeded_and_normalised(tmp_path: Path) -> None:
    image = Image.open(make_images(tmp_path, 1)[0])
    aug = Augment(resolution=32, crop_scale=0.5, flip=0.5, jitter=0.2)
    x = aug(image, np.random.default_rng([1, 2]))
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert torch.equal(x, aug(image, np.random.default_rng([1, 2])))
    many = {aug(image, np.random.default_rng([1, k])).numpy().tobytes() for k in range(8)}
    assert len(many) == 8  # crop, flip and jitter differ per sample
    plain = aug(image, None)  # resize shorter side to 32, centre crop, no randomness
    ref = np.asarray(image.convert("RGB").resize((36, 32), Image.Resampling.BICUBIC)
                     .crop((2, 0, 34, 32)), dtype=np.float32) / 127.5 - 1
    np.testing.assert_allclose(plain.permute(1, 2, 0).numpy(), ref, atol=1e-6)
    flipped = Augment(resolution=32, random_crop=False, flip=1.0, jitter=0)(
        image, np.random.default_rng(0))
    assert torch.equal(flipped, plain.flip(-1))


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    config = str(write_train_config(tmp_path, tmp_path / "adapters"))
    base = ["lora", "--config", config, "--steps", "1", "--run-dir", str(tmp_path / "run")]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no images found" in _error(capsys, [*base, "--data", str(empty), "--name", "a"])
    nocap = tmp_path / "nocap"
    make_images(nocap, 2)
    (nocap / "img01.txt").unlink()
    assert "img01.txt is missing" in _error(capsys, [*base, "--data", str(nocap), "--name", "a"])
    csv = tmp_path / "bad.csv"
    csv.write_text("file,text\nimg00.png,hello\n")
    err = _error(capsys, [*base, "--data", str(csv), "--name", "a"])
    assert "needs the columns image, caption" in err and "missing: image, caption" in err
    corrupt = tmp_path / "corrupt"
    make_images(corrupt, 2)
    good = (corrupt / "img00.png").read_bytes()
    (corrupt / "img00.png").write_bytes(good[: len(good) // 2])  # a truncated PNG
    assert "not a readable image" in _error(capsys, [*base, "--data", str(corrupt),
                                                     "--name", "a"])
    data = tmp_path / "good"
    make_images(data, 2)
    assert "style name 'Bad_Name'" in _error(capsys, [*base, "--data", str(data),
                                                      "--name", "Bad_Name"])
    assert "fp16 needs a CUDA GPU" in _error(capsys, [*base, "--data", str(data), "--name",
                                                      "a", "--mixed-precision", "fp16",
                                                      "--device", "cpu"])


def test_the_command_line_itself_exits_2_without_a_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "photo.png").write_text("this is not a PNG")
    (folder / "photo.txt").write_text("a caption")
    proc = subprocess.run([sys.executable, "-m", "engine.train", "lora", "--data", str(folder),
                           "--name", "x", "--config",
                           str(write_train_config(tmp_path, tmp_path / "adapters"))],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("python -m engine.train: error:") and "not a readable image" in last
    assert "Traceback" not in proc.stderr


def test_data_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        load_examples(tmp_path / "nope")
