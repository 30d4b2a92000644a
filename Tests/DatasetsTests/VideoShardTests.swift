// Shards: the writer's layout and attributes (plain, BAIR, Kinetics), crash safety (nothing at the final
// name until finished, hidden partial files ignored, no silent overwrite), the reader's checks on files
// that are not shards, and the multi-file VideoSource.

import Datasets
import Foundation
import HDF5
import Testing
import VTTestFiles

/// Video `index` of a small test corpus: every byte depends on (index, position).
func testVideo(_ index: Int, frames: Int, height: Int, width: Int) -> [UInt8] {
    (0..<(frames * height * width * 3)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index &* 31) }
}

/// Writes a plain shard of `count` test videos at `path`.
@discardableResult
func writeTestShard(_ path: String, count: Int, first: Int = 0, frames: Int = 4, height: Int = 8, width: Int = 8,
                    split: String = "train") throws -> [[UInt8]] {
    let writer = try VideoShardWriter(path: path, frames: frames, height: height, width: width, source: "test", split: split)
    let videos = (first..<first + count).map { testVideo($0, frames: frames, height: height, width: width) }
    for video in videos { try writer.append(video: video) }
    try writer.finish()
    return videos
}

@Suite struct VideoShardTests {
    @Test func plainShardRoundTrip() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("plain.h5").path
        let videos = try writeTestShard(path, count: 37)   // more than one write batch, not a multiple
        let shard = try VideoShard(path: path)
        #expect((shard.count, shard.frames, shard.height, shard.width) == (37, 4, 8, 8))
        #expect(shard.source == "test" && shard.split == "train" && shard.formatVersion == 1)
        #expect(!shard.hasActions && shard.labelNames == nil)
        for index in [0, 15, 16, 36] { #expect(try shard.video(index) == videos[index]) }
        // A temporal crop reads exactly those frames.
        var clip = [UInt8](repeating: 0, count: 2 * shard.bytesPerFrame)
        try clip.withUnsafeMutableBufferPointer { try shard.readClip(index: 5, startFrame: 1, frameCount: 2, into: $0.baseAddress!) }
        #expect(clip == Array(videos[5][shard.bytesPerFrame..<3 * shard.bytesPerFrame]))
        #expect(throws: DatasetError.self) {
            try clip.withUnsafeMutableBufferPointer { try shard.readClip(index: 5, startFrame: 3, frameCount: 2, into: $0.baseAddress!) }
        }
        // The root attributes of docs/design.md §3, and the chunking: one video per chunk.
        let attributes = try shard.attributes()
        #expect(attributes["format"] == .string("video-shard"))
        #expect(attributes["format_version"] == .int64(1))
        #expect(attributes["source"] == .string("test") && attributes["split"] == .string("train"))
        #expect(attributes["videos"] == .int64(37))
        #expect(try shard.datasetNames() == ["videos"])
        // Nothing else was left in the folder.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["plain.h5"])
    }

    @Test func bairAndKineticsColumns() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let bairPath = directory.appendingPathComponent("bair.h5").path
        let bair = try VideoShardWriter(path: bairPath, frames: 2, height: 8, width: 8, kind: .bair, source: "bair", split: "test")
        for index in 0..<3 {
            try bair.append(video: testVideo(index, frames: 2, height: 8, width: 8),
                            actions: (0..<8).map { Float(index * 8 + $0) }, endEffectorPositions: (0..<6).map { Float(-index - $0) })
        }
        // Wrong extras are refused.
        #expect(throws: DatasetError.self) { try bair.append(video: testVideo(0, frames: 2, height: 8, width: 8)) }
        #expect(throws: DatasetError.self) {
            try bair.append(video: [UInt8](repeating: 0, count: 5), actions: [Float](repeating: 0, count: 8),
                            endEffectorPositions: [Float](repeating: 0, count: 6))
        }
        try bair.finish()
        let readBAIR = try VideoShard(path: bairPath)
        #expect(readBAIR.hasActions && readBAIR.count == 3)
        #expect(try readBAIR.actions(2) == (16..<24).map(Float.init))
        #expect(try readBAIR.endEffectorPositions(1) == (0..<6).map { Float(-1 - $0) })
        #expect(try readBAIR.datasetNames() == ["actions", "endeffector_positions", "videos"])

        let kineticsPath = directory.appendingPathComponent("kinetics.h5").path
        let names = ["baking cookies", "making pizza"]
        let kinetics = try VideoShardWriter(path: kineticsPath, frames: 2, height: 8, width: 8, kind: .kinetics(labelNames: names),
                                            source: "kinetics", split: "validate")
        let ids = ["-IgP_58waM-", "idNo_CDBwb2"]
        for (index, id) in ids.enumerated() {
            try kinetics.append(video: testVideo(index, frames: 2, height: 8, width: 8),
                                clip: KineticsClipFields(label: Int32(1 - index), youtubeID: id, timeStart: 14, timeEnd: 24,
                                                         annotationLine: Int32(index + 2)))
        }
        #expect(throws: DatasetError.self) {   // label outside label_names
            try kinetics.append(video: testVideo(0, frames: 2, height: 8, width: 8),
                                clip: KineticsClipFields(label: 2, youtubeID: "x", timeStart: 0, timeEnd: 1, annotationLine: 9))
        }
        try kinetics.finish()
        let readKinetics = try VideoShard(path: kineticsPath)
        #expect(readKinetics.labelNames == names)
        #expect(try readKinetics.labels() == [1, 0])
        #expect(try readKinetics.youtubeIDs() == ids)
        #expect(try readKinetics.datasetNames() == ["annotation_lines", "labels", "time_end", "time_start", "videos", "youtube_ids"])
    }

    @Test func unfinishedWritesLeaveNoShard() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("out.h5").path
        do {
            let writer = try VideoShardWriter(path: path, frames: 2, height: 8, width: 8, source: "test", split: "train")
            try writer.append(video: testVideo(0, frames: 2, height: 8, width: 8))
            // While it is being written, only a hidden partial file exists, and it is not a shard yet.
            let listing = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(listing.count == 1 && listing[0].hasPrefix(".out.h5.partial-"))
            #expect(!FileManager.default.fileExists(atPath: path))
            #expect(throws: DatasetError.self) { try ShardVideoSource(path: directory.path) }   // the partial is ignored
            // Dropped without finish(): the partial file goes too.
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == [])

        // An existing output is never replaced without `overwrite`.
        try writeTestShard(path, count: 2)
        let error = try #require(throws: DatasetError.self) { try writeTestShard(path, count: 3) }
        #expect(error.description.contains(path) && error.description.contains("--overwrite"))
        #expect(try VideoShard(path: path).count == 2)
        let replacing = try VideoShardWriter(path: path, frames: 4, height: 8, width: 8, source: "test", split: "train", overwrite: true)
        try replacing.append(video: testVideo(9, frames: 4, height: 8, width: 8))
        #expect(try VideoShard(path: path).count == 2)   // still the old one until finish()
        try replacing.finish()
        #expect(try VideoShard(path: path).count == 1)
    }

    @Test func filesThatAreNotShardsAreNamed() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func message(_ path: String) throws -> String {
            let error = try #require(throws: DatasetError.self) { try VideoShard(path: path) }
            #expect(error.file == path)
            return error.description
        }
        let missing = directory.appendingPathComponent("missing.h5").path
        #expect(try message(missing).contains("no such file"))

        let text = directory.appendingPathComponent("notes.h5").path
        try writeBytes(Array("not hdf5".utf8), to: text)
        #expect(try message(text).contains("not an HDF5 file"))

        let checkpoint = directory.appendingPathComponent("checkpoint.h5").path
        do {
            let file = try HDF5File.create(checkpoint)
            try file.root.setAttribute("format", "vt-checkpoint")
            try file.root.createDataset("params/x", shape: [1], values: [Float(1)])
        }
        #expect(try message(checkpoint).contains("'format' is 'vt-checkpoint', expected 'video-shard'"))

        let bare = directory.appendingPathComponent("bare.h5").path
        do { _ = try HDF5File.create(bare).root.createDataset("videos", shape: [1], values: [UInt8(1)]) }
        #expect(try message(bare).contains("no root attribute 'format'"))

        func shard(_ name: String, version: Int64 = 1, _ build: (HDF5File) throws -> Void) throws -> String {
            let path = directory.appendingPathComponent(name).path
            let file = try HDF5File.create(path)
            try file.root.setAttribute("format", "video-shard")
            try file.root.setAttribute("format_version", version)
            try build(file)
            try file.close()
            return path
        }
        #expect(try message(shard("newer.h5", version: 2) { _ in }).contains("format_version 2"))
        #expect(try message(shard("novideos.h5") { _ in }).contains("'videos' is missing"))
        #expect(try message(shard("rank.h5") { try $0.root.createDataset("videos", shape: [2, 4, 4, 3], values: [UInt8](repeating: 0, count: 96)) })
            .contains("shape [2, 4, 4, 3], expected [N, T, H, W, 3]"))
        #expect(try message(shard("float.h5") { try $0.root.createDataset("videos", shape: [1, 1, 1, 1, 3], values: [Float](repeating: 0, count: 3)) })
            .contains("UInt8"))
        #expect(try message(shard("actions.h5") {
            try $0.root.createDataset("videos", shape: [1, 2, 1, 1, 3], values: [UInt8](repeating: 0, count: 6))
            try $0.root.createDataset("actions", shape: [1, 3, 4], values: [Float](repeating: 0, count: 12))
            try $0.root.createDataset("endeffector_positions", shape: [1, 2, 3], values: [Float](repeating: 0, count: 6))
        }).contains("'actions' has shape [1, 3, 4], expected [1, 2, 4]"))
        #expect(try message(shard("labels.h5") {
            try $0.root.createDataset("videos", shape: [1, 2, 1, 1, 3], values: [UInt8](repeating: 0, count: 6))
            try $0.root.createDataset("labels", shape: [1], values: [Int32(0)])
        }).contains("label_names"))
    }

    @Test func sourceOverFilesAndFolders() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let train = directory.appendingPathComponent("train")
        try FileManager.default.createDirectory(at: train, withIntermediateDirectories: true)
        // Numeric order: traj_2 before traj_10, whatever the listing order.
        let later = try writeTestShard(train.appendingPathComponent("traj_10_to_12.h5").path, count: 3, first: 10)
        let earlier = try writeTestShard(train.appendingPathComponent("traj_2_to_3.h5").path, count: 2, first: 2)
        try writeBytes([1, 2, 3], to: train.appendingPathComponent(".traj_99.h5.partial-1-2").path)   // hidden: ignored
        try writeBytes([1, 2, 3], to: train.appendingPathComponent("README.txt").path)               // not .h5: ignored
        let source = try ShardVideoSource(path: directory.path)
        #expect(source.count == 5 && source.shards.count == 2)
        #expect(source.shards.map { URL(fileURLWithPath: $0.path).lastPathComponent } == ["traj_2_to_3.h5", "traj_10_to_12.h5"])
        let all = earlier + later
        var video = [UInt8](repeating: 0, count: 4 * source.bytesPerFrame)
        for index in 0..<5 {
            try video.withUnsafeMutableBufferPointer { try source.read(index: index, startFrame: 0, frameCount: 4, into: $0.baseAddress!) }
            #expect(video == all[index])
        }
        #expect(throws: DatasetError.self) {
            try video.withUnsafeMutableBufferPointer { try source.read(index: 5, startFrame: 0, frameCount: 4, into: $0.baseAddress!) }
        }
        #expect(source.summary.contains("2 shards, 5 videos of 4×8×8"))

        // Files given one by one keep the given order; a different video shape is an error naming both files.
        let odd = directory.appendingPathComponent("odd.h5").path
        try writeTestShard(odd, count: 1, frames: 3)
        let error = try #require(throws: DatasetError.self) { try ShardVideoSource(paths: [train.path, odd]) }
        #expect(error.file == odd && error.description.contains("traj_2_to_3.h5"))
        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let none = try #require(throws: DatasetError.self) { try ShardVideoSource(path: empty.path) }
        #expect(none.description.contains("no .h5 shards"))
    }

    @Test func readsFromManyThreadsAgree() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let videos = try writeTestShard(directory.appendingPathComponent("a.h5").path, count: 16)
        let source = try ShardVideoSource(path: directory.path)
        final class Failures: @unchecked Sendable { var count = 0; let lock = NSLock() }
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            var buffer = [UInt8](repeating: 0, count: 4 * source.bytesPerFrame)
            for round in 0..<20 {
                let index = (worker * 5 + round) % 16
                let ok = (try? buffer.withUnsafeMutableBufferPointer {
                    try source.read(index: index, startFrame: 0, frameCount: 4, into: $0.baseAddress!)
                }) != nil && buffer == videos[index]
                if !ok { failures.lock.lock(); failures.count += 1; failures.lock.unlock() }
            }
        }
        #expect(failures.count == 0)
    }
}
