// TFRecord: sequential reader and writer for uncompressed TFRecord files.
//
// Framing of one record (all little-endian):
//     uint64 length | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)
// The reader verifies both CRCs and reports every problem as a DatasetError naming the file, the
// record index and the byte offset of the record: truncated header, bad length CRC, truncated data
// (including a cut-off data CRC), bad data CRC. A file that ends exactly after a record is complete
// (the format has no trailer, so a cut at a record boundary cannot be detected).
//
// Reads are buffered `pread`s (one for the 12-byte header, one for data + CRC straight into the record's
// array), not a memory map: a file that shrinks under us gives an error, not SIGBUS.
//
// Not here: GZIP/ZLIB-compressed TFRecords (BAIR is uncompressed), tf.train.Example decoding
// (TFExample.swift).

#if canImport(Glibc)
import Common
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One record: its position in the file and its payload.
public struct TFRecord: Equatable, Sendable {
    /// 0-based index of the record in its file.
    public let index: Int
    /// Byte offset in the file of the record's first byte (its length field).
    public let offset: Int
    /// The payload (for BAIR, a serialised tf.train.Example).
    public let data: [UInt8]

    public init(index: Int, offset: Int, data: [UInt8]) {
        self.index = index
        self.offset = offset
        self.data = data
    }

    /// Bytes of framing around each payload: 8 length + 4 length CRC + 4 data CRC.
    public static let framingBytes = 16
    /// Bytes before the payload: 8 length + 4 length CRC.
    public static let headerBytes = 12

    /// The framed bytes of one record: length, masked length CRC, data, masked data CRC.
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(data.count + framingBytes)
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian) { Array($0) }
        out += length
        withUnsafeBytes(of: CRC32C.maskedChecksum(length).littleEndian) { out += $0 }
        out += data
        withUnsafeBytes(of: CRC32C.maskedChecksum(data).littleEndian) { out += $0 }
        return out
    }
}

/// A read-only file descriptor with positioned reads that report errors as DatasetError.
final class ReadOnlyFile {
    let path: String
    let descriptor: Int32
    let size: Int

