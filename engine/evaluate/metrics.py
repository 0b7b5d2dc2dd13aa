"""CMMD and FID from embeddings (numpy), and the summary of a list of scores.

CMMD as google-research/cmmd's ``distance.py`` defines it: a Gaussian RBF kernel with σ = 10
over L2-normalised CLIP embeddings, ``1000 · (mean Kxx + mean Kyy − 2 mean Kxy)`` over all
pairs, the diagonal included (the biased MMD² estimator), no square root, in float32.

FID as Heusel et al. (and pytorch-fid, clean-fid): ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½)
with unbiased covariances (``np.cov``). Tr((Σ₁Σ₂)^½) is taken from the eigenvalues of
Σ₁^½ Σ₂ Σ₁^½, which is symmetric, positive semi-definite and similar to Σ₁Σ₂, so no
complex ``sqrtm`` (and no scipy) is needed.
"""

from __future__ import annotations

import numpy as np

CMMD_SIGMA = 10.0
CMMD_SCALE = 1000.0


def cmmd(x: np.ndarray, y: np.ndarray) -> float:
    """CMMD between two sets of embeddings (rows), each already L2-normalised."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or not len(x) or not len(y):
        raise ValueError(f"CMMD needs two non-empty N×D sets (got {x.shape} and {y.shape})")
    gamma = np.float32(1.0 / (2.0 * CMMD_SIGMA**2))
    x_sq = np.sum(x * x, axis=1)
    y_sq = np.sum(y * y, axis=1)

    def mean_kernel(a, a_sq, b, b_sq) -> np.float32:
        d2 = a_sq[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
        return np.mean(np.exp(-gamma * d2))

    k_xx = mean_kernel(x, x_sq, x, x_sq)
    k_yy = mean_kernel(y, y_sq, y, y_sq)
    k_xy = mean_kernel(x, x_sq, y, y_sq)
    return float(np.float32(CMMD_SCALE) * (k_xx + k_yy - 2 * k_xy))


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    root1 = _sqrt_psd(s1)
    eig = np.linalg.eigvalsh(root1 @ s2 @ root1)
    tr_covmean = float(np.sum(np.sqrt(np.clip(eig, 0, None))))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def fid(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID between two sets of features (rows), at least two of each."""
    f1 = np.asarray(features1, dtype=np.float64)
    f2 = np.asarray(features2, dtype=np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(f"FID needs two N×D feature sets (got {f1.shape} and {f2.shape})")
    if len(f1) < 2 or len(f2) < 2:
        raise ValueError("FID needs at least two images in each set")
    return frechet_distance(f1.mean(0), np.cov(f1, rowvar=False),
                            f2.mean(0), np.cov(f2, rowvar=False))


def summary(values: list[float]) -> dict:
    a = np.asarray(values, dtype=np.float64)
    if not len(a):
        return {"n": 0}
    return {"n": int(len(a)), "mean": round(float(a.mean()), 4),
            "std": round(float(a.std(ddof=1)) if len(a) > 1 else 0.0, 4),
            "median": round(float(np.median(a)), 4), "min": round(float(a.min()), 4),
            "max": round(float(a.max()), 4), "values": [round(float(v), 4) for v in a]}
