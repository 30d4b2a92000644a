// BAIR TFRecords → shards: every pixel of the Python-written fixture survives bit for bit (checked against
// SHA-256 hashes the Python generator computed independently), the output mirrors train/ and test/, and
// every kind of corrupt input gives one error naming the file, record and byte offset — with no output —
// or, with skipCorrupt, is skipped and listed.

import Datasets
import Foundation
import Testing
import VTTestFiles

private struct Expected: Decodable {
    struct Video: Decodable {
        let record_offset: Int
        let record_length: Int
        let sha256_image_aux1: String
        let sha256_image_main: String
        let action: [Double]
        let endeffector_pos: [Double]
    }
    let frames: Int
    let videos: [Video]
}

private let fixture = TestPaths.fixture("bair_seed7_2x3.tfrecords")

private func expected() throws -> Expected {
    try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("bair_seed7_2x3.expected.json"))))
}

/// A softmotion30_44k tree in a fresh folder: train/ and test/ hold `files` (name → bytes).
private func corpus(_ files: [String: [UInt8]]) throws -> URL {
    let root = try temporaryDirectory()
    for (name, bytes) in files {
        let url = root.appendingPathComponent("softmotion30_44k").appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try writeBytes(bytes, to: url.path)
    }
    return root
}

/// Converts the one file of a corpus holding `bytes`; returns the error it throws.
private func conversionError(_ bytes: [UInt8]) throws -> (DatasetError, path: String, output: URL) {
    let root = try corpus(["train/traj_0_to_1.tfrecords": bytes])
    let output = root.appendingPathComponent("out")
    let files = try BAIRConversion.sourceFiles(in: root.path, output: output.path)
    let error = try #require(throws: DatasetError.self) {
        try BAIRConversion.convert(files[0], options: BAIRConversionOptions(frames: 3))
    }
    // Nothing that looks like a shard (nor a partial file) is left behind.
    let left = (try? FileManager.default.contentsOfDirectory(atPath: output.appendingPathComponent("train").path)) ?? []
    #expect(left.isEmpty, "left behind: \(left)")
    return (error, files[0].path, root)
}

