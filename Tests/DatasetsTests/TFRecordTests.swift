// TFRecord framing: writer → reader round trips, and every kind of corruption reported with the right
// record index and byte offset.

import Datasets
import Foundation
import Testing
import VTTestFiles

/// Three records of 10, 300 and 50 bytes at offsets 0, 26 and 342 (each framed with 16 bytes).
private let payloads: [[UInt8]] = [10, 300, 50].enumerated().map { index, count in
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index &* 7 &+ 1) }
}
private let offsets = [0, 26, 342]
private let fileSize = 408

private func writeSample(_ directory: URL, name: String = "sample.tfrecords") throws -> String {
    let path = directory.appendingPathComponent(name).path
    let writer = try TFRecordWriter(path: path)
    for payload in payloads { try writer.write(payload) }
    try writer.close()
    return path
}

/// Reads until the end or the first error; returns the records read and the error.
private func readUntilError(_ path: String) -> ([TFRecord], DatasetError?) {
    var records: [TFRecord] = []
    do {
        let reader = try TFRecordReader(path: path)
        while let record = try reader.next() { records.append(record) }
        return (records, nil)
    } catch let error as DatasetError {
        return (records, error)
    } catch {
        Issue.record("unexpected error type: \(error)")
        return (records, nil)
    }
}

/// One way of damaging the sample file, and what the reader must say.
struct Corruption: CustomStringConvertible, Sendable {
    enum Expected: Sendable { case truncatedHeader, truncatedData, badLengthCRC, badDataCRC }
    let name: String
    let record: Int
    /// Byte to flip (relative to the record start), or nil.
    let flip: Int?
    /// Length to truncate the file to (relative to the record start), or nil.
    let truncate: Int?
    let expected: Expected
    var description: String { name }
}

private let corruptions: [Corruption] = [0, 1, 2].flatMap { record -> [Corruption] in
    let length = payloads[record].count
    return [
        Corruption(name: "record \(record): truncated in the length", record: record, flip: nil, truncate: 5,
                   expected: .truncatedHeader),
        Corruption(name: "record \(record): truncated in the length CRC", record: record, flip: nil, truncate: 10,
                   expected: .truncatedHeader),
        Corruption(name: "record \(record): truncated in the data", record: record, flip: nil, truncate: 12 + length / 2,
                   expected: .truncatedData),
        Corruption(name: "record \(record): truncated right after the header", record: record, flip: nil,
                   truncate: 12, expected: .truncatedData),
        Corruption(name: "record \(record): truncated in the data CRC", record: record, flip: nil,
                   truncate: 12 + length + 2, expected: .truncatedData),
        Corruption(name: "record \(record): flipped length byte", record: record, flip: 0, truncate: nil,
                   expected: .badLengthCRC),
        Corruption(name: "record \(record): flipped high length byte", record: record, flip: 7, truncate: nil,
                   expected: .badLengthCRC),
        Corruption(name: "record \(record): flipped length CRC", record: record, flip: 9, truncate: nil,
                   expected: .badLengthCRC),
        Corruption(name: "record \(record): flipped data byte", record: record, flip: 12 + length / 3, truncate: nil,
                   expected: .badDataCRC),
        Corruption(name: "record \(record): flipped last data byte", record: record, flip: 12 + length - 1,
                   truncate: nil, expected: .badDataCRC),
        Corruption(name: "record \(record): flipped data CRC", record: record, flip: 12 + length + 3, truncate: nil,
                   expected: .badDataCRC),
    ]
}

@Suite struct TFRecordTests {
    @Test func frameMatchesPythonTool() {
        // tfrecord_frame(b"hello") from make_bair_tfrecords.py.
        let expected: [UInt8] = [0x05, 0, 0, 0, 0, 0, 0, 0, 0xea, 0xb2, 0x04, 0x3e,
                                 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0xbb, 0x1f, 0x1c, 0x19]
        #expect(TFRecord.frame(Array("hello".utf8)) == expected)
    }

