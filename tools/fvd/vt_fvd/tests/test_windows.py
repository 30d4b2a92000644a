"""FVD over temporal windows (score --window, docs/design.md §12): where the windows start; mode first is the
score of the videos cut to their first W frames; mode all is the score of a file whose videos are the
windows, one after another (real windows pooled against generated ones); the cache keys windows by
content; bad combinations are one-line user errors.

The equalities are exact: the windowed run and the direct run of the cut file share one feature cache, and
the direct run must find every clip there (videos_computed 0) — so a window holding any other frames than
the cut file's clip fails, as does a pooling in another order (the per-trial distances must be equal) —
and a few cached features are checked against I3D run on the window's frames directly.
"""
import os
import tempfile
import unittest

import numpy as np

from vt_fvd.cache import FeatureCache, clip_key
from vt_fvd.i3d import I3D, extractor_identity
from vt_fvd.score import score, window_starts
from vt_fvd.synthetic import moving_bars

from . import assert_user_error, parse_single_json, run_cli, write_samples

SIZE = 16  # I3D resizes every frame to 224×224 anyway; small frames keep the files small


def videos(count, frames, first_phase=0):
    return np.stack([moving_bars(frames, SIZE, SIZE, first_phase + index) for index in range(count)])


def window_rows(clips, starts, length, axis):
    """Each video's windows as videos of their own, window after window: real [V, T, …] → [V·n, length, …],
    samples [V, K, T, …] → [V·n, K, length, …] (the frame axis is `axis`)."""
    windows = np.stack([np.take(clips, range(start, start + length), axis=axis) for start in starts], axis=1)
    return windows.reshape((-1,) + windows.shape[2:])


class WindowStartsTest(unittest.TestCase):
    def test_counts(self):
        self.assertEqual(window_starts(32, 16, 16, "all"), [0, 16])
        self.assertEqual(window_starts(47, 16, 16, "all"), [0, 16])  # [32, 48) does not fit
        self.assertEqual(window_starts(48, 16, 16, "all"), [0, 16, 32])
        self.assertEqual(window_starts(32, 16, 8, "all"), [0, 8, 16])
        self.assertEqual(window_starts(16, 16, 16, "all"), [0])
        self.assertEqual(window_starts(40, 10, 15, "all"), [0, 15, 30])  # a stride above W leaves gaps
        self.assertEqual(window_starts(48, 16, 16, "first"), [0])
        self.assertEqual(window_starts(48, 16, 1, "all"), list(range(33)))


