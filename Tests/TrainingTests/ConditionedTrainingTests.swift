// Conditioned training (docs/design.md §11) is as exact as unconditioned training: with actions, classes and
// label dropout, recomputation and ZeRO-1 are bitwise the plain run, a model axis computes the whole model's
// run, 1 and 2 data ranks train the same run, and a resumed run is bitwise the uninterrupted one. Label
// dropout is a pure function of the example, and data without what the model is conditioned on is refused
// in one line naming it.

import Foundation
import VTTestSupport
import Testing
import Checkpointing
import Datasets
import Distribution
import Kernels
import Optimization
import VideoModel
@testable import Training

/// modelAxisConfig (4 heads, decoder 2 layers, global batch 4) with 4-d actions, 3 classes and label dropout.
private func conditionedConfig(_ optimizer: OptimizerKind = .rmsprop, steps: Int = 6) -> RunConfig {
    var config = modelAxisConfig(optimizer, steps: steps)
    config.model.actions = 4
    config.model.classes = 3
    config.training.labelDropout = 0.25
    return config
}

/// Per-step losses and rank 0's gathered full state (parameters, then slots) on a data × model mesh of threads.
private func trainOnMesh(_ config: RunConfig, data: Int, model: Int, steps: Int) throws -> (losses: [Double], state: [[Float]]) {
    let mesh = ThreadMesh(data: data, model: model)
    let results = try onEveryRank(mesh.size) { rank -> ([Double], [[Float]]?) in
        let trainer = try mesh.trainer(config, rank: rank)
        let losses = try (0..<steps).map { _ in try trainer.trainStep().loss }
        return (losses, try TrainerCheckpoint(trainer).gatherFullState()?.map(\.array))
    }
    return (results[0].0, try #require(results[0].1))
}

private func bits(_ state: [[Float]]) -> [[UInt32]] { state.map { $0.map(\.bitPattern) } }

/// How many values of `a` and `b` differ bit for bit (and whether their shapes differ).
private func differing(_ a: [[Float]], _ b: [[Float]]) -> Int {
    guard a.count == b.count, zip(a, b).allSatisfy({ $0.count == $1.count }) else { return -1 }
    return zip(bits(a), bits(b)).reduce(0) { $0 + zip($1.0, $1.1).filter { $0 != $1 }.count }
}

@Suite struct ConditionedTrainingTests {
    @Test(arguments: [Precision.fp32] + (MatMul.bf16ProductsAvailable ? [.bf16] : []))
    func recomputationIsBitwiseThePlainRun(precision: Precision) throws {
        var config = conditionedConfig()
        config.training.precision = precision
        var layer = config
        layer.training.recompute = .layer
        let a = try trainOnMesh(config, data: 1, model: 1, steps: 5), b = try trainOnMesh(layer, data: 1, model: 1, steps: 5)
        #expect(a.losses == b.losses, "\(precision): losses \(a.losses) vs \(b.losses)")
        #expect(differing(a.state, b.state) == 0, "\(precision): \(differing(a.state, b.state)) values of the state differ")
    }

    /// Parameters are all-gathered after every update, so each rank holds them whole (its optimizer slots
    /// are its range only: OptimizerShardingTests compare the gathered checkpoints).
    @Test func zeroOneIsBitwiseTheReplicatedRunOnTheSameRanks() throws {
        var sharded = conditionedConfig()
        sharded.distribution.shardOptimizer = true
        let a = try trainOnMesh(sharded, data: 2, model: 1, steps: 5), b = try trainOnMesh(conditionedConfig(), data: 2, model: 1, steps: 5)
        #expect(a.losses == b.losses)
        #expect(differing([a.state[0]], [b.state[0]]) == 0, "ZeRO-1: \(differing([a.state[0]], [b.state[0]])) parameters differ")
    }

    /// The conditioning tensors are replicated over the model axis; the sharded model computes the whole
    /// model's run (to rounding: the model axis sums partial products).
    @Test(arguments: [(1, 2), (2, 2)])
    func aModelAxisTrainsTheSameRun(data: Int, model: Int) throws {
        let whole = try trainOnMesh(conditionedConfig(), data: 1, model: 1, steps: 4)
        let split = try trainOnMesh(conditionedConfig(), data: data, model: model, steps: 4)
        for (step, (a, b)) in zip(split.losses, whole.losses).enumerated() {
            #expect(abs(a - b) <= 1e-5 * b, "data=\(data),model=\(model) step \(step + 1): \(a) vs \(b)")
        }
        let names = ModelParameters(config: conditionedConfig().model).table
        let conditioning = names.entries.filter { $0.name.contains("/action/") || $0.name.contains("class_embedding") }
        #expect(conditioning.count == 6, "the conditioning tensors of both stacks")
        for entry in conditioning {
            let a = split.state[0][entry.offset..<(entry.offset + entry.count)], b = whole.state[0][entry.offset..<(entry.offset + entry.count)]
            #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 }, "\(entry.name) differs on data=\(data),model=\(model)")
            #expect(a.contains { $0 != 0 } || entry.name.hasSuffix("/bias") == false, "\(entry.name) never moved")
        }
    }

    @Test func oneAndTwoDataRanksTrainTheSameRun() throws {
        let one = try trainOnMesh(conditionedConfig(), data: 1, model: 1, steps: 5)
        let two = try trainOnMesh(conditionedConfig(), data: 2, model: 1, steps: 5)
        for (step, (a, b)) in zip(two.losses, one.losses).enumerated() { #expect(abs(a - b) <= 1e-6 * b, "step \(step + 1): \(a) vs \(b)") }
        let largest = zip(one.state[0], two.state[0]).map { abs($0 - $1) }.max() ?? .infinity
        #expect(largest <= 1e-5, "parameters differ by \(largest)")
    }

    @Test func aResumedRunIsBitwiseTheUninterruptedOne() throws {
        let config = conditionedConfig(.adam, steps: 7)
        let whole = try trainOnMesh(config, data: 1, model: 1, steps: 7)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (losses, trainer) = try trainResumed(config, cuts: [(0, 3), (3, 7)], directory: directory, name: "conditioned.yaml")
        #expect(losses == whole.losses)
        let state = try TrainerCheckpoint(trainer).gatherFullState()
        #expect(differing(try #require(state).map(\.array), whole.state) == 0, "the resumed state differs")
    }

    /// A drop is decided by the example alone: the same on any rank split, and a schedule without dropout
    /// makes exactly the choices it made before dropout existed.
    @Test func labelDropoutIsAPureFunctionOfTheExample() {
        func schedule(_ p: Double) -> ExampleSchedule {
            ExampleSchedule(videoCount: 37, globalBatch: 8, seed: 4, videoFrames: 12, clipFrames: 8, trainableSlices: [1, 3, 5, 6],
                            labelDropout: p)
        }
        let plain = schedule(0), dropping = schedule(0.3)
        var dropped = 0, total = 0
        for step in 0..<200 {
            let examples = dropping.examples(step: step)
            #expect(plain.examples(step: step).map { [$0.video, $0.startFrame, $0.slice] } == examples.map { [$0.video, $0.startFrame, $0.slice] })
            #expect(plain.examples(step: step).allSatisfy { !$0.dropsLabel })
            let split = (0..<2).flatMap { rank in dropping.examples(step: step, rank: rank, ranks: 2) }.sorted { $0.position < $1.position }
            #expect(split.map(\.dropsLabel) == examples.map(\.dropsLabel))
            dropped += examples.filter(\.dropsLabel).count; total += examples.count
        }
        let fraction = Double(dropped) / Double(total)
        #expect(abs(fraction - 0.3) < 0.05, "dropped \(fraction) of the labels, not about 0.3")
    }

    @Test func dataWithoutTheConditioningIsRefusedNamingIt() throws {
        var config = conditionedConfig()
        config.model.classes = 0
        config.training.labelDropout = 0
        let plain = InMemoryVideoSource.synthetic(count: 8, frames: config.model.frames, height: config.model.height,
                                                  width: config.model.width, seed: 1)
        let error = try #require(throws: TrainingError.self) { try Trainer(config: config, source: plain) }
        #expect("\(error)".contains("model.actions is 4") && "\(error)".contains("the built-in synthetic corpus") && "\(error)".contains("holds no actions"))
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("plain.h5").path
        _ = try SyntheticVideoGenerator(frames: config.model.frames, height: config.model.height, width: config.model.width, seed: 1)
            .writeShard(videos: 4, to: path, split: "train")
        config.model.actions = 0
        config.model.classes = 3
        let shards = try ShardVideoSource(path: path)
        let named = try #require(throws: TrainingError.self) { try Trainer(config: config, source: shards) }
        #expect("\(named)".contains(path) && "\(named)".contains("no class labels"), "\(named)")
    }
}
