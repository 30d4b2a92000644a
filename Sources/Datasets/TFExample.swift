// TFExample: a focused protobuf wire-format decoder and encoder for tf.train.Example.
//
//     Example   { Features features = 1; }
//     Features  { map<string, Feature> feature = 1; }        map entry: { string key = 1; Feature value = 2; }
//     Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
//     BytesList { repeated bytes value = 1; }
//     FloatList { repeated float value = 1 [packed]; }          packed (wire type 2) or not (wire type 5)
//     Int64List { repeated int64 value = 1 [packed]; }          packed (wire type 2) or not (wire type 0)
//
// Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. Unknown fields are skipped by their
// wire type; a known field with the wrong wire type, a varint longer than 10 bytes (or overflowing 64
// bits), a length that runs past the end of its message, a packed float list whose length is not a
// multiple of 4, field number 0 and the deprecated group wire types (3, 4) are rejected with a
// DatasetError naming the byte offset in the serialised Example. Protobuf merge semantics: a repeated
// map key keeps the last value; repeated occurrences of a message field are merged (lists concatenate);
// in the oneof, a different kind replaces the earlier one.
//
// Not here: tf.train.SequenceExample, text format, and any other message type.

/// One feature of a tf.train.Example: a list of byte strings, floats or 64-bit integers.
public enum Feature: Equatable, Sendable {
    case bytes([[UInt8]])
    case floats([Float])
    case int64s([Int64])
    /// A Feature message with no list set (protobuf allows it; TensorFlow treats it as empty).
    case unset

    /// "bytes_list", "float_list", "int64_list" or "no list".
    public var kindName: String {
        switch self {
        case .bytes: return "bytes_list"
        case .floats: return "float_list"
        case .int64s: return "int64_list"
        case .unset: return "no list"
        }
    }

    /// Number of values in the list.
    public var count: Int {
        switch self {
        case .bytes(let values): return values.count
        case .floats(let values): return values.count
        case .int64s(let values): return values.count
        case .unset: return 0
        }
    }
}

/// A tf.train.Example: a map from feature keys to features.
public struct TFExample: Equatable, Sendable {
    public var features: [String: Feature]

    public init(features: [String: Feature] = [:]) {
        self.features = features
    }

    public subscript(key: String) -> Feature? {
        get { features[key] }
        set { features[key] = newValue }
    }

    /// Decodes a serialised tf.train.Example. Errors are `.malformedExample` with the byte offset.
    public init(decoding data: [UInt8]) throws {
        self = try data.withUnsafeBytes { try TFExample(decoding: $0) }
    }

    /// Decodes a serialised tf.train.Example. Errors are `.malformedExample` with the byte offset.
    public init(decoding data: UnsafeRawBufferPointer) throws {
        let located = try Self.decodeLocated(data)
        var features: [String: Feature] = [:]
        features.reserveCapacity(located.count)
        for (key, value) in located {
            switch value {
            case .bytes(let ranges):
                features[key] = .bytes(ranges.map { range in
                    [UInt8](UnsafeRawBufferPointer(rebasing: data[range]))
                })
            case .floats(let values): features[key] = .floats(values)
            case .int64s(let values): features[key] = .int64s(values)
            case .unset: features[key] = .unset
            }
        }
        self.init(features: features)
    }

    /// A decoded feature whose byte strings are left in place: ranges into the serialised Example.
    enum LocatedFeature {
        case bytes([Range<Int>])
        case floats([Float])
        case int64s([Int64])
        case unset

        var kindName: String {
            switch self {
            case .bytes: return Feature.bytes([]).kindName
            case .floats: return Feature.floats([]).kindName
            case .int64s: return Feature.int64s([]).kindName
            case .unset: return Feature.unset.kindName
            }
        }
    }

    /// Decodes the Example without copying byte strings (they stay ranges into `data`); the decoder
    /// behind `init(decoding:)`, and used directly where images are copied straight to their destination.
    static func decodeLocated(_ data: UnsafeRawBufferPointer) throws -> [String: LocatedFeature] {
        var features: [String: LocatedFeature] = [:]
        guard let base = data.baseAddress, !data.isEmpty else { return features }
        var example = WireReader(base: base, position: 0, end: data.count)
        while let (field, wireType, tagOffset) = try example.nextTag() {
            guard field == 1 else { try example.skip(wireType: wireType, tagOffset: tagOffset); continue }
            var featureMap = try example.message(field: "Example.features", wireType: wireType, tagOffset: tagOffset)
            while let (entryField, entryWireType, entryTagOffset) = try featureMap.nextTag() {
                guard entryField == 1 else {
                    try featureMap.skip(wireType: entryWireType, tagOffset: entryTagOffset)
                    continue
                }
                var entry = try featureMap.message(field: "Features.feature", wireType: entryWireType,
                                                   tagOffset: entryTagOffset)
                var key = ""
                var value = LocatedFeature.unset
                while let (f, w, o) = try entry.nextTag() {
                    switch f {
                    case 1:
                        key = try entry.string(field: "Features.feature.key", wireType: w, tagOffset: o)
                    case 2:
                        var message = try entry.message(field: "Features.feature.value", wireType: w, tagOffset: o)
                        try decodeFeature(&message, into: &value)
                    default:
                        try entry.skip(wireType: w, tagOffset: o)
                    }
                }
                features[key] = value   // map semantics: the last entry for a key wins
            }
        }
        return features
    }