    @Test func roundTrip() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try writeSample(directory)
        #expect(try readBytes(path).count == fileSize)
        let records = try TFRecordReader.readAll(path: path)
        #expect(records.map(\.data) == payloads)
        #expect(records.map(\.index) == [0, 1, 2])
        #expect(records.map(\.offset) == offsets)
        #expect(try TFRecordReader(path: path).scanOffsets() == offsets)
    }

    @Test func emptyFileAndEmptyRecords() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let empty = directory.appendingPathComponent("empty.tfrecords").path
        try TFRecordWriter(path: empty).close()
        #expect(try TFRecordReader.readAll(path: empty).isEmpty)

        let path = directory.appendingPathComponent("zero.tfrecords").path
        let writer = try TFRecordWriter(path: path)
        try writer.write([])
        try writer.write([42])
        try writer.write([])
        #expect(writer.recordCount == 3)
        try writer.close()
        let records = try TFRecordReader.readAll(path: path)
        #expect(records.map(\.data) == [[], [42], []])
        #expect(records.map(\.offset) == [0, 16, 33])
    }

    @Test func missingFile() {
        #expect {
            _ = try TFRecordReader(path: "/nonexistent/dir/x.tfrecords")
        } throws: { error in
            guard let error = error as? DatasetError, case .cannotOpen = error.problem else { return false }
            return error.description.contains("/nonexistent/dir/x.tfrecords")
        }
    }

    @Test(arguments: corruptions)
    func corruptionIsReported(_ corruption: Corruption) throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try writeSample(directory)
        var bytes = try readBytes(path)
        let start = offsets[corruption.record]
        if let flip = corruption.flip { bytes[start + flip] ^= 0x10 }
        if let truncate = corruption.truncate { bytes.removeSubrange((start + truncate)...) }
        try writeBytes(bytes, to: path)

        let (records, error) = readUntilError(path)
        #expect(records.map(\.data) == Array(payloads[..<corruption.record]), "records before the damage are read")
        let reported = try #require(error)
        #expect(reported.file == path)
        #expect(reported.recordIndex == corruption.record)
        #expect(reported.offset == start)
        switch (corruption.expected, reported.problem) {
        case (.truncatedHeader, .truncatedHeader(let available)):
            #expect(available == corruption.truncate)
        case (.truncatedData, .truncatedData(let length, let available)):
            #expect(length == UInt64(payloads[corruption.record].count))
            #expect(available == corruption.truncate! - 12)
        case (.badLengthCRC, .badLengthCRC(let stored, let computed)),
             (.badDataCRC, .badDataCRC(let stored, let computed)):
            #expect(stored != computed)
        default:
            Issue.record("expected \(corruption.expected), got \(reported.problem)")
        }
        let text = reported.description
        #expect(text.contains(path) && text.contains("record \(corruption.record)")
                && text.contains("byte offset \(start)"), "\(text)")
    }

    @Test func lengthPastEndWithValidCRC() throws {
        // A header that is internally consistent (its CRC matches) but promises more data than the file has.
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("long.tfrecords").path
        var framed = TFRecord.frame([UInt8](repeating: 7, count: 1000))
        framed.removeSubrange(100...)
        try writeBytes(TFRecord.frame([1, 2, 3]) + framed, to: path)
        let (records, error) = readUntilError(path)
        #expect(records.count == 1)
        let reported = try #require(error)
        #expect(reported.problem == .truncatedData(length: 1000, available: 88))
        #expect(reported.recordIndex == 1 && reported.offset == 19)
    }

    @Test func scanOffsetsReportsDamagedHeaders() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try writeSample(directory)
        var bytes = try readBytes(path)
        bytes[offsets[1] + 12 + 5] ^= 1            // data damage is invisible to the header scan
        try writeBytes(bytes, to: path)
        #expect(try TFRecordReader(path: path).scanOffsets() == offsets)
        bytes[offsets[2] + 3] ^= 1                 // header damage is not
        try writeBytes(bytes, to: path)
        #expect {
            _ = try TFRecordReader(path: path).scanOffsets()
        } throws: { error in
            guard let error = error as? DatasetError, case .badLengthCRC = error.problem else { return false }
            return error.recordIndex == 2 && error.offset == offsets[2]
        }
    }

    @Test func seekToRecord() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try writeSample(directory)
        let reader = try TFRecordReader(path: path)
        let found = try reader.scanOffsets()
        reader.seek(toRecord: 2, offset: found[2])
        let record = try #require(try reader.next())
        #expect(record.index == 2 && record.offset == 342 && record.data == payloads[2])
        #expect(try reader.next() == nil)
    }
}
