"""Progress lines of a long scoring run on stderr: 'vt_fvd: <what> done/total <unit>, rate, ETA'."""

import sys
import time


class Progress:
    """'<what> done/total <unit>, rate, ETA' lines on stderr, at most every `every` seconds and at the end."""

    def __init__(self, what: str, unit: str, total: int, every: float = 5.0, stream=sys.stderr, rate_digits: int = 2):
        self.what, self.unit, self.rate_digits = what, unit, rate_digits
        self.total, self.every, self.stream = total, every, stream
        self.start = self.last = time.monotonic()
        self.done = 0

    def advance(self, count: int):
        self.done += count
        now = time.monotonic()
        if now - self.last < self.every and self.done < self.total:
            return
        self.last = now
        rate = self.done / max(now - self.start, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        print(f"vt_fvd: {self.what} {self.done}/{self.total} {self.unit}, {rate:.{self.rate_digits}f} {self.unit}/s, ETA {eta:.0f} s",
              file=self.stream, flush=True)