    /// Merges one serialised Feature message into `feature`.
    static func decodeFeature(_ reader: inout WireReader, into feature: inout LocatedFeature) throws {
        while let (field, wireType, tagOffset) = try reader.nextTag() {
            switch field {
            case 1:
                var list = try reader.message(field: "Feature.bytes_list", wireType: wireType, tagOffset: tagOffset)
                var values: [Range<Int>] = []
                if case .bytes(let earlier) = feature { values = earlier }
                while let (f, w, o) = try list.nextTag() {
                    if f == 1 {
                        values.append(try list.bytesRange(field: "BytesList.value", wireType: w, tagOffset: o))
                    } else {
                        try list.skip(wireType: w, tagOffset: o)
                    }
                }
                feature = .bytes(values)
            case 2:
                var list = try reader.message(field: "Feature.float_list", wireType: wireType, tagOffset: tagOffset)
                var values: [Float] = []
                if case .floats(let earlier) = feature { values = earlier }
                while let (f, w, o) = try list.nextTag() {
                    guard f == 1 else { try list.skip(wireType: w, tagOffset: o); continue }
                    switch w {
                    case 2: try list.packedFloats(into: &values, tagOffset: o)
                    case 5: values.append(Float(bitPattern: try list.fixed32()))
                    default:
                        throw WireReader.malformed(
                            "FloatList.value has wire type \(w), expected 2 (packed) or 5 (fixed32)", at: o)
                    }
                }
                feature = .floats(values)
            case 3:
                var list = try reader.message(field: "Feature.int64_list", wireType: wireType, tagOffset: tagOffset)
                var values: [Int64] = []
                if case .int64s(let earlier) = feature { values = earlier }
                while let (f, w, o) = try list.nextTag() {
                    guard f == 1 else { try list.skip(wireType: w, tagOffset: o); continue }
                    switch w {
                    case 2: try list.packedVarints(into: &values, tagOffset: o)
                    case 0: values.append(Int64(bitPattern: try list.varint()))
                    default:
                        throw WireReader.malformed(
                            "Int64List.value has wire type \(w), expected 2 (packed) or 0 (varint)", at: o)
                    }
                }
                feature = .int64s(values)
            default:
                try reader.skip(wireType: wireType, tagOffset: tagOffset)
            }
        }
    }

    /// Serialises the Example, keys in sorted order (deterministic). `packed: false` writes floats and
    /// int64s one field per value (wire types 5 and 0) instead of packed (wire type 2).
    public func encoded(packed: Bool = true) -> [UInt8] {
        Self.encode(features.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, packed: packed)
    }

    /// Serialises an Example whose features are written in the given order.
    public static func encode(_ features: [(key: String, value: Feature)], packed: Bool = true) -> [UInt8] {
        var entries = WireWriter()
        for (key, value) in features {
            var entry = WireWriter()
            entry.lengthDelimited(field: 1, Array(key.utf8))
            entry.lengthDelimited(field: 2, encodeFeature(value, packed: packed))
            entries.lengthDelimited(field: 1, entry.bytes)
        }
        var example = WireWriter()
        example.lengthDelimited(field: 1, entries.bytes)
        return example.bytes
    }

    static func encodeFeature(_ feature: Feature, packed: Bool) -> [UInt8] {
        var list = WireWriter()
        var out = WireWriter()
        switch feature {
        case .bytes(let values):
            for value in values { list.lengthDelimited(field: 1, value) }
            out.lengthDelimited(field: 1, list.bytes)
        case .floats(let values):
            if packed {
                if !values.isEmpty {
                    var payload = WireWriter()
                    for value in values { payload.fixed32(value.bitPattern) }
                    list.lengthDelimited(field: 1, payload.bytes)
                }
            } else {
                for value in values { list.tag(field: 1, wireType: 5); list.fixed32(value.bitPattern) }
            }
            out.lengthDelimited(field: 2, list.bytes)
        case .int64s(let values):
            if packed {
                if !values.isEmpty {
                    var payload = WireWriter()
                    for value in values { payload.varint(UInt64(bitPattern: value)) }
                    list.lengthDelimited(field: 1, payload.bytes)
                }
            } else {
                for value in values { list.tag(field: 1, wireType: 0); list.varint(UInt64(bitPattern: value)) }
            }
            out.lengthDelimited(field: 3, list.bytes)
        case .unset:
            break
        }
        return out.bytes
    }
}

// MARK: - Wire format

/// Reads protobuf fields from `base[position..<end]`. Positions are byte offsets from the start of
/// the outermost message, so nested readers report offsets in the same coordinates.
struct WireReader {
    let base: UnsafeRawPointer
    var position: Int
    let end: Int

