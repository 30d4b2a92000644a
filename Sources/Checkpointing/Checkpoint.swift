// Checkpoint: what one checkpoint file holds (docs/design.md §5) and the errors that name what went wrong.
//
//   step_<NNNNNNNN>.h5
//     user block                   an index checked before HDF5 reads anything (CheckpointIndex.swift)
//     /params/<name>               float32, the parameter's docs/design.md shape, row-major   (attribute crc32c)
//     /optimizer/<slot>/<name>     the same names and shapes, one group per optimizer slot
//     root attributes: format = "vt-checkpoint", format_version, step, created, and whatever the trainer
//     adds (config, mesh, world_size, data cursor, seed, optimizer step, ...); attributes_crc32c last.
//
// Three layers of checks, so one flipped byte anywhere is caught and named: the index (file size, a
// CRC-32C of all HDF5 metadata, each dataset's offset and CRC), every dataset's own `crc32c` attribute
// (checked as it is read, naming the dataset), and `attributes_crc32c` over the root attributes.
//
// Leaves out: what the tensors mean (the trainer passes tables and buffers, or streams tensors it gathers),
// partial tensors (every dataset is a full tensor).

import Common
import Foundation
import HDF5
import Kernels

public enum CheckpointFormat {
    /// The `format` root attribute.
    public static let name = "vt-checkpoint"
    /// The `format_version` root attribute. Readers accept this version and older.
    public static let version: Int64 = 1
    /// Per-dataset checksum attribute (CRC-32C of the dataset's bytes, stored as an Int64).
    public static let checksumAttribute = "crc32c"
    /// Root attribute: CRC-32C of every other root attribute (see `attributesChecksum`).
    public static let attributesChecksumAttribute = "attributes_crc32c"
    /// Root attributes the writer itself sets; the trainer's extra attributes must not use these names.
    public static let reservedAttributes: Set<String> = ["format", "format_version", "step", "created", "checksum",
                                                         "dataset_count", attributesChecksumAttribute]

    /// `step_00000200.h5`: eight digits, so names sort by step.
    public static func fileName(step: Int) -> String { String(format: "step_%08d.h5", step) }

    /// The step in a checkpoint file name, or nil if the name is not one.
    public static func step(fromFileName name: String) -> Int? {
        guard name.hasPrefix("step_"), name.hasSuffix(".h5") else { return nil }
        let digits = name.dropFirst(5).dropLast(3)
        guard digits.count >= 8, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return Int(digits)
    }

    /// CRC-32C over a canonical text of the attributes (sorted by name; doubles by bit pattern), so the
    /// value does not depend on the order in which they were written or how a reader formats numbers.
    public static func attributesChecksum(_ attributes: [String: HDF5AttributeValue]) -> UInt32 {
        var text = ""
        for name in attributes.keys.sorted() where name != attributesChecksumAttribute {
            text += name + "\t" + canonical(attributes[name]!) + "\n"
        }
        return CRC32C.checksum(Array(text.utf8))
    }

    private static func canonical(_ value: HDF5AttributeValue) -> String {
        func double(_ x: Double) -> String { String(x.bitPattern, radix: 16) }
        switch value {
        case .string(let s): return "s:" + s
        case .strings(let s): return "S:" + s.map { "\($0.utf8.count):\($0)" }.joined(separator: ",")
        case .int64(let i): return "i:\(i)"
        case .int64s(let i): return "I:" + i.map(String.init).joined(separator: ",")
        case .double(let d): return "d:" + double(d)
        case .doubles(let d): return "D:" + d.map(double).joined(separator: ",")
        }
    }
}

/// One group of tensors laid out by a parameter table in one flat buffer: the parameters (`params`) or
/// one optimizer slot (`optimizer/m`). Dataset `group/entry.name` holds `buffer[offset ..< offset+count]`.
public struct CheckpointTensors: @unchecked Sendable {
    public let group: String
    public let table: ParameterTable
    public let buffer: FloatBuffer

