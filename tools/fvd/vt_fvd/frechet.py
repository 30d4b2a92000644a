"""Fréchet distance between Gaussian fits of two feature sets (the "F" of FVD).

    d² = ‖μr − μg‖² + Tr(Σr + Σg − 2 (Σr Σg)^½)

Covariances are the unbiased sample covariances (ddof 1, as np.cov and the field's reference FVD/FID
implementations use). Computed without forming a matrix square root: with Σ = Lᵀ L, where
L = (X − μ)/√(n − 1) (n × d, reduced by QR to min(n, d) × d rows when n > d), the nonzero eigenvalues of
Σr Σg = Lrᵀ Lr Lgᵀ Lg are those of (Lr Lgᵀ)(Lr Lgᵀ)ᵀ, so Tr((Σr Σg)^½) is the sum of the singular values of
Lr Lgᵀ (its nuclear norm), and Tr Σ = ‖L‖²_F. This is exact for singular covariances (fewer videos than
feature dimensions, e.g. 256 videos vs 400 logits), where sqrtm-based code is ill-conditioned: the
singular values of a rank-deficient product come out at rounding level, not at √rounding.
Everything is in float64.
"""
import numpy as np


def covariance_factor(features: np.ndarray) -> np.ndarray:
    """L with Lᵀ L = np.cov(features, rowvar=False) (ddof 1); features [n, d], n ≥ 2 → [min(n, d), d]."""
    x = np.asarray(features, dtype=np.float64)
    n = x.shape[0]
    factor = (x - x.mean(axis=0)) / np.sqrt(n - 1)
    if n > x.shape[1]:
        factor = np.linalg.qr(factor, mode="r")  # Rᵀ R = factorᵀ factor, d × d
    return factor


def frechet_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """d² between Gaussian fits of real [n, d] and generated [m, d] features; n, m ≥ 2.

    Not clipped at 0: for identical sets it is 0 up to float64 rounding and may come out as −1e-13.
    """
    real = np.asarray(real, dtype=np.float64)
    generated = np.asarray(generated, dtype=np.float64)
    if real.ndim != 2 or generated.ndim != 2 or real.shape[1] != generated.shape[1]:
        raise ValueError(f"features must be [n, d] and [m, d], got {real.shape} and {generated.shape}")
    if real.shape[0] < 2 or generated.shape[0] < 2:
        raise ValueError("a covariance needs at least 2 feature vectors per set")
    mean_term = float(np.sum((real.mean(axis=0) - generated.mean(axis=0)) ** 2))
    factor_r, factor_g = covariance_factor(real), covariance_factor(generated)
    trace_sqrt = float(np.linalg.svd(factor_r @ factor_g.T, compute_uv=False).sum())
    return mean_term + float(np.sum(factor_r ** 2)) + float(np.sum(factor_g ** 2)) - 2.0 * trace_sqrt