    init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw DatasetError(.cannotOpen(reason: systemErrorDescription()), file: path)
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let reason = systemErrorDescription()
            close(descriptor)
            throw DatasetError(.cannotOpen(reason: reason), file: path)
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw DatasetError(.cannotOpen(reason: "not a regular file"), file: path)
        }
        self.descriptor = descriptor
        self.size = Int(status.st_size)
    }

    deinit { close(descriptor) }

    /// Reads up to `count` bytes at `offset` into `buffer`; returns how many were read (short only at EOF).
    func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) throws -> Int {
        var done = 0
        while done < count {
            let n = pread(descriptor, buffer + done, count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw DatasetError(.ioFailed(reason: systemErrorDescription()), file: path, offset: offset)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }
}

func systemErrorDescription() -> String {
    String(cString: strerror(errno))
}

/// Reads the records of one TFRecord file in order, verifying both CRCs of every record.
///
///     let reader = try TFRecordReader(path: path)
///     while let record = try reader.next() { … record.index, record.offset, record.data … }
public final class TFRecordReader {
    /// The file, as given.
    public let path: String
    /// Size of the file in bytes when it was opened.
    public var fileSize: Int { file.size }
    /// Index of the record the next call to `next()` returns.
    public private(set) var nextIndex = 0
    /// Byte offset of the record the next call to `next()` returns.
    public private(set) var nextOffset = 0

    let file: ReadOnlyFile

    public init(path: String) throws {
        self.path = path
        file = try ReadOnlyFile(path: path)
    }

    /// The next record, or nil at the end of the file. Throws a DatasetError (with file, record index and
    /// offset) for a truncated or corrupt record; the reader then stays at that record.
    public func next() throws -> TFRecord? {
        guard let length = try readHeader(at: nextOffset) else { return nil }
        let offset = nextOffset
        let dataOffset = offset + TFRecord.headerBytes
        let count = Int(length)
        var stored: UInt32 = 0
        var read = 0
        let data = try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialised in
            if count > 0 { read = try file.read(into: buffer.baseAddress!, count: count, at: dataOffset) }
            initialised = read
        }
        if read == count {
            read += try withUnsafeMutableBytes(of: &stored) {
                try file.read(into: $0.baseAddress!, count: 4, at: dataOffset + count)
            }
        }
        guard read == count + 4 else {   // the file shrank since it was opened
            throw error(.truncatedData(length: length, available: read), offset: offset)
        }
        let computed = data.withUnsafeBytes { CRC32C.maskedChecksum($0) }
        stored = UInt32(littleEndian: stored)
        guard computed == stored else {
            throw error(.badDataCRC(stored: stored, computed: computed), offset: offset)
        }
        let record = TFRecord(index: nextIndex, offset: offset, data: data)
        nextIndex += 1
        nextOffset = dataOffset + count + 4
        return record
    }

    /// Reads and checks the header at `offset`; returns the data length, or nil at a clean end of file.
    /// Guarantees that length + 4 bytes follow the header in the file.
    func readHeader(at offset: Int) throws -> UInt64? {
        let available = file.size - offset
        if available <= 0 { return nil }
        guard available >= TFRecord.headerBytes else {
            throw error(.truncatedHeader(available: available), offset: offset)
        }
        let (length, storedCRC, read) = try withUnsafeTemporaryAllocation(byteCount: TFRecord.headerBytes,
                                                                          alignment: 8) { header in
            let read = try file.read(into: header.baseAddress!, count: TFRecord.headerBytes, at: offset)
            return (header.loadUnaligned(as: UInt64.self), header.loadUnaligned(fromByteOffset: 8, as: UInt32.self),
                    read)
        }
        guard read == TFRecord.headerBytes else {   // the file shrank since it was opened
            throw error(.truncatedHeader(available: read), offset: offset)
        }
        let computed = withUnsafeBytes(of: length) { CRC32C.maskedChecksum($0) }
        let stored = UInt32(littleEndian: storedCRC)
        guard computed == stored else {
            throw error(.badLengthCRC(stored: stored, computed: computed), offset: offset)
        }
        let dataLength = UInt64(littleEndian: length)
        let remaining = available - TFRecord.headerBytes
        guard dataLength <= UInt64(Int.max - 4), Int(dataLength) + 4 <= remaining else {
            throw error(.truncatedData(length: dataLength, available: remaining), offset: offset)
        }
        return dataLength
    }

    /// Byte offsets of every record, from the headers alone (length CRCs verified, data not read).
    /// A quick index for random access and counting; data CRCs are checked when records are read.
    public func scanOffsets() throws -> [Int] {
        var offsets: [Int] = []
        var offset = 0
        while let length = try readHeader(at: offset, index: offsets.count) {
            offsets.append(offset)
            offset += TFRecord.framingBytes + Int(length)
        }
        return offsets
    }

    /// Positions the reader at a record start found by `scanOffsets()`.
    public func seek(toRecord index: Int, offset: Int) {
        nextIndex = index
        nextOffset = offset
    }

    /// Every record of the file.
    public static func readAll(path: String) throws -> [TFRecord] {
        let reader = try TFRecordReader(path: path)
        var records: [TFRecord] = []
        while let record = try reader.next() { records.append(record) }
        return records
    }

    private func readHeader(at offset: Int, index: Int) throws -> UInt64? {
        let saved = nextIndex
        nextIndex = index
        defer { nextIndex = saved }
        return try readHeader(at: offset)
    }

    private func error(_ problem: DatasetError.Problem, offset: Int) -> DatasetError {
        DatasetError(problem, file: path, recordIndex: nextIndex, offset: offset)
    }
}

/// Writes records to a new TFRecord file (replacing any file at `path`).
public final class TFRecordWriter {
    public let path: String
    /// Records written so far.
    public private(set) var recordCount = 0
    /// Bytes written so far.
    public private(set) var byteCount = 0
    private var descriptor: Int32

    public init(path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw DatasetError(.cannotOpen(reason: systemErrorDescription()), file: path)
        }
    }

    deinit { if descriptor >= 0 { _ = systemClose(descriptor) } }

    /// Appends one record (framed with its length, data and both masked CRCs).
    public func write(_ data: [UInt8]) throws {
        try writeAll(TFRecord.frame(data))
        recordCount += 1
    }

    /// Flushes to disk (fsync) and closes the file. Further writes fail.
    public func close() throws {
        guard descriptor >= 0 else { return }
        let syncFailed = fsync(descriptor) != 0
        let reason = syncFailed ? systemErrorDescription() : ""
        let closeFailed = systemClose(descriptor) != 0
        descriptor = -1
        if syncFailed || closeFailed {
            throw DatasetError(.ioFailed(reason: syncFailed ? reason : systemErrorDescription()), file: path)
        }
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        guard descriptor >= 0 else { throw DatasetError(.ioFailed(reason: "writer is closed"), file: path) }
        try bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = systemWrite(descriptor, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw DatasetError(.ioFailed(reason: systemErrorDescription()), file: path, offset: byteCount)
                }
                done += n
            }
        }
        byteCount += bytes.count
    }
}

// `close` and `write` are shadowed by the writer's own methods inside the class.
@inline(__always) private func systemClose(_ descriptor: Int32) -> Int32 { close(descriptor) }
@inline(__always) private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}
