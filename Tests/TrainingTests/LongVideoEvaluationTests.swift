// The exact bits/dim of videos longer than the model (docs/design.md §12): the sliding-window total is the
// sum of each window's NLL computed independently — the window's frames as an ordinary primed clip under a
// model whose prime_frames are the window's — and it does not depend on the batch or the number of ranks.

import Foundation
import VTTestSupport
import Testing
import Datasets
import Distribution
import Evaluation
import Kernels
import VideoModel
@testable import Training

private func continuingModel(batch: Int) throws -> VideoTransformer {
    var config = smallRunConfig().model   // 4 frames of 8×8
    config.primePatterns = [[0], [0, 1]]
    let model = try VideoTransformer(config: config, maxBatch: batch)
    model.layout.initialize(model.parameters, seed: 13)
    return model
}

@Suite struct LongVideoEvaluationTests {
    let source = InMemoryVideoSource.synthetic(count: 5, frames: 9, height: 8, width: 8, seed: 6)
    let windows = try! SlidingWindows(videoFrames: 9, clipFrames: 4, stride: 2, first: FramePriming([0], clipFrames: 4))

    @Test func theLongVideoTotalIsTheSumOfItsWindowsAsPrimedClips() throws {
        let model = try continuingModel(batch: 3)
        let long = try EvaluationRun.run(model: model, source: source, communicator: LocalCommunicator(), batchPerRank: 3, sliding: windows)
        #expect(windows.windows.map(\.start) == [0, 2, 4, 5])
        // Independently: each window of each video as a 4-frame clip, evaluated by a model primed as the window is.
        var bits = 0.0, subpixels = 0, frameBits = [Double](repeating: 0, count: 9)
        let clipBytes = 4 * 8 * 8 * 3
        for window in windows.windows {
            var config = model.config
            config.primeFrames = window.priming.frames
            let primed = try VideoTransformer(config: config, maxBatch: 1)
            primed.parameters.pointer.update(from: model.parameters.pointer, count: model.parameters.count)
            for video in 0..<source.count {
                var clip = [UInt8](repeating: 0, count: clipBytes)
                try clip.withUnsafeMutableBufferPointer { try source.read(index: video, startFrame: window.start, frameCount: 4, into: $0.baseAddress!) }
                let totals = clip.withUnsafeBufferPointer { Evaluator(model: primed).evaluate(videos: $0.baseAddress!, mask: [true]) }
                bits += totals.bits; subpixels += totals.subpixels
                for frame in 0..<4 { frameBits[window.start + frame] += totals.frameBits[frame] }
            }
        }
        #expect(long.subpixels == subpixels && subpixels == 5 * 8 * 8 * 8 * 3, "every frame but frame 0, once")
        #expect(abs(long.bits - bits) <= 1e-6 * bits, "windowed \(long.bits) bits, windows alone \(bits)")
        for frame in 0..<9 { #expect(abs(long.frameBits[frame] - frameBits[frame]) <= 1e-6 * max(1, frameBits[frame]), "frame \(frame)") }
        #expect(long.videos == 5 && long.framesBitsPerDim[0] == nil && long.framesBitsPerDim[8] != nil)
        // One window is the ordinary evaluation.
        let plain = try EvaluationRun.run(model: model, source: source, communicator: LocalCommunicator(), batchPerRank: 3)
        let single = try EvaluationRun.run(model: model, source: source, communicator: LocalCommunicator(), batchPerRank: 3,
                                           sliding: .single(FramePriming([0], clipFrames: 4)))
        #expect(plain == single)
    }

    @Test func batchAndRanksDoNotChangeTheTotal() throws {
        let one = try EvaluationRun.run(model: try continuingModel(batch: 1), source: source, communicator: LocalCommunicator(),
                                        batchPerRank: 1, sliding: windows)
        let four = try EvaluationRun.run(model: try continuingModel(batch: 4), source: source, communicator: LocalCommunicator(),
                                         batchPerRank: 4, sliding: windows)
        let group = ThreadCommunicator.group(size: 2)
        let two = try onEveryRank(2) { rank in
            try EvaluationRun.run(model: try continuingModel(batch: 2), source: source, communicator: group[rank], batchPerRank: 2, sliding: windows)
        }
        for other in [four, two[0], two[1]] {
            #expect(other.subpixels == one.subpixels && other.videos == one.videos && other.frameSubpixels == one.frameSubpixels)
            #expect(abs(other.bits - one.bits) <= 1e-12 * one.bits, "\(other.bits) vs \(one.bits)")
        }
    }
}
