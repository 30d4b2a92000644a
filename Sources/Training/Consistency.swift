// Consistency: every data rank must hold bitwise-identical parameters. A checksum of the parameter bytes
// is gathered from all ranks at start and every K steps; a mismatch stops the job naming the ranks that
// differ from rank 0. (The stall watchdog, which ends a job whose ranks stopped answering or progressing,
// is StallDetector.swift.)

import Common
import Foundation
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
