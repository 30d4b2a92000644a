// CheckpointFile: one checkpoint opened for reading — the user-block index verified before HDF5 opens
// the file (size and metadata CRC), its root attributes (checked against their checksum), its tensors read
// into a flat buffer by a parameter table (each dataset's shape and CRC-32C checked as it is read), and a
// full verification pass for `vt inspect checkpoint`.
//
// Errors say which: `.unreadable` (missing, truncated, not HDF5), `.notACheckpoint`, `.damaged` (a
// checksum disagrees; the dataset is named), `.mismatch` (sound, but another model or optimizer).
//
// Leaves out: choosing among several checkpoints (CheckpointDirectory), the meaning of the attributes.

import Common
import Foundation
import HDF5
import Kernels

/// What the verification pass found for one dataset.
public struct TensorReport: Sendable {
    /// Absolute path, e.g. `/params/encoder/embedding`.
    public let path: String
    public let shape: [Int]
    /// √(Σ x²) in Double.
    public let norm: Double
    public let storedChecksum: UInt32?
    public let computedChecksum: UInt32
    public var isIntact: Bool { storedChecksum == computedChecksum }
    public var count: Int { shape.reduce(1, *) }
}

public final class CheckpointFile {
    public let path: String
    private let file: HDF5File
    /// Every root attribute, as stored.
    public let attributes: [String: HDF5AttributeValue]
    public let step: Int
    public let formatVersion: Int64
    /// The verified index from the user block.
    let index: CheckpointIndex?

    /// Opens `path` and checks that it is a vt checkpoint of a readable version whose root attributes
    /// match their checksum.
    public init(path: String) throws {
        self.path = path
        // Prove the bytes are as written before HDF5 parses them (CheckpointIndex.swift).
        let index = try CheckpointIndex.verify(path: path)
        self.index = index
        do {
            file = try HDF5File.open(path)
        } catch let error as HDF5Error {
            switch error.kind {
            case .notFound: throw CheckpointError(.unreadable, file: path, "no such file")
            case .notHDF5File:
                throw CheckpointError(.unreadable, file: path, "not an HDF5 file (no HDF5 signature: empty, truncated or overwritten)")
            default: throw CheckpointError(.unreadable, file: path, "HDF5 cannot open it (truncated or damaged?): \(error.reason)")
            }
        }
        var attributes: [String: HDF5AttributeValue] = [:]
        do {
            for name in try file.root.attributeNames() {
                attributes[name] = try file.root.attribute(name, as: HDF5AttributeValue.self)
            }
        } catch {
            throw CheckpointError(.unreadable, file: path, object: "root attributes", "cannot be read: \(error)")
        }
        self.attributes = attributes
        guard case .string(let format)? = attributes["format"], format == CheckpointFormat.name else {
            throw CheckpointError(.notACheckpoint, file: path,
                                  "not a vt checkpoint (root attribute format is \(attributes["format"].map { "\($0)" } ?? "missing"), expected \"\(CheckpointFormat.name)\")")
        }
        guard index != nil else {
            throw CheckpointError(.damaged, file: path, object: "checkpoint index (user block)",
                                  "is missing: the first bytes of the file were overwritten, or another program rewrote it")
        }
        guard case .int64(let version)? = attributes["format_version"], version >= 1 else {
            throw CheckpointError(.notACheckpoint, file: path, "root attribute format_version is missing or invalid")
        }
        guard version <= CheckpointFormat.version else {
            throw CheckpointError(.notACheckpoint, file: path,
                                  "format_version \(version) is newer than this vt reads (\(CheckpointFormat.version)); use a newer vt")
        }
        formatVersion = version
        guard case .int64(let stored)? = attributes[CheckpointFormat.attributesChecksumAttribute] else {
            throw CheckpointError(.damaged, file: path, object: "root attribute \(CheckpointFormat.attributesChecksumAttribute)",
                                  "is missing: the file was not completely written")
        }
        let computed = CheckpointFormat.attributesChecksum(attributes)
        guard UInt32(truncatingIfNeeded: stored) == computed else {
            throw CheckpointError(.damaged, file: path, object: "root attributes",
                                  "fail their CRC-32C check (stored \(hex(UInt32(truncatingIfNeeded: stored))), computed \(hex(computed))): the file is damaged")
        }
        guard case .int64(let step)? = attributes["step"], step >= 0 else {
            throw CheckpointError(.notACheckpoint, file: path, "root attribute step is missing or invalid")
        }
        self.step = Int(step)
    }

    deinit { try? file.close() }

    public func close() { try? file.close() }

    // MARK: Attributes

    public func string(_ name: String) -> String? {
        if case .string(let value)? = attributes[name] { return value }
        return nil
    }

    public func int(_ name: String) -> Int? {
        if case .int64(let value)? = attributes[name] { return Int(value) }
        return nil
    }

    public func double(_ name: String) -> Double? {
        switch attributes[name] {
        case .double(let value)?: return value
        case .int64(let value)?: return Double(value)
        default: return nil
        }
    }

    public func strings(_ name: String) -> [String]? {
        switch attributes[name] {
        case .strings(let values)?: return values
        case .string(let value)?: return [value]
        default: return nil
        }
    }

    // MARK: Tensors

    /// The names of the direct children of group `group` (e.g. the optimizer slots under `optimizer`).
    public func children(of group: String) throws -> [String] {
        do {
            guard try file.root.kind(of: group) == .group else { return [] }
            return try file.root.group(group).children()
        } catch {
            throw CheckpointError(.unreadable, file: path, object: "/" + group, "cannot be listed: \(error)")
        }
    }