    static func malformed(_ reason: String, at offset: Int) -> DatasetError {
        DatasetError(.malformedExample(reason: reason, offset: offset))
    }

    /// The next (field number, wire type, offset of the tag), or nil at the end of the message.
    mutating func nextTag() throws -> (Int, Int, Int)? {
        guard position < end else { return nil }
        let tagOffset = position
        let tag = try varint()
        guard tag <= UInt64(UInt32.max) else { throw Self.malformed("field tag \(tag) is out of range", at: tagOffset) }
        let field = Int(tag >> 3), wireType = Int(tag & 7)
        guard field != 0 else { throw Self.malformed("field number 0 is invalid", at: tagOffset) }
        return (field, wireType, tagOffset)
    }

    /// A base-128 varint: at most 10 bytes, at most 64 significant bits.
    @inline(__always)
    mutating func varint() throws -> UInt64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else {
                throw Self.malformed("varint runs past the end of its message (at byte \(end))", at: start)
            }
            let byte = base.load(fromByteOffset: position, as: UInt8.self)
            position += 1
            if shift == 63 && byte > 1 {
                throw Self.malformed(byte & 0x80 != 0 ? "varint is longer than 10 bytes" : "varint overflows 64 bits",
                                     at: start)
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    mutating func fixed32() throws -> UInt32 {
        guard end - position >= 4 else {
            throw Self.malformed("fixed32 value runs past the end of its message (at byte \(end))", at: position)
        }
        let value = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt32.self))
        position += 4
        return value
    }

    /// The payload range of a length-delimited field (after its tag).
    mutating func lengthDelimited() throws -> Range<Int> {
        let lengthOffset = position
        let length = try varint()
        guard length <= UInt64(end - position) else {
            throw Self.malformed("length \(length) runs past the end of its message " +
                                 "(\(end - position) bytes left)", at: lengthOffset)
        }
        let range = position..<(position + Int(length))
        position = range.upperBound
        return range
    }

    /// Checks that `field` has wire type 2 and returns a reader over its payload.
    mutating func message(field name: String, wireType: Int, tagOffset: Int) throws -> WireReader {
        try expectLengthDelimited(name, wireType, tagOffset)
        let range = try lengthDelimited()
        return WireReader(base: base, position: range.lowerBound, end: range.upperBound)
    }

    /// The payload range of a length-delimited bytes field.
    mutating func bytesRange(field name: String, wireType: Int, tagOffset: Int) throws -> Range<Int> {
        try expectLengthDelimited(name, wireType, tagOffset)
        return try lengthDelimited()
    }

    mutating func string(field name: String, wireType: Int, tagOffset: Int) throws -> String {
        try expectLengthDelimited(name, wireType, tagOffset)
        let range = try lengthDelimited()
        return String(decoding: UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count),
                      as: UTF8.self)
    }

    /// Appends the floats of a packed FloatList payload (a multiple of 4 bytes, little-endian).
    mutating func packedFloats(into values: inout [Float], tagOffset: Int) throws {
        let lengthOffset = position
        let range = try lengthDelimited()
        guard range.count % 4 == 0 else {
            throw Self.malformed("packed FloatList.value has \(range.count) bytes, not a multiple of 4", at: lengthOffset)
        }
        values.reserveCapacity(values.count + range.count / 4)
        for offset in stride(from: range.lowerBound, to: range.upperBound, by: 4) {
            values.append(Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))))
        }
    }

    /// Appends the varints of a packed Int64List payload; a varint may not cross the payload's end.
    mutating func packedVarints(into values: inout [Int64], tagOffset: Int) throws {
        let range = try lengthDelimited()
        var packed = WireReader(base: base, position: range.lowerBound, end: range.upperBound)
        while packed.position < packed.end { values.append(Int64(bitPattern: try packed.varint())) }
    }

    /// Skips one field's value according to its wire type.
    mutating func skip(wireType: Int, tagOffset: Int) throws {
        switch wireType {
        case 0: _ = try varint()
        case 1:
            guard end - position >= 8 else {
                throw Self.malformed("fixed64 value runs past the end of its message (at byte \(end))", at: position)
            }
            position += 8
        case 2: _ = try lengthDelimited()
        case 5: _ = try fixed32()
        case 3, 4: throw Self.malformed("group wire type \(wireType) is not supported", at: tagOffset)
        default: throw Self.malformed("invalid wire type \(wireType)", at: tagOffset)
        }
    }

    private func expectLengthDelimited(_ name: String, _ wireType: Int, _ tagOffset: Int) throws {
        guard wireType == 2 else {
            throw Self.malformed("\(name) has wire type \(wireType), expected 2 (length-delimited)", at: tagOffset)
        }
    }
}

/// Appends protobuf fields to a byte array.
struct WireWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func tag(field: Int, wireType: Int) { varint(UInt64(field << 3 | wireType)) }

    mutating func fixed32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    mutating func lengthDelimited(field: Int, _ payload: [UInt8]) {
        tag(field: field, wireType: 2)
        varint(UInt64(payload.count))
        bytes += payload
    }
}
