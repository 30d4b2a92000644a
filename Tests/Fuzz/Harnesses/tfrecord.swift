// Fuzz harness `tfrecord`: the TFRecord framing (TFRecordReader: length, both masked CRC-32Cs, data) and,
// for every record it yields, the tf.Example and BAIR decoders — the path of `vt prepare bair`. Also the
// random-access path: the offsets `scanOffsets()` finds, each read again after `seek`.

import Datasets

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTFRecord(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = FuzzInput.file(data, size, name: "input.tfrecords")
    FuzzInput.tolerate {
        let reader = try TFRecordReader(path: path)
        while let record = try reader.next() {
            FuzzInput.tolerate { _ = try TFExample(decoding: record.data) }
            FuzzInput.tolerate { _ = try BAIRVideo(record: record, file: path, frames: 1) }
        }
    }
    FuzzInput.tolerate {
        let reader = try TFRecordReader(path: path)
        let offsets = try reader.scanOffsets()
        for (index, offset) in offsets.enumerated().reversed() {
            reader.seek(toRecord: index, offset: offset)
            FuzzInput.tolerate {
                guard let record = try reader.next() else {
                    fatalError("tfrecord: scanOffsets found record \(index) at \(offset), but next() found none there")
                }
                precondition(record.index == index && record.offset == offset, "tfrecord: seek landed elsewhere")
            }
        }
    }
    FuzzInput.tolerate { _ = try BAIRVideoReader.readAll(path: path, frames: 2, camera: .main) }
    return 0
}
