// tf.train.Example wire format: hand-written bytes (independent of the encoder), packed vs unpacked
// scalars, unknown fields, merge rules, and malformed input reported with its byte offset.

import Datasets
import Testing

private func decodeError(_ bytes: [UInt8]) -> DatasetError? {
    do {
        _ = try TFExample(decoding: bytes)
        return nil
    } catch {
        return error as? DatasetError
    }
}

/// The (reason, offset) of a malformed-Example error, or nil.
private func malformed(_ bytes: [UInt8]) -> (reason: String, offset: Int)? {
    guard let error = decodeError(bytes), case .malformedExample(let reason, let offset) = error.problem else {
        return nil
    }
    return (reason, offset)
}

@Suite struct TFExampleTests {
    @Test func packedAndUnpackedFloats() throws {
        let values: [Float] = [1.0, -2.5, 3.25e-7, .greatestFiniteMagnitude]
        let packed = Proto.example([("f", Proto.ld(2, Proto.ld(1, Proto.floatsPacked(values))))])
        let unpacked = Proto.example([("f", Proto.ld(2, values.flatMap { Proto.fixed32(1, $0) }))])
        #expect(try TFExample(decoding: packed)["f"] == .floats(values))
        #expect(try TFExample(decoding: unpacked)["f"] == .floats(values))
        // Mixed: a packed run, then single values, then another packed run (they concatenate).
        let mixed = Proto.example([("f", Proto.ld(2, Proto.ld(1, Proto.floatsPacked([1, 2])) + Proto.fixed32(1, 3)
                                               + Proto.ld(1, Proto.floatsPacked([4]))))])
        #expect(try TFExample(decoding: mixed)["f"] == .floats([1, 2, 3, 4]))
    }

    @Test func packedAndUnpackedInt64() throws {
        let values: [Int64] = [0, 1, 127, 128, 300, -1, -2, .max, .min]
        let varints = values.flatMap { Proto.varint(UInt64(bitPattern: $0)) }
        #expect(Proto.varint(UInt64(bitPattern: -1)).count == 10)
        let packed = Proto.example([("i", Proto.ld(3, Proto.ld(1, varints)))])
        let unpacked = Proto.example([("i", Proto.ld(3, values.flatMap { Proto.tag(1, 0) + Proto.varint(UInt64(bitPattern: $0)) }))])
        #expect(try TFExample(decoding: packed)["i"] == .int64s(values))
        #expect(try TFExample(decoding: unpacked)["i"] == .int64s(values))
    }

    @Test func bytesListsAndEmptyValues() throws {
        let bytes = Proto.example([
            ("b", Proto.ld(1, Proto.ld(1, [1, 2, 3]) + Proto.ld(1, []) + Proto.ld(1, [255]))),
            ("emptyBytes", Proto.ld(1, [])),
            ("emptyFloats", Proto.ld(2, [])),
            ("emptyInts", Proto.ld(3, [])),
            ("unset", []),
        ])
        let example = try TFExample(decoding: bytes)
        #expect(example["b"] == .bytes([[1, 2, 3], [], [255]]))
        #expect(example["emptyBytes"] == .bytes([]))
        #expect(example["emptyFloats"] == .floats([]))
        #expect(example["emptyInts"] == .int64s([]))
        #expect(example["unset"] == .unset)
        #expect(example.features.count == 5)
        #expect(try TFExample(decoding: []) == TFExample())
    }

