// BAIR records: the Python-written fixture decodes to exactly what the Python generator's own API
// produces, and every shape problem is reported with file, record index and key.

import Datasets
import Foundation
import Testing
import VTTestFiles

private struct Expected: Decodable {
    struct Video: Decodable {
        let traj_index: Int
        let record_offset: Int
        let record_length: Int
        let sha256_image_aux1: String
        let sha256_image_main: String
        let sum_image_aux1: UInt64
        let sum_image_main: UInt64
        let action: [Double]
        let endeffector_pos: [Double]
        let features: Int
    }
    let file: String
    let frames: Int
    let bytes: Int
    let videos: [Video]
}

private let fixturePath = TestPaths.fixture("bair_seed7_2x3.tfrecords")

private func loadExpected() throws -> Expected {
    let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("bair_seed7_2x3.expected.json")))
    return try JSONDecoder().decode(Expected.self, from: data)
}

/// A valid 2-frame BAIR video with recognisable values.
private func sampleVideo(frames: Int = 2) -> BAIRVideo {
    BAIRVideo(frameCount: frames,
              pixels: (0..<(frames * BAIRVideo.bytesPerFrame)).map { UInt8(truncatingIfNeeded: $0 &* 13) },
              actions: (0..<(frames * 4)).map { Float($0) * 0.25 },
              endEffectorPositions: (0..<(frames * 3)).map { Float($0) - 1 })
}

/// Writes [valid, damaged] records and returns the error decoding the second one.
private func errorForDamagedExample(_ damage: (inout TFExample) -> Void) throws -> DatasetError {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("damaged.tfrecords").path
    let writer = try TFRecordWriter(path: path)
    var example = sampleVideo().example()
    try writer.write(example.encoded())
    damage(&example)
    try writer.write(example.encoded())
    try writer.close()
    // The in-memory path (TFExample) reports the same problem as the in-place path (TFRecord).
    var inMemory: DatasetError?
    do { _ = try BAIRVideo(example: example, frames: 2) } catch { inMemory = error as? DatasetError }
    let reader = try BAIRVideoReader(path: path, frames: 2)
    let first = try #require(try reader.next())
    #expect(first.index == 0 && first.video == sampleVideo())
    do {
        _ = try reader.next()
    } catch let error as DatasetError {
        #expect(error.file == path)
        #expect(error.recordIndex == 1)
        #expect(error.offset == 16 + sampleVideo().example().encoded().count)
        #expect(error.description.contains(path) && error.description.contains("record 1"))
        #expect(inMemory?.problem == error.problem && inMemory?.file == nil)
        return error
    }
    throw DatasetError(.invalidRequest("the damaged record decoded without an error"))
}

@Suite struct BAIRRecordTests {
    @Test func pythonFixtureMatchesGeneratorAPI() throws {
        let expected = try loadExpected()
        #expect(try readBytes(fixturePath).count == expected.bytes)
        #expect(sha256Hex(try readBytes(fixturePath)) == "8e58d223e79f6bf6c8b73607170f6e105a928c2c424ecc8cdac5866c27775c5e")
        let records = try TFRecordReader.readAll(path: fixturePath)
        #expect(records.count == expected.videos.count)
        for (record, want) in zip(records, expected.videos) {
            #expect(record.index == want.traj_index)
            #expect(record.offset == want.record_offset)
            #expect(record.data.count == want.record_length)
            let example = try TFExample(decoding: record.data)
            #expect(example.features.count == want.features)
            #expect(BAIRVideo.availableFrames(in: example, camera: .aux1) == expected.frames)
            #expect(BAIRVideo.availableFrames(in: example, camera: .main) == expected.frames)

            let aux = try BAIRVideo(record: record, file: fixturePath, frames: expected.frames, camera: .aux1)
            let main = try BAIRVideo(record: record, file: fixturePath, frames: expected.frames, camera: .main)
            #expect(aux.frameCount == expected.frames)
            #expect(aux.pixels.count == expected.frames * 64 * 64 * 3)
            #expect(sha256Hex(aux.pixels) == want.sha256_image_aux1)
            #expect(sha256Hex(main.pixels) == want.sha256_image_main)
            #expect(aux.pixels.reduce(UInt64(0)) { $0 + UInt64($1) } == want.sum_image_aux1)
            #expect(main.pixels.reduce(UInt64(0)) { $0 + UInt64($1) } == want.sum_image_main)
            #expect(aux.actions == want.action.map { Float($0) })
            #expect(aux.endEffectorPositions == want.endeffector_pos.map { Float($0) })
            #expect(main.actions == aux.actions && main.endEffectorPositions == aux.endEffectorPositions)
        }
    }

