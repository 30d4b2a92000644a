"""python -m vt_fvd score --samples PATH [--trials N] [--frames all|generated] [--cache PATH] [--batch B]
                       [--window W [--window-mode first|all] [--window-stride S]]
python -m vt_fvd lpips --samples PATH [--cache PATH] [--batch B]
python -m vt_fvd selftest

`score` (FVD) and `lpips` print one JSON object on stdout; progress and warnings go to stderr. User errors
(arguments, the file) are one line on stderr and exit code 2, without a traceback. SIGTERM ends a run like
^C, so the caches keep what was computed.
"""
import argparse
import json
import resource
import signal
import sys

from . import UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        print(f"vt_fvd: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def main(argv=None) -> int:
    parser = _Parser(prog="python -m vt_fvd", description="FVD of vt's samples.h5 (docs/design.md §10)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    score = commands.add_parser("score", help="FVD of a samples.h5; one JSON object on stdout")
    score.add_argument("--samples", required=True, help="samples.h5 written by vt sample --all")
    score.add_argument("--trials", type=int, help="trials, one per sample index 0..N-1 (default: K, all of them)")
    score.add_argument("--frames", choices=("all", "generated"), default="all",
                       help="all frames (default, primed included) or only the generated (non-primed) frames")
    score.add_argument("--cache", help="I3D feature cache (default: i3d_features.h5 beside the samples file)")
    score.add_argument("--batch", type=int, default=1,
                       help="videos per I3D call (default 1: on 2 cores batches of 1, 2 and 4 run equally fast, "
                            "and 1 needs the least memory)")
    score.add_argument("--window", type=int, metavar="W",
                       help="score W-frame windows of each video instead of whole videos (long samples, "
                            "docs/design.md §12); each window is one I3D clip")
    score.add_argument("--window-mode", choices=("first", "all"),
                       help="with --window: first (only frames [0, W) of each video) or all (default: every "
                            "window that fits, starting at 0, S, 2S, ...; the real windows pooled against the "
                            "generated ones, the paper's 'unrolled' FVD)")
    score.add_argument("--window-stride", type=int, metavar="S",
                       help="with --window-mode all: frames between window starts (default W: no overlap)")
    lpips = commands.add_parser("lpips", help="LPIPS of every generated frame of a samples.h5; one JSON object on stdout")
    lpips.add_argument("--samples", required=True, help="samples.h5 (docs/design.md §10)")
    lpips.add_argument("--cache", help="LPIPS score cache (default: lpips_scores.h5 beside the samples file)")
    lpips.add_argument("--batch", type=int, default=64, help="generated frames per network call (default 64)")
    commands.add_parser("selftest", help="run the package's tests (unittest)")
    args = parser.parse_args(argv)

    if args.command == "selftest":
        import os
        import unittest

        from . import tests

        start = os.path.dirname(tests.__file__)
        suite = unittest.defaultTestLoader.discover(start, top_level_dir=os.path.dirname(os.path.dirname(start)))
        return 0 if unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful() else 1

    signal.signal(signal.SIGTERM, _terminated)
    if args.command == "lpips":
        return _lpips(args)

    from .score import score as run_score

    try:
        result = run_score(args.samples, trials=args.trials, frames=args.frames, cache_path=args.cache, batch=args.batch,
                           window=args.window, window_stride=args.window_stride, window_mode=args.window_mode)
    except UserError as error:
        print(f"vt_fvd: error: {error}", file=sys.stderr)
        return 2
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    fvd = result["fvd"]
    windows = f" of {fvd['windows_per_video']} {fvd['window']}-frame window(s) per video" if "window" in fvd else ""
    print(f"vt_fvd: FVD {fvd['mean']:.3f} ± {fvd['std']:.3f} over {fvd['trials']} trials{windows}; "
          f"peak RSS {peak:.0f} MiB", file=sys.stderr)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


def _lpips(args) -> int:
    from .lpips_score import score as run_lpips

    try:
        result = run_lpips(args.samples, cache_path=args.cache, batch=args.batch)
    except UserError as error:
        print(f"vt_fvd: error: {error}", file=sys.stderr)
        return 2
    timing = result["timing"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    rate = f", {timing['frames_per_second']} frames/s" if timing["frames_per_second"] else ""
    print(f"vt_fvd: LPIPS of {timing['pairs']} frames: {timing['pairs_computed']} computed{rate}, "
          f"{timing['pairs_cached']} cached; peak RSS {peak:.0f} MiB", file=sys.stderr)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


def _terminated(signum, frame):
    raise KeyboardInterrupt  # unwinds like ^C: `finally` blocks save the caches


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("vt_fvd: interrupted", file=sys.stderr)
        sys.exit(130)
