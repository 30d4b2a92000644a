"""FVD of a samples.h5 (docs/design.md §10): one trial per sample index s < trials, trial s comparing sample s
of every test video with the real videos; mean ± population std (ddof 0) over trials.

Frames: 'all' (default, primed frames included as most papers do) or 'generated' (only the frames not in
prime_frames — the same frames are taken from the real videos, so both sides see like clips).

Windows (docs/design.md §12, long samples): with `window` W, each video's selected frames are cut into
W-frame clips and each clip is one I3D input. Mode 'first' keeps only the first (frames [0, W) of the
selection); mode 'all' keeps every window starting at 0, S, 2S, … (S = `window_stride`, default W: no
overlap) that fits, and the Fréchet distance of a trial compares the pooled windows of the real videos
with the pooled windows of sample s (videos × windows clips a side) — the paper's "unrolled" FVD. With
--frames generated the windows are cut from the generated frames only, which must then be consecutive
(a window must not join frames that were not adjacent). Without `window` a video is one clip, as before.

Two passes over the file: the first hashes every clip and looks it up in the cache (and dedups clips
that occur twice, e.g. a sample equal to its real video, or overlapping windows of a still video), the
second runs I3D on the missing clips only,
`batch` at a time, so memory stays at a few batches of 224×224 frames whatever the file's size.
"""
import os
import sys
import time

import numpy as np

from . import UserError
from .cache import FeatureCache, clip_key
from .frechet import frechet_distance
from .i3d import DESCRIPTION, MIN_FRAMES, SIZE, extractor_identity
from .progress import Progress
from .samples import SamplesFile

SAVE_EVERY_SECONDS = 120.0  # a long run checkpoints its cache, so a crash loses at most this much I3D work


WINDOW_MODES = ("first", "all")


def window_starts(length: int, window: int, stride: int, mode: str) -> list[int]:
    """Where the W-frame windows of a `length`-frame selection start (positions in the selection):
    'first' → [0]; 'all' → 0, S, 2S, … while s + W ≤ length. W ≤ length, S ≥ 1 (checked by the caller)."""
    if mode == "first":
        return [0]
    return list(range(0, length - window + 1, stride))


def score(samples_path: str, trials: int | None = None, frames: str = "all", cache_path: str | None = None,
          batch: int = 1, log=sys.stderr, window: int | None = None, window_stride: int | None = None,
          window_mode: str | None = None) -> dict:
    if frames not in ("all", "generated"):
        raise UserError(f"--frames must be all or generated, not {frames}")
    if batch < 1:
        raise UserError(f"--batch must be at least 1, not {batch}")
    if window is None:
        if window_stride is not None or window_mode is not None:
            option = "--window-stride" if window_stride is not None else "--window-mode"
            raise UserError(f"{option} needs --window W (the frames per window)")
    else:
        window_mode = window_mode or "all"
        if window_mode not in WINDOW_MODES:
            raise UserError(f"--window-mode must be first or all, not {window_mode}")
        if window < MIN_FRAMES:
            raise UserError(f"--window {window} is too short: I3D needs at least {MIN_FRAMES} frames per clip")
        if window_stride is not None and window_mode == "first":
            raise UserError(f"--window-stride {window_stride} applies to --window-mode all only "
                            f"(first scores frames [0, {window}) of each video)")
        if window_stride is not None and window_stride < 1:
            raise UserError(f"--window-stride must be at least 1, not {window_stride}")
    source = SamplesFile(samples_path)
    try:
        return _score(source, trials, frames, cache_path, batch, log, window, window_stride, window_mode)
    finally:
        source.close()