    @Test func fewerFramesArePrefixes() throws {
        let all = try BAIRVideoReader.readAll(path: fixturePath, frames: 3)
        let two = try BAIRVideoReader.readAll(path: fixturePath, frames: 2)
        #expect(all.count == 2 && two.count == 2)
        for (a, b) in zip(all, two) {
            #expect(b.pixels == Array(a.pixels[..<(2 * BAIRVideo.bytesPerFrame)]))
            #expect(b.actions == Array(a.actions[..<8]))
            #expect(b.endEffectorPositions == Array(a.endEffectorPositions[..<6]))
        }
    }

    @Test func tooManyFramesNamesTheMissingKey() throws {
        #expect {
            _ = try BAIRVideoReader.readAll(path: fixturePath, frames: 4)
        } throws: { error in
            guard let error = error as? DatasetError else { return false }
            return error.problem == .missingKey("3/image_aux1/encoded") && error.recordIndex == 0
                && error.offset == 0 && error.file == fixturePath
                && error.description == "\(fixturePath): record 0 at byte offset 0: missing key '3/image_aux1/encoded'"
        }
    }

    @Test func missingCameraIsReported() throws {
        let error = try errorForDamagedExample { $0["1/image_aux1/encoded"] = nil }
        #expect(error.problem == .missingKey("1/image_aux1/encoded"))
        #expect(error.key == "1/image_aux1/encoded")
    }

    @Test func wrongImageByteCount() throws {
        let error = try errorForDamagedExample { $0["0/image_aux1/encoded"] = .bytes([[UInt8](repeating: 0, count: 12287)]) }
        #expect(error.problem == .wrongByteCount(key: "0/image_aux1/encoded", expected: 12288, found: 12287))
        #expect(error.description.contains("'0/image_aux1/encoded' has 12287 bytes, expected 12288"))
    }

    @Test func wrongImageValueCountAndKind() throws {
        let two = try errorForDamagedExample {
            $0["1/image_aux1/encoded"] = .bytes([[UInt8](repeating: 0, count: 12288), [1]])
        }
        #expect(two.problem == .wrongValueCount(key: "1/image_aux1/encoded", expected: 1, found: 2))
        let kind = try errorForDamagedExample { $0["0/image_aux1/encoded"] = .floats([1]) }
        #expect(kind.problem == .wrongFeatureKind(key: "0/image_aux1/encoded", expected: "bytes_list", found: "float_list"))
    }

    @Test func wrongFloatCounts() throws {
        let action = try errorForDamagedExample { $0["1/action"] = .floats([1, 2, 3]) }
        #expect(action.problem == .wrongValueCount(key: "1/action", expected: 4, found: 3))
        #expect(action.description.contains("'1/action' has 3 values, expected 4"))
        let position = try errorForDamagedExample { $0["0/endeffector_pos"] = .floats([1, 2, 3, 4]) }
        #expect(position.problem == .wrongValueCount(key: "0/endeffector_pos", expected: 3, found: 4))
        let kind = try errorForDamagedExample { $0["0/action"] = .int64s([1, 2, 3, 4]) }
        #expect(kind.problem == .wrongFeatureKind(key: "0/action", expected: "float_list", found: "int64_list"))
        let missing = try errorForDamagedExample { $0["1/endeffector_pos"] = nil }
        #expect(missing.problem == .missingKey("1/endeffector_pos"))
    }

    @Test func corruptExampleBytesNameTheRecord() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("garbage.tfrecords").path
        let writer = try TFRecordWriter(path: path)
        try writer.write(sampleVideo().example().encoded())
        try writer.write([0x0A, 0xFF, 0xFF, 0xFF, 0x0F])   // Example.features with a 4 GB length
        try writer.close()
        #expect {
            _ = try BAIRVideoReader.readAll(path: path, frames: 2)
        } throws: { error in
            guard let error = error as? DatasetError, case .malformedExample(_, let offset) = error.problem else {
                return false
            }
            return offset == 1 && error.recordIndex == 1 && error.file == path
        }
    }

    @Test func exampleRoundTripThroughFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("videos.tfrecords").path
        let writer = try TFRecordWriter(path: path)
        for camera in BAIRCamera.allCases { try writer.write(sampleVideo(frames: 3).example(camera: camera).encoded()) }
        try writer.close()
        let reader = try BAIRVideoReader(path: path, frames: 3, camera: .main)
        #expect {
            _ = try reader.next()   // record 0 has only image_aux1
        } throws: { ($0 as? DatasetError)?.problem == .missingKey("0/image_main/encoded") }
        let records = try TFRecordReader.readAll(path: path)
        #expect(try BAIRVideo(record: records[0], file: path, frames: 3, camera: .aux1) == sampleVideo(frames: 3))
        #expect(try BAIRVideo(record: records[1], file: path, frames: 3, camera: .main) == sampleVideo(frames: 3))
    }
}
