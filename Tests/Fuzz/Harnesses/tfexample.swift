// Fuzz harness `tfexample`: one serialised tf.train.Example (the payload of a TFRecord) through the
// protobuf decoder (TFExample(decoding:)) and the BAIR decoder in both forms (from a decoded Example and
// straight from a record's bytes). A decoded Example must also survive encode → decode unchanged
// (compared by bit pattern, so NaN payloads count as equal).

import Datasets

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTFExample(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = FuzzInput.bytes(data, size)
    FuzzInput.tolerate {
        let example = try TFExample(decoding: bytes)
        for packed in [true, false] {
            let again = try TFExample(decoding: example.encoded(packed: packed))
            precondition(bitwise(again) == bitwise(example), "tfexample: encode → decode changed the Example")
        }
        let frames = min(3, max(1, BAIRVideo.availableFrames(in: example)))
        FuzzInput.tolerate { _ = try BAIRVideo(example: example, frames: frames) }
        FuzzInput.tolerate { _ = try BAIRVideo(example: example, frames: 1, camera: .main) }
    }
    FuzzInput.tolerate { _ = try BAIRVideo(record: TFRecord(index: 0, offset: 0, data: bytes), file: "input", frames: 1) }
    FuzzInput.tolerate { _ = try BAIRVideo(record: TFRecord(index: 0, offset: 0, data: bytes), file: "input", frames: 2) }
    return 0
}

/// Features with floats replaced by their bit patterns, so equality is exact.
private func bitwise(_ example: TFExample) -> [String: String] {
    example.features.mapValues { feature in
        switch feature {
        case .bytes(let values): return "b\(values)"
        case .floats(let values): return "f\(values.map(\.bitPattern))"
        case .int64s(let values): return "i\(values)"
        case .unset: return "u"
        }
    }
}
