"""Reads and checks samples.h5 as `vt sample --all` writes it (docs/design.md §10):

    samples       uint8 [videos, K, T, H, W, 3]   K samples continuing each test video's primed frames
    ground_truth  uint8 [videos, T, H, W, 3]      the real test videos
    attributes    seed, temperature, prime_frames (frame indices given, not generated), samples_per_video

Clips are read one at a time, or one video's K samples at a time (a file of 256 videos × K = 100 at 64×64
holds 5 GB of samples).
Every problem with the file is a UserError naming the file.
"""
import os

import numpy as np

from . import UserError


class SamplesFile:
    def __init__(self, path: str):
        import h5py

        self.path = path
        if not os.path.exists(path):
            raise UserError(f"{path}: no such file")
        if os.path.isdir(path):
            raise UserError(f"{path}: is a folder, not a samples.h5 file")
        try:
            self.file = h5py.File(path, "r")
        except OSError as error:
            raise UserError(f"{path}: cannot be read as HDF5 ({_first_line(error)})") from None
        self.samples = self._dataset("samples", 6, "[videos, K, T, H, W, 3]")
        self.ground_truth = self._dataset("ground_truth", 5, "[videos, T, H, W, 3]")
        self.videos, self.samples_per_video, self.frames, self.height, self.width, _ = self.samples.shape
        if self.ground_truth.shape != (self.videos,) + self.samples.shape[2:]:
            raise UserError(f"{path}: samples {list(self.samples.shape)} and ground_truth "
                            f"{list(self.ground_truth.shape)} do not match (videos, T, H, W must be equal)")
        if self.samples_per_video < 1 or self.frames < 1 or self.height < 1 or self.width < 1:
            raise UserError(f"{path}: samples {list(self.samples.shape)} is empty")

    def _dataset(self, name: str, rank: int, shape: str):
        import h5py

        item = self.file.get(name)
        if not isinstance(item, h5py.Dataset):
            raise UserError(f"{self.path}: has no dataset {name} (docs/design.md §10: {name} uint8 {shape})")
        if item.dtype != np.uint8 or item.ndim != rank or item.shape[-1] != 3:
            raise UserError(f"{self.path}: dataset {name} is {item.dtype} {list(item.shape)}, not uint8 {shape}")
        return item

    def prime_frames(self) -> list[int]:
        """The primed frame indices, checked against T."""
        if "prime_frames" not in self.file.attrs:
            raise UserError(f"{self.path}: has no prime_frames attribute (needed for --frames generated)")
        primed = np.atleast_1d(self.file.attrs["prime_frames"])
        if primed.dtype.kind not in "iu" or primed.ndim != 1:
            raise UserError(f"{self.path}: prime_frames is {primed.dtype} {list(primed.shape)}, not integer frame indices")
        primed = [int(frame) for frame in primed]
        if any(not 0 <= frame < self.frames for frame in primed) or len(set(primed)) != len(primed):
            raise UserError(f"{self.path}: prime_frames {primed} are not distinct frames of 0..{self.frames - 1}")
        return primed

    def frame_indices(self, selection: str) -> list[int]:
        """'all' → every frame; 'generated' → the frames not in prime_frames, in order."""
        if selection == "all":
            return list(range(self.frames))
        primed = set(self.prime_frames())
        return [frame for frame in range(self.frames) if frame not in primed]

    def real(self, video: int, frames: list[int]) -> np.ndarray:
        return self._read(self.ground_truth, (video,), frames)

    def sample(self, video: int, sample: int, frames: list[int]) -> np.ndarray:
        return self._read(self.samples, (video, sample), frames)

    def samples_of(self, video: int, frames: list[int]) -> np.ndarray:
        """All K samples of one video, [K, len(frames), H, W, 3], in one read (LPIPS scores them together)."""
        return self._read(self.samples, (video,), frames, axis=1)

    def _read(self, dataset, index: tuple, frames: list[int], axis: int = 0) -> np.ndarray:
        try:
            clip = dataset[index]
        except OSError as error:
            raise UserError(f"{self.path}: cannot read {dataset.name.lstrip('/')}{list(index)} ({_first_line(error)})") from None
        return np.ascontiguousarray(clip if len(frames) == clip.shape[axis] else np.take(clip, frames, axis=axis))

    def close(self):
        self.file.close()


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