class WindowScoreTest(unittest.TestCase):
    """3 videos of 24 frames, K = 2; windows of 12 frames (9 is I3D's minimum)."""

    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)
        self.cache = self.path("features.h5")
        self.real = videos(3, 24)
        # Sample 0 continues each real video's first 12 frames with other frames; sample 1 is another set.
        continued = self.real.copy()
        continued[:, 12:] = videos(3, 12, first_phase=7)
        self.samples = np.stack([continued, videos(3, 24, first_phase=3)], axis=1)
        write_samples(self.path("long.h5"), self.samples, self.real)

    def path(self, name):
        return os.path.join(self.folder.name, name)

    def score(self, name, **options):
        """(fvd, i3d) of score() in this process (I3D compiled once for all the runs of 12-frame clips)."""
        with open(os.devnull, "w") as quiet:
            result = score(self.path(name), cache_path=self.cache, log=quiet, **options)
        return result["fvd"], result["i3d"]

    def score_cli(self, name, *arguments):
        """(fvd, i3d) as python -m vt_fvd score prints them: the options reach score()."""
        code, stdout, stderr = run_cli("score", "--samples", self.path(name), "--cache", self.cache, *arguments)
        self.assertEqual(code, 0, stderr)
        result = parse_single_json(self, stdout)
        return result["fvd"], result["i3d"]

    def assert_same_fvd(self, windowed, direct):
        for key in ("mean", "std", "per_trial", "trials"):
            self.assertEqual(windowed[key], direct[key], key)

    def test_first_is_the_cut_videos(self):
        windowed, i3d = self.score_cli("long.h5", "--window", "12", "--window-mode", "first")
        self.assertEqual(i3d["videos_computed"], 3 + 3 * 2 - 3)  # sample 0's first window is the real one's
        self.assertEqual((windowed["window"], windowed["window_mode"], windowed["window_stride"]), (12, "first", None))
        self.assertEqual((windowed["windows_per_video"], windowed["window_starts"], windowed["clips_per_set"]), (1, [0], 3))
        self.assertEqual(windowed["frames_per_video"], 24)
        # Sample 0's first 12 frames are the real ones: 0 up to rounding (−1e-13 may come out), sample 1 not.
        self.assertLess(abs(windowed["per_trial"][0]), 1e-9 * windowed["per_trial"][1])
        write_samples(self.path("cut.h5"), self.samples[:, :, :12], self.real[:, :12])
        direct, i3d = self.score("cut.h5")
        self.assertEqual(i3d["videos_computed"], 0, "the windows were not frames 0..11")
        self.assert_same_fvd(windowed, direct)
        self.assertNotIn("window", direct)  # without --window the output has its old keys only

    def test_all_is_the_windows_as_videos(self):
        windowed, i3d = self.score("long.h5", window=12)  # mode all, stride 12: windows at 0 and 12
        self.assertEqual((windowed["window_mode"], windowed["window_stride"]), ("all", 12))
        self.assertEqual((windowed["windows_per_video"], windowed["window_starts"], windowed["clips_per_set"]), (2, [0, 12], 6))
        self.assertEqual(i3d["videos_computed"], 6 + 12 - 3)
        self.assertGreater(windowed["per_trial"][0], 0.0)  # sample 0's second windows differ from the real ones
        # The cached features are I3D's of the windows themselves (pass 2 reads the frames the keys name).
        cache = FeatureCache.load(self.cache, extractor_identity())
        model = I3D(batch=1)
        for clip in (self.real[2, 12:], self.samples[0, 1, 12:], self.samples[1, 0, :12]):
            np.testing.assert_allclose(cache.get(clip_key(clip)), model(clip[None])[0], rtol=0, atol=1e-5)
        # The same clips as a file of 6 "videos": video v's window w at row 2v + w, on both sides.
        write_samples(self.path("windows.h5"), window_rows(self.samples, [0, 12], 12, axis=2),
                      window_rows(self.real, [0, 12], 12, axis=1))
        direct, i3d = self.score("windows.h5")
        self.assertEqual(i3d["videos_computed"], 0, "the windows were not frames 0..11 and 12..23")
        self.assert_same_fvd(windowed, direct)
        # Overlapping windows (stride 6: starts 0, 6, 12) reuse the cached ones and compute only those at 6.
        overlapping, i3d = self.score_cli("long.h5", "--window", "12", "--window-stride", "6")
        self.assertEqual((overlapping["windows_per_video"], overlapping["window_starts"]), (3, [0, 6, 12]))
        self.assertEqual((i3d["videos_computed"], i3d["videos_cached"]), (3 * 3, 6 + 12 - 3))
        self.assertNotEqual(overlapping["per_trial"], windowed["per_trial"])

    def test_generated_frames_windows_start_after_the_primed_ones(self):
        write_samples(self.path("primed.h5"), self.samples, self.real, prime_frames=[0, 1, 2])
        windowed, _ = self.score("primed.h5", frames="generated", window=12)
        self.assertEqual((windowed["windows_per_video"], windowed["window_starts"]), (1, [3]))  # 21 frames: 3..14
        write_samples(self.path("cut.h5"), self.samples[:, :, 3:15], self.real[:, 3:15], prime_frames=[])
        direct, i3d = self.score("cut.h5")
        self.assertEqual(i3d["videos_computed"], 0, "the window was not frames 3..14")
        self.assert_same_fvd(windowed, direct)


class WindowErrorTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)
        self.file = os.path.join(self.folder.name, "samples.h5")
        real = videos(2, 20)
        write_samples(self.file, real[:, None], real, prime_frames=[0, 19])

    def assert_user_error(self, arguments, *words):
        assert_user_error(self, "score", ["--samples", self.file] + arguments, *words)

    def test_bad_windows(self):
        self.assert_user_error(["--window", "8"], "--window 8", "at least 9")
        self.assert_user_error(["--window", "21"], "samples.h5", "--window 21", "20 frames")
        self.assert_user_error(["--window", "19", "--frames", "generated"], "--window 19", "18 frames")
        self.assert_user_error(["--window-stride", "4"], "--window-stride needs --window")
        self.assert_user_error(["--window-mode", "first"], "--window-mode needs --window")
        self.assert_user_error(["--window", "12", "--window-stride", "0"], "--window-stride", "at least 1")
        self.assert_user_error(["--window", "12", "--window-mode", "first", "--window-stride", "4"],
                               "--window-stride 4", "all only")
        self.assert_user_error(["--window", "12", "--window-mode", "some"], "--window-mode")

    def test_generated_frames_with_a_gap(self):
        write_samples(self.file, videos(2, 20)[:, None], videos(2, 20), prime_frames=[0, 10])
        self.assert_user_error(["--window", "9", "--frames", "generated"], "not consecutive", "[0, 10]", "--frames all")


if __name__ == "__main__":
    unittest.main()
