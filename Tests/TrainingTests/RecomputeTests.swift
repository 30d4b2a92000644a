// `training.recompute: layer` (docs/design.md §9): backward re-runs each attention layer's forward (and the
// head's channels) from the saved inputs instead of keeping their activations. The same kernels run on the
// same values in the same order, so losses, gradients and every checkpoint tensor are bitwise those of
// `recompute: none` — checked on 10 steps of the shipped tiny.yaml, in bf16, with gradient accumulation
// and on meshes with a model axis (threads). The memory it saves is checked on the model's buffers.

import Foundation
import Testing
import Kernels
import Optimization
@testable import VideoModel
@testable import Training

private let configsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Configs")

/// Per-step losses and the final parameters and optimizer slots (bit patterns) of `steps` steps.
private func train(_ config: RunConfig, recompute: Recompute, steps: Int) throws -> (losses: [Double], state: [String: [UInt32]]) {
    var config = config
    config.training.recompute = recompute
    let trainer = try Trainer(config: config, source: syntheticSource(config))
    #expect(trainer.model.recompute == recompute, "training.recompute did not reach the model")
    let losses = try (0..<steps).map { _ in try trainer.trainStep().loss }
    return (losses, stateBitsOf(trainer))
}

private func expectBitwiseEqual(_ a: (losses: [Double], state: [String: [UInt32]]),
                                _ b: (losses: [Double], state: [String: [UInt32]]), _ label: String) {
    #expect(a.losses == b.losses, "\(label): losses differ: \(a.losses) vs \(b.losses)")
    #expect(a.state.keys.sorted() == b.state.keys.sorted())
    let differing = a.state.keys.sorted().filter { a.state[$0] != b.state[$0] }
    #expect(differing.isEmpty, "\(label): tensors differ: \(differing.prefix(5))")
}

@Suite struct RecomputeTests {
    @Test func tinyYAMLTrainsBitwiseTheSameWithLayerRecomputation() throws {
        MatMul.configureThreads()
        var config = try RunConfig.load(path: configsDirectory.appendingPathComponent("tiny.yaml").path)
        config.data = DataSettings(syntheticVideos: 32, syntheticSeed: 1)
        config.training.evalEvery = 0
        let none = try train(config, recompute: .none, steps: 10)
        let layer = try train(config, recompute: .layer, steps: 10)
        expectBitwiseEqual(none, layer, "tiny.yaml fp32")
        print("tiny.yaml recompute none vs layer: 10 bitwise-equal losses, last \(layer.losses.last ?? 0)")
    }

    @Test(arguments: [(Precision.fp32, 2)] + (MatMul.bf16ProductsAvailable ? [(.bf16, 1), (.bf16, 2)] : []))
    func smallRunsAreBitwiseTheSameWithAndWithoutRecomputation(precision: Precision, accumulation: Int) throws {
        var config = modelAxisConfig(.adam, steps: 6)
        config.training.precision = precision
        config.training.accumulationSteps = accumulation
        let none = try train(config, recompute: .none, steps: 6)
        let layer = try train(config, recompute: .layer, steps: 6)
        expectBitwiseEqual(none, layer, "\(precision), accumulation \(accumulation)")
    }

    @Test(arguments: [(1, 2, Precision.fp32), (2, 2, .fp32)] + (MatMul.bf16ProductsAvailable ? [(1, 2, .bf16)] : []))
    func meshesWithAModelAxisAreBitwiseTheSameWithRecomputation(data: Int, model: Int, precision: Precision) throws {
        var config = modelAxisConfig(.rmsprop, steps: 4)
        config.training.precision = precision
        func run(_ recompute: Recompute) throws -> (losses: [Double], parameters: [Float]) {
            var changed = config
            changed.training.recompute = recompute
            let mesh = ThreadMesh(data: data, model: model), run = changed
            let results = try onEveryRank(mesh.size) { rank -> ([Double], [Float]?) in
                let trainer = try mesh.trainer(run, rank: rank)
                let losses = try (0..<4).map { _ in try trainer.trainStep().loss }
                return (losses, try TrainerCheckpoint(trainer).gatherFullState()?[0].array)
            }
            return (results[0].0, try #require(results[0].1))
        }
        let none = try run(.none), layer = try run(.layer)
        #expect(none.losses == layer.losses, "data=\(data),model=\(model) \(precision): losses differ")
        #expect(none.parameters.map(\.bitPattern) == layer.parameters.map(\.bitPattern),
                "data=\(data),model=\(model) \(precision): parameters differ")
    }

    /// Recomputing keeps one set of layer buffers and one head channel's: the activation bytes shrink by
    /// what every further layer and channel would hold, and attention keeps 2 floats per (row, head).
    @Test func recomputationKeepsOneLayersActivations() throws {
        let config = try RunConfig.load(path: configsDirectory.appendingPathComponent("bench.yaml").path).model
        for precision in Precision.allCases {
            let none = try VideoTransformer(config: config, maxBatch: 1, precision: precision)
            let layer = try VideoTransformer(config: config, maxBatch: 1, precision: precision, recompute: .layer)
            let perLayer = none.plan.buffers.filter { $0.name.hasPrefix("encoder/layer_0/") }.reduce(0) { $0 + $1.bytes }
            #expect(perLayer > 0)
            #expect(layer.encoder.layers.allSatisfy { $0.saved === layer.decoder.layers[0].saved })
            #expect(none.encoder.layers[0].saved !== none.encoder.layers[1].saved)
            let layers = config.encoderLayers + config.decoderLayers
            #expect(none.activationBytes - layer.activationBytes >= (layers - 1) * perLayer,
                    "\(precision): \(none.activationBytes) → \(layer.activationBytes) saves less than \(layers - 1) layers of \(perLayer)")
            let rows = config.positionsPerSlice
            #expect(none.encoder.layers[0].saved.statistics.count == 2 * rows * config.heads)
            print("bench.yaml per video, \(precision): activations \(none.activationBytes) bytes (recompute none) → \(layer.activationBytes) (layer)")
        }
    }
}

/// The config-only activation estimate (what the mesh simulator uses) equals the allocated model's buffers
/// for every shipped config, precision, recomputation setting and model-axis split.
@Suite struct PlannedActivationTests {
    @Test(arguments: ["tiny.yaml", "bench.yaml", "bair-base-300k.yaml", "tiny-inbetween.yaml"])
    func plannedBytesEqualTheAllocatedModels(name: String) throws {
        let config = try RunConfig.load(path: configsDirectory.appendingPathComponent(name).path).model
        for precision in Precision.allCases {
            for recompute in Recompute.allCases {
                // Paper scale (57.8M parameters) at micro-batch 1 only: the buffers are zero-filled, ~2 GB each.
                let layouts = config.hiddenSize > 256 ? [(1, 1), (1, 2)] : [(1, 1), (2, 2)]
                for (batch, shards) in layouts where ModelSharding.problem(config: config, count: shards) == nil {
                    let planned = VideoTransformer.plannedActivationBytes(config: config, maxBatch: batch, modelShards: shards,
                                                                          precision: precision, recompute: recompute)
                    let model = try VideoTransformer(config: config, maxBatch: batch,
                                                     sharding: ModelSharding(index: 0, count: shards),
                                                     modelAxisReduce: shards > 1 ? { _, _ in } : nil,
                                                     precision: precision, recompute: recompute)
                    #expect(planned == model.allocatedActivationBytes,
                            "\(name) \(precision) \(recompute) batch \(batch) shards \(shards): planned \(planned) vs allocated \(model.allocatedActivationBytes)")
                }
            }
        }
    }
}
