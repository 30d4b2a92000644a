// Writing one checkpoint file: root attributes, then one contiguous float32 dataset per tensor written
// straight from the flat buffer (no copy), each with its CRC-32C (computed first, on every core).
// Streamed groups (`StreamedTensors`) come after the buffered ones: each tensor is fetched, checksummed
// and written before the next is fetched.
// After HDF5 closes the file, the index (CheckpointIndex.swift) goes into the user block; then fsync.
//
// Leaves out: where the file goes and how it becomes visible (CheckpointDirectory: temporary name,
// rename, directory fsync, `latest`), compression (float weights barely compress; it would halve speed).

import Common
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
    /// Writes `contents` to a new file at `path` (replacing any file there), closes it and fsyncs it;
    /// returns where the time went. Throws `CheckpointError.saveFailed` naming the cause; the caller
    /// removes the partial file.
    @discardableResult
    public static func write(_ contents: CheckpointContents, to path: String, created: Date = Date(),
                             hooks: CheckpointWriteHooks = CheckpointWriteHooks()) throws -> CheckpointWriteTimings {
        for (name, _) in contents.attributes where CheckpointFormat.reservedAttributes.contains(name) {
            throw CheckpointError(.saveFailed, file: path, object: "attribute '\(name)'", "is reserved for the writer")
        }
        let jobs = contents.tensors.flatMap { group in group.table.entries.map { (group, $0) } }
        let streamedJobs = contents.streamed.flatMap { group in group.table.entries.indices.map { (group, $0) } }
        let datasetCount = jobs.count + streamedJobs.count
        var timings = CheckpointWriteTimings()
        var clock = Date()
        func lap() -> Double { let now = Date(); defer { clock = now }; return now.timeIntervalSince(clock) }

        // Checksums first, on every core, largest tensors first (the CPU's CRC-32C instruction makes this
        // a few milliseconds for 76 MB), so each dataset is created, written and labelled in one call.
        let checksums = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: max(1, jobs.count))
        defer { checksums.deallocate() }
        let queue = ChecksumQueue(jobs: jobs, into: checksums)
        DispatchQueue.concurrentPerform(iterations: max(1, ProcessInfo.processInfo.activeProcessorCount)) { _ in queue.run() }
        timings.checksums = lap()

        do {
            let userBlockSize = CheckpointIndex.userBlockSize(datasets: datasetCount)
            // A disk too full for the file fails here, before HDF5 holds anything it would need space to
            // flush: HDF5 cannot recover from a failed flush (the file can then never be closed, and the
            // library crashes at exit). So: check the free space, then reserve the file's blocks.
            let attributeBytes = contents.attributes.reduce(0) { $0 + $1.name.utf8.count + "\($1.value)".utf8.count }
            let estimate = contents.tensorBytes + userBlockSize + 4096 * datasetCount + 2 * attributeBytes + 65536
            try Durability.requireSpace(estimate, for: path)
            var entries: [CheckpointIndex.Entry] = []
            entries.reserveCapacity(datasetCount)
            let file = try HDF5File.create(path, userBlockSize: userBlockSize)
            do {
                try Durability.reserve(estimate, for: path)
                var attributes: [String: HDF5AttributeValue] = [
                    "format": .string(CheckpointFormat.name),
                    "format_version": .int64(CheckpointFormat.version),
                    "step": .int64(Int64(contents.step)),
                    "created": .string(ISO8601DateFormatter().string(from: created)),
                    "checksum": .string("crc32c: CRC-32C (Castagnoli) of each dataset's little-endian bytes, attribute 'crc32c'"),
                    "dataset_count": .int64(Int64(datasetCount)),
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

                for (index, (group, entry)) in jobs.enumerated() {
                    let datasetPath = group.datasetPath(entry)
                    try hooks.beforeDataset?(index, datasetCount, datasetPath)
                    let bytes = UnsafeRawBufferPointer(group.bytes(entry))
                    let offset = try file.root.createContiguousDataset(
                        datasetPath, elementType: .float32, shape: entry.shape, bytes: bytes,
                        attributes: [(CheckpointFormat.checksumAttribute, Int64(checksums[index]))])
                    entries.append(CheckpointIndex.Entry(offset: offset, length: bytes.count, checksum: checksums[index]))
                }
                var streamedChecksumSeconds = 0.0
                for (position, (group, entryIndex)) in streamedJobs.enumerated() {
                    let entry = group.table.entries[entryIndex]
                    let datasetPath = "/" + group.group + "/" + entry.name
                    try hooks.beforeDataset?(jobs.count + position, datasetCount, datasetPath)
                    let values = try group.fetch(entryIndex)
                    guard values.count == entry.count else {
                        throw CheckpointError(.saveFailed, file: path, object: datasetPath,
                                              "was handed \(values.count) values for a tensor of \(entry.count)")
                    }
                    let bytes = UnsafeRawBufferPointer(values)
                    let checksumStart = Date()
                    let checksum = CRC32C.checksum(bytes)
                    streamedChecksumSeconds += Date().timeIntervalSince(checksumStart)
                    let offset = try file.root.createContiguousDataset(
                        datasetPath, elementType: .float32, shape: entry.shape, bytes: bytes,
                        attributes: [(CheckpointFormat.checksumAttribute, Int64(checksum))])
                    entries.append(CheckpointIndex.Entry(offset: offset, length: bytes.count, checksum: checksum))
                }
                timings.data = lap() - streamedChecksumSeconds
                timings.checksums += streamedChecksumSeconds
                // Last, so a reader that finds it knows every other attribute was written.
                try file.root.setAttribute(CheckpointFormat.attributesChecksumAttribute,
                                           Int64(CheckpointFormat.attributesChecksum(attributes)))
                try file.flush()  // everything HDF5 holds goes out now, while a failure can still be cleaned up
                try file.close()
            } catch {
                // A write failed (full disk, quota, I/O error) or a hook threw. HDF5 may still hold data it
                // cannot write, and a file it cannot close makes it crash at exit: abandon the file (the
                // caller deletes it).
                file.abandon()
                throw error
            }
            try CheckpointIndex.write(to: path, userBlockSize: userBlockSize, entries: entries)
            Durability.releaseReservation(path)
            timings.metadata = lap()
            try Durability.fsync(path: path)
            timings.fsync = lap()
        } catch let error as CheckpointError {
            throw error
        } catch let error as HDF5Error {
            throw CheckpointError(.saveFailed, file: path, object: error.object, "\(error.call) failed: \(systemReason(error.reason))")
        } catch {
            throw CheckpointError(.saveFailed, file: path, "\(error)")
        }
        return timings
    }
}

