// CheckpointIndex: a small binary index in the checkpoint's HDF5 user block (the first bytes of the file,
// which HDF5 and h5py skip), checked before HDF5 parses anything. HDF5 checksums some of its metadata but
// not all (the global heap that holds string attributes, for one), and on damaged metadata the library can
// crash or loop forever; so the reader first proves the file is exactly as written:
//
//   offset  size   field (little-endian)
//   0       8      magic "VTCKPTIX"
//   8       4      index version (1)
//   12      4      n: datasets
//   16      8      file size in bytes
//   24      4      CRC-32C of every byte after the user block that is not a dataset's data ("metadata")
//   28      4      user block size
//   32      24·n   per dataset: data offset (8), data length (8), CRC-32C of the data (4), zero (4)
//   32+24n  4      CRC-32C of the bytes above
//
// A truncated file fails the size check, damaged metadata the metadata CRC, damaged data the dataset's
// CRC (checked again, by name, when the dataset is read through HDF5).
//
// Leaves out: a text form of the index (it is for machines; `vt inspect checkpoint` is for people).

import Common
import Foundation
#if canImport(Glibc)
import Glibc
private let closeDescriptor = Glibc.close
#elseif canImport(Darwin)
import Darwin
private let closeDescriptor = Darwin.close
#endif

struct CheckpointIndex: Equatable {
    struct Entry: Equatable {
        var offset: Int
        var length: Int
        var checksum: UInt32
    }

    static let magic = Array("VTCKPTIX".utf8)
    static let version: UInt32 = 1
    static let headerSize = 32

    var fileSize: Int
    var metadataChecksum: UInt32
    var userBlockSize: Int
    var entries: [Entry]

    /// The user block size for `datasets` entries: a power of two ≥ 512 that holds the index.
    static func userBlockSize(datasets: Int) -> Int {
        var size = 512
        while size < headerSize + 24 * datasets + 4 { size *= 2 }
        return size
    }

    func encoded() -> [UInt8] {
        var bytes = Self.magic
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        put(Self.version); put(UInt32(entries.count)); put(UInt64(fileSize)); put(metadataChecksum); put(UInt32(userBlockSize))
        for entry in entries { put(UInt64(entry.offset)); put(UInt64(entry.length)); put(entry.checksum); put(UInt32(0)) }
        put(CRC32C.checksum(bytes))
        return bytes
    }

    // MARK: Writing

    /// After HDF5 closed the file: computes the metadata CRC, writes the index into the user block.
    static func write(to path: String, userBlockSize: Int, entries: [Entry]) throws {
        let file = try RawFile(path: path, writable: true)
        defer { file.close() }
        var index = CheckpointIndex(fileSize: try file.size(), metadataChecksum: 0, userBlockSize: userBlockSize,
                                    entries: entries)
        guard let gaps = index.gaps() else {
            throw CheckpointError(.saveFailed, file: path, "HDF5 placed dataset data outside the file or overlapping (internal error)")
        }
        index.metadataChecksum = try file.checksum(of: gaps)
        let bytes = index.encoded()
        precondition(bytes.count <= userBlockSize, "CheckpointIndex: \(bytes.count) bytes do not fit a \(userBlockSize)-byte user block")
        try file.write(bytes, at: 0)
    }

    /// The byte ranges after the user block that hold no dataset data; nil if the entries overlap or
    /// leave the file.
    func gaps() -> [Range<Int>]? {
        var result: [Range<Int>] = []
        var position = userBlockSize
        for entry in entries.sorted(by: { $0.offset < $1.offset }) {
            guard entry.offset >= position, entry.length >= 0, entry.length <= fileSize - entry.offset else { return nil }
            if entry.offset > position { result.append(position..<entry.offset) }
            position = entry.offset + entry.length
        }
        if position < fileSize { result.append(position..<fileSize) }
        return result
    }

    // MARK: Reading

