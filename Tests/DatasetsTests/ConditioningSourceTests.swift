// What videos are conditioned on (docs/design.md §11), as sources read it: per-frame actions cropped with the
// clip and a label per video, from memory and from shards (A read from the file's shape); folders whose shards
// disagree on A or on label_names are one error naming the file; damaged or lying shards are errors naming
// the file and the video, never traps; and the prefetcher returns actions and labels with the pixels.

import VTTestFiles
import Datasets
import Foundation
import HDF5
import Testing

/// Action k of frame t of video v in the tests' sources: every value tells where it came from.
private func testAction(_ video: Int, _ frame: Int, _ k: Int) -> Float { Float(video * 1000 + frame * 10 + k) }

private func testActions(_ video: Int, frames: Int, width: Int) -> [Float] {
    (0..<frames).flatMap { t in (0..<width).map { testAction(video, t, $0) } }
}

/// An in-memory source of `count` test videos with actions of width `width` and labels `video % classes`.
private func conditionedSource(count: Int, frames: Int = 6, width: Int = 3, classes: Int = 3) -> InMemoryVideoSource {
    InMemoryVideoSource(count: count, frames: frames, height: 4, width: 4,
                        storage: (0..<count).flatMap { testVideo($0, frames: frames, height: 4, width: 4) },
                        actions: (0..<count).flatMap { testActions($0, frames: frames, width: width) }, actionWidth: width,
                        labels: (0..<count).map { $0 % classes }, labelNames: (0..<classes).map { "class \($0)" })
}

/// Reads the actions of one clip through the VideoSource API.
private func actions(_ source: VideoSource, _ video: Int, _ start: Int, _ length: Int) throws -> [Float] {
    var buffer = [Float](repeating: .nan, count: length * source.actionWidth)
    try buffer.withUnsafeMutableBufferPointer {
        try source.readActions(index: video, startFrame: start, frameCount: length, into: $0.baseAddress!)
    }
    return buffer
}

/// A source that implements only the required members: the protocol's defaults answer the rest.
private final class PlainSource: VideoSource, @unchecked Sendable {
    let count = 2, frames = 3, height = 2, width = 2
    func read(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<UInt8>) throws {}
}

/// Wraps a source; reading the label of a video in `failing` fails.
private final class FailingLabels: VideoSource, @unchecked Sendable {
    let inner: VideoSource
    var failing: Set<Int> = []
    init(_ inner: VideoSource) { self.inner = inner }
    var count: Int { inner.count }
    var frames: Int { inner.frames }
    var height: Int { inner.height }
    var width: Int { inner.width }
    var actionWidth: Int { inner.actionWidth }
    var labelNames: [String]? { inner.labelNames }
    func read(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<UInt8>) throws {
        try inner.read(index: index, startFrame: startFrame, frameCount: frameCount, into: buffer)
    }
    func readActions(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<Float>) throws {
        try inner.readActions(index: index, startFrame: startFrame, frameCount: frameCount, into: buffer)
    }
    func label(index: Int) throws -> Int {
        if failing.contains(index) { throw DatasetError(.ioFailed(reason: "injected label failure for video \(index)")) }
        return try inner.label(index: index)
    }
}

/// A shard written by hand (not by VideoShardWriter), so it can hold what no writer writes.
@discardableResult
private func handShard(_ path: String, count: Int = 2, frames: Int = 3, _ build: (HDF5File) throws -> Void) throws -> String {
    let file = try HDF5File.create(path)
    try file.root.setAttribute("format", "video-shard")
    try file.root.setAttribute("format_version", Int64(1))
    try file.root.createDataset("videos", shape: [count, frames, 2, 2, 3], values: [UInt8](repeating: 7, count: count * frames * 12))
    try build(file)
    try file.close()
    return path
}