@Suite struct BAIRConversionTests {
    @Test func everyPixelMatchesTheIndependentDecode() throws {
        let want = try expected()
        let bytes = try readBytes(fixture)
        let root = try corpus(["train/traj_0_to_1.tfrecords": bytes, "test/traj_0_to_1.tfrecords": bytes])
        defer { try? FileManager.default.removeItem(at: root) }
        let output = root.appendingPathComponent("prepared").path
        let files = try BAIRConversion.sourceFiles(in: root.path, output: output)   // the parent of softmotion30_44k
        #expect(files.map(\.split) == ["test", "train"])
        #expect(files.map(\.output) == ["\(output)/test/traj_0_to_1.h5", "\(output)/train/traj_0_to_1.h5"])
        for camera in BAIRCamera.allCases {
            for file in files {
                let result = try BAIRConversion.convert(file, options: BAIRConversionOptions(frames: want.frames, camera: camera,
                                                                                           overwrite: true))
                #expect(result.videos == 2 && result.skipped.isEmpty && result.wroteShard)
                let shard = try VideoShard(path: file.output)
                #expect((shard.count, shard.frames, shard.height, shard.width) == (2, 3, 64, 64))
                #expect(shard.source == "bair" && shard.split == file.split && shard.hasActions)
                let attributes = try shard.attributes()
                #expect(attributes["camera"] == .string(camera.rawValue))
                #expect(attributes["source_file"] == .string(file.path))
                for (index, video) in want.videos.enumerated() {
                    let pixels = try shard.video(index)
                    #expect(sha256Hex(pixels) == (camera == .aux1 ? video.sha256_image_aux1 : video.sha256_image_main),
                            "video \(index), camera \(camera), split \(file.split)")
                    #expect(try shard.actions(index) == video.action.map { Float($0) })
                    #expect(try shard.endEffectorPositions(index) == video.endeffector_pos.map { Float($0) })
                }
            }
        }
        // The loader sees the same pixels: both splits through one source, train's video 1 last.
        let source = try ShardVideoSource(path: output)
        var clip = [UInt8](repeating: 0, count: 3 * source.bytesPerFrame)
        try clip.withUnsafeMutableBufferPointer { try source.read(index: 3, startFrame: 0, frameCount: 3, into: $0.baseAddress!) }
        #expect(sha256Hex(clip) == want.videos[1].sha256_image_main)
    }

    @Test func fewerFramesAndARootWithoutSplits() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try writeBytes(try readBytes(fixture), to: root.appendingPathComponent("traj_0_to_1.tfrecords").path)
        let files = try BAIRConversion.sourceFiles(in: root.path, output: root.appendingPathComponent("out").path)
        #expect(files.count == 1 && files[0].split == "" && files[0].output.hasSuffix("/out/traj_0_to_1.h5"))
        _ = try BAIRConversion.convert(files[0], options: BAIRConversionOptions(frames: 2))
        let shard = try VideoShard(path: files[0].output)
        #expect(shard.frames == 2 && shard.split == "all")
        let full = try BAIRVideoReader.readAll(path: fixture, frames: 2)
        #expect(try shard.video(1) == full[1].pixels)
        // Asking for more frames than the records hold names the missing key.
        let tooMany = try #require(throws: DatasetError.self) {
            try BAIRConversion.convert(files[0], options: BAIRConversionOptions(frames: 4, overwrite: true))
        }
        #expect(tooMany.description == "\(files[0].path): record 0 at byte offset 0: missing key '3/image_aux1/encoded'")
        #expect(try VideoShard(path: files[0].output).frames == 2)   // the earlier output is untouched
        let empty = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(throws: DatasetError.self) { try BAIRConversion.sourceFiles(in: empty.path, output: "x") }
    }

    @Test func corruptRecordsAreNamedAndStopTheFile() throws {
        let bytes = try readBytes(fixture)
        let want = try expected()
        let second = want.videos[1].record_offset   // record 1's first byte
        #expect(second == 16 + want.videos[0].record_length)

        var truncated = bytes
        truncated.removeLast(100)
        var (error, path, root) = try conversionError(truncated)
        #expect(error.recordIndex == 1 && error.offset == second && error.file == path)
        #expect(error.description.hasPrefix("\(path): record 1 at byte offset \(second): truncated record data"))
        try? FileManager.default.removeItem(at: root)

        var badLength = bytes
        badLength[second + 8] ^= 0x01
        (error, path, root) = try conversionError(badLength)
        #expect(error.description.hasPrefix("\(path): record 1 at byte offset \(second): bad length CRC"))
        try? FileManager.default.removeItem(at: root)

        var badData = bytes
        badData[second + 12 + 500] ^= 0x80
        (error, path, root) = try conversionError(badData)
        #expect(error.description.hasPrefix("\(path): record 1 at byte offset \(second): bad data CRC"))
        try? FileManager.default.removeItem(at: root)

        // A missing key and an image of the wrong size, in records whose framing is sound.
        let records = try TFRecordReader.readAll(path: fixture)
        var example = try TFExample(decoding: records[1].data)
        example["2/action"] = nil
        let missing = TFRecord.frame(records[0].data) + TFRecord.frame(example.encoded())
        (error, path, root) = try conversionError(missing)
        #expect(error.description == "\(path): record 1 at byte offset \(second): missing key '2/action'")
        try? FileManager.default.removeItem(at: root)

        example = try TFExample(decoding: records[0].data)
        example["1/image_aux1/encoded"] = .bytes([[UInt8](repeating: 7, count: 64 * 64 * 3 - 1)])
        let short = TFRecord.frame(example.encoded()) + TFRecord.frame(records[1].data)
        (error, path, root) = try conversionError(short)
        #expect(error.recordIndex == 0 && error.offset == 0)
        #expect(error.description.contains("'1/image_aux1/encoded' has 12287 bytes, expected 12288"))
        try? FileManager.default.removeItem(at: root)
    }

    @Test func skipCorruptSkipsAndReports() throws {
        let bytes = try readBytes(fixture)
        let want = try expected()
        let second = want.videos[1].record_offset
        let options = BAIRConversionOptions(frames: 3, skipCorrupt: true)

        // A bad data CRC in record 0: skipped, record 1 still converted.
        var badData = bytes
        badData[12 + 1000] ^= 0x01
        var root = try corpus(["test/traj_0_to_1.tfrecords": badData])
        var file = try BAIRConversion.sourceFiles(in: root.path, output: root.appendingPathComponent("out").path)[0]
        var result = try BAIRConversion.convert(file, options: options)
        #expect(result.videos == 1 && result.skipped.count == 1)
        #expect(result.skipped[0].hasPrefix("\(file.path): record 0 at byte offset 0: bad data CRC"))
        var shard = try VideoShard(path: file.output)
        #expect(try sha256Hex(shard.video(0)) == want.videos[1].sha256_image_aux1)
        #expect(try shard.skipped() == result.skipped)
        try? FileManager.default.removeItem(at: root)

        // A truncated record 1: record 0 kept, the rest of the file reported as skipped.
        root = try corpus(["test/traj_0_to_1.tfrecords": Array(bytes[..<(second + 20)])])
        file = try BAIRConversion.sourceFiles(in: root.path, output: root.appendingPathComponent("out").path)[0]
        result = try BAIRConversion.convert(file, options: options)
        #expect(result.videos == 1 && result.skipped.count == 1 && result.skipped[0].contains("rest of the file is skipped"))
        shard = try VideoShard(path: file.output)
        #expect(try sha256Hex(shard.video(0)) == want.videos[0].sha256_image_aux1)
        try? FileManager.default.removeItem(at: root)

        // Nothing readable: no shard at all, and the report says why.
        var allBad = bytes
        allBad[8] ^= 0x01   // record 0's length CRC
        root = try corpus(["test/traj_0_to_1.tfrecords": allBad])
        file = try BAIRConversion.sourceFiles(in: root.path, output: root.appendingPathComponent("out").path)[0]
        result = try BAIRConversion.convert(file, options: options)
        #expect(result.videos == 0 && !result.wroteShard && result.skipped[0].contains("bad length CRC"))
        #expect(!FileManager.default.fileExists(atPath: file.output))
        try? FileManager.default.removeItem(at: root)
    }
}
