"""LPIPS of every generated frame of every sample of a samples.h5 against the real frame (docs/design.md §11):
scores [videos, K, G] over the G generated frames (those not in prime_frames), in the file's order.

Two passes, as for FVD: the first hashes every (real frame, generated frame) pair and looks it up in the
score cache (lpips_scores.h5 beside the samples; pairs that occur twice are computed once), the second runs
the network on the missing pairs only, `batch` generated frames a call, each real frame's features
computed once per video for all its K samples. The cache is saved every SAVE_EVERY_SECONDS and when the
run ends in any way (error, ^C, SIGTERM), so an interrupted or repeated scoring recomputes nothing it has.
"""
import os
import sys
import time

import numpy as np

from . import UserError
from .cache import ScoreCache
from .samples import SamplesFile

SAVE_EVERY_SECONDS = 120.0


def score(samples_path: str, cache_path: str | None = None, batch: int = 64, log=sys.stderr, model=None) -> dict:
    """The JSON object `python -m vt_fvd lpips` prints. `model` replaces the network (tests)."""
    if batch < 1:
        raise UserError(f"--batch must be at least 1, not {batch}")
    source = SamplesFile(samples_path)
    try:
        return _score(source, cache_path, batch, log, model)
    finally:
        source.close()


def _score(source: SamplesFile, cache_path, batch, log, model) -> dict:
    from .lpips import DESCRIPTION, MIN_SIZE, SCALING, frame_digest, pair_key, scorer_identity, too_small
    from .progress import Progress

    started = time.monotonic()
    path, videos, k = source.path, source.videos, source.samples_per_video
    if too_small(source.height, source.width):
        raise UserError(f"{path}: frames are {source.height}x{source.width} pixels; LPIPS (AlexNet) needs at least "
                        f"{MIN_SIZE}x{MIN_SIZE} (smaller frames leave nothing after its second max-pool)")
    generated = source.frame_indices("generated")
    if not generated:
        raise UserError(f"{path}: every frame is primed (prime_frames); there are no generated frames to score")
    g = len(generated)
    cache_path = cache_path or os.path.join(os.path.dirname(os.path.abspath(path)), "lpips_scores.h5")
    cache = ScoreCache.load(cache_path, scorer_identity(), log)

    # Pass 1: the key of every pair; which ones are missing (first occurrence of each key).
    keys = np.empty((videos, k, g), dtype=object)
    missing: dict[str, tuple] = {}
    cached = 0
    for video in range(videos):
        real = source.real(video, generated)
        real_digests = [frame_digest(frame) for frame in real]
        clips = source.samples_of(video, generated)
        for sample in range(k):
            for frame in range(g):
                key = pair_key(real_digests[frame], clips[sample, frame])
                keys[video, sample, frame] = key
                if cache.get(key) is not None:
                    cached += 1
                else:
                    missing.setdefault(key, (video, sample, frame))
    total = videos * k * g
    hashing_seconds = time.monotonic() - started
    print(f"vt_fvd: {path}: LPIPS of {videos} videos × {k} samples × {g} generated frames of "
          f"{source.height}x{source.width}; {cached} pairs cached, {len(missing)} to compute", file=log, flush=True)

    # Pass 2: the network on the missing pairs, in (video, sample, frame) order.
    seconds = 0.0
    if missing:
        compute_started = time.monotonic()
        if model is None:
            from .lpips import LPIPS

            model = LPIPS(batch=min(batch, len(missing)))
        progress = Progress("LPIPS", "frames", len(missing), stream=log, rate_digits=1)
        items = list(missing.items())
        reals: dict[int, tuple] = {}  # video → features of its real generated frames
        clips: dict[int, np.ndarray] = {}  # video → its samples' generated frames [K, G, H, W, 3]
        last_save = time.monotonic()
        try:
            for start in range(0, len(items), model.batch):
                chunk = items[start:start + model.batch]
                needed = sorted({video for _, (video, _, _) in chunk})
                for video in list(reals):
                    if video not in needed:
                        del reals[video], clips[video]
                for video in needed:
                    if video not in reals:
                        reals[video] = model.real_features(source.real(video, generated))
                        clips[video] = source.samples_of(video, generated)
                real_features = tuple(np.stack([reals[v][layer][f] for _, (v, _, f) in chunk])
                                      for layer in range(len(reals[needed[0]])))
                frames = np.stack([clips[v][s, f] for _, (v, s, f) in chunk])
                for (key, _), value in zip(chunk, model(real_features, frames)):
                    cache.put(key, value)
                progress.advance(len(chunk))
                if time.monotonic() - last_save > SAVE_EVERY_SECONDS and start + model.batch < len(items):
                    cache.save(log)
                    last_save = time.monotonic()
        finally:  # also on an error, ^C or SIGTERM: what was computed stays computed
            if cache.added:
                cache.save(log)
        seconds = time.monotonic() - compute_started

    scores = np.array([float(cache.get(key)) for key in keys.flat], dtype=np.float32).reshape(videos, k, g)
    if not np.all(np.isfinite(scores)):
        raise RuntimeError("LPIPS scores are not all finite")  # the network checks each batch; cannot happen
    return {
        "lpips": {
            "scores": scores.tolist(),  # float32 values as JSON doubles: exact round trip to float32
            "videos": videos,
            "samples_per_video": k,
            "generated_frames": generated,
            "height": source.height,
            "width": source.width,
            "network": DESCRIPTION,
            "scaling": SCALING,
        },
        "timing": {
            "pairs": total,
            "pairs_computed": len(missing),
            "pairs_cached": cached,  # the rest are repeats of a computed pair (e.g. two equal samples)
            "batch": batch,
            "hashing_seconds": round(hashing_seconds, 3),
            "scoring_seconds": round(seconds, 3),
            "seconds": round(time.monotonic() - started, 3),
            "frames_per_second": round(len(missing) / seconds, 2) if missing and seconds > 0 else None,
        },
    }