/// Writes a conditioned shard of test videos first..<first+count (actions of width 4, labels video % names.count).
@discardableResult
private func writeConditionedShard(_ path: String, count: Int, first: Int = 0, frames: Int = 5, actions: Bool = true,
                                   labelNames: [String]? = ["left", "right", "still"]) throws -> VideoShardWriter {
    let writer = try VideoShardWriter(path: path, frames: frames, height: 4, width: 4,
                                      kind: .conditioned(actions: actions, labelNames: labelNames), source: "test", split: "train")
    for video in first..<first + count {
        try writer.append(video: testVideo(video, frames: frames, height: 4, width: 4),
                          actions: actions ? testActions(video, frames: frames, width: 4) : nil,
                          endEffectorPositions: actions ? (0..<frames * 3).map { Float(video + $0) } : nil,
                          label: labelNames.map { video % $0.count })
    }
    try writer.finish()
    return writer
}

@Suite struct ConditioningSourceTests {
    @Test func inMemoryActionsFollowTheCropAndLabelsTheVideo() throws {
        let source = conditionedSource(count: 5)
        #expect(source.actionWidth == 3 && source.labelNames == ["class 0", "class 1", "class 2"])
        // Every crop: row t is the action taken at frame start + t of that video.
        var random = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let video = Int.random(in: 0..<5, using: &random), length = Int.random(in: 1...6, using: &random)
            let start = Int.random(in: 0...(6 - length), using: &random)
            let expected = (start..<start + length).flatMap { t in (0..<3).map { testAction(video, t, $0) } }
            #expect(try actions(source, video, start, length) == expected, "video \(video) frames \(start)..<\(start + length)")
        }
        for video in 0..<5 { #expect(try source.label(index: video) == video % 3) }
        // Outside the data: errors, not traps.
        #expect(throws: DatasetError.self) { try actions(source, 5, 0, 1) }
        #expect(throws: DatasetError.self) { try actions(source, 0, 4, 3) }
        #expect(throws: DatasetError.self) { try actions(source, 0, -1, 1) }
        #expect(throws: DatasetError.self) { try source.label(index: -1) }
        #expect(throws: DatasetError.self) { try source.label(index: 5) }

        // Without conditioning: width 0, no names, and a clear error when asked (in-memory and the defaults).
        let plain = InMemoryVideoSource(count: 1, frames: 2, height: 2, width: 2, storage: [UInt8](repeating: 0, count: 24))
        for source in [plain as VideoSource, PlainSource()] {
            #expect(source.actionWidth == 0 && source.labelNames == nil)
            let noActions = try #require(throws: DatasetError.self) { try actions(source, 0, 0, 1) }
            #expect(noActions.description.contains("carries no actions"))
            let noLabels = try #require(throws: DatasetError.self) { try source.label(index: 0) }
            #expect(noLabels.description.contains("no class labels"))
        }
    }

