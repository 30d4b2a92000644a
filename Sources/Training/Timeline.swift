// Timeline: a per-rank record of compute and communication spans, written as Chrome trace JSON
// (chrome://tracing or https://ui.perfetto.dev open it). One file per rank: timeline-rank<R>.json.

import Common
import Foundation

public final class Timeline {
    public let rank: Int
    private let origin = monotonicSeconds()
    private let lock = NSLock()
    private var events: [String] = []

    public init(rank: Int) { self.rank = rank }

    /// Microseconds since the timeline started.
    public func now() -> Double { (monotonicSeconds() - origin) * 1e6 }

    /// Microseconds since the timeline started of a `monotonicSeconds()` reading.
    public func microseconds(_ monotonic: Double) -> Double { (monotonic - origin) * 1e6 }

    /// Records a complete span [start, end) in microseconds on lane `thread` (0 compute, 1 communication).
    public func span(_ name: String, category: String, start: Double, end: Double, thread: Int = 0, step: Int) {
        let event = String(format: "{\"name\":\"%@\",\"cat\":\"%@\",\"ph\":\"X\",\"ts\":%.1f,\"dur\":%.1f,\"pid\":%d,\"tid\":%d,\"args\":{\"step\":%d}}",
                           name, category, start, max(0, end - start), rank, thread, step)
        lock.lock(); events.append(event); lock.unlock()
    }

    public func write(to url: URL) throws {
        lock.lock(); let body = events.joined(separator: ",\n"); lock.unlock()
        let metadata = "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":\(rank),\"args\":{\"name\":\"rank \(rank)\"}}"
        try Data("{\"traceEvents\":[\n\(metadata)\(body.isEmpty ? "" : ",\n")\(body)\n],\"displayTimeUnit\":\"ms\"}\n".utf8).write(to: url, options: .atomic)
    }
}
