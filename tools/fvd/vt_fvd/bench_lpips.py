"""LPIPS scoring throughput (benchmarks/RESULTS.md): `python -m vt_fvd lpips`'s path on a throwaway samples.h5
of moving-bar videos (content does not change the cost), with a fresh cache, so every pair is computed.

    <env>/bin/python -m vt_fvd.bench_lpips [--sizes 32 64] [--videos 16] [--samples 4] [--frames 16] [--batch 64] [--repeats 3]

Prints one line per size and batch: generated frames scored per second (network time, and wall time with
reading, hashing and the cache), the median of the repeats (the first run per size also compiles; it is
left out).
"""
import argparse
import os
import statistics
import tempfile

import numpy as np

from .lpips_score import score
from .synthetic import moving_bars
from .tests import write_samples


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m vt_fvd.bench_lpips")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--frames", type=int, default=16, help="frames per video; frame 0 is primed")
    parser.add_argument("--batch", type=int, nargs="+", default=[64])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    threads = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as folder, open(os.devnull, "w") as quiet:
        for size in args.sizes:
            path = os.path.join(folder, f"samples{size}.h5")
            real = np.stack([moving_bars(args.frames, size, size, video) for video in range(args.videos)])
            samples = np.stack([np.stack([moving_bars(args.frames, size, size, 100 + args.samples * video + sample)
                                          for sample in range(args.samples)]) for video in range(args.videos)])
            write_samples(path, samples, real, prime_frames=[0])
            for batch in args.batch:
                network, wall = [], []
                for repeat in range(args.repeats + 1):
                    cache = os.path.join(folder, f"cache-{size}-{batch}-{repeat}.h5")
                    timing = score(path, cache_path=cache, batch=batch, log=quiet)["timing"]
                    if repeat:  # the first run compiles
                        network.append(timing["pairs_computed"] / timing["scoring_seconds"])
                        wall.append(timing["pairs"] / timing["seconds"])
                print(f"LPIPS {size}x{size}, batch {batch}, {args.videos} videos x {args.samples} samples x "
                      f"{args.frames - 1} generated frames, {threads} CPUs: {statistics.median(network):.0f} frames/s "
                      f"(network), {statistics.median(wall):.0f} frames/s (whole run); runs {[round(r) for r in network]}",
                      flush=True)


if __name__ == "__main__":
    main()