    public init(group: String, table: ParameterTable, buffer: FloatBuffer) {
        precondition(buffer.count >= table.totalCount, "CheckpointTensors: buffer smaller than its table")
        self.group = group; self.table = table; self.buffer = buffer
    }

    /// The values of `entry` in the buffer, as bytes.
    func bytes(_ entry: ParameterEntry) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: buffer.pointer + entry.offset, count: entry.count * MemoryLayout<Float>.stride)
    }

    /// The absolute dataset path of `entry`.
    func datasetPath(_ entry: ParameterEntry) -> String { "/" + group + "/" + entry.name }
}

/// A group of tensors laid out by a parameter table that no single buffer holds: the writer asks for them
/// one at a time, in table order, and writes each before asking for the next — so a trainer whose state
/// is spread over ranks (ZeRO stage 1) can gather each tensor just in time and no process ever holds the
/// whole group. `fetch(i)` returns the `table.entries[i].count` values of entry i, valid until the next
/// call; it is called exactly once per entry, in order, unless the write fails first (the caller then
/// finishes whatever collective work the remaining entries needed).
public struct StreamedTensors: @unchecked Sendable {
    public let group: String
    public let table: ParameterTable
    public let fetch: (Int) throws -> UnsafeBufferPointer<Float>

    public init(group: String, table: ParameterTable, fetch: @escaping (Int) throws -> UnsafeBufferPointer<Float>) {
        self.group = group; self.table = table; self.fetch = fetch
    }
}

/// Everything one checkpoint holds: the step, the trainer's root attributes and the tensor groups —
/// buffered ones first, then streamed ones (each in table order).
public struct CheckpointContents: @unchecked Sendable {
    public var step: Int
    /// Root attributes beyond the writer's own (`CheckpointFormat.reservedAttributes`), in writing order.
    public var attributes: [(name: String, value: HDF5AttributeValue)]
    public var tensors: [CheckpointTensors]
    /// Groups handed over a tensor at a time (written after `tensors`).
    public var streamed: [StreamedTensors]

    public init(step: Int, attributes: [(name: String, value: HDF5AttributeValue)], tensors: [CheckpointTensors],
                streamed: [StreamedTensors] = []) {
        self.step = step; self.attributes = attributes; self.tensors = tensors; self.streamed = streamed
    }

    /// Bytes of tensor data (what the file holds beyond a few kilobytes of metadata).
    public var tensorBytes: Int {
        (tensors.map(\.table) + streamed.map(\.table)).reduce(0) { $0 + $1.parameterCount * MemoryLayout<Float>.stride }
    }
}

/// A checkpoint that cannot be written, read or trusted: which file (and dataset), and why.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        /// Missing, truncated, not HDF5, or HDF5 cannot read it.
        case unreadable
        /// Readable, but a checksum disagrees: the bytes changed after they were written.
        case damaged
        /// An HDF5 file, but not a vt checkpoint (or a newer format version).
        case notACheckpoint
        /// A sound checkpoint that does not fit this model or optimizer.
        case mismatch
        /// Writing failed (full disk, permissions, I/O error); nothing already on disk was touched.
        case saveFailed
    }

    public let kind: Kind
    public let file: String
    /// The dataset or attribute concerned, if one is.
    public let object: String?
    public let reason: String

    public init(_ kind: Kind, file: String, object: String? = nil, _ reason: String) {
        self.kind = kind; self.file = file; self.object = object; self.reason = reason
    }

    public var description: String {
        "checkpoint \(file): " + (object.map { "\($0): " } ?? "") + reason
    }

    /// Damage or unreadability: the caller may fall back to an older checkpoint.
    public var isDamage: Bool { kind == .unreadable || kind == .damaged || kind == .notACheckpoint }
}

/// `0x1a2b3c4d`.
func hex(_ value: UInt32) -> String { "0x" + String(format: "%08x", value) }