    /// Reads and checks the index of `path` (its own CRC, the file size, the metadata CRC). Returns nil
    /// when the file has no index at all (not written by this writer); throws `.unreadable` or `.damaged`.
    static func verify(path: String) throws -> CheckpointIndex? {
        let file: RawFile
        do { file = try RawFile(path: path, writable: false) } catch {
            throw CheckpointError(.unreadable, file: path, FileManager.default.fileExists(atPath: path) ? "cannot be opened" : "no such file")
        }
        defer { file.close() }
        let size = try file.size()
        guard size >= magic.count, try file.read(0..<magic.count) == magic else { return nil }
        guard size >= headerSize else {
            throw CheckpointError(.unreadable, file: path, "is truncated: \(size) bytes, not even its index header")
        }
        let header = try file.read(0..<headerSize)
        func integer<T: FixedWidthInteger>(_ at: Int, _ type: T.Type) -> T {
            header[at..<at + MemoryLayout<T>.size].enumerated().reduce(T.zero) { $0 | (T($1.element) << (8 * $1.offset)) }
        }
        let count = Int(integer(12, UInt32.self))
        let userBlockSize = Int(integer(28, UInt32.self))
        let indexEnd = headerSize + 24 * count
        // Sizes and offsets are stored as UInt64; any that no file can have (≥ 2^63) is damage, not a trap.
        let recordedSize = Int(exactly: integer(16, UInt64.self))
        guard count < 1 << 24, userBlockSize >= indexEnd + 4, let recordedSize, userBlockSize < recordedSize else {
            throw CheckpointError(.damaged, file: path, object: "checkpoint index (user block)", "is damaged (impossible sizes)")
        }
        guard size >= indexEnd + 4 else {
            throw CheckpointError(.unreadable, file: path, "is truncated: \(size) of \(recordedSize) bytes (an interrupted copy or a full disk?)")
        }
        let bytes = try file.read(0..<indexEnd + 4)
        let stored = bytes[indexEnd..<indexEnd + 4].enumerated().reduce(UInt32(0)) { $0 | (UInt32($1.element) << (8 * $1.offset)) }
        guard CRC32C.checksum(Array(bytes[0..<indexEnd])) == stored else {
            throw CheckpointError(.damaged, file: path, object: "checkpoint index (user block)", "fails its CRC-32C check: the file is damaged")
        }
        guard integer(8, UInt32.self) <= version else {
            throw CheckpointError(.notACheckpoint, file: path, "checkpoint index version \(integer(8, UInt32.self)) is newer than this vt reads (\(version))")
        }
        func entryInteger<T: FixedWidthInteger>(_ at: Int, _ type: T.Type) -> T {
            bytes[at..<at + MemoryLayout<T>.size].enumerated().reduce(T.zero) { $0 | (T($1.element) << (8 * $1.offset)) }
        }
        let entries = try (0..<count).map { i -> Entry in
            let base = headerSize + 24 * i
            guard let offset = Int(exactly: entryInteger(base, UInt64.self)), let length = Int(exactly: entryInteger(base + 8, UInt64.self)) else {
                throw CheckpointError(.damaged, file: path, object: "checkpoint index (user block)", "lists impossible data ranges")
            }
            return Entry(offset: offset, length: length, checksum: entryInteger(base + 16, UInt32.self))
        }
        let index = CheckpointIndex(fileSize: recordedSize, metadataChecksum: integer(24, UInt32.self),
                                    userBlockSize: userBlockSize, entries: entries)
        guard size >= index.fileSize else {
            throw CheckpointError(.unreadable, file: path, "is truncated: \(size) of \(index.fileSize) bytes (an interrupted copy or a full disk?)")
        }
        guard size == index.fileSize else {
            throw CheckpointError(.damaged, file: path, "has \(size - index.fileSize) bytes more than were written")
        }
        guard let gaps = index.gaps() else {
            throw CheckpointError(.damaged, file: path, object: "checkpoint index (user block)", "lists impossible data ranges")
        }
        let computed = try file.checksum(of: gaps)
        guard computed == index.metadataChecksum else {
            throw CheckpointError(.damaged, file: path, object: "HDF5 metadata",
                                  "fails its CRC-32C check (stored \(hex(index.metadataChecksum)), computed \(hex(computed))): the file's structure is damaged")
        }
        return index
    }
}

/// A file read and written with pread/pwrite; errors name the path and errno.
struct RawFile {
    let path: String
    let descriptor: Int32

    init(path: String, writable: Bool) throws {
        self.path = path
        descriptor = open(path, writable ? O_RDWR : O_RDONLY)
        guard descriptor >= 0 else {
            throw CheckpointError(writable ? .saveFailed : .unreadable, file: path, "open failed: \(Durability.errorText())")
        }
    }

    func close() { _ = closeDescriptor(descriptor) }

    func size() throws -> Int {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw CheckpointError(.unreadable, file: path, "fstat failed: \(Durability.errorText())")
        }
        return Int(status.st_size)
    }

    func read(_ range: Range<Int>) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: range.count)
        var done = 0
        while done < range.count {
            let result = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, range.count - done, off_t(range.lowerBound + done)) }
            if result > 0 { done += result; continue }
            if result < 0 && errno == EINTR { continue }
            throw CheckpointError(.unreadable, file: path, result == 0 ? "ends early (truncated)" : "read failed: \(Durability.errorText())")
        }
        return bytes
    }

    func write(_ bytes: [UInt8], at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let result = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
            if result > 0 { done += result; continue }
            if result < 0 && errno == EINTR { continue }
            throw CheckpointError(.saveFailed, file: path, "write failed: \(Durability.errorText())")
        }
    }

    /// CRC-32C of the concatenation of `ranges`, read in pieces of at most 4 MiB.
    func checksum(of ranges: [Range<Int>]) throws -> UInt32 {
        var crc: UInt32 = 0
        for range in ranges {
            var start = range.lowerBound
            while start < range.upperBound {
                let end = min(range.upperBound, start + (4 << 20))
                let piece = try read(start..<end)
                crc = piece.withUnsafeBytes { CRC32C.checksum($0, continuing: crc) }
                start = end
            }
        }
        return crc
    }
}
