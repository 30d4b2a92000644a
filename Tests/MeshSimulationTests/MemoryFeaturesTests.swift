// The simulator's memory features (docs/design.md §8–§9): recomputation, flash-style attention memory, ZeRO-1 and
// bf16 — each formula against hand-computed values, and the fits / does-not-fit verdict flipping with each
// for a stated config and mesh. Arithmetic only (and one 1-rank calibration); the options of `vt mesh simulate`
// are in MemoryFeaturesCommandLineTests.swift.

import Benchmarks
import Foundation
import VTTestSupport
import Testing
import Distribution
import Kernels
import VideoModel
@testable import MeshSimulation
import Training

@Suite struct MemoryFeaturesTests {
    static let configs = MeshSimulatorTests.configs

    func model(_ name: String) throws -> ModelConfig {
        try RunConfig.load(path: Self.configs.appendingPathComponent(name).path).model
    }

    func settings(batch: Int, accumulation: Int = 1, precision: Precision = .fp32, recompute: Recompute = .none,
                  shard: Bool = false, attention: AttentionMemory = .statistics, chip: ChipSpec = .tpuV3) -> SimulationSettings {
        var settings = SimulationSettings(chip: chip, mfu: 0.5, alphas: [1e-6], gradientBytes: 4, activationBytes: 4,
                                          globalBatch: batch, accumulationSteps: accumulation)
        settings.precision = precision; settings.recompute = recompute; settings.shardOptimizer = shard
        settings.attentionMemory = attention
        return settings
    }

    func predict(_ config: ModelConfig, _ settings: SimulationSettings, _ layout: MeshLayout, on torus: TorusShape) throws -> LayoutPrediction {
        try MeshSimulator(config: config, settings: settings).predict(Placement(layout: layout, on: torus))
    }

    // MARK: Collectives

