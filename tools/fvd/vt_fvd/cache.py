"""Content-keyed caches of per-input results, so re-scoring a file (or another file with the same pixels)
recomputes nothing it has.

FeatureCache, the I3D feature cache: the 400 float32 logits of one clip, exactly as I3D sees it, keyed by
clip_key(clip): sha256 of the clip's shape and uint8 bytes after frame selection. A feature depends only on
that clip (and the extractor), so the same clip hits whatever file, video index or frame selection it came
from; a real video scored with all frames and with generated frames only gives two different clips.
File (HDF5, default i3d_features.h5 beside samples.h5): attributes format "vt-fvd-i3d-features",
version 1, extractor (i3d.extractor_identity(): model, package versions, preprocessing); datasets
keys |S64 [N] (hex digests) and features float32 [N, 400].

ScoreCache, the LPIPS score cache (vt_fvd.lpips): one float32 per (real frame, generated frame) pair, keyed
by lpips.pair_key; file lpips_scores.h5, format "vt-fvd-lpips-scores", datasets keys |S64 [N] and
scores float32 [N], attribute extractor = lpips.scorer_identity().

Both: a cache of another extractor, or one that cannot be read, is reported on stderr and ignored (then
replaced). Written whole under a temporary name in the same folder, fsynced, renamed over the old one,
folder fsynced: a crash leaves the old or the new file, never a damaged one.
"""
import hashlib
import os
import sys

import numpy as np

FORMAT, VERSION = "vt-fvd-i3d-features", 1


def clip_key(clip: np.ndarray) -> str:
    """sha256 hex of a uint8 clip [T, H, W, 3]: its shape, then its C-order bytes."""
    clip = np.ascontiguousarray(clip)
    digest = hashlib.sha256(f"vt-fvd clip uint8 {list(clip.shape)}\n".encode())
    digest.update(clip.data)
    return digest.hexdigest()


class FeatureCache:
    FORMAT, VERSION, DATASET, ROW = FORMAT, VERSION, "features", (400,)
    WHAT = "feature cache"

    def __init__(self, path: str, identity: str, features: dict | None = None):
        self.path, self.identity = path, identity
        self.features: dict[str, np.ndarray] = features or {}
        self.added = 0

    @classmethod
    def load(cls, path: str, identity: str, log=sys.stderr) -> "FeatureCache":
        """The cache at path; empty (with one line on `log`) when missing-but-expected, damaged or foreign."""
        if not os.path.exists(path):
            return cls(path, identity)
        try:
            import h5py

            with h5py.File(path, "r") as file:
                if file.attrs.get("format") != cls.FORMAT or int(file.attrs.get("version", -1)) != cls.VERSION:
                    raise ValueError(f"not a {cls.FORMAT} version {cls.VERSION} file")
                made_by = file.attrs.get("extractor")
                if made_by != identity:
                    print(f"vt_fvd: warning: {cls.WHAT} {path} was made by another extractor ({made_by}); "
                          "ignoring it, it will be replaced", file=log)
                    return cls(path, identity)
                keys, features = file["keys"][...], file[cls.DATASET][...]
            if keys.ndim != 1 or features.shape != (keys.shape[0],) + cls.ROW or features.dtype != np.float32:
                raise ValueError(f"keys {keys.shape} and {cls.DATASET} {features.dtype} {features.shape} do not match")
            if not np.all(np.isfinite(features)):
                raise ValueError(f"{cls.DATASET} are not all finite")
            entries = {key.decode("ascii"): row for key, row in zip(keys, features)}
            if any(len(key) != 64 for key in entries):
                raise ValueError("keys are not sha256 hex digests")
            return cls(path, identity, entries)
        except Exception as error:  # a damaged cache costs recomputation, never the run
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            print(f"vt_fvd: warning: {cls.WHAT} {path} is unreadable ({reason}); ignoring it, it will be replaced "
                  "(what it held is recomputed)", file=log)
            return cls(path, identity)

    def get(self, key: str):
        return self.features.get(key)

    def put(self, key: str, features: np.ndarray):
        self.features[key] = np.asarray(features, dtype=np.float32)
        self.added += 1

    def save(self, log=sys.stderr) -> bool:
        """Writes every entry atomically; a failure is reported on `log` and returns False."""
        import h5py

        folder = os.path.dirname(os.path.abspath(self.path))
        temporary = os.path.join(folder, f".{os.path.basename(self.path)}.tmp-{os.getpid()}")
        keys = sorted(self.features)
        try:
            with h5py.File(temporary, "w") as file:
                file.attrs["format"], file.attrs["version"] = self.FORMAT, self.VERSION
                file.attrs["extractor"] = self.identity
                file.create_dataset("keys", data=np.array(keys, dtype="S64"))
                file.create_dataset(self.DATASET, data=np.stack([self.features[k] for k in keys]) if keys
                                    else np.zeros((0,) + self.ROW, np.float32))
            descriptor = os.open(temporary, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.replace(temporary, self.path)
            descriptor = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            return True
        except BaseException as error:  # an interrupted write leaves no temporary behind either
            try:
                os.unlink(temporary)
            except OSError:
                pass
            if not isinstance(error, OSError):
                raise
            print(f"vt_fvd: warning: could not write {self.WHAT} {self.path} ({error}); nothing new cached",
                  file=log)
            return False


class ScoreCache(FeatureCache):
    """LPIPS scores, one float32 per frame pair (keys from vt_fvd.lpips.pair_key)."""
    FORMAT, VERSION, DATASET, ROW = "vt-fvd-lpips-scores", 1, "scores", ()
    WHAT = "LPIPS score cache"
