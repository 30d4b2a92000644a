// Clock: the one monotonic clock of vt — timings, progress, the stall watchdog, timelines.
//
//   monotonicSeconds()   seconds on CLOCK_MONOTONIC (from an arbitrary fixed point; comparable across the
//                        threads of one process)
//   Stopwatch            a lap timer on the same clock
//
// Leaves out: wall-clock dates (Foundation's Date, for file metadata and logs).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Seconds on CLOCK_MONOTONIC.
public func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

/// Monotonic lap timer.
public struct Stopwatch {
    private var start = monotonicSeconds()
    public init() {}
    /// Seconds since the last lap (or creation), and restarts.
    public mutating func lap() -> Double {
        let now = monotonicSeconds()
        defer { start = now }
        return now - start
    }
}
