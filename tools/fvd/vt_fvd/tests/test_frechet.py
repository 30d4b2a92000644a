"""The Fréchet distance against an independent computation: np.cov and scipy.linalg.sqrtm of Σr Σg
(the way pytorch-fid / the TF FVD code compute it), on fixed seeded features."""
import unittest
import warnings

import numpy as np
import scipy.linalg

from vt_fvd.frechet import frechet_distance


def reference(real, generated):
    """‖μr − μg‖² + Tr Σr + Tr Σg − 2 Tr Re sqrtm(Σr Σg), covariances by np.cov (ddof 1)."""
    cov_r, cov_g = np.cov(real, rowvar=False), np.cov(generated, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sqrtm warns that singular products may have no square root
        root = scipy.linalg.sqrtm(cov_r @ cov_g)
    mean_term = np.sum((real.mean(axis=0) - generated.mean(axis=0)) ** 2)
    return float(mean_term + np.trace(cov_r) + np.trace(cov_g) - 2 * np.trace(root.real))


def logit_like(rng, n, d, shift):
    """[n, d] correlated features with unequal scales, like I3D logits (a few units each)."""
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    return (rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d)) @ mixing + shift


class FrechetDistanceTest(unittest.TestCase):
    def check(self, n, m, tolerance, seed):
        rng = np.random.default_rng(seed)
        real, generated = logit_like(rng, n, 400, 0.0), logit_like(rng, m, 400, 0.3)
        got, want = frechet_distance(real, generated), reference(real, generated)
        self.assertLessEqual(abs(got - want), tolerance * abs(want),
                             f"{n} vs {m} × 400: got {got!r}, sqrtm reference {want!r}, |diff| {abs(got - want):.3g}")

    def test_full_rank_matches_sqrtm(self):
        # 1000 and 800 videos > 400 dims: both covariances are nonsingular and sqrtm is well conditioned;
        # the two methods agree to float64 rounding (measured 5e-14 relative). 1e-10 leaves 2000× margin.
        self.check(1000, 800, 1e-10, seed=2024)

    def test_rank_deficient_matches_sqrtm(self):
        # Fewer videos than dims (64, 256, or 300 vs 200): Σr Σg is singular (rank < 400). sqrtm is then
        # accurate only to about √ε ≈ 1.5e-8 relative in the null directions (the square root of a
        # rounding-size eigenvalue), measured 3e-8 to 5e-8 of the FVD here; the production method has no
        # square root (see frechet.py). 1e-6 is 20× the measured difference and still a million times
        # finer than any difference FVD is read at; a ddof-0 covariance would be off by ~1/n = 1e-2 to 4e-3.
        for n, m, seed in ((64, 64, 1), (256, 256, 2), (300, 200, 3)):
            with self.subTest(n=n, m=m):
                self.check(n, m, 1e-6, seed)

    def test_identical_sets_give_zero(self):
        # Rank-deficient on purpose (256 < 400): the production method still cancels to rounding.
        # Bound: 1e-12 × (Tr Σr + Tr Σg), the scale of the terms that cancel (float64 ε = 2.2e-16
        # times a few hundred accumulated operations); measured ≤ 4e-16.
        features = logit_like(np.random.default_rng(5), 256, 400, 0.0)
        scale = 2 * np.trace(np.cov(features, rowvar=False))
        self.assertLessEqual(abs(frechet_distance(features, features)), 1e-12 * scale)

    def test_diagonal_gaussians_by_hand(self):
        # Two points per set: means (1, 2) and (3, 2); variances per axis (2, 0) and (8, 0) (ddof 1).
        # d² = ‖μr − μg‖² + Σ (σr − σg)² = (1 − 3)² + (√2 − √8)² = 4 + 2 = 6.
        real = np.array([[0.0, 2.0], [2.0, 2.0]])
        generated = np.array([[1.0, 2.0], [5.0, 2.0]])
        self.assertAlmostEqual(frechet_distance(real, generated), 6.0, places=12)

    def test_rejects_single_vectors(self):
        with self.assertRaises(ValueError):
            frechet_distance(np.zeros((1, 4)), np.zeros((3, 4)))
