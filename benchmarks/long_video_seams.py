"""Seams of sliding-window samples (docs/long-videos.md, issue 22's check).

Reads a samples.h5 of long samples (attributes model_frames, window_stride) and prints, per frame, the mean
PSNR to the ground truth and the mean absolute change from the previous frame, for the samples and for the
real videos; then compares the frames where a window begins (its first new frame) with the frames inside
windows: the PSNR step and the temporal change at a boundary against their spread inside the windows.

    python benchmarks/long_video_seams.py samples/long/samples.h5 [--json]

Needs numpy and h5py (the FVD environment has both: ~/.cache/vt/fvd-env/bin/python).
"""
import argparse
import json

import h5py
import numpy as np


def boundaries_of(frames, clip, stride):
    """First new frame of every window w >= 1 (docs/design.md §12)."""
    starts, covered = [], clip
    while covered < frames:
        added = min(stride, frames - covered)
        starts.append(covered)
        covered += added
    return starts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("samples")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with h5py.File(args.samples, "r") as f:
        samples = f["samples"][...].astype(np.float64)      # [V, K, N, H, W, 3]
        real = f["ground_truth"][...].astype(np.float64)    # [V, N, H, W, 3]
        clip, stride = int(f.attrs["model_frames"]), int(f.attrs["window_stride"])
        primed = [int(x) for x in f.attrs["prime_frames"]]
    n = samples.shape[2]
    boundaries = boundaries_of(n, clip, stride)
    mse = ((samples - real[:, None]) ** 2).mean(axis=(3, 4, 5))               # [V, K, N]
    with np.errstate(divide="ignore"):
        psnr = np.where(mse > 0, 10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-12)), np.inf)
    psnr_frame = psnr.mean(axis=(0, 1))
    change = np.abs(np.diff(samples, axis=2)).mean(axis=(0, 1, 3, 4, 5))       # frame f vs f-1, f = 1..N-1
    real_change = np.abs(np.diff(real, axis=1)).mean(axis=(0, 2, 3, 4))
    generated = [f for f in range(n) if f not in primed]
    inside = [f for f in generated if f not in boundaries and f - 1 in generated]
    step = {f: psnr_frame[f] - psnr_frame[f - 1] for f in range(1, n)}
    report = {
        "samples": args.samples, "videos": samples.shape[0], "samples_per_video": samples.shape[1], "frames": n,
        "model_frames": clip, "window_stride": stride, "boundaries": boundaries,
        "psnr_per_frame": [round(float(x), 3) for x in psnr_frame],
        "sample_change_per_frame": [None] + [round(float(x), 3) for x in change],
        "real_change_per_frame": [None] + [round(float(x), 3) for x in real_change],
        "psnr_step_at_boundaries": [round(float(step[f]), 3) for f in boundaries],
        "psnr_step_inside": {"mean_abs": round(float(np.mean([abs(step[f]) for f in inside])), 3),
                             "max_abs": round(float(np.max([abs(step[f]) for f in inside])), 3)},
        "change_at_boundaries": [round(float(change[f - 1]), 3) for f in boundaries],
        "change_inside": {"mean": round(float(np.mean([change[f - 1] for f in inside])), 3),
                          "max": round(float(np.max([change[f - 1] for f in inside])), 3)},
    }
    report["largest_boundary_psnr_step"] = max(abs(x) for x in report["psnr_step_at_boundaries"])
    report["boundary_psnr_step_within_inside_spread"] = report["largest_boundary_psnr_step"] <= report["psnr_step_inside"]["max_abs"]
    report["boundary_change_within_inside_spread"] = max(report["change_at_boundaries"]) <= report["change_inside"]["max"]
    if args.json:
        print(json.dumps(report))
        return
    print(f"{args.samples}: {report['videos']} videos x {report['samples_per_video']} samples, {n} frames, "
          f"windows of {clip} with stride {stride}; window boundaries (first new frame) {boundaries}")
    print("frame  PSNR(dB)  step   |sample change|  |real change|")
    for f in range(n):
        mark = "  <- window begins" if f in boundaries else ("  primed" if f in primed else "")
        print(f"{f:5d}  {psnr_frame[f]:8.3f}  {step.get(f, float('nan')):+6.3f}  "
              f"{(change[f - 1] if f else float('nan')):14.3f}  {(real_change[f - 1] if f else float('nan')):12.3f}{mark}")
    print(f"PSNR step at boundaries {report['psnr_step_at_boundaries']}; inside windows mean |step| "
          f"{report['psnr_step_inside']['mean_abs']}, max {report['psnr_step_inside']['max_abs']}")
    print(f"sample change at boundaries {report['change_at_boundaries']}; inside windows mean {report['change_inside']['mean']}, "
          f"max {report['change_inside']['max']}")


if __name__ == "__main__":
    main()
