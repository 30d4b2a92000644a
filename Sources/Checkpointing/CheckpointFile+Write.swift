// Writing one checkpoint file: root attributes, then one contiguous float32 dataset per tensor written
// straight from the flat buffer (no copy), each with its CRC-32C; the CRCs are computed on a second
// thread while the first one writes, so checksumming costs no wall time on a machine with two cores.
// After HDF5 closes the file, the index (CheckpointIndex.swift) goes into the user block; then fsync.
//
// Leaves out: where the file goes and how it becomes visible (CheckpointDirectory: temporary name,
// rename, directory fsync, `latest`), compression (float weights barely compress; it would halve speed).

import Dispatch
import Foundation
import HDF5
import Kernels

/// Test hooks for the writer: delays and failures injected between datasets.
public struct CheckpointWriteHooks: Sendable {
    /// Called before dataset `index` of `count` (absolute path) is written; a throw aborts the write
    /// exactly as a failing disk would.
    public var beforeDataset: (@Sendable (_ index: Int, _ count: Int, _ path: String) throws -> Void)?

    public init(beforeDataset: (@Sendable (_ index: Int, _ count: Int, _ path: String) throws -> Void)? = nil) {
        self.beforeDataset = beforeDataset
    }

    /// `VT_CHECKPOINT_TEST_DELAY=<seconds>`: sleep that long halfway through the datasets of every write, so
    /// a kill test can land inside a write. Unset (the normal case): no hooks.
    public static func fromEnvironment() -> CheckpointWriteHooks {
        guard let text = ProcessInfo.processInfo.environment["VT_CHECKPOINT_TEST_DELAY"],
              let seconds = Double(text), seconds > 0 else { return CheckpointWriteHooks() }
        return CheckpointWriteHooks { index, count, _ in
            if index == count / 2 { Thread.sleep(forTimeInterval: seconds) }
        }
    }
}

public enum CheckpointWriter {
    /// Writes `contents` to a new file at `path` (replacing any file there), closes it and fsyncs it.
    /// Throws `CheckpointError.saveFailed` naming the cause; the caller removes the partial file.
    public static func write(_ contents: CheckpointContents, to path: String, created: Date = Date(),
                             hooks: CheckpointWriteHooks = CheckpointWriteHooks()) throws {
        for (name, _) in contents.attributes where CheckpointFormat.reservedAttributes.contains(name) {
            throw CheckpointError(.saveFailed, file: path, object: "attribute '\(name)'", "is reserved for the writer")
        }
        let jobs = contents.tensors.flatMap { group in group.table.entries.map { (group, $0) } }

        // Checksums on another thread, overlapping the writes; both only read the buffers.
        let checksums = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: max(1, jobs.count))
        defer { checksums.deallocate() }
        let checksummed = DispatchGroup()
        let checksumPointer = UncheckedSendable(checksums)
        let checksumJobs = UncheckedSendable(jobs)
        DispatchQueue.global(qos: .userInitiated).async(group: checksummed) {
            for (index, (group, entry)) in checksumJobs.value.enumerated() {
                checksumPointer.value[index] = CRC32CChecksum.of(UnsafeRawBufferPointer(group.bytes(entry)))
            }
        }
        defer { checksummed.wait() }  // never leave the thread reading buffers the caller may free

        do {
            let userBlockSize = CheckpointIndex.userBlockSize(datasets: jobs.count)
            var entries: [CheckpointIndex.Entry] = []
            let file = try HDF5File.create(path, userBlockSize: userBlockSize)
            do {
                var attributes: [String: HDF5AttributeValue] = [
                    "format": .string(CheckpointFormat.name),
                    "format_version": .int64(CheckpointFormat.version),
                    "step": .int64(Int64(contents.step)),
                    "created": .string(ISO8601DateFormatter().string(from: created)),
                    "checksum": .string("crc32c: CRC-32C (Castagnoli) of each dataset's little-endian bytes, attribute 'crc32c'"),
                    "dataset_count": .int64(Int64(jobs.count)),
                ]
                for name in ["format", "format_version", "step", "created"] {
                    try file.root.setAttribute(name, attributes[name]!)
                }
                for (name, value) in contents.attributes {
                    attributes[name] = value
                    try file.root.setAttribute(name, value)
                }
                try file.root.setAttribute("checksum", attributes["checksum"]!)
                try file.root.setAttribute("dataset_count", attributes["dataset_count"]!)

                var datasets: [HDF5Dataset] = []
                datasets.reserveCapacity(jobs.count)
                for (index, (group, entry)) in jobs.enumerated() {
                    let datasetPath = group.datasetPath(entry)
                    try hooks.beforeDataset?(index, jobs.count, datasetPath)
                    let dataset = try file.root.createDataset(datasetPath, elementType: .float32, shape: entry.shape)
                    try dataset.write(UnsafeRawBufferPointer(group.bytes(entry)))
                    datasets.append(dataset)
                }
                checksummed.wait()
                for (index, dataset) in datasets.enumerated() {
                    try dataset.setAttribute(CheckpointFormat.checksumAttribute, Int64(checksums[index]))
                    guard let offset = try dataset.storageOffset() else {
                        throw CheckpointError(.saveFailed, file: path, object: dataset.path, "has no contiguous storage (internal error)")
                    }
                    entries.append(CheckpointIndex.Entry(offset: offset, length: jobs[index].1.count * MemoryLayout<Float>.stride,
                                                         checksum: checksums[index]))
                }
                // Last, so a reader that finds it knows every other attribute was written.
                try file.root.setAttribute(CheckpointFormat.attributesChecksumAttribute,
                                           Int64(CheckpointFormat.attributesChecksum(attributes)))
                try file.close()
            } catch {
                try? file.close()
                throw error
            }
            try CheckpointIndex.write(to: path, userBlockSize: userBlockSize, entries: entries)
            try Durability.fsync(path: path)
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError(.saveFailed, file: path, "\(error)")
        }
    }
}

/// A value moved into a closure that Swift cannot prove is safe to share; the code guarantees that
/// only one thread writes it (checksums) and the buffers are read-only while shared.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
