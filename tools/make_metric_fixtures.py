#!/usr/bin/env python3
"""Writes Tests/EvaluationTests/Fixtures/metrics.json: frame pairs with scikit-image's PSNR and SSIM under
docs/design.md §10's arguments, for vt's FrameMetrics tests (kept so the fixture can be remade and checked).

    python3 -m venv /tmp/metrics-venv && /tmp/metrics-venv/bin/pip install numpy scikit-image
    /tmp/metrics-venv/bin/python tools/make_metric_fixtures.py
"""
import json
import os

import numpy as np
import skimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def pairs():
    rng = np.random.default_rng(2020)
    smooth = np.cumsum(np.cumsum(rng.integers(-3, 4, size=(32, 32, 3)), axis=0), axis=1)
    smooth = np.clip(smooth - smooth.min(), 0, 255).astype(np.uint8)
    noise = np.clip(smooth.astype(int) + rng.integers(-20, 21, size=smooth.shape), 0, 255).astype(np.uint8)
    yield "smooth vs noisy 32x32", smooth, noise
    a = rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
    b = rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
    yield "random vs random 40x48", a, b
    shifted = np.roll(a, 1, axis=1)
    yield "random vs shifted 40x48", a, shifted
    yield "identical 32x32", smooth, smooth.copy()
    constant = np.full((16, 16, 3), 117, dtype=np.uint8)
    yield "constant vs same constant 16x16", constant, constant.copy()
    yield "constant vs other constant 16x16", constant, np.full((16, 16, 3), 90, dtype=np.uint8)
    yield "constant vs random 16x16", constant, rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    video = rng.integers(0, 256, size=(11, 64, 3), dtype=np.uint8).repeat(1, axis=0)
    yield "minimum window 11x64", video, np.clip(video.astype(int) + 7, 0, 255).astype(np.uint8)


def main():
    cases = []
    for name, real, generated in pairs():
        with np.errstate(divide="ignore"):
            psnr = peak_signal_noise_ratio(real, generated, data_range=255)
        ssim = structural_similarity(real, generated, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     channel_axis=-1, data_range=255)
        cases.append({"name": name, "height": real.shape[0], "width": real.shape[1],
                      "real": real.reshape(-1).tolist(), "generated": generated.reshape(-1).tolist(),
                      "psnr": "inf" if np.isinf(psnr) else float(psnr), "ssim": float(ssim)})
    out = os.path.join(os.path.dirname(__file__), "..", "Tests", "EvaluationTests", "Fixtures", "metrics.json")
    with open(out, "w") as f:
        json.dump({"generator": "tools/make_metric_fixtures.py", "scikit_image": skimage.__version__,
                   "numpy": np.__version__, "cases": cases}, f)
    print(f"wrote {len(cases)} cases to {os.path.normpath(out)} (scikit-image {skimage.__version__})")


if __name__ == "__main__":
    main()
