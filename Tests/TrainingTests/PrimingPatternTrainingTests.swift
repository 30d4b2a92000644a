// Training with several priming patterns (docs/design.md §12) is as exact as training with one: the pattern is
// drawn per example from (seed, position) after the crop and before the slice, so the crops are the ones a
// one-pattern run takes, the draw follows prime_weights, the slice is one the pattern leaves something to
// predict in, and 1 vs 2 data ranks, recomputation and a resumed run give the uninterrupted run.

import Foundation
import VTTestSupport
import Testing
import Checkpointing
import Distribution
import Kernels
import VideoModel
@testable import Training

/// The small model taught to continue: frame 0, or frames 0 and 1 (stride 2), drawn 1 : 3.
private func continuingConfig(steps: Int = 6) -> RunConfig {
    var config = smallRunConfig(batch: 4, steps: steps)
    config.model.primePatterns = [[0], [0, 1]]
    config.model.primeWeights = [1, 3]
    config.checkpoint = CheckpointSettings(every: 0, keepLast: 100)
    return config
}

private func train(_ config: RunConfig, ranks: Int, steps: Int) throws -> (losses: [Double], parameters: [Float]) {
    let mesh = ThreadMesh(data: ranks, model: 1)
    let results = try onEveryRank(mesh.size) { rank -> ([Double], [Float]) in
        let trainer = try mesh.trainer(config, rank: rank)
        let losses = try (0..<steps).map { _ in try trainer.trainStep().loss }
        return (losses, Array(UnsafeBufferPointer(start: trainer.model.parameters.pointer, count: trainer.model.parameters.count)))
    }
    return results[0]
}

@Suite struct PrimingPatternTrainingTests {
    @Test func thePatternIsDrawnPerExampleByItsWeights() {
        let config = continuingConfig().model
        let choices = PrimingChoice.choices(config)
        #expect(choices.map(\.weight) == [1, 3])
        #expect(choices[0].trainableSlices == Array(0..<8) && choices[1].trainableSlices == Array(0..<8))
        let one = ExampleSchedule(videoCount: 37, globalBatch: 8, seed: 4, videoFrames: 12, clipFrames: 4, trainableSlices: Array(0..<8))
        let two = ExampleSchedule(videoCount: 37, globalBatch: 8, seed: 4, videoFrames: 12, clipFrames: 4, primings: choices)
        // A pattern that leaves only frames 1 and 3 to predict (slices 4..7) restricts the slice draw.
        let narrow = ExampleSchedule(videoCount: 37, globalBatch: 8, seed: 4, videoFrames: 12, clipFrames: 4,
                                     primings: [choices[0], PrimingChoice(weight: 1, trainableSlices: [4, 5, 6, 7])])
        var second = 0, total = 0
        for step in 0..<300 {
            let examples = two.examples(step: step)
            #expect(one.examples(step: step).map { [$0.video, $0.startFrame] } == examples.map { [$0.video, $0.startFrame] })
            #expect(one.examples(step: step).allSatisfy { $0.priming == 0 })
            let split = (0..<2).flatMap { two.examples(step: step, rank: $0, ranks: 2) }.sorted { $0.position < $1.position }
            #expect(split == examples)
            second += examples.filter { $0.priming == 1 }.count; total += examples.count
            #expect(narrow.examples(step: step).allSatisfy { $0.priming == 0 || $0.slice >= 4 })
        }
        let share = Double(second) / Double(total)
        #expect(abs(share - 0.75) < 0.04, "pattern 1 drawn for \(share) of the examples, not about 3/4")
    }

    /// A training step's loss is the model's loss with each example primed by the pattern it drew (and not
    /// the loss with every example primed by the first pattern).
    @Test func eachExampleTrainsWithItsPattern() throws {
        let config = continuingConfig(steps: 1)
        let source = syntheticSource(config)
        let trainer = try Trainer(config: config, source: source)
        let check = try VideoTransformer(config: config.model, maxBatch: 4)
        check.parameters.pointer.update(from: trainer.model.parameters.pointer, count: check.parameters.count)
        let examples = trainer.data.schedule.examples(step: 0)
        #expect(Set(examples.map(\.priming)) == [0, 1], "step 0 should mix the patterns (examples \(examples.map(\.priming)))")
        let clipBytes = 4 * 8 * 8 * 3
        var clips = [UInt8](repeating: 0, count: examples.count * clipBytes)
        try clips.withUnsafeMutableBufferPointer { buffer in
            for (i, example) in examples.enumerated() {
                try source.read(index: example.video, startFrame: example.startFrame, frameCount: 4, into: buffer.baseAddress! + i * clipBytes)
            }
        }
        let primings = config.model.primings
        func loss(_ priming: [FramePriming]?) -> Double {
            clips.withUnsafeBufferPointer {
                check.forward(videos: $0.baseAddress!, slices: examples.map(\.slice), priming: priming, mode: .evaluation).loss
            }
        }
        let drawn = loss(examples.map { primings[$0.priming] }), firstOnly = loss(nil)
        let trained = try trainer.trainStep().loss
        #expect(abs(trained - drawn) <= 1e-12 * drawn, "step loss \(trained), model with the drawn patterns \(drawn)")
        #expect(abs(trained - firstOnly) > 1e-6 * firstOnly, "the step loss is the first pattern's (\(firstOnly))")
    }

    @Test func recomputationAndTwoRanksTrainTheSameRun() throws {
        let config = continuingConfig()
        var layer = config
        layer.training.recompute = .layer
        let one = try train(config, ranks: 1, steps: 5), recomputed = try train(layer, ranks: 1, steps: 5)
        #expect(one.losses == recomputed.losses && one.parameters.map(\.bitPattern) == recomputed.parameters.map(\.bitPattern))
        let two = try train(config, ranks: 2, steps: 5)
        for (step, (a, b)) in zip(two.losses, one.losses).enumerated() { #expect(abs(a - b) <= 1e-6 * b, "step \(step + 1): \(a) vs \(b)") }
        let largest = zip(one.parameters, two.parameters).map { abs($0 - $1) }.max() ?? .infinity
        #expect(largest <= 1e-5, "parameters differ by \(largest)")
    }

    @Test func aResumedRunIsBitwiseTheUninterruptedOne() throws {
        let config = continuingConfig(steps: 7)
        let whole = try train(config, ranks: 1, steps: 7)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (losses, trainer) = try trainResumed(config, cuts: [(0, 3), (3, 7)], directory: directory, name: "continuing.yaml")
        #expect(losses == whole.losses)
        let parameters = Array(UnsafeBufferPointer(start: trainer.model.parameters.pointer, count: trainer.model.parameters.count))
        #expect(parameters.map(\.bitPattern) == whole.parameters.map(\.bitPattern))
    }
}