/// The operating system's reason inside HDF5's error stack ("No space left on device (errno 28)"), or
/// the whole text when it holds none.
func systemReason(_ text: String) -> String {
    guard let start = text.range(of: "error message = '"),
          let end = text[start.upperBound...].firstIndex(of: "'") else { return text }
    let message = String(text[start.upperBound..<end])
    if let errno = text.range(of: "errno = ") {
        let digits = text[errno.upperBound...].prefix { $0.isNumber }
        if !digits.isEmpty { return "\(message) (errno \(digits))" }
    }
    return message
}

/// Seconds spent in each part of one checkpoint write.
public struct CheckpointWriteTimings: Sendable {
    /// CRC-32C of every tensor.
    public var checksums = 0.0
    /// Root attributes, and every dataset created and its bytes handed to the operating system.
    public var data = 0.0
    /// Closing the HDF5 file (its metadata), the user-block index.
    public var metadata = 0.0
    /// fsync of the file.
    public var fsync = 0.0
    public var total: Double { checksums + data + metadata + fsync }
}

/// Hands out checksum jobs, largest first, to however many threads call `run`.
final class ChecksumQueue: @unchecked Sendable {  // `next` under `lock`; each slot written by one thread
    private let jobs: [(CheckpointTensors, ParameterEntry)]
    private let order: [Int]
    private let results: UnsafeMutableBufferPointer<UInt32>
    private let lock = NSLock()
    private var next = 0

    init(jobs: [(CheckpointTensors, ParameterEntry)], into results: UnsafeMutableBufferPointer<UInt32>) {
        self.jobs = jobs
        self.results = results
        order = jobs.indices.sorted { jobs[$0].1.count > jobs[$1].1.count }
    }

    func run() {
        while true {
            lock.lock()
            let position = next
            next += 1
            lock.unlock()
            guard position < order.count else { return }
            let index = order[position]
            let (group, entry) = jobs[index]
            results[index] = CRC32C.checksum(UnsafeRawBufferPointer(group.bytes(entry)))
        }
    }
}

