// vt inspect samples --synthetic's measures (SampleFile+SyntheticMeasures): on samples.h5 files built from
// the conditioned synthetic corpora, a clip that moves as its actions say follows them (slope ≈ 1, small
// step error), a still clip ignores them (slope exactly 0); a clip showing its class is consistent, one of
// another class is not; malformed conditioning datasets are one-line errors.

import Foundation
import VTTestSupport
import Testing
import Datasets
import Evaluation
import HDF5

@Suite struct SyntheticSampleMeasuresTests {
    static let frames = 8, height = 32, width = 32

    /// A samples.h5 with `truths` as ground truth, `samples[v]` as video v's K samples, prime_frames [0].
    func write(_ path: String, truths: [[UInt8]], samples: [[[UInt8]]], actions: [Float]? = nil, actionShape: [Int]? = nil,
               labels: [Int32]? = nil) throws {
        let file = try HDF5File.create(path)
        let k = samples[0].count
        try file.root.createDataset("samples", shape: [truths.count, k, Self.frames, Self.height, Self.width, 3], values: samples.flatMap { $0.flatMap { $0 } })
        try file.root.createDataset("ground_truth", shape: [truths.count, Self.frames, Self.height, Self.width, 3], values: truths.flatMap { $0 })
        if let actions { try file.root.createDataset("actions", shape: actionShape ?? [truths.count, k, Self.frames, 4], values: actions) }
        if let labels { try file.root.createDataset("labels", shape: [truths.count, k], values: labels) }
        try file.root.setAttribute("prime_frames", [Int64(0)])
        try file.close()
    }

    @Test func aClipMovingAsToldFollowsTheActionsAndAStillOneIgnoresThem() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let generator = SyntheticVideoGenerator(frames: Self.frames, height: Self.height, width: Self.width, seed: 11, actions: true)
        var truths: [[UInt8]] = [], samples: [[[UInt8]]] = [], actions: [Float] = []
        for v in 0..<4 {
            var video = [UInt8](repeating: 0, count: generator.bytesPerVideo), rows = [Float](repeating: 0, count: Self.frames * 4)
            video.withUnsafeMutableBufferPointer { pixels in
                rows.withUnsafeMutableBufferPointer { generator.video(index: v, into: pixels.baseAddress!, actions: $0.baseAddress!, positions: nil) }
            }
            let still = [[UInt8]](repeating: Array(video[0..<generator.bytesPerFrame]), count: Self.frames).flatMap { $0 }
            truths.append(video); samples.append([video, still])
            actions += rows + rows  // both samples were given the video's own actions
        }
        let path = directory.appendingPathComponent("samples.h5").path
        try write(path, truths: truths, samples: samples, actions: actions)
        let file = try SampleFile(path: path)
        let measured = try #require(try file.actionFollowing())
        // The real videos (and sample 0, the same pixels) follow their actions up to the measurement's resolution.
        #expect(measured.truth.steps == 4 * 7 && measured.truth.missing == 0)
        #expect(abs(measured.truth.slope - 1) < 0.1 && measured.truth.stepError < 0.3, "\(measured.truth)")
        #expect(measured.truth.endError < 0.5 && measured.truth.endGiven > 1, "\(measured.truth)")
        // Sample 1 stands still: its slope is exactly 0 and its step error the given steps' mean length.
        #expect(measured.samples.steps == 2 * 4 * 7)
        var lengths: [Double] = []
        let scale = SyntheticMeasures.pixelsPerUnit(height: Self.height, width: Self.width)
        for v in 0..<4 { for t in 0..<(Self.frames - 1) {
            let row = (v * 2 * Self.frames + t) * 4
            lengths.append(hypot(Double(actions[row]) * scale, Double(actions[row + 1]) * scale))
        } }
        let stillError = lengths.reduce(0, +) / Double(lengths.count)
        // Half the samples move as told (error ≈ 0, gain ≈ 1), half not at all (error = |given|, gain 0).
        #expect(abs(measured.samples.stepError - (measured.truth.stepError + stillError) / 2) < 1e-9, "\(measured.samples)")
        #expect(abs(measured.samples.slope - measured.truth.slope / 2) < 1e-9)
        #expect(abs(measured.samples.endGiven - measured.truth.endGiven) < 1e-9)
        #expect(abs(measured.samples.endError - (measured.truth.endError + measured.truth.endGiven) / 2) < 0.5)
    }

    @Test func aClipShowingItsClassIsConsistentAndOneOfAnotherIsNot() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let generator = SyntheticVideoGenerator(frames: Self.frames, height: Self.height, width: Self.width, seed: 3, classes: 4)
        let labels = (0..<40).map { generator.label(index: $0)! }
        var truths: [[UInt8]] = [], samples: [[[UInt8]]] = [], given: [Int32] = []
        for v in 0..<6 {
            let other = try #require(labels.firstIndex { $0 != labels[v] })
            truths.append(generator.video(index: v))
            samples.append([generator.video(index: v), generator.video(index: other)])
            given += [Int32(labels[v]), Int32(labels[v])]
        }
        given[11] = 4  // "no label" (row K): not counted
        let path = directory.appendingPathComponent("samples.h5").path
        try write(path, truths: truths, samples: samples, labels: given)
        let consistency = try #require(try SampleFile(path: path).classConsistency(classes: 4))
        #expect(consistency.samples == 11 && consistency.consistent == 6 && consistency.truths == 6 && consistency.truthConsistent == 6)
        // Most of a real video has its class's colour; of the samples, only the 6 own-class ones (the 5
        // other-class samples have next to none of it).
        #expect(consistency.truthPixelShare > 0.6, "\(consistency)")
        #expect(abs(consistency.pixelShare - 6 * consistency.truthPixelShare / 11) < 0.05, "\(consistency)")
        #expect(throws: EvaluationError.self) { try SampleFile(path: path).classConsistency(classes: 9) }
        #expect(try SampleFile(path: path).actionFollowing() == nil)
    }

    @Test func malformedConditioningIsOneLineError() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let video = SyntheticVideoGenerator(frames: Self.frames, height: Self.height, width: Self.width, seed: 1, actions: true).video(index: 0)
        let path = directory.appendingPathComponent("samples.h5").path
        try write(path, truths: [video], samples: [[video]], actions: [Float](repeating: 0, count: Self.frames), actionShape: [1, 1, Self.frames, 1])
        let error = try #require(throws: EvaluationError.self) { try SampleFile(path: path).actionFollowing() }
        #expect(error.description.hasPrefix(path) && error.description.contains("[1, 1, 8, 1]") && !error.description.contains("\n"))
    }
}