    @Test func shardSourcesReadActionsAndLabels() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try writeConditionedShard(directory.appendingPathComponent("part_1.h5").path, count: 3)
        try writeConditionedShard(directory.appendingPathComponent("part_2.h5").path, count: 4, first: 3)
        let source = try ShardVideoSource(path: directory.path)
        #expect(source.count == 7 && source.actionWidth == 4 && source.labelNames == ["left", "right", "still"])
        #expect(source.summary.contains("actions ×4, 3 classes"))
        var random = SystemRandomNumberGenerator()
        for _ in 0..<60 {
            let video = Int.random(in: 0..<7, using: &random), length = Int.random(in: 1...5, using: &random)
            let start = Int.random(in: 0...(5 - length), using: &random)
            let expected = (start..<start + length).flatMap { t in (0..<4).map { testAction(video, t, $0) } }
            #expect(try actions(source, video, start, length) == expected, "video \(video) frames \(start)..<\(start + length)")
        }
        for video in 0..<7 { #expect(try source.label(index: video) == video % 3) }
        #expect(throws: DatasetError.self) { try actions(source, 7, 0, 1) }
        #expect(throws: DatasetError.self) { try actions(source, 2, 3, 3) }
        #expect(throws: DatasetError.self) { try source.label(index: 7) }
        // The shard keeps what it was given: positions, the datasets of §3 and no Kinetics columns.
        let shard = try VideoShard(path: directory.appendingPathComponent("part_2.h5").path)
        #expect(shard.actionWidth == 4 && shard.hasEndEffectorPositions)
        #expect(try shard.endEffectorPositions(1) == (0..<15).map { Float(4 + $0) })
        #expect(try shard.datasetNames() == ["actions", "endeffector_positions", "labels", "videos"])

        // A is read from the shape: an actions-only shard of width 2 (no positions) is fine.
        let narrow = try handShard(directory.appendingPathComponent("narrow.h5").path) {
            try $0.root.createDataset("actions", shape: [2, 3, 2], values: (0..<12).map(Float.init))
        }
        let narrowSource = try ShardVideoSource(path: narrow)
        #expect(narrowSource.actionWidth == 2 && narrowSource.labelNames == nil)
        #expect(try actions(narrowSource, 1, 1, 2) == [8, 9, 10, 11])
        #expect(throws: DatasetError.self) { try narrowSource.label(index: 0) }

        // BAIR's layout stays valid: [N, T, 4] with positions, no labels.
        let bairPath = directory.appendingPathComponent("bair/bair.h5").path
        try FileManager.default.createDirectory(atPath: directory.appendingPathComponent("bair").path, withIntermediateDirectories: true)
        let bair = try VideoShardWriter(path: bairPath, frames: 3, height: 4, width: 4, kind: .bair, source: "bair", split: "test")
        try bair.append(video: testVideo(0, frames: 3, height: 4, width: 4), actions: testActions(9, frames: 3, width: 4),
                        endEffectorPositions: [Float](repeating: 0, count: 9))
        try bair.finish()
        let bairSource = try ShardVideoSource(path: bairPath)
        #expect(bairSource.actionWidth == 4 && bairSource.labelNames == nil)
        #expect(try actions(bairSource, 0, 2, 1) == (0..<4).map { testAction(9, 2, $0) })
    }

