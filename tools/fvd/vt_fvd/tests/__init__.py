"""vt_fvd's tests: python -m vt_fvd selftest (or python -m unittest discover -s vt_fvd/tests -t . from tools/fvd).

Helpers shared by the test files: writing a samples.h5 as `vt sample --all` does, running the CLI.
"""
import json
import os
import subprocess
import sys

import numpy as np

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_samples(path, samples, ground_truth, prime_frames=(0,), seed=7, temperature=1.0):
    """samples.h5 per docs/design.md §10: samples [videos, K, T, H, W, 3], ground_truth [videos, T, H, W, 3]."""
    import h5py

    with h5py.File(path, "w") as file:
        file.create_dataset("samples", data=samples)
        file.create_dataset("ground_truth", data=ground_truth)
        file.attrs["seed"] = np.int64(seed)
        file.attrs["temperature"] = np.float64(temperature)
        file.attrs["prime_frames"] = np.array(prime_frames, dtype=np.int64)
        file.attrs["samples_per_video"] = np.int64(np.asarray(samples).shape[1])


def run_cli(*arguments):
    """(exit code, stdout, stderr) of python -m vt_fvd with this very package on the path."""
    environment = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
    done = subprocess.run([sys.executable, "-m", "vt_fvd", *arguments], capture_output=True, text=True,
                          env=environment, timeout=600)
    return done.returncode, done.stdout, done.stderr


def parse_single_json(test, stdout):
    """stdout must be exactly one JSON object on one line."""
    lines = stdout.splitlines()
    test.assertEqual(len(lines), 1, f"stdout is not one line: {stdout[:500]!r}")
    return json.loads(lines[0])


def assert_user_error(test, command, arguments, *words):
    """`python -m vt_fvd COMMAND ARGUMENTS` fails as a user error: exit 2, nothing on stdout, one line on
    stderr (no traceback) that contains every one of `words`."""
    code, stdout, stderr = run_cli(command, *arguments)
    test.assertEqual(code, 2, stderr)
    test.assertEqual(stdout, "")
    lines = stderr.splitlines()
    test.assertEqual(len(lines), 1, f"not one line: {stderr!r}")
    test.assertNotIn("Traceback", stderr)
    for word in words:
        test.assertIn(word, lines[0])
