// TensorBoard event files: framing (read back with our TFRecord reader, both CRCs checked) and the Event
// protobuf fields, decoded here by a separate minimal parser.

import Foundation
import VTTestSupport
import Testing
import Datasets
@testable import Training

/// Minimal protobuf field walker: (field number, wire type, payload bytes or integer value).
private func fields(_ bytes: [UInt8]) -> [(field: Int, wire: Int, value: UInt64, payload: [UInt8])] {
    var result: [(Int, Int, UInt64, [UInt8])] = [], i = 0
    func varint() -> UInt64 {
        var value: UInt64 = 0, shift: UInt64 = 0
        while true { let b = bytes[i]; i += 1; value |= UInt64(b & 0x7F) << shift; if b < 0x80 { return value }; shift += 7 }
    }
    while i < bytes.count {
        let key = varint(), field = Int(key >> 3), wire = Int(key & 7)
        switch wire {
        case 0: result.append((field, wire, varint(), []))
        case 1: result.append((field, wire, 0, Array(bytes[i..<(i + 8)]))); i += 8
        case 5: result.append((field, wire, 0, Array(bytes[i..<(i + 4)]))); i += 4
        default: let n = Int(varint()); result.append((field, wire, 0, Array(bytes[i..<(i + n)]))); i += n
        }
    }
    return result
}

@Suite struct TensorBoardTests {
    @Test func eventsAreFramedRecordsWithScalarSummaries() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try TensorBoardWriter(directory: directory)
        try writer.write(step: 7, scalars: [("train/loss", 2.5), ("train/bits_per_dim", 3.606)])
        try writer.close()
        #expect(URL(fileURLWithPath: writer.path).lastPathComponent.hasPrefix("events.out.tfevents."))
        let records = try TFRecordReader.readAll(path: writer.path)
        #expect(records.count == 2)
        let header = fields(records[0].data)
        #expect(header.contains { $0.field == 3 && String(decoding: $0.payload, as: UTF8.self) == "brain.Event:2" })
        let event = fields(records[1].data)
        #expect(event.first { $0.field == 2 }?.value == 7)
        let wallTime = Double(bitPattern: event.first { $0.field == 1 }!.payload.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        #expect(abs(wallTime - Date().timeIntervalSince1970) < 60)
        let values = fields(event.first { $0.field == 5 }!.payload).map { fields($0.payload) }
        #expect(values.count == 2)
        #expect(String(decoding: values[0].first { $0.field == 1 }!.payload, as: UTF8.self) == "train/loss")
        let loss = Float(bitPattern: values[0].first { $0.field == 2 }!.payload.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
        #expect(loss == 2.5)
    }
}
