// ResidentMemory: this process's peak resident memory (what metrics.jsonl's `peak_resident_bytes` and
// `vt bench` report, docs/design.md §9) and a way to start a new peak window (the mesh calibration measures one
// layout at a time).
// Leaves out: other processes (each rank reports its own; callers reduce over ranks).

import Foundation

public enum ResidentMemory {
    /// The process's peak resident memory since start or the last `resetPeak()` (VmHWM; getrusage
    /// where /proc is missing).
    public static func peakBytes() -> Int {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
           let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
            return kilobytes * 1024
        }
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    /// Starts a new peak-resident-memory window: hands freed heap pages back to the system (malloc_trim:
    /// otherwise memory an earlier model freed stays resident and hides the next one's peak), then resets
    /// VmHWM to the current resident size (Linux: `5` to /proc/self/clear_refs). False where impossible.
    @discardableResult
    public static func resetPeak() -> Bool {
        // glibc's malloc_trim (declared in malloc.h, which the Glibc module does not export).
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") {
            typealias Trim = @convention(c) (Int) -> Int32
            _ = unsafeBitCast(symbol, to: Trim.self)(0)
        }
        return (try? Data("5".utf8).write(to: URL(fileURLWithPath: "/proc/self/clear_refs"))) != nil
    }
}