def _score(source: SamplesFile, trials, frames, cache_path, batch, log, window=None, window_stride=None,
           window_mode=None) -> dict:
    path, videos, k = source.path, source.videos, source.samples_per_video
    trials = k if trials is None else trials
    if not 1 <= trials <= k:
        raise UserError(f"{path}: --trials {trials} is out of range; the file has K = {k} samples per video (1 ≤ trials ≤ K)")
    if videos < 2:
        raise UserError(f"{path}: FVD needs at least 2 videos (a covariance of each set), the file has {videos}")
    indices = source.frame_indices(frames)
    if len(indices) < MIN_FRAMES:
        raise UserError(f"{path}: --frames {frames} leaves {len(indices)} frames; I3D needs at least {MIN_FRAMES}")
    # Every clip I3D sees is frames [s, s + length) of a video's selected frames, s in starts.
    if window is None:
        length, stride, starts = len(indices), None, [0]
    else:
        if window > len(indices):
            raise UserError(f"{path}: --window {window} is longer than the {len(indices)} frames of each video "
                            f"(--frames {frames})")
        if frames == "generated" and indices != list(range(indices[0], indices[-1] + 1)):
            raise UserError(f"{path}: --frames generated with --window: the generated frames are not consecutive "
                            f"(prime_frames {source.prime_frames()}), a window would join frames that are not "
                            "adjacent; use --frames all")
        length = window
        stride = (window_stride or window) if window_mode == "all" else None
        starts = window_starts(len(indices), window, stride, window_mode)

    def windows(clip):
        return [clip[start:start + length] for start in starts]

    cache_path = cache_path or os.path.join(os.path.dirname(os.path.abspath(path)), "i3d_features.h5")
    cache = FeatureCache.load(cache_path, extractor_identity(), log)

    # Pass 1: the key of every clip; where to read each clip that is not cached yet.
    real_keys = []
    sample_keys = [[] for _ in range(trials)]
    missing: dict[str, tuple] = {}
    for video in range(videos):
        for start, clip in zip(starts, windows(source.real(video, indices))):
            key = clip_key(clip)
            real_keys.append(key)
            if cache.get(key) is None:
                missing.setdefault(key, (video, None, start))
        for sample in range(trials):
            for start, clip in zip(starts, windows(source.sample(video, sample, indices))):
                key = clip_key(clip)
                sample_keys[sample].append(key)
                if cache.get(key) is None:
                    missing.setdefault(key, (video, sample, start))
    cached = len(set(real_keys).union(*map(set, sample_keys))) - len(missing)
    shape = f"{len(indices)} frames of {source.height}x{source.width} each"
    if window is not None:
        shape += (f", {len(starts)} window(s) of {window} frames"
                  + (f" (stride {stride})" if stride is not None else " (the first only)") + " each")
    print(f"vt_fvd: {path}: {videos} videos × {trials} trials, {shape}; {cached} clips cached, "
          f"{len(missing)} to compute", file=log, flush=True)

    # Pass 2: I3D on the missing clips.
    seconds = 0.0
    if missing:
        started = time.monotonic()
        from .i3d import I3D

        model = I3D(batch=min(batch, len(missing)))
        progress = Progress("I3D", "videos", len(missing), stream=log)
        items = list(missing.items())  # in file order: a video's windows follow each other
        last_read = {}

        def read(video, sample, first):  # one read per (video, sample), however many windows it has
            if (video, sample) not in last_read:
                last_read.clear()
                last_read[video, sample] = source.real(video, indices) if sample is None else source.sample(video, sample, indices)
            return last_read[video, sample][first:first + length]

        last_save = time.monotonic()
        try:
            for start in range(0, len(items), model.batch):
                chunk = items[start:start + model.batch]
                clips = np.stack([read(*where) for _, where in chunk])
                for (key, _), features in zip(chunk, model(clips)):
                    cache.put(key, features)
                progress.advance(len(chunk))
                if time.monotonic() - last_save > SAVE_EVERY_SECONDS and start + model.batch < len(items):
                    cache.save(log)
                    last_save = time.monotonic()
        finally:  # also on an error or ^C: what was computed stays computed
            if cache.added:
                cache.save(log)
        seconds = time.monotonic() - started

    real = np.stack([cache.get(key) for key in real_keys])
    per_trial = [frechet_distance(real, np.stack([cache.get(key) for key in keys])) for keys in sample_keys]
    result = {
        "fvd": {
            "mean": float(np.mean(per_trial)),
            "std": float(np.std(per_trial)),  # population (ddof 0) over trials
            "trials": trials,
            "videos": videos,
            "per_trial": per_trial,
            "frames": frames,
            "frames_per_video": len(indices),
            "real_videos": videos,
            "covariance": "unbiased (ddof 1)",
            "resize": f"bilinear to {SIZE}x{SIZE}",
            "scale": "[-1, 1]",
            "features": DESCRIPTION,
        },
        "i3d": {
            "videos_computed": len(missing),
            "videos_cached": cached,
            "seconds": round(seconds, 3),
            "videos_per_second": round(len(missing) / seconds, 4) if missing and seconds > 0 else None,
        },
    }
    if window is not None:  # only then: a whole-video score prints what it always printed
        result["fvd"].update({
            "window": window,  # frames per I3D clip
            "window_mode": window_mode,
            "window_stride": stride,  # None for mode first
            "windows_per_video": len(starts),
            "window_starts": [indices[start] for start in starts],  # video frame indices
            "clips_per_set": videos * len(starts),  # real windows, and each trial's generated windows
        })
    return result
