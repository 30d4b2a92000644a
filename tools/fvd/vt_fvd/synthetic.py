"""Deterministic test videos: integer functions of (t, y, x, channel) only, so they are the same bytes on
every machine and NumPy version (no random generator involved).
"""
import numpy as np


def moving_bars(frames: int, height: int, width: int, phase: int = 0) -> np.ndarray:
    """uint8 [frames, height, width, 3]: red a horizontal ramp sliding right, green vertical bars
    sliding down, blue a diagonal ramp; `phase` shifts all three, giving distinct videos."""
    t = np.arange(frames, dtype=np.int64)[:, None, None]
    y = np.arange(height, dtype=np.int64)[None, :, None]
    x = np.arange(width, dtype=np.int64)[None, None, :]
    bar = max(height // 8, 1)
    red = (x * 256 // width + 8 * t + 17 * phase) % 256
    green = 255 * (((y + 3 * t + 5 * phase) // bar) % 2)
    blue = (x + y + 5 * t + 29 * phase) * 255 // (width + height + 5 * frames + 29 * phase)
    video = np.stack(np.broadcast_arrays(red, green, blue), axis=-1)
    return video.astype(np.uint8)
