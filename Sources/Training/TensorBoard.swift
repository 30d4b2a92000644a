// TensorBoard: `events.out.tfevents.<time>.<host>` files — TFRecord framing of `tensorflow.Event` protos,
// the first carrying `file_version = "brain.Event:2"`, the rest scalar summaries. TensorBoard (and
// tf.compat.v1.train.summary_iterator) reads them; every record reaches the file when it is written.
//
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }

import Foundation
import Datasets

public final class TensorBoardWriter {
    public let path: String
    private let writer: TFRecordWriter

    public init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        path = directory.appendingPathComponent("events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host)").path
        writer = try TFRecordWriter(path: path)
        try writer.write(EventProto.event(wallTime: Date().timeIntervalSince1970, step: 0, fileVersion: "brain.Event:2"))
    }

    /// One event holding every scalar of `step`.
    public func write(step: Int, scalars: [(tag: String, value: Double)]) throws {
        try writer.write(EventProto.event(wallTime: Date().timeIntervalSince1970, step: step, scalars: scalars))
    }

    public func close() throws { try writer.close() }
}

/// The protobuf wire format of the few Event fields we write.
public enum EventProto {
    public static func event(wallTime: Double, step: Int, fileVersion: String? = nil,
                             scalars: [(tag: String, value: Double)] = []) -> [UInt8] {
        var bytes: [UInt8] = []
        tag(1, wire: 1, &bytes); withUnsafeBytes(of: wallTime.bitPattern.littleEndian) { bytes += $0 }
        tag(2, wire: 0, &bytes); varint(UInt64(bitPattern: Int64(step)), &bytes)
        if let fileVersion { lengthDelimited(3, Array(fileVersion.utf8), &bytes) }
        if !scalars.isEmpty {
            var summary: [UInt8] = []
            for scalar in scalars {
                var value: [UInt8] = []
                lengthDelimited(1, Array(scalar.tag.utf8), &value)
                tag(2, wire: 5, &value); withUnsafeBytes(of: Float(scalar.value).bitPattern.littleEndian) { value += $0 }
                lengthDelimited(1, value, &summary)
            }
            lengthDelimited(5, summary, &bytes)
        }
        return bytes
    }

    static func tag(_ field: UInt64, wire: UInt64, _ bytes: inout [UInt8]) { varint(field << 3 | wire, &bytes) }

    static func varint(_ value: UInt64, _ bytes: inout [UInt8]) {
        var v = value
        while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }

    static func lengthDelimited(_ field: UInt64, _ payload: [UInt8], _ bytes: inout [UInt8]) {
        tag(field, wire: 2, &bytes); varint(UInt64(payload.count), &bytes); bytes += payload
    }
}