    @Test func encoderRoundTripPackedAndUnpacked() throws {
        let example = TFExample(features: [
            "a": .bytes([[0, 1, 2], []]), "b": .floats([0.5, -1, .infinity]), "c": .int64s([-5, 1 << 40, 0]),
            "d": .floats([]), "e": .int64s([]), "f": .unset, "ключ/ü": .bytes([[9]]),
        ])
        for packed in [true, false] {
            #expect(try TFExample(decoding: example.encoded(packed: packed)) == example)
        }
        #expect(example.encoded(packed: true).count < example.encoded(packed: false).count)
        // The encoder writes exactly what the hand-written pieces describe.
        #expect(TFExample(features: ["f": .floats([1, 2])]).encoded()
                == Proto.example([("f", Proto.ld(2, Proto.ld(1, Proto.floatsPacked([1, 2]))))]))
    }

    @Test func unknownFieldsAreSkipped() throws {
        // One unknown field of every wire type (varint, fixed64, length-delimited, fixed32).
        let junk = Proto.tag(9, 0) + Proto.varint(1 << 62) + Proto.tag(10, 1) + [UInt8](repeating: 0xAB, count: 8)
            + Proto.ld(11, [1, 2, 3, 0x80]) + Proto.tag(12, 5) + [1, 2, 3, 4]
        let floatList = junk + Proto.ld(1, Proto.floatsPacked([7])) + junk + Proto.tag(3, 5) + [0, 0, 0, 0]
        let feature = junk + Proto.ld(2, floatList) + junk
        let entry = junk + Proto.ld(1, Array("k".utf8)) + junk + Proto.ld(2, feature) + junk
        let bytes = junk + Proto.ld(1, junk + Proto.ld(1, entry) + junk) + junk
        #expect(try TFExample(decoding: bytes) == TFExample(features: ["k": .floats([7])]))
    }

    @Test func mergeSemantics() throws {
        // Last map entry wins; a second `features` field merges into the map.
        let bytes = Proto.example([("k", Proto.ld(2, Proto.floatsPacked([]) + Proto.fixed32(1, 1))),
                                   ("k", Proto.ld(3, Proto.tag(1, 0) + [5]))])
            + Proto.example([("other", Proto.ld(1, Proto.ld(1, [1])))])
        #expect(try TFExample(decoding: bytes) == TFExample(features: ["k": .int64s([5]), "other": .bytes([[1]])]))
        // Two float_list fields in one Feature: the lists merge (concatenate).
        let twice = Proto.example([("f", Proto.ld(2, Proto.fixed32(1, 1)) + Proto.ld(2, Proto.fixed32(1, 2)))])
        #expect(try TFExample(decoding: twice)["f"] == .floats([1, 2]))
    }

    @Test func decodesPythonWrittenRecord() throws {
        let record = try #require(try TFRecordReader(path: TestPaths.fixture("bair_seed7_2x3.tfrecords")).next())
        let example = try TFExample(decoding: record.data)
        #expect(example.features.count == 12)
        #expect(example["2/action"]?.count == 4)
        #expect(example["0/endeffector_pos"]?.kindName == "float_list")
        guard case .bytes(let images)? = example["1/image_main/encoded"] else {
            Issue.record("image_main is not a bytes list")
            return
        }
        #expect(images.map(\.count) == [12288])
        // Re-encoding in the same key order reproduces the bytes the Python tool wrote.
        let order = (0..<3).flatMap { t in ["\(t)/action", "\(t)/endeffector_pos", "\(t)/image_aux1/encoded",
                                            "\(t)/image_main/encoded"] }
        #expect(TFExample.encode(order.map { ($0, example[$0]!) }) == record.data)
    }

    // MARK: Malformed input

    @Test func badVarints() throws {
        // An 11-byte varint as the Example's first tag.
        let long = malformed([UInt8](repeating: 0xFF, count: 11))
        #expect(long?.offset == 0 && long?.reason.contains("longer than 10 bytes") == true)
        // A 10-byte varint whose last byte sets bits above 64.
        let overflow = malformed(Proto.tag(9, 0) + [UInt8](repeating: 0xFF, count: 9) + [0x02])
        #expect(overflow?.offset == 1 && overflow?.reason.contains("overflows 64 bits") == true)
        // A varint cut off by the end of the data.
        let cut = malformed(Proto.tag(9, 0) + [0x80, 0x80])
        #expect(cut?.offset == 1 && cut?.reason.contains("runs past the end") == true)
        // A packed int64 whose last varint would cross the end of the packed run.
        let packedCut = malformed(Proto.example([("i", Proto.ld(3, Proto.ld(1, [0x01, 0x80])))]))
        #expect(packedCut?.reason.contains("varint runs past the end") == true)
        #expect(packedCut?.offset == Proto.example([("i", Proto.ld(3, Proto.ld(1, [0x01, 0x80])))]).count - 1)
    }

    @Test func lengthPastEnd() {
        // Example.features claims 100 bytes but only 3 follow; the length varint is at byte 1.
        let top = malformed(Proto.tag(1, 2) + [100, 1, 2, 3])
        #expect(top?.offset == 1 && top?.reason.contains("length 100 runs past the end") == true)
        // A nested length that runs past its *parent* message (though not past the whole buffer).
        let entry = Proto.ld(1, Array("k".utf8)) + Proto.tag(2, 2) + [50]
        let bytes = Proto.ld(1, Proto.ld(1, entry)) + [UInt8](repeating: 0, count: 60)
        let nested = malformed(bytes)
        #expect(nested?.reason.contains("length 50") == true)
        #expect(nested?.offset == 2 + 2 + entry.count - 1)
    }

    @Test func wrongWireTypes() {
        let features = malformed(Proto.tag(1, 0) + [5])
        #expect(features?.offset == 0 && features?.reason.contains("Example.features has wire type 0") == true)
        let floatList = malformed(Proto.example([("f", Proto.ld(2, Proto.tag(1, 0) + [1]))]))
        #expect(floatList?.reason.contains("FloatList.value has wire type 0") == true)
        let intList = malformed(Proto.example([("i", Proto.ld(3, Proto.tag(1, 5) + [0, 0, 0, 0]))]))
        #expect(intList?.reason.contains("Int64List.value has wire type 5") == true)
        let key = malformed(Proto.example([]) + Proto.ld(1, Proto.ld(1, Proto.tag(1, 0) + [1])))
        #expect(key?.reason.contains("key has wire type 0") == true)
        let group = malformed(Proto.tag(7, 3))
        #expect(group?.offset == 0 && group?.reason.contains("group wire type 3") == true)
        let invalid = malformed(Proto.tag(7, 6))
        #expect(invalid?.reason.contains("invalid wire type 6") == true)
        let fieldZero = malformed([0x02, 0x00])
        #expect(fieldZero?.offset == 0 && fieldZero?.reason.contains("field number 0") == true)
    }

    @Test func packedFloatsNotMultipleOfFour() {
        let bytes = Proto.example([("f", Proto.ld(2, Proto.ld(1, [0, 0, 128, 63, 0, 0])))])
        let error = malformed(bytes)
        #expect(error?.reason.contains("6 bytes, not a multiple of 4") == true)
    }

    @Test func truncatedFixedWidthValues() {
        #expect(malformed(Proto.tag(9, 1) + [1, 2, 3])?.reason.contains("fixed64 value runs past") == true)
        #expect(malformed(Proto.tag(9, 5) + [1, 2, 3])?.reason.contains("fixed32 value runs past") == true)
    }

    @Test func errorDescriptionNamesOffsets() {
        let error = decodeError(Proto.tag(1, 2) + [100])!.adding(file: "x.tfrecords", recordIndex: 4, offset: 1000)
        #expect(error.description ==
                "x.tfrecords: record 4 at byte offset 1000: malformed tf.train.Example at byte 1 of the record data " +
                "(file byte 1013): length 100 runs past the end of its message (0 bytes left)")
    }
}