    @Test func reduceScatterAndAllGatherCostHalfAnAllReduce() throws {
        // Ring, p = 4, n = 1 MB, α = 1 µs, β = 1 ns/B: 3·1 µs + 3/4·1e6·1e-9 s = 3 µs + 0.75 ms.
        #expect(abs(ReduceScatterCost.ring(ranks: 4, bytes: 1e6, alpha: 1e-6, beta: 1e-9) - 0.753e-3) < 1e-12)
        // 2-D torus 4×8: (4+8−2)·2 µs + 31/32·8e6·0.5e-9 s = 20 µs + 3.875 ms.
        #expect(abs(ReduceScatterCost.torus(x: 4, y: 8, bytes: 8e6, alpha: 2e-6, beta: 0.5e-9) - 3.895e-3) < 1e-12)
        #expect(ReduceScatterCost.ring(ranks: 1, bytes: 1e9, alpha: 1, beta: 1) == 0)
        // On the torus the simulator uses the same links as for an all-reduce: 2 for a ring, 4 for a 2-D group.
        let simulator = try MeshSimulator(config: model("bench.yaml"), settings: settings(batch: 64))
        for grid in [(1, 8), (4, 4)] {
            let allReduce = simulator.collectiveSeconds(.allReduce, bytes: 1e8, grid: grid, alpha: 1e-6)
            for half in [Collective.reduceScatter, .allGather] {
                #expect(abs(simulator.collectiveSeconds(half, bytes: 1e8, grid: grid, alpha: 1e-6) - allReduce / 2) < 1e-15)
            }
        }
        #expect(abs(simulator.collectiveSeconds(.reduceScatter, bytes: 1e8, grid: (1, 8), alpha: 1e-6)
                    - (7e-6 + 7.0 / 8 * 1e8 / (2 * 82e9))) < 1e-12)
    }

    // MARK: Recomputation

    @Test func recomputeRunsTheLayersForwardOnceMoreAndNothingElse() throws {
        let config = try model("bench.yaml")
        let cost = ModelCost(config: config)
        // bench.yaml's 2 + 2 layers, N = 4096, d = hd = 256, d_ff = 1024, blocks of 128 and 256 positions:
        // per layer 2·N·d·hd·4 + 2·N·Nb·hd·2 + 2·N·d·f·2 = 6,979,321,856 (Nb 128) and 7,516,192,768 (Nb 256).
        #expect(cost.shardedForwardFlopsPerVideo == 2 * (6_979_321_856 + 7_516_192_768))
        let none = cost.trainingFlopsPerChip(videos: 3, model: 2, recompute: .none)
        let layer = cost.trainingFlopsPerChip(videos: 3, model: 2, recompute: .layer)
        #expect(none == 3 * 3 * (cost.shardedForwardFlopsPerVideo / 2 + cost.replicatedForwardFlopsPerVideo))
        #expect(abs((layer - none) - 3 * 28_991_029_248 / 2) < 1)   // one more forward of the (sharded) layers only
        #expect(abs(cost.trainingFlopsPerChip(videos: 4, model: 1) - FLOPCount.trainingStep(config, batch: 4)) < 1)

        // In a prediction: compute, the one-chip reference and the model axis's 6 all-reduces per layer.
        let placement = try Placement(layout: MeshLayout(data: 2, model: 2), on: TorusShape(x: 2, y: 2))
        let plain = try MeshSimulator(config: config, settings: settings(batch: 8, accumulation: 2)).predict(placement)
        let simulator = try MeshSimulator(config: config, settings: settings(batch: 8, accumulation: 2, recompute: .layer))
        let recomputed = try simulator.predict(placement)
        let rate = 123e12 * 0.5
        #expect(abs(recomputed.computeSeconds - plain.computeSeconds - 4 * 28_991_029_248 / 2 / rate) < 1e-12)
        #expect(abs(simulator.singleChipSeconds - cost.trainingFlopsPerChip(videos: 8, model: 1, recompute: .layer) / rate) < 1e-15)
        #expect(plain.activationAllReduceCount == 4 * 4 * 2 && recomputed.activationAllReduceCount == 6 * 4 * 2)
        #expect(recomputed.gradientAllReduceBytes == plain.gradientAllReduceBytes)
        #expect(recomputed.memory.state == plain.memory.state)
    }

    @Test func recomputedForwardsWidenTheWindowThatHidesGradientBuckets() throws {
        // A slow flat link, so the gradient all-reduce outlasts backward and exposed = all-reduce − backward:
        // backward is compute − one forward, so recomputation hides exactly its extra forward more.
        let config = smallRunConfig().model
        let chip = MeshSimulator.localChip(sgemmPeakFlops: 1e9, ranks: 2, link: .single(alpha: 0, beta: 1e-6), memoryBytes: 1e10)
        func exposed(_ recompute: Recompute) throws -> (Double, Double) {
            var settings = settings(batch: 4, recompute: recompute, chip: chip)
            settings.bucketBytes = 1024
            let prediction = try predict(config, settings, MeshLayout(data: 2, model: 1), on: TorusShape(x: 1, y: 2))
            let alpha = prediction.alphas[0]
            #expect(alpha.gradientExposedSeconds > 0 && alpha.gradientExposedSeconds < alpha.gradientAllReduceSeconds)
            return (alpha.gradientExposedSeconds, alpha.gradientAllReduceSeconds)
        }
        let (none, whole) = try exposed(.none), (layer, sameWhole) = try exposed(.layer)
        #expect(whole == sameWhole)
        let extraForward = 2 * ModelCost(config: config).shardedForwardFlopsPerVideo / (1e9 * 0.5)
        #expect(abs((none - layer) - extraForward) < 1e-12)
    }

    @Test func recomputeKeepsOneLayersBuffersInsteadOfEveryLayers() {
        // smallRunConfig: slice 2×4×4 (N = 32), d = 16, 2 heads × 8 (hd = 16), d_ff = 32, 1 + 1 layers, both
        // with blocks of Nb = 32. One layer's set for 1 video (rows = 32), softmax statistics:
        //   fp32: LayerNorm 4·32 + middle 32·16 + bias 2·32·32 + statistics 2·32·2 = 2,816 floats = 11,264 B
        //   product inputs: blocked 32·16 + q,k,v,attended 4·32·16 + FFN input 32·16 + hidden 32·32 = 4,096 values
        //   = 16,384 B in fp32, 8,192 B in bf16. Recomputation keeps 1 set instead of 2, and one channel of the
        //   head instead of 3: 2 × logits 32·256·4 B, 2 × hidden 32·16 values (the pre-activation is one shared
        //   buffer either way: the ReLU mask comes from the hidden values).
        let cost = ModelCost(config: smallRunConfig().model)
        let head = 2.0 * 32 * 256 * 4
        for (precision, set) in [(Precision.fp32, 11_264.0 + 16_384 + head + 2 * 32 * 16 * 4),
                                 (.bf16, 11_264.0 + 8_192 + head + 2 * 32 * 16 * 2)] {
            let none = cost.activationBytes(microBatch: 1, model: 1, precision: precision, recompute: .none, attention: .statistics)
            let layer = cost.activationBytes(microBatch: 1, model: 1, precision: precision, recompute: .layer, attention: .statistics)
            #expect(none - layer == set, "\(precision)")
        }
    }

    @Test func recomputeFlipsTheVerdictForBairLarge() throws {
        // bair-large-1m as configured (bf16, global batch 64 in 4 accumulation steps) on one chip: 16 videos per
        // micro-batch keep 33 GiB of activations; recomputation keeps 10.6 GiB.
        let config = try model("bair-large-1m.yaml")
        let one = (MeshLayout(data: 1, model: 1), TorusShape(x: 1, y: 1))
        let plain = try predict(config, settings(batch: 64, accumulation: 4, precision: .bf16), one.0, on: one.1)
        let recomputed = try predict(config, settings(batch: 64, accumulation: 4, precision: .bf16, recompute: .layer), one.0, on: one.1)
        let both = try predict(config, settings(batch: 64, accumulation: 4, precision: .bf16, recompute: .layer, shard: true), one.0, on: one.1)
        #expect(!plain.memory.fits && plain.memory.total > 32 * 1073741824)
        #expect(recomputed.memory.fits && recomputed.memory.activations < plain.memory.activations / 3)
        #expect(both.memory.fits && both.memory == recomputed.memory)   // data = 1: nothing to shard over
    }

    // MARK: Flash-style attention memory

    @Test func flashKeepsTwoFloatsPerRowAndHeadInsteadOfProbabilities() throws {
        // smallRunConfig, per layer and video: probabilities rows/Nb·heads·Nb² = 1·2·32² = 2,048 floats,
        // statistics 2·rows·heads = 2·32·2 = 128; 2 layers × 1,920 floats × 4 B = 15,360 B per video.
        let cost = ModelCost(config: smallRunConfig().model)
        for microBatch in [1, 2, 3] {
            for precision in Precision.allCases {
                for recompute in Recompute.allCases {
                    let probabilities = cost.activationBytes(microBatch: microBatch, model: 1, precision: precision, recompute: recompute,
                                                             attention: .probabilities)
                    let statistics = cost.activationBytes(microBatch: microBatch, model: 1, precision: precision, recompute: recompute,
                                                          attention: .statistics)
                    let layers = recompute == .layer ? 1.0 : 2.0
                    #expect(probabilities - statistics == layers * 7_680 * Double(microBatch), "\(precision), \(recompute)")
                }
            }
        }
        // The verdict: bair-base-300k in fp32, 16 videos per chip on a 2x2 torus — probabilities 34.05 GiB, statistics 29.1 GiB.
        let config = try model("bair-base-300k.yaml")
        let layout = MeshLayout(data: 4, model: 1), torus = TorusShape(x: 2, y: 2)
        let stored = try predict(config, settings(batch: 64, attention: .probabilities), layout, on: torus)
        let flash = try predict(config, settings(batch: 64), layout, on: torus)
        #expect(!stored.memory.fits && flash.memory.fits)
        #expect(stored.computeSeconds == flash.computeSeconds)
    }

    @Test func causalSkipsAreReportedNotTakenOffTheCompute() throws {
        // bench.yaml's decoder: blocks of 128 and 256 positions, hd = 256, N = 4096. Row tiles of 64 skip 1/4 of
        // an Nb = 128 block's and 3/8 of an Nb = 256 block's scores and weighted sums (2·N·Nb·hd each):
        // 2·N·hd·(2·128/4 + 2·256·3/8) = 2,097,152 · (64 + 192) FLOPs of forward per video.
        let config = try model("bench.yaml")
        let cost = ModelCost(config: config)
        #expect(cost.causalSkippedForwardFlopsPerVideo == 2_097_152 * 256)
        for recompute in Recompute.allCases {
            let prediction = try predict(config, settings(batch: 16, recompute: recompute), MeshLayout(data: 4, model: 2), on: TorusShape(x: 2, y: 4))
            let passes = recompute == .layer ? 4.0 : 3.0
            #expect(prediction.causalSkippedFlopsPerChip == passes * 4 * 2_097_152 * 256 / 2)
            #expect(prediction.computeSeconds == prediction.trainingFlopsPerChip / (123e12 * 0.5))
        }
    }

    // MARK: bf16

    @Test func bf16AddsAWeightCopyAndKeepsGradientsAndSlotsInFP32() throws {
        let config = try model("bair-base-300k.yaml")
        let layout = MeshLayout(data: 8, model: 2), torus = TorusShape(x: 4, y: 4)
        let fp32 = try predict(config, settings(batch: 64), layout, on: torus)
        let bf16 = try predict(config, settings(batch: 64, precision: .bf16), layout, on: torus)
        let parameters = Double(ModelCost(config: config).parametersPerChip(model: 2))
        #expect(bf16.memory.lowPrecisionWeights == 2 * parameters && fp32.memory.lowPrecisionWeights == 0)
        #expect(bf16.memory.parameters == 4 * parameters && bf16.memory.gradients == 4 * parameters)
        #expect(bf16.memory.optimizer == 8 * parameters && bf16.memory.state == 18 * parameters)
        #expect(bf16.gradientAllReduceBytes == fp32.gradientAllReduceBytes)   // gradients stay fp32 on the wire too
        let cost = ModelCost(config: config)
        #expect(bf16.memory.activations == cost.activationBytes(microBatch: 8, model: 2, precision: .bf16, recompute: .none, attention: .statistics))
        #expect(bf16.memory.activations < 0.8 * fp32.memory.activations)
        #expect(bf16.computeSeconds == fp32.computeSeconds)   // the chip's one (bf16) peak either way
    }

    // MARK: ZeRO-1

    @Test func zeroDividesTheOptimizerSlotsByTheDataAxis() throws {
        let config = try model("bair-base-300k.yaml")
        let cost = ModelCost(config: config)
        for (layout, torus) in [(MeshLayout(data: 64, model: 1), TorusShape(x: 8, y: 8)), (MeshLayout(data: 16, model: 4), TorusShape(x: 8, y: 8))] {
            let parameters = Double(cost.parametersPerChip(model: layout.model)), d = Double(layout.data)
            let replicated = try predict(config, settings(batch: 64), layout, on: torus)
            let sharded = try predict(config, settings(batch: 64, shard: true), layout, on: torus)
            #expect(sharded.memory.optimizer == 8 * parameters / d && replicated.memory.optimizer == 8 * parameters)
            // Stage 1: gradients and (with the fp32 all-gather) the parameters stay whole on every chip.
            #expect(sharded.memory.gradients == replicated.memory.gradients && sharded.memory.parameters == 4 * parameters)
            #expect(sharded.memory.activations == replicated.memory.activations)
            // A bf16 all-gather (bf16 runs): the fp32 master weights are / D too, the bf16 copy whole.
            var bf16Gather = settings(batch: 64, precision: .bf16, shard: true)
            bf16Gather.allGatherPrecision = .bf16
            let paper = try predict(config, bf16Gather, layout, on: torus)
            #expect(paper.memory.parameters == 4 * parameters / d && paper.memory.lowPrecisionWeights == 2 * parameters)
            #expect(paper.memory.optimizer == 8 * parameters / d && paper.parameterAllGatherBytes == 2 * parameters)
        }
        var wrong = settings(batch: 64, shard: true)
        wrong.allGatherPrecision = .bf16   // bf16 parameters on the wire of an fp32 run
        #expect(throws: MeshSimulationError.self) { try MeshSimulator(config: config, settings: wrong) }
    }

    @Test func zeroReduceScattersDuringBackwardAndAllGathersAfterTheStep() throws {
        // 8x4 torus, model=4 → data grid 8×1 (a ring): reduce-scatter (D−1)α + (D−1)/D·nβ of the gradients a
        // chip holds, then the all-gather of its parameters (same formula), exposed after the optimizer step.
        let config = try model("bair-large-1m.yaml")
        let placement = try Placement(layout: MeshLayout(data: 8, model: 4), on: TorusShape(x: 8, y: 4))
        let plain = try MeshSimulator(config: config, settings: settings(batch: 64)).predict(placement)
        let prediction = try MeshSimulator(config: config, settings: settings(batch: 64, shard: true)).predict(placement)
        let parameters = Double(ModelCost(config: config).parametersPerChip(model: 4)), beta = 1 / (2 * 82e9)
        #expect(prediction.gradientCollective == .reduceScatter && plain.gradientCollective == .allReduce)
        #expect(prediction.gradientAllReduceBytes == 4 * parameters && prediction.parameterAllGatherBytes == 4 * parameters)
        #expect(plain.parameterAllGatherBytes == 0 && plain.alphas[0].parameterAllGatherSeconds == 0)
        let alpha = prediction.alphas[0]
        let expected = ReduceScatterCost.ring(ranks: 8, bytes: 4 * parameters, alpha: 1e-6, beta: beta)
        #expect(abs(alpha.gradientAllReduceSeconds - expected) < 1e-15)
        #expect(abs(alpha.parameterAllGatherSeconds - expected) < 1e-15)
        #expect(abs(alpha.gradientAllReduceSeconds - (7e-6 + 7.0 / 8 * 4 * parameters * beta)) < 1e-12)
        // Backward hides the reduce-scatter buckets but the last; the all-gather is exposed whole.
        #expect(alpha.gradientExposedSeconds < alpha.gradientAllReduceSeconds)
        #expect(abs(alpha.stepSeconds - (prediction.computeSeconds + alpha.gradientExposedSeconds + alpha.parameterAllGatherSeconds
                                         + alpha.activationAllReduceSeconds)) < 1e-12)
        #expect(abs(alpha.stepSecondsWithoutOverlap - (prediction.computeSeconds + 2 * expected + alpha.activationAllReduceSeconds)) < 1e-12)
        #expect(prediction.computeSeconds == plain.computeSeconds && alpha.activationAllReduceSeconds == plain.alphas[0].activationAllReduceSeconds)
    }

    @Test func zeroFlipsTheVerdictForBairLargeInFP32() throws {
        // bair-large-1m in fp32 with recomputation, 168 videos in one step on a 2x2 torus (42 per chip):
        // 33.1 GiB of activations and state do not fit the chip's 32 GiB; sharding the slots 4 ways saves 1.2 GiB.
        let config = try model("bair-large-1m.yaml")
        let layout = MeshLayout(data: 4, model: 1), torus = TorusShape(x: 2, y: 2)
        let replicated = try predict(config, settings(batch: 168, recompute: .layer), layout, on: torus)
        let sharded = try predict(config, settings(batch: 168, recompute: .layer, shard: true), layout, on: torus)
        #expect(!replicated.memory.fits && sharded.memory.fits)
        #expect(abs((replicated.memory.state - sharded.memory.state) - 0.75 * 8 * 213_763_328) < 1)
    }

    // MARK: Calibration

    @Test func localComparisonFollowsTheConfigsMemoryFeatures() throws {
        var config = smallRunConfig(batch: 8)
        config.training.precision = .bf16; config.training.recompute = .layer; config.distribution.shardOptimizer = true
        let chip = MeshSimulator.localChip(sgemmPeakFlops: 1e11, ranks: 2, link: .single(alpha: 5e-6, beta: 1e-10), memoryBytes: 16 * 1073741824)
        let rows = try MeshSimulator.compareLocal(config: config, chip: chip, mfu: 0.5, mfuProvenance: .assumed, ranks: 2, measurements: [])
        var expected = SimulationSettings(chip: chip, mfu: 0.5, alphas: [0], gradientBytes: 4, activationBytes: 4, globalBatch: 8, accumulationSteps: 1)
        expected.precision = .bf16; expected.recompute = .layer; expected.shardOptimizer = true
        let simulator = try MeshSimulator(config: config.model, settings: expected)
        let dataParallel = try #require(rows.first { $0.data == 2 })
        let prediction = try simulator.predict(Placement(layout: MeshLayout(data: 2, model: 1), on: TorusShape(x: 1, y: 2)))
        #expect(dataParallel.predictedMemoryBytes == prediction.memory.total && prediction.memory.lowPrecisionWeights > 0)
        #expect(dataParallel.predictedComputeSeconds == ModelCost(config: config.model).trainingFlopsPerChip(videos: 4, model: 1, recompute: .layer) / 5e10)
        // Reduce-scatter plus all-gather of 4 bytes a parameter, each half the all-reduce.
        let parameters = Double(ModelParameters(config: config.model).table.parameterCount)
        #expect(abs(dataParallel.predictedCommunicationSeconds - AllReduceCost.ring(ranks: 2, bytes: 4 * parameters, alpha: 5e-6, beta: 1e-10)) < 1e-15)
    }

    @Test func calibrationWithRecomputeMeasuresTheMFUOfTheFLOPsRun() throws {
        var config = smallRunConfig(batch: 2)
        config.training.recompute = .layer
        let calibration = try MeshCalibration.run(config: config, communicator: LocalCommunicator(), steps: 1, mfu: nil, sgemmSize: 256)
        let row = try #require(calibration.comparisons.first)
        // Compute is calibrated on the recomputed FLOPs, and predicted with them: one rank agrees exactly.
        #expect(abs(try #require(row.stepError)) < 1e-9)
        #expect(calibration.figures.contains { $0.name == "achievable MFU" && $0.source.contains("recomputed forwards included") })
    }
}
