"""FVD of a samples.h5 (docs/design.md §10): one trial per sample index s < trials, trial s comparing sample s
of every test video with the real videos; mean ± population std (ddof 0) over trials.

Frames: 'all' (default, primed frames included as most papers do) or 'generated' (only the frames not in
prime_frames — the same frames are taken from the real videos, so both sides see like clips).

Two passes over the file: the first hashes every clip and looks it up in the cache (and dedups clips
that occur twice, e.g. a sample equal to its real video), the second runs I3D on the missing clips only,
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


def score(samples_path: str, trials: int | None = None, frames: str = "all", cache_path: str | None = None,
          batch: int = 1, log=sys.stderr) -> dict:
    if frames not in ("all", "generated"):
        raise UserError(f"--frames must be all or generated, not {frames}")
    if batch < 1:
        raise UserError(f"--batch must be at least 1, not {batch}")
    source = SamplesFile(samples_path)
    try:
        return _score(source, trials, frames, cache_path, batch, log)
    finally:
        source.close()


def _score(source: SamplesFile, trials, frames, cache_path, batch, log) -> dict:
    path, videos, k = source.path, source.videos, source.samples_per_video
    trials = k if trials is None else trials
    if not 1 <= trials <= k:
        raise UserError(f"{path}: --trials {trials} is out of range; the file has K = {k} samples per video (1 ≤ trials ≤ K)")
    if videos < 2:
        raise UserError(f"{path}: FVD needs at least 2 videos (a covariance of each set), the file has {videos}")
    indices = source.frame_indices(frames)
    if len(indices) < MIN_FRAMES:
        raise UserError(f"{path}: --frames {frames} leaves {len(indices)} frames; I3D needs at least {MIN_FRAMES}")

    cache_path = cache_path or os.path.join(os.path.dirname(os.path.abspath(path)), "i3d_features.h5")
    cache = FeatureCache.load(cache_path, extractor_identity(), log)

    # Pass 1: the key of every clip; where to read each clip that is not cached yet.
    real_keys = []
    sample_keys = [[] for _ in range(trials)]
    missing: dict[str, tuple] = {}
    for video in range(videos):
        key = clip_key(source.real(video, indices))
        real_keys.append(key)
        if cache.get(key) is None:
            missing.setdefault(key, (video, None))
        for sample in range(trials):
            key = clip_key(source.sample(video, sample, indices))
            sample_keys[sample].append(key)
            if cache.get(key) is None:
                missing.setdefault(key, (video, sample))
    cached = len(set(real_keys).union(*map(set, sample_keys))) - len(missing)
    print(f"vt_fvd: {path}: {videos} videos × {trials} trials, {len(indices)} frames of "
          f"{source.height}x{source.width} each; {cached} clips cached, {len(missing)} to compute", file=log, flush=True)

    # Pass 2: I3D on the missing clips.
    seconds = 0.0
    if missing:
        started = time.monotonic()
        from .i3d import I3D

        model = I3D(batch=min(batch, len(missing)))
        progress = Progress("I3D", "videos", len(missing), stream=log)
        items = list(missing.items())
        last_save = time.monotonic()
        try:
            for start in range(0, len(items), model.batch):
                chunk = items[start:start + model.batch]
                clips = np.stack([source.real(v, indices) if s is None else source.sample(v, s, indices)
                                  for _, (v, s) in chunk])
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
    return {
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
