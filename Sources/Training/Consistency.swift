// Consistency: every data rank must hold bitwise-identical parameters. A checksum of the parameter bytes
// is gathered from all ranks at start and every K steps; a mismatch stops the job naming the ranks that
// differ from rank 0. Also the stall watchdog: a rank that makes no progress for `timeout` seconds ends
// the whole job with a message instead of hanging forever in a collective.

import Foundation
import Datasets
import Distribution
import Kernels

public enum ParameterChecksum {
    /// CRC-32C of the parameter bytes, widened with the byte count (so different sizes never agree).
    public static func of(_ buffer: FloatBuffer) -> UInt64 {
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: buffer.pointer, count: buffer.bytes))
        return UInt64(buffer.bytes) << 32 | UInt64(crc)
    }

    /// CRC-32C of the given tensors' bytes, in order, widened with their byte count.
    public static func of(_ buffer: FloatBuffer, entries: [ParameterEntry]) -> UInt64 {
        var crc: UInt32 = 0, bytes = 0
        for entry in entries {
            let range = UnsafeRawBufferPointer(start: buffer.pointer + entry.offset, count: entry.count * 4)
            crc = CRC32C.checksum(range, continuing: crc)
            bytes += range.count
        }
        return UInt64(bytes) << 32 | UInt64(crc)
    }

    /// Gathers every rank's checksum of `buffer` (or of `entries` of it); throws naming the ranks of
    /// `communicator` (the `axis` the message names) that differ from its rank 0.
    @discardableResult
    public static func verify(_ buffer: FloatBuffer, entries: [ParameterEntry]? = nil, communicator: any Communicator,
                              step: Int, axis: String? = nil) throws -> UInt64 {
        let mine = entries.map { of(buffer, entries: $0) } ?? of(buffer)
        let all = try communicator.allGather(mine)
        let differing = all.indices.filter { all[$0] != all[0] }
        if !differing.isEmpty {
            let detail = all.enumerated().map { String(format: "rank %d: %016llx", $0.offset, $0.element) }.joined(separator: ", ")
            let group = axis.map { " of the \($0) axis" } ?? ""
            throw TrainingError("parameters differ across ranks\(group) at step \(step): rank(s) \(differing.map(String.init).joined(separator: ", ")) disagree with rank 0 (\(detail))")
        }
        return all[0]
    }
}

/// A watchdog thread: `beat()` after every step; if no beat arrives for `timeout` seconds, `onStall`
/// runs (it prints and aborts the MPI job). Stopped by `stop()`.
public final class StallDetector: @unchecked Sendable {
    public let timeout: Double
    private let lock = NSLock()
    private var lastBeat = Date()
    private var stopped = false
    private var label = "start"

    public init(timeout: Double, onStall: @escaping @Sendable (String) -> Void) {
        self.timeout = timeout
        let thread = Thread { [weak self] in
            while let self {
                Thread.sleep(forTimeInterval: min(1, self.timeout / 4))
                self.lock.lock()
                let (idle, done, where_) = (Date().timeIntervalSince(self.lastBeat), self.stopped, self.label)
                self.lock.unlock()
                if done { return }
                if idle > self.timeout {
                    onStall("no progress for \(Int(idle)) s (stall timeout \(Int(self.timeout)) s) after \(where_): a rank died or hangs")
                    return
                }
            }
        }
        thread.name = "vt-stall-detector"
        thread.start()
    }

    public func beat(_ label: String) {
        lock.lock(); lastBeat = Date(); self.label = label; lock.unlock()
    }

    public func stop() { lock.lock(); stopped = true; lock.unlock() }
}
