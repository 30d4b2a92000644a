// Exact bits/dim: independent of batch size and padding, consistent with the per-sub-pixel NLL, and
// exactly 8 with a zero head.

import Foundation
import VTTestSupport
import Testing
import Datasets
import VideoModel
@testable import Evaluation
import Training

@Suite struct EvaluatorTests {
    func model() throws -> VideoTransformer {
        let config = smallRunConfig().model
        let model = try VideoTransformer(config: config, maxBatch: 4)
        model.layout.initialize(model.parameters, seed: 11)
        return model
    }

    func videos(_ count: Int) -> [UInt8] {
        let generator = SyntheticVideoGenerator(frames: 4, height: 8, width: 8, seed: 4)
        return (0..<count).flatMap { generator.video(index: $0) }
    }

    @Test func batchingAndPaddingDoNotChangeTheResult() throws {
        let evaluator = Evaluator(model: try model())
        let all = videos(5), size = all.count / 5
        var oneByOne = EvaluationTotals(frames: 4, slices: 8)
        for v in 0..<5 {
            let video = Array(all[(v * size)..<((v + 1) * size)])
            oneByOne.add(video.withUnsafeBufferPointer { evaluator.evaluate(videos: $0.baseAddress!, mask: [true]) })
        }
        // Batches of 4 with the last one padded by repeating a video that is masked out.
        var batched = EvaluationTotals(frames: 4, slices: 8)
        batched.add(Array(all[0..<(4 * size)]).withUnsafeBufferPointer { evaluator.evaluate(videos: $0.baseAddress!, mask: [true, true, true, true]) })
        let padded = Array(all[(4 * size)...]) + Array(all[0..<(3 * size)])
        batched.add(padded.withUnsafeBufferPointer { evaluator.evaluate(videos: $0.baseAddress!, mask: [true, false, false, false]) })
        #expect(batched.videos == 5 && batched.subpixels == oneByOne.subpixels)
        #expect(abs(batched.bitsPerDim - oneByOne.bitsPerDim) <= 1e-6 * oneByOne.bitsPerDim)
        // 4 frames, frame 0 primed: 3 frames × 8 × 8 × 3 sub-pixels per video.
        #expect(oneByOne.subpixels == 5 * 3 * 8 * 8 * 3)
        #expect(oneByOne.frameSubpixels[0] == 0 && oneByOne.framesBitsPerDim[0] == nil)
        #expect(abs(oneByOne.frameBits.reduce(0, +) - oneByOne.bits) < 1e-9 * oneByOne.bits)
        #expect(abs(oneByOne.sliceBits.reduce(0, +) - oneByOne.bits) < 1e-9 * oneByOne.bits)
    }

    @Test func aZeroHeadGivesExactlyEightBits() throws {
        let model = try model()
        for offsets in model.layout.head {
            (model.parameters.pointer + offsets.logitsWeight).update(repeating: 0, count: model.config.hiddenSize * 256)
            (model.parameters.pointer + offsets.logitsBias).update(repeating: 0, count: 256)
        }
        let totals = videos(2).withUnsafeBufferPointer { Evaluator(model: model).evaluate(videos: $0.baseAddress!, mask: [true, true]) }
        #expect(totals.bitsPerDim == 8)
    }
}
