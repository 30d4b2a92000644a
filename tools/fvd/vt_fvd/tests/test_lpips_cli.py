"""python -m vt_fvd lpips as vt runs it: one JSON object on stdout (scores [videos, K, G] and timing), one-line
errors with exit code 2 (frames under 31 px are refused, never scored as NaN), and the score cache: a second
run computes nothing, an interrupted run keeps what it computed, a damaged cache is reported and recomputed."""
import os
import tempfile
import unittest

import numpy as np

from vt_fvd import lpips
from vt_fvd.cache import ScoreCache
from vt_fvd.lpips_score import score
from vt_fvd.synthetic import moving_bars

from . import assert_user_error, parse_single_json, run_cli, write_samples


def make_file(path, videos=3, k=2, frames=4, height=32, width=32, prime_frames=(0,)):
    """A samples.h5 of moving-bar videos; sample s of video v is another video's bars (distinct pairs)."""
    real = np.stack([moving_bars(frames, height, width, phase) for phase in range(videos)])
    samples = np.stack([np.stack([moving_bars(frames, height, width, 10 + 3 * v + s) for s in range(k)])
                        for v in range(videos)])
    samples[:, :, list(prime_frames)] = real[:, None, list(prime_frames)]  # primed frames are the real ones
    write_samples(path, samples, real, prime_frames=prime_frames)
    return real, samples


class LPIPSCommandTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)
        self.path = os.path.join(self.folder.name, "samples.h5")

    def assert_user_error(self, arguments, *words):
        assert_user_error(self, "lpips", arguments, *words)

    def test_scores_and_cache(self):
        real, samples = make_file(self.path)
        code, stdout, stderr = run_cli("lpips", "--samples", self.path, "--batch", "4")
        self.assertEqual(code, 0, stderr)
        first = parse_single_json(self, stdout)
        scores = np.array(first["lpips"]["scores"])
        self.assertEqual(scores.shape, (3, 2, 3))  # [videos, K, G]: frames 1, 2, 3 generated
        self.assertEqual(first["lpips"]["generated_frames"], [1, 2, 3])
        self.assertTrue(np.all(np.isfinite(scores)) and np.all(scores > 0))
        self.assertEqual(first["timing"]["pairs_computed"], 18)
        self.assertEqual(first["timing"]["pairs_cached"], 0)
        self.assertGreater(first["timing"]["frames_per_second"], 0)
        self.assertIn("frames/s", stderr)
        # Each score is the network's on that (real frame, generated frame) pair.
        direct = lpips.lpips_pairs(real[:, None, 1:].repeat(2, axis=1).reshape(-1, 32, 32, 3),
                                   samples[:, :, 1:].reshape(-1, 32, 32, 3), batch=4)
        np.testing.assert_allclose(scores.reshape(-1), direct, rtol=0, atol=1e-6)
        self.assertEqual(sorted(os.listdir(self.folder.name)), ["lpips_scores.h5", "samples.h5"])  # no temporaries

        code, stdout, stderr = run_cli("lpips", "--samples", self.path)
        self.assertEqual(code, 0, stderr)
        second = parse_single_json(self, stdout)
        self.assertEqual(second["timing"]["pairs_computed"], 0)
        self.assertEqual(second["timing"]["pairs_cached"], 18)
        self.assertIsNone(second["timing"]["frames_per_second"])
        self.assertEqual(second["lpips"], first["lpips"])  # bit for bit

    def test_a_damaged_cache_is_reported_and_recomputed(self):
        make_file(self.path, videos=2, k=1)
        code, stdout, _ = run_cli("lpips", "--samples", self.path)
        self.assertEqual(code, 0)
        first = parse_single_json(self, stdout)
        cache = os.path.join(self.folder.name, "lpips_scores.h5")
        with open(cache, "r+b") as file:
            file.truncate(os.path.getsize(cache) // 2)
        code, stdout, stderr = run_cli("lpips", "--samples", self.path)
        self.assertEqual(code, 0, stderr)
        again = parse_single_json(self, stdout)
        self.assertIn("LPIPS score cache", stderr)
        self.assertIn("unreadable", stderr)
        self.assertEqual(again["timing"]["pairs_computed"], 6)
        self.assertEqual(again["lpips"]["scores"], first["lpips"]["scores"])
        code, stdout, stderr = run_cli("lpips", "--samples", self.path)  # and the cache is whole again
        self.assertEqual(parse_single_json(self, stdout)["timing"]["pairs_computed"], 0, stderr)

    def test_frames_under_31_pixels_are_refused(self):
        for height, width in ((30, 64), (64, 30), (16, 16)):
            with self.subTest(size=(height, width)):
                make_file(self.path, videos=1, k=1, height=height, width=width)
                self.assert_user_error(["--samples", self.path], "samples.h5", f"{height}x{width}", "31x31")
        self.assertFalse(os.path.exists(os.path.join(self.folder.name, "lpips_scores.h5")))

    def test_31_pixels_is_enough(self):
        make_file(self.path, videos=1, k=1, height=31, width=40)
        code, stdout, stderr = run_cli("lpips", "--samples", self.path)
        self.assertEqual(code, 0, stderr)
        scores = np.array(parse_single_json(self, stdout)["lpips"]["scores"])
        self.assertTrue(np.all(np.isfinite(scores)) and np.all(scores > 0), scores)

    def test_other_errors(self):
        self.assert_user_error(["--samples", os.path.join(self.folder.name, "absent.h5")], "absent.h5", "no such file")
        make_file(self.path, videos=1, k=1, frames=2, prime_frames=(0, 1))
        self.assert_user_error(["--samples", self.path], "no generated frames")
        self.assert_user_error(["--samples", self.path, "--batch", "0"], "--batch")


class InterruptionTest(unittest.TestCase):
    class Failing(lpips.LPIPS):
        """The real network, failing after `calls` batches (a crash or ^C in the middle of a run)."""

        def __init__(self, calls):
            super().__init__(batch=4)
            self.calls = calls

        def __call__(self, real_features, generated):
            if self.calls == 0:
                raise KeyboardInterrupt
            self.calls -= 1
            return super().__call__(real_features, generated)

    def test_an_interrupted_run_keeps_what_it_computed(self):
        with tempfile.TemporaryDirectory() as folder, open(os.devnull, "w") as quiet:
            path = os.path.join(folder, "samples.h5")
            make_file(path, videos=3, k=2, frames=4)  # 18 pairs: 5 batches of 4
            with self.assertRaises(KeyboardInterrupt):
                score(path, log=quiet, model=self.Failing(calls=2))
            cache = ScoreCache.load(os.path.join(folder, "lpips_scores.h5"), lpips.scorer_identity(), quiet)
            self.assertEqual(len(cache.features), 8)  # the two finished batches
            resumed = score(path, batch=4, log=quiet)
            self.assertEqual(resumed["timing"]["pairs_cached"], 8)
            self.assertEqual(resumed["timing"]["pairs_computed"], 10)
            os.unlink(os.path.join(folder, "lpips_scores.h5"))
            whole = score(path, batch=4, log=quiet)
            self.assertEqual(resumed["lpips"], whole["lpips"])
            self.assertEqual(sorted(os.listdir(folder)), ["lpips_scores.h5", "samples.h5"])

    def test_more_samples_reuse_the_scores_of_the_first(self):
        # K = 1, then the same file with a second sample per video: only the new sample's frames are computed.
        with tempfile.TemporaryDirectory() as folder, open(os.devnull, "w") as quiet:
            path = os.path.join(folder, "samples.h5")
            real, samples = make_file(path, videos=2, k=2)
            write_samples(path, samples[:, :1], real)
            one = score(path, log=quiet)
            write_samples(path, samples, real)
            two = score(path, log=quiet)
            self.assertEqual(two["timing"]["pairs_cached"], 6)
            self.assertEqual(two["timing"]["pairs_computed"], 6)
            self.assertEqual([video[:1] for video in two["lpips"]["scores"]], one["lpips"]["scores"])