    @Test func shardsThatDisagreeAreOneErrorNamingTheFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func folder(_ name: String) throws -> URL {
            let url = directory.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            return url
        }
        func error(_ url: URL) throws -> DatasetError {
            try #require(throws: DatasetError.self) { try ShardVideoSource(path: url.path) }
        }
        // Actions in one shard, none in the next.
        let mixed = try folder("mixed")
        try writeConditionedShard(mixed.appendingPathComponent("a_1.h5").path, count: 2)
        let plain = mixed.appendingPathComponent("a_2.h5").path
        try writeConditionedShard(plain, count: 2, actions: false)
        var found = try error(mixed)
        #expect(found.file == plain)
        #expect(found.description.contains("no actions") && found.description.contains("actions [N, T, 4]")
                && found.description.contains("a_1.h5"), "\(found)")
        // Two widths.
        let widths = try folder("widths")
        try handShard(widths.appendingPathComponent("b_1.h5").path) {
            try $0.root.createDataset("actions", shape: [2, 3, 4], values: [Float](repeating: 0, count: 24))
        }
        let narrow = try handShard(widths.appendingPathComponent("b_2.h5").path) {
            try $0.root.createDataset("actions", shape: [2, 3, 2], values: [Float](repeating: 0, count: 12))
        }
        found = try error(widths)
        #expect(found.file == narrow && found.description.contains("actions [N, T, 2]"), "\(found)")
        // Other class names, and labels against none.
        let names = try folder("names")
        try writeConditionedShard(names.appendingPathComponent("c_1.h5").path, count: 2)
        let renamed = names.appendingPathComponent("c_2.h5").path
        try writeConditionedShard(renamed, count: 2, labelNames: ["left", "up", "still"])
        found = try error(names)
        #expect(found.file == renamed && found.description.contains("class 1 is 'up' in it and 'right' in"), "\(found)")
        let unlabelled = try folder("unlabelled")
        try writeConditionedShard(unlabelled.appendingPathComponent("d_1.h5").path, count: 2)
        let bare = unlabelled.appendingPathComponent("d_2.h5").path
        try writeConditionedShard(bare, count: 1, labelNames: nil)
        found = try error(unlabelled)
        #expect(found.file == bare && found.description.contains("no labels but"), "\(found)")
    }

    @Test func damagedConditioningIsAnErrorNotATrap() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func openError(_ name: String, _ build: (HDF5File) throws -> Void) throws -> String {
            let path = try handShard(directory.appendingPathComponent(name).path, build)
            let error = try #require(throws: DatasetError.self) { try ShardVideoSource(path: path) }
            #expect(error.file == path)
            return error.description
        }
        // Shapes and types no shard has.
        #expect(try openError("rank.h5") { try $0.root.createDataset("actions", shape: [2, 3], values: [Float](repeating: 0, count: 6)) }
            .contains("'actions' has shape [2, 3], expected [2, 3, A]"))
        #expect(try openError("empty.h5") { try $0.root.createDataset("actions", shape: [2, 3, 0], values: [Float]()) }
            .contains("A in 1...1024"))
        #expect(try openError("wide.h5") {
            try $0.root.createDataset("actions", elementType: .float32, shape: [2, 3, 5000], chunkShape: [1, 1, 5000])
        }.contains("'actions' has shape [2, 3, 5000]"))
        #expect(try openError("frames.h5") { try $0.root.createDataset("actions", shape: [2, 4, 4], values: [Float](repeating: 0, count: 32)) }
            .contains("'actions' has shape [2, 4, 4], expected [2, 3, 4]"))
        #expect(try openError("integers.h5") { try $0.root.createDataset("actions", shape: [2, 3, 4], values: [Int32](repeating: 0, count: 24)) }
            .contains("'actions' must hold"))
        #expect(try openError("positions.h5") {
            try $0.root.createDataset("endeffector_positions", shape: [2, 3, 3], values: [Float](repeating: 0, count: 18))
        }.contains("'endeffector_positions' without 'actions'"))
        #expect(try openError("nonames.h5") {
            let labels = try $0.root.createDataset("labels", shape: [2], values: [Int32(0), 0])
            try labels.setAttribute("label_names", [String]())
        }.contains("empty 'label_names'"))

        // Values that lie: a label outside label_names, a non-finite action — each an error naming file and video.
        let lying = try handShard(directory.appendingPathComponent("lying.h5").path) {
            let labels = try $0.root.createDataset("labels", shape: [2], values: [Int32(1), 7])
            try labels.setAttribute("label_names", ["a", "b"])
            var values = [Float](repeating: 0.5, count: 2 * 3 * 4)
            values[(1 * 3 + 2) * 4 + 1] = .nan   // video 1, frame 2
            try $0.root.createDataset("actions", shape: [2, 3, 4], values: values)
        }
        let source = try ShardVideoSource(path: lying)
        #expect(try source.label(index: 0) == 1)
        let label = try #require(throws: DatasetError.self) { try source.label(index: 1) }
        #expect(label.file == lying && label.description.contains("video 1: label 7 is outside the 2 classes"), "\(label)")
        #expect(try actions(source, 1, 0, 2) == [Float](repeating: 0.5, count: 8))
        let action = try #require(throws: DatasetError.self) { try actions(source, 1, 1, 2) }
        #expect(action.file == lying && action.description.contains("video 1: 'actions' frame 2 holds nan"), "\(action)")

        // Through the prefetcher: the failing clip's batch reports it, prefetched or not; the next batch is fine.
        let prefetcher = ClipPrefetcher(source: source, frameCount: 2, capacity: 2, actions: true, labels: true)
        let good = [ClipRequest(video: 0, startFrame: 0), ClipRequest(video: 1, startFrame: 0)]
        let bad = [ClipRequest(video: 0, startFrame: 1), ClipRequest(video: 1, startFrame: 1)]
        #expect(throws: DatasetError.self) { try prefetcher.batch(key: 0, clips: good) }   // label 7
        let actionsOnly = ClipPrefetcher(source: source, frameCount: 2, capacity: 2, actions: true)
        #expect(try actionsOnly.batch(key: 0, clips: good).actions.map(Array.init) == [Float](repeating: 0.5, count: 16))
        actionsOnly.prefetch(key: 1, clips: bad)
        let prefetched = try #require(throws: DatasetError.self) { try actionsOnly.batch(key: 1, clips: bad) }
        #expect(prefetched.description.contains("video 1: 'actions' frame 2"))
        #expect(try actionsOnly.batch(key: 2, clips: good).actions?.count == 16)
    }

    @Test func prefetcherReadsActionsAndLabelsWithThePixels() throws {
        let source = FailingLabels(conditionedSource(count: 9, frames: 6, width: 3, classes: 4))
        let prefetcher = ClipPrefetcher(source: source, frameCount: 4, capacity: 3, actions: true, labels: true)
        #expect(prefetcher.actionWidth == 3 && prefetcher.readsLabels)
        func request(_ step: Int) -> [ClipRequest] {
            (0..<3).map { ClipRequest(video: (step * 4 + $0 * 5) % 9, startFrame: (step + $0) % 3) }
        }
        func check(_ batch: ClipBatch, _ clips: [ClipRequest], _ note: String) throws {
            var pixels = [UInt8](repeating: 0, count: clips.count * 4 * source.bytesPerFrame)
            try pixels.withUnsafeMutableBufferPointer { buffer in
                for (slot, clip) in clips.enumerated() {
                    try source.read(index: clip.video, startFrame: clip.startFrame, frameCount: 4,
                                    into: buffer.baseAddress! + slot * 4 * source.bytesPerFrame)
                }
            }
            #expect(Array(batch.pixels) == pixels, "\(note)")
            let expected = try clips.flatMap { try actions(source, $0.video, $0.startFrame, 4) }
            #expect(batch.actions.map(Array.init) == expected, "\(note)")
            #expect(batch.labels == clips.map { $0.video % 4 }, "\(note)")
        }
        for step in 0..<5 {
            try check(try prefetcher.batch(key: step, clips: request(step)), request(step), "step \(step)")
            prefetcher.prefetch(key: step + 1, clips: request(step + 1))
        }
        // A prefetch for another step is dropped; more clips than the capacity are read at once.
        try check(try prefetcher.batch(key: 30, clips: request(30)), request(30), "jumped")
        let many = (0..<7).map { ClipRequest(video: $0, startFrame: 2) }
        prefetcher.prefetch(key: 31, clips: many)
        try check(try prefetcher.batch(key: 31, clips: many), many, "grown")
        // A failed label read surfaces on the batch that needed it, and only there.
        source.failing = [request(40)[1].video]
        prefetcher.prefetch(key: 40, clips: request(40))
        let error = try #require(throws: DatasetError.self) { try prefetcher.batch(key: 40, clips: request(40)) }
        #expect(error.description.contains("injected label failure"))
        source.failing = []
        try check(try prefetcher.batch(key: 40, clips: request(40)), request(40), "after the failure")

        // Not asked for, or not in the source: nil, and nothing extra read.
        let pixelsOnly = ClipPrefetcher(source: source, frameCount: 4, capacity: 3)
        let batch = try pixelsOnly.batch(key: 0, clips: request(0))
        #expect(batch.actions == nil && batch.labels == nil && pixelsOnly.actionWidth == 0 && !pixelsOnly.readsLabels)
        let plain = InMemoryVideoSource(count: 2, frames: 4, height: 4, width: 4,
                                        storage: (0..<2).flatMap { testVideo($0, frames: 4, height: 4, width: 4) })
        let unconditioned = ClipPrefetcher(source: plain, frameCount: 4, actions: true, labels: true)
        let plainBatch = try unconditioned.batch(key: 0, clips: [ClipRequest(video: 1, startFrame: 0)])
        #expect(plainBatch.actions == nil && plainBatch.labels == nil && plainBatch.pixels.count == 4 * 48)
    }
}
