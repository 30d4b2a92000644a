// The conditioned synthetic corpora (SyntheticVideos.swift, SyntheticShard.swift, docs/design.md §11): the
// classic corpus is byte for byte what it was before they existed; the action-driven scene is deterministic
// and its actions ARE the gripper's motion (integrating them gives the stored positions); labels are a pure
// function of (seed, index, K); the shards hold what the scenes made; and the pixel measures
// (SyntheticMeasures) find the gripper and the class on the corpus, also through noise.

import VTTestFiles
import Datasets
import Foundation
import Testing

/// SHA-256 of several videos of one generator, concatenated.
private func hash(_ generator: SyntheticVideoGenerator, _ indices: [Int]) -> String {
    sha256Hex(indices.flatMap { generator.video(index: $0) })
}

/// Video `index` with its actions [T, 4] and positions [T, 3].
private func render(_ generator: SyntheticVideoGenerator, _ index: Int) -> (pixels: [UInt8], actions: [Float], positions: [Float]) {
    var pixels = [UInt8](repeating: 0, count: generator.bytesPerVideo)
    var actions = [Float](repeating: .nan, count: generator.frames * 4)
    var positions = [Float](repeating: .nan, count: generator.frames * 3)
    pixels.withUnsafeMutableBufferPointer { p in
        actions.withUnsafeMutableBufferPointer { a in
            positions.withUnsafeMutableBufferPointer { q in
                generator.video(index: index, into: p.baseAddress!, actions: generator.actions ? a.baseAddress! : nil,
                                positions: q.baseAddress!)
            }
        }
    }
    return (pixels, generator.actions ? actions : [], positions)
}

/// Adds seeded noise, uniform in ±amplitude, to every byte (a stand-in for a generated sample's errors).
private func noisy(_ pixels: [UInt8], amplitude: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    return pixels.map { value in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        let noise = Int((state >> 33) % UInt64(2 * amplitude + 1)) - amplitude
        return UInt8(clamping: Int(value) + noise)
    }
}

/// The gripper measure over `videos` videos: errors in pixels against the simulator's positions.
private func gripperErrors(_ generator: SyntheticVideoGenerator, videos: Int, noise: Int = 0) -> (mean: Double, max: Double, missing: Int) {
    var total = 0.0, largest = 0.0, missing = 0, count = 0
    let scale = SyntheticMeasures.pixelsPerUnit(height: generator.height, width: generator.width)
    for index in 0..<videos {
        let video = render(generator, index)
        let pixels = noise > 0 ? noisy(video.pixels, amplitude: noise, seed: UInt64(index)) : video.pixels
        let path = pixels.withUnsafeBufferPointer {
            SyntheticMeasures.gripperPath(video: $0.baseAddress!, frames: generator.frames, height: generator.height, width: generator.width)
        }
        for (t, found) in path.enumerated() {
            guard let found else { missing += 1; continue }
            let dx = found.x - Double(video.positions[3 * t]) * scale, dy = found.y - Double(video.positions[3 * t + 1]) * scale
            let error = (dx * dx + dy * dy).squareRoot()
            total += error; largest = max(largest, error); count += 1
        }
    }
    return (total / Double(max(count, 1)), largest, missing)
}

/// The fraction of `videos` videos whose class the measure gets right.
private func labelAccuracy(_ generator: SyntheticVideoGenerator, videos: Int, noise: Int = 0) -> Double {
    var right = 0
    for index in 0..<videos {
        let pixels = noise > 0 ? noisy(generator.video(index: index), amplitude: noise, seed: UInt64(index))
                               : generator.video(index: index)
        let measured = pixels.withUnsafeBufferPointer {
            SyntheticMeasures.label(video: $0.baseAddress!, frames: generator.frames, height: generator.height,
                                    width: generator.width, classes: generator.classes)
        }
        if measured == generator.label(index: index) { right += 1 }
    }
    return Double(right) / Double(videos)
}