    /// The absolute paths of every dataset in the file, sorted.
    public func datasetPaths() throws -> [String] {
        do { return try file.root.datasetPaths() } catch {
            throw CheckpointError(.unreadable, file: path, "cannot list its datasets: \(error)")
        }
    }

    /// Reads every tensor of `tensors.table` from group `tensors.group` into `tensors.buffer`, checking
    /// that the group holds exactly the table's names, each with the table's shape and its stored CRC-32C.
    /// On a throw the buffer may be partly overwritten.
    public func read(into tensors: CheckpointTensors) throws {
        let present = try presentTensors(group: tensors.group, table: tensors.table)
        for entry in tensors.table.entries {
            try requirePresent(present, group: tensors.group, entry: entry)
            try readTensor(group: tensors.group, entry: entry, into: tensors.bytes(entry))
        }
    }

    /// Checks that group `group` holds exactly the datasets `table` names (the first extra or missing
    /// one is named), without reading them.
    public func checkTensorNames(group: String, table: ParameterTable) throws {
        let present = try presentTensors(group: group, table: table)
        for entry in table.entries { try requirePresent(present, group: group, entry: entry) }
    }

    private func requirePresent(_ present: Set<String>, group: String, entry: ParameterEntry) throws {
        guard present.contains("/" + group + "/" + entry.name) else {
            throw CheckpointError(.mismatch, file: path, object: "/" + group + "/" + entry.name,
                                  "is missing: the checkpoint was written for a different model")
        }
    }

    /// The datasets of group `group`, after checking that it exists and holds no tensor `table` lacks.
    private func presentTensors(group: String, table: ParameterTable) throws -> Set<String> {
        let prefix = "/" + group + "/"
        let present: [String]
        do {
            guard try file.root.kind(of: group) == .group else {
                throw CheckpointError(.mismatch, file: path, object: "/" + group, "is missing")
            }
            present = try file.root.group(group).datasetPaths()
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError(.unreadable, file: path, object: "/" + group, "cannot be listed: \(error)")
        }
        let expected = Set(table.entries.map { prefix + $0.name })
        if let extra = present.first(where: { !expected.contains($0) }) {
            throw CheckpointError(.mismatch, file: path, object: extra,
                                  "is not a tensor of this model (\(present.count) tensors in \(prefix.dropLast()), the model has \(expected.count))")
        }
        return Set(present)
    }

    /// Reads the one tensor `group/entry.name` into `bytes` (entry.count floats), checking its shape and
    /// its stored CRC-32C — for reading a checkpoint a tensor at a time (call `checkTensorNames` first).
    public func readTensor(group: String, entry: ParameterEntry, into bytes: UnsafeMutableRawBufferPointer) throws {
        precondition(bytes.count == entry.count * MemoryLayout<Float>.stride, "readTensor: \(bytes.count) bytes for \(entry.count) floats")
        let datasetPath = "/" + group + "/" + entry.name
        let stored = try readVerified(datasetPath, expectedShape: entry.shape, into: bytes)
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(bytes))
        guard stored == computed else {
            throw CheckpointError(.damaged, file: path, object: datasetPath,
                                  "fails its CRC-32C check (stored \(hex(stored)), computed \(hex(computed))): the file is damaged")
        }
    }

    /// Reads and checks every dataset of the file (shape, type, CRC-32C) and reports each one; throws
    /// only when the file cannot be read at all. Damage shows as `isIntact == false`.
    public func verify() throws -> [TensorReport] {
        var reports: [TensorReport] = []
        for datasetPath in try datasetPaths() {
            let dataset: HDF5Dataset
            let shape: [Int]
            do {
                dataset = try file.root.dataset(datasetPath)
                shape = try dataset.shape()
            } catch {
                throw CheckpointError(.unreadable, file: path, object: datasetPath, "cannot be opened: \(error)")
            }
            let values = FloatBuffer(count: shape.reduce(1, *))
            let bytes = UnsafeMutableRawBufferPointer(start: values.pointer, count: values.bytes)
            let stored: UInt32?
            do {
                stored = try readVerified(datasetPath, expectedShape: nil, into: bytes)
            } catch let error as CheckpointError where error.kind == .damaged {
                stored = nil
            }
            var sum = 0.0
            for i in 0..<values.count { sum += Double(values[i]) * Double(values[i]) }
            reports.append(TensorReport(path: datasetPath, shape: shape, norm: sum.squareRoot(), storedChecksum: stored,
                                        computedChecksum: CRC32C.checksum(UnsafeRawBufferPointer(bytes))))
        }
        return reports
    }

    /// Reads dataset `datasetPath` (float32, `expectedShape` if given) into `bytes`; returns its stored CRC.
    private func readVerified(_ datasetPath: String, expectedShape: [Int]?, into bytes: UnsafeMutableRawBufferPointer) throws -> UInt32 {
        do {
            let dataset = try file.root.dataset(datasetPath)
            let shape = try dataset.shape()
            if let expectedShape, shape != expectedShape {
                throw CheckpointError(.mismatch, file: path, object: datasetPath,
                                      "has shape \(shape) in the checkpoint but \(expectedShape) in this model")
            }
            let type = try dataset.elementType()
            guard type == .float32 else {
                throw CheckpointError(.mismatch, file: path, object: datasetPath, "holds \(type), not float32")
            }
            try dataset.read(into: bytes)
            guard try dataset.hasAttribute(CheckpointFormat.checksumAttribute) else {
                throw CheckpointError(.damaged, file: path, object: datasetPath, "has no \(CheckpointFormat.checksumAttribute) attribute")
            }
            let stored = try dataset.attribute(CheckpointFormat.checksumAttribute, as: Int64.self)
            return UInt32(truncatingIfNeeded: stored)
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError(.unreadable, file: path, object: datasetPath, "cannot be read: \(error)")
        }
    }
}
