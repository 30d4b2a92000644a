"""python -m vt_fvd score as a user runs it: one JSON object on stdout, one-line errors with exit code 2,
and the feature cache (a second run computes nothing and gives the same FVD bit for bit)."""
import os
import tempfile
import unittest

import numpy as np

from vt_fvd.cache import FeatureCache, clip_key
from vt_fvd.samples import SamplesFile
from vt_fvd.synthetic import moving_bars

from . import assert_user_error, parse_single_json, run_cli, write_samples


def videos(count, frames=16, size=64, first_phase=0):
    return np.stack([moving_bars(frames, size, size, first_phase + index) for index in range(count)])


class ErrorTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)

    def path(self, name="samples.h5"):
        return os.path.join(self.folder.name, name)

    def assert_user_error(self, arguments, *words):
        assert_user_error(self, "score", arguments, *words)

    def test_missing_file(self):
        self.assert_user_error(["--samples", self.path("absent.h5")], "absent.h5", "no such file")

    def test_trials_out_of_range(self):
        real = videos(2, size=8)
        write_samples(self.path(), np.stack([real, real, real], axis=1), real)  # K = 3
        self.assert_user_error(["--samples", self.path(), "--trials", "4"], "samples.h5", "--trials 4", "K = 3")
        self.assert_user_error(["--samples", self.path(), "--trials", "0"], "--trials 0")

    def test_bad_files(self):
        real = videos(2, size=8)
        write_samples(self.path("float.h5"), np.stack([real], axis=1).astype(np.float32), real)
        self.assert_user_error(["--samples", self.path("float.h5")], "float.h5", "samples", "float32")
        write_samples(self.path("rank.h5"), real, real)
        self.assert_user_error(["--samples", self.path("rank.h5")], "rank.h5", "samples", "[2, 16, 8, 8, 3]")
        write_samples(self.path("one.h5"), np.stack([real[:1]], axis=1), real[:1])
        self.assert_user_error(["--samples", self.path("one.h5")], "one.h5", "at least 2 videos")
        with open(self.path("text.h5"), "w") as file:
            file.write("not HDF5\n")
        self.assert_user_error(["--samples", self.path("text.h5")], "text.h5", "HDF5")
        import h5py

        with h5py.File(self.path("nogt.h5"), "w") as file:
            file.create_dataset("samples", data=np.stack([real], axis=1))
        self.assert_user_error(["--samples", self.path("nogt.h5")], "nogt.h5", "ground_truth")

    def test_too_few_generated_frames(self):
        real = videos(2, size=8)
        write_samples(self.path(), np.stack([real], axis=1), real, prime_frames=range(8))  # 8 generated
        self.assert_user_error(["--samples", self.path(), "--frames", "generated"], "8 frames", "at least 9")

    def test_bad_arguments(self):
        self.assert_user_error(["--samples", self.path(), "--frames", "some"], "--frames")


class FrameSelectionTest(unittest.TestCase):
    def test_generated_frames_are_the_non_primed_ones(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "samples.h5")
            real = videos(2, size=4)
            write_samples(path, np.stack([real], axis=1), real, prime_frames=[0, 1, 2, 3, 4])
            source = SamplesFile(path)
            self.assertEqual(source.frame_indices("generated"), list(range(5, 16)))
            self.assertEqual(source.frame_indices("all"), list(range(16)))
            np.testing.assert_array_equal(source.real(1, list(range(5, 16))), real[1, 5:])
            source.close()


class CacheTest(unittest.TestCase):
    def test_second_run_computes_nothing(self):
        real = videos(2)
        samples = np.stack([videos(2, first_phase=2), videos(2, first_phase=4)], axis=1)  # K = 2: 6 clips
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "samples.h5")
            write_samples(path, samples, real)
            code, stdout, stderr = run_cli("score", "--samples", path)
            self.assertEqual(code, 0, stderr)
            first = parse_single_json(self, stdout)
            self.assertIn("videos/s", stderr)  # the progress line
            self.assertEqual(first["i3d"]["videos_computed"], 6)
            self.assertEqual(first["i3d"]["videos_cached"], 0)
            self.assertEqual(first["fvd"]["trials"], 2)
            self.assertEqual(first["fvd"]["videos"], 2)
            self.assertEqual(first["fvd"]["frames_per_video"], 16)
            self.assertEqual(len(first["fvd"]["per_trial"]), 2)
            self.assertEqual(first["fvd"]["mean"], float(np.mean(first["fvd"]["per_trial"])))
            self.assertEqual(first["fvd"]["std"], float(np.std(first["fvd"]["per_trial"])))
            self.assertTrue(os.path.exists(os.path.join(folder, "i3d_features.h5")))
            self.assertEqual(sorted(os.listdir(folder)), ["i3d_features.h5", "samples.h5"])  # no temp file left

            code, stdout, stderr = run_cli("score", "--samples", path)
            self.assertEqual(code, 0, stderr)
            second = parse_single_json(self, stdout)
            self.assertEqual(second["i3d"]["videos_computed"], 0)
            self.assertEqual(second["i3d"]["videos_cached"], 6)
            self.assertIsNone(second["i3d"]["videos_per_second"])
            self.assertEqual(second["fvd"], first["fvd"])  # bit for bit: the same floats round-trip JSON

            code, stdout, stderr = run_cli("score", "--samples", path, "--trials", "1")
            self.assertEqual(code, 0, stderr)
            one = parse_single_json(self, stdout)
            self.assertEqual(one["fvd"]["per_trial"], first["fvd"]["per_trial"][:1])
            self.assertEqual(one["fvd"]["std"], 0.0)


class CacheFileTest(unittest.TestCase):
    def test_round_trip_and_damage(self):
        with tempfile.TemporaryDirectory() as folder, open(os.devnull, "w") as quiet:
            path = os.path.join(folder, "cache.h5")
            cache = FeatureCache(path, "identity A")
            key = clip_key(moving_bars(16, 8, 8))
            cache.put(key, np.arange(400, dtype=np.float32))
            self.assertTrue(cache.save(quiet))
            self.assertEqual(os.listdir(folder), ["cache.h5"])
            loaded = FeatureCache.load(path, "identity A", quiet)
            np.testing.assert_array_equal(loaded.get(key), np.arange(400, dtype=np.float32))
            self.assertEqual(FeatureCache.load(path, "identity B", quiet).features, {})  # another extractor

            with open(path, "r+b") as file:  # damage: cut the file in half
                file.truncate(os.path.getsize(path) // 2)
            log_path = os.path.join(folder, "log")
            with open(log_path, "w") as log:
                self.assertEqual(FeatureCache.load(path, "identity A", log).features, {})
            with open(log_path) as log:
                self.assertIn("unreadable", log.read())

    def test_key_depends_on_bytes_and_shape(self):
        clip = moving_bars(16, 8, 8)
        self.assertEqual(clip_key(clip), clip_key(clip.copy()))
        self.assertNotEqual(clip_key(clip), clip_key(clip[1:]))
        self.assertNotEqual(clip_key(clip), clip_key(clip.reshape(16, 4, 16, 3)))
        changed = clip.copy()
        changed[3, 2, 1, 0] ^= 1
        self.assertNotEqual(clip_key(clip), clip_key(changed))
