"""CMMD and FID against values computed by hand (numpy, written apart from engine/evaluate),
and FID's feature path through a TorchScript module with the Inception call interface."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from engine.evaluate import metrics  # noqa: E402
from engine.evaluate.features import ClipEmbedder, InceptionFeatures  # noqa: E402
from tests.conftest import MODEL_CACHE  # noqa: E402


def _unit(rng, n, d):
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_cmmd_by_hand() -> None:
    rng = np.random.default_rng(0)
    x, y = _unit(rng, 5, 8), _unit(rng, 7, 8) * 0.9 + 0.05
    y = y / np.linalg.norm(y, axis=1, keepdims=True)

    def k(a, b):  # Gaussian RBF, σ = 10
        return math.exp(-float(np.sum((a - b) ** 2)) / (2 * 10.0**2))

    kxx = sum(k(a, b) for a in x for b in x) / (len(x) ** 2)  # diagonal included
    kyy = sum(k(a, b) for a in y for b in y) / (len(y) ** 2)
    kxy = sum(k(a, b) for a in x for b in y) / (len(x) * len(y))
    by_hand = 1000 * (kxx + kyy - 2 * kxy)  # no square root
    assert metrics.cmmd(x, y) == pytest.approx(by_hand, rel=1e-3)
    assert metrics.cmmd(x, x) == pytest.approx(0.0, abs=1e-3)
    # orthogonal unit vectors: ‖a − b‖² = 2, so k = exp(−0.01) between sets, 1 on the diagonal
    e = np.eye(4)
    kxx = kyy = (2 * 1.0 + 2 * math.exp(-0.01)) / 4
    expected = 1000 * (kxx + kyy - 2 * math.exp(-0.01))
    assert metrics.cmmd(e[:2], e[2:]) == pytest.approx(expected, rel=1e-3)


def test_fid_by_hand() -> None:
    # one dimension: (μ1 − μ2)² + σ1² + σ2² − 2 σ1 σ2
    a = np.array([[0.0], [2.0], [4.0]])
    b = np.array([[1.0], [2.0]])
    s1, s2 = np.var(a, ddof=1), np.var(b, ddof=1)
    want = (2.0 - 1.5) ** 2 + s1 + s2 - 2 * math.sqrt(s1 * s2)
    assert metrics.fid(a, b) == pytest.approx(want, rel=1e-9)
    # a general case: the trace of (Σ1Σ2)^½ from the eigenvalues of the product itself
    rng = np.random.default_rng(1)
    f1 = rng.normal(size=(40, 6))
    f2 = rng.normal(size=(30, 6)) @ rng.normal(size=(6, 6)) * 0.5 + 1.0
    c1, c2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    eig = np.linalg.eigvals(c1 @ c2)
    tr_sqrt = float(np.sum(np.sqrt(np.clip(eig.real, 0, None))))
    want = float(np.sum((f1.mean(0) - f2.mean(0)) ** 2) + np.trace(c1) + np.trace(c2)
                 - 2 * tr_sqrt)
    assert metrics.fid(f1, f2) == pytest.approx(want, rel=1e-7)
    assert metrics.fid(f1, f1) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError):
        metrics.fid(f1[:1], f2)


class _FakeInception(torch.nn.Module):
    """The call interface of inception-2015-12-05.pt: uint8 NCHW in, N×D features out."""

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        assert x.dtype == torch.uint8 and x.shape[1] == 3
        assert return_features
        f = x.float() / 255.0
        return torch.cat([f.mean(dim=(2, 3)), f.std(dim=(2, 3)),
                          f[:, :, :150].mean(dim=(2, 3)) - f[:, :, 150:].mean(dim=(2, 3))], 1)


def save_fake_inception(path: Path) -> Path:
    torch.jit.script(_FakeInception()).save(str(path))
    return path


def _fake_features_by_hand(images: list[Image.Image]) -> np.ndarray:
    rows = []
    for im in images:
        a = np.asarray(im.convert("RGB").resize((299, 299), Image.Resampling.BICUBIC),
                       dtype=np.float64) / 255.0
        rows.append(np.concatenate([a.mean((0, 1)), a.std((0, 1), ddof=1),
                                    a[:150].mean((0, 1)) - a[150:].mean((0, 1))]))
    return np.array(rows)


def _images(seed: int, n: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
                            + np.uint8(20 * i)) for i in range(n)]


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_fid_through_a_torchscript_feature_model(tmp_path: Path) -> None:
    path = tmp_path / "inception.pt"
    save_fake_inception(path)
    net = InceptionFeatures(path)
    a, b = _images(0, 5), _images(1, 4)
    fa, fb = net.features(a), net.features(b)
    np.testing.assert_allclose(fa, _fake_features_by_hand(a), rtol=1e-4, atol=1e-6)
    assert metrics.fid(fa, fb) == pytest.approx(
        metrics.fid(_fake_features_by_hand(a), _fake_features_by_hand(b)), rel=1e-3)


def test_the_cmmd_embedder_normalises(tmp_path: Path) -> None:
    from engine.tiny import tiny_clip_dir

    embedder = ClipEmbedder(str(tiny_clip_dir(MODEL_CACHE)))
    emb = embedder.embed(_images(2, 3))
    assert emb.shape == (3, 32) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    assert embedder.size == 64  # the tiny CLIP's image size