@Suite struct SyntheticConditionedTests {
    @Test func classicCorpusIsUnchanged() throws {
        // Hashes taken from the generator before the conditioned modes existed (commit 750da87): the
        // quickstart's corpus (16×32×32, seeds 1 and 2), BAIR-sized videos, and tiny.yaml's in-memory clips.
        #expect(hash(SyntheticVideoGenerator(frames: 16, height: 32, width: 32, seed: 1), [0, 1, 2, 511])
                == "7e9792a789546444024cb025d4e904a0ea8547691ddb4627a74c26c553b59f81")
        #expect(hash(SyntheticVideoGenerator(frames: 16, height: 32, width: 32, seed: 2), [0, 63])
                == "13fe0d17923ef1186e3607072fa4053e50cf2546dc5691cce9cf8a0a59462f2f")
        #expect(hash(SyntheticVideoGenerator(frames: 30, height: 64, width: 64, seed: 1), [0, 7])
                == "35c847b45b529768eed22f814681ed8404fefba76b747f5162cdd0a6b8454153")
        let classic = SyntheticVideoGenerator(frames: 8, height: 32, width: 32, seed: 0)
        #expect(hash(classic, [0, 1, 2, 3]) == "e97f9dad539dab7147a5742a7be03aa8a65946f401abfda01d17df3bf5a8a1ab")
        // The in-memory corpus is the same bytes, and carries nothing else.
        let source = InMemoryVideoSource.synthetic(count: 4, frames: 8, height: 32, width: 32, seed: 0)
        var bytes = [UInt8](repeating: 0, count: 4 * classic.bytesPerVideo)
        try bytes.withUnsafeMutableBufferPointer { buffer in
            for index in 0..<4 { try source.read(index: index, startFrame: 0, frameCount: 8, into: buffer.baseAddress! + index * classic.bytesPerVideo) }
        }
        #expect(sha256Hex(bytes) == "e97f9dad539dab7147a5742a7be03aa8a65946f401abfda01d17df3bf5a8a1ab")
        #expect(source.actionWidth == 0 && source.labelNames == nil)
        // Asking for the gripper's positions does not change the pixels.
        #expect(render(classic, 2).pixels == classic.video(index: 2))
        #expect(classic.isClassic && classic.labelNames == nil && classic.label(index: 0) == nil)
    }

    @Test func actionsAreTheGrippersMotion() {
        for (height, width) in [(32, 32), (64, 64)] {
            let generator = SyntheticVideoGenerator(frames: 16, height: height, width: width, seed: 5, actions: true)
            for index in 0..<12 {
                let video = render(generator, index)
                // Deterministic: the same bytes again, from another generator, and without rendering.
                let again = render(SyntheticVideoGenerator(frames: 16, height: height, width: width, seed: 5, actions: true), index)
                #expect(again.pixels == video.pixels && again.actions == video.actions && again.positions == video.positions)
                let path = generator.gripperPath(index: index)
                #expect(path.positions == video.positions && path.actions == video.actions)
                // positions[t+1] = positions[t] + actions[t]: integrating the actions from the first position
                // gives every stored position (to Float32 rounding).
                var x = video.positions[0], y = video.positions[1], z = video.positions[2]
                for t in 0..<15 {
                    x += video.actions[4 * t]; y += video.actions[4 * t + 1]; z += video.actions[4 * t + 2]
                    #expect(abs(x - video.positions[3 * (t + 1)]) < 1e-3 && abs(y - video.positions[3 * (t + 1) + 1]) < 1e-3
                            && abs(z - video.positions[3 * (t + 1) + 2]) < 1e-4, "\(height)×\(width) video \(index) frame \(t + 1)")
                }
                // Inside the tray (64 units a side), the height in [0, 1], the fingers' change at most 1.
                for t in 0..<16 {
                    #expect((2...62).contains(video.positions[3 * t]) && (2...62).contains(video.positions[3 * t + 1]))
                    #expect((0...1).contains(video.positions[3 * t + 2]) && abs(video.actions[4 * t + 3]) <= 1)
                }
            }
            // Seeds and indices differ; the scene is not the classic one.
            #expect(render(generator, 0).actions != render(generator, 1).actions)
            #expect(render(SyntheticVideoGenerator(frames: 16, height: height, width: width, seed: 6, actions: true), 0).actions
                    != render(generator, 0).actions)
            #expect(generator.video(index: 0) != SyntheticVideoGenerator(frames: 16, height: height, width: width, seed: 5).video(index: 0))
        }
        // The simulation does not depend on the resolution (square frames: the same 64-unit tray), and a longer
        // video starts with a shorter one, actions included (the last action is simulated, not padded).
        let small = SyntheticVideoGenerator(frames: 8, height: 32, width: 32, seed: 5, actions: true)
        let large = SyntheticVideoGenerator(frames: 16, height: 64, width: 64, seed: 5, actions: true)
        let long = SyntheticVideoGenerator(frames: 16, height: 32, width: 32, seed: 5, actions: true)
        for index in [0, 3] {
            #expect(small.gripperPath(index: index).actions! == Array(large.gripperPath(index: index).actions![..<32]))
            #expect(small.video(index: index) == Array(long.video(index: index)[..<small.bytesPerVideo]))
            #expect(small.gripperPath(index: index).actions! == Array(long.gripperPath(index: index).actions![..<32]))
        }
        // Smooth but not predictable: consecutive actions are close, yet the step from one to the next varies.
        var change = 0.0, size = 0.0, surprise = 0.0
        let actions = (0..<40).flatMap { long.gripperPath(index: $0).actions! }
        for video in 0..<40 {
            for t in 1..<16 {
                for k in 0..<2 {
                    let now = Double(actions[(video * 16 + t) * 4 + k]), before = Double(actions[(video * 16 + t - 1) * 4 + k])
                    change += abs(now - before); size += abs(now)
                    surprise += (now - 0.65 * before) * (now - 0.65 * before)
                }
            }
        }
        #expect(change < size, "mean change between steps \(change / 1200), mean step \(size / 1200)")
        #expect((surprise / 1200).squareRoot() > 0.5, "the unpredictable part of a step is \((surprise / 1200).squareRoot()) units")
    }

    @Test func labelsArePureFunctionsAndEveryClassOccurs() throws {
        let generator = SyntheticVideoGenerator(frames: 2, height: 16, width: 16, seed: 9, classes: 6)
        #expect(generator.labelNames == ["red table", "orange table", "yellow table", "green table", "teal table", "blue table"])
        #expect(SyntheticVideoGenerator(frames: 1, height: 8, width: 8, seed: 9, classes: 2).labelNames == ["red table", "orange table"])
        var counts = [Int](repeating: 0, count: 6)
        for index in 0..<600 {
            let label = generator.label(index: index)!
            counts[label] += 1
            // The same whatever the size, the actions, or the generator instance.
            #expect(SyntheticVideoGenerator(frames: 9, height: 64, width: 48, seed: 9, actions: true, classes: 6).label(index: index) == label)
        }
        #expect(counts.allSatisfy { $0 > 60 }, "\(counts)")
        #expect((0..<50).map { generator.label(index: $0)! } != (0..<50).map {
            SyntheticVideoGenerator(frames: 2, height: 16, width: 16, seed: 10, classes: 6).label(index: $0)! })
        // Deterministic pixels; the class changes the look, not the layout's randomness.
        let a = SyntheticVideoGenerator(frames: 4, height: 32, width: 32, seed: 9, actions: true, classes: 6)
        #expect(a.video(index: 7) == SyntheticVideoGenerator(frames: 4, height: 32, width: 32, seed: 9, actions: true, classes: 6).video(index: 7))
        #expect(a.gripperPath(index: 7).actions == SyntheticVideoGenerator(frames: 4, height: 32, width: 32, seed: 9, actions: true).gripperPath(index: 7).actions)
        // In memory: labels and names as the generator says, actions as it renders them.
        let source = InMemoryVideoSource.synthetic(count: 5, frames: 4, height: 32, width: 32, seed: 9, actions: true, classes: 6)
        #expect(source.actionWidth == 4 && source.labelNames == a.labelNames)
        for index in 0..<5 {
            #expect(try source.label(index: index) == a.label(index: index))
            var row = [Float](repeating: 0, count: 8)
            try row.withUnsafeMutableBufferPointer { try source.readActions(index: index, startFrame: 1, frameCount: 2, into: $0.baseAddress!) }
            #expect(row == Array(render(a, index).actions[4..<12]))
        }
    }

    @Test func shardsHoldWhatTheScenesMade() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let generator = SyntheticVideoGenerator(frames: 6, height: 16, width: 16, seed: 4, actions: true, classes: 3)
        let path = directory.appendingPathComponent("both.h5").path
        #expect(try generator.writeShard(videos: 37, to: path, split: "test", batch: 8) == 37)
        let shard = try VideoShard(path: path)
        #expect(shard.source == "synthetic" && shard.split == "test" && shard.actionWidth == 4 && shard.hasEndEffectorPositions)
        #expect(shard.labelNames == ["red table", "orange table", "yellow table"])
        #expect(try shard.datasetNames() == ["actions", "endeffector_positions", "labels", "videos"])
        let attributes = try shard.attributes()
        #expect(attributes["seed"] == .int64(4) && attributes["synthetic_classes"] == .int64(3))
        #expect(attributes["synthetic_actions"] == .string(SyntheticVideoGenerator.actionUnits))
        for index in [0, 8, 36] {
            let video = render(generator, index)
            #expect(try shard.video(index) == video.pixels)
            #expect(try shard.actions(index) == video.actions)
            #expect(try shard.endEffectorPositions(index) == video.positions)
            #expect(try shard.label(index) == generator.label(index: index))
            // The shard's own actions reproduce its own positions.
            let actions = try shard.actions(index), positions = try shard.endEffectorPositions(index)
            var x = positions[0], y = positions[1]
            for t in 0..<5 {
                x += actions[4 * t]; y += actions[4 * t + 1]
                #expect(abs(x - positions[3 * t + 3]) < 1e-3 && abs(y - positions[3 * t + 4]) < 1e-3)
            }
        }
        // Each mode alone; and the classic corpus as a plain shard of the same pixels as always.
        let actionsOnly = directory.appendingPathComponent("actions.h5").path
        try SyntheticVideoGenerator(frames: 6, height: 16, width: 16, seed: 4, actions: true).writeShard(videos: 3, to: actionsOnly, split: "train")
        #expect(try VideoShard(path: actionsOnly).datasetNames() == ["actions", "endeffector_positions", "videos"])
        let classesOnly = directory.appendingPathComponent("classes.h5").path
        try SyntheticVideoGenerator(frames: 6, height: 16, width: 16, seed: 4, classes: 2).writeShard(videos: 3, to: classesOnly, split: "train")
        #expect(try VideoShard(path: classesOnly).datasetNames() == ["labels", "videos"])
        let classicPath = directory.appendingPathComponent("classic.h5").path
        let classic = SyntheticVideoGenerator(frames: 8, height: 32, width: 32, seed: 0)
        try classic.writeShard(videos: 4, to: classicPath, split: "train")
        let plain = try VideoShard(path: classicPath)
        #expect(try plain.datasetNames() == ["videos"] && !plain.hasActions && plain.labelNames == nil)
        #expect(sha256Hex(try (0..<4).flatMap { try plain.video($0) }) == "e97f9dad539dab7147a5742a7be03aa8a65946f401abfda01d17df3bf5a8a1ab")
    }

    @Test func measuresFindTheGripperAndTheClass() {
        for (height, width) in [(32, 32), (64, 64)] {
            let generator = SyntheticVideoGenerator(frames: 16, height: height, width: width, seed: 21, actions: true, classes: 6)
            let clean = gripperErrors(generator, videos: 60)
            let rough = gripperErrors(generator, videos: 30, noise: 24)
            print("gripper position at \(height)×\(width): mean error \(String(format: "%.3f", clean.mean)) px, max "
                  + "\(String(format: "%.3f", clean.max)) px; with ±24 noise mean \(String(format: "%.3f", rough.mean)), max "
                  + "\(String(format: "%.3f", rough.max)) px")
            #expect(clean.missing == 0 && clean.mean < 0.25 && clean.max < 0.6, "\(clean)")
            #expect(rough.missing == 0 && rough.mean < 0.5 && rough.max < 1.5, "\(rough)")
            let accuracy = labelAccuracy(generator, videos: 300), roughAccuracy = labelAccuracy(generator, videos: 100, noise: 24)
            print("class at \(height)×\(width): \(accuracy * 100)% right of 300 videos, \(roughAccuracy * 100)% of 100 with ±24 noise")
            #expect(accuracy >= 0.95 && roughAccuracy >= 0.95)
        }
        // Classes without actions (the classic motion) are measured as well; a frame without the magenta gripper is nil.
        let classesOnly = SyntheticVideoGenerator(frames: 8, height: 32, width: 32, seed: 22, classes: 4)
        #expect(labelAccuracy(classesOnly, videos: 100) >= 0.95)
        #expect(gripperErrors(classesOnly, videos: 20).mean < 0.25)
        let grey = [UInt8](repeating: 128, count: 32 * 32 * 3)
        #expect(grey.withUnsafeBufferPointer { SyntheticMeasures.gripperPosition(frame: $0.baseAddress!, height: 32, width: 32) } == nil)
    }
}
