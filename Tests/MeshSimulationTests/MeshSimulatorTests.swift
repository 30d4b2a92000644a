// MeshSimulator: the α-β formulas against hand-computed values, the memory estimate against the model's own
// buffers and parameter table, the fits / does-not-fit verdict, mesh and layout parsing errors, scaling
// efficiency ≤ 1 and monotonic in α, and the α-β fit of calibration. All arithmetic: no MPI, milliseconds.
// The CLI's error for a layout that does not match the mesh: IntegrationTests/MeshCommandLineTests.swift.

import Benchmarks
import Foundation
import VTTestSupport
import Testing
import Kernels
import VideoModel
import Distribution
@testable import MeshSimulation
import Training

@Suite struct MeshSimulatorTests {
    static let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Configs")

    func settings(batch: Int = 64, accumulation: Int = 1, alphas: [Double] = SimulationSettings.defaultAlphas,
                  chip: ChipSpec = .tpuV3) -> SimulationSettings {
        SimulationSettings(chip: chip, mfu: 0.5, alphas: alphas, gradientBytes: 4, activationBytes: 4,
                           globalBatch: batch, accumulationSteps: accumulation)
    }

    func benchModel() throws -> ModelConfig {
        try RunConfig.load(path: Self.configs.appendingPathComponent("bench.yaml").path).model
    }

    // MARK: α-β formulas

    @Test func ringTorusAndDataModelFormulasMatchHandValues() {
        // Ring, p = 4, n = 1 MB, α = 1 µs, β = 1 ns/B: 2·3·1 µs + 2·3/4·1e6·1e-9 s = 6 µs + 1.5 ms.
        #expect(abs(AllReduceCost.ring(ranks: 4, bytes: 1e6, alpha: 1e-6, beta: 1e-9) - 1.506e-3) < 1e-12)
        // 2-D torus 4×8 (p = 32): 2·(4+8−2)·2 µs + 2·31/32·8e6·0.5e-9 s = 40 µs + 7.75 ms.
        #expect(abs(AllReduceCost.torus(x: 4, y: 8, bytes: 8e6, alpha: 2e-6, beta: 0.5e-9) - 7.79e-3) < 1e-12)
        // data × model, D = 8, M = 4: 2·7·5 µs + 2·7/8·(4e6/4)·1e-9 s = 70 µs + 1.75 ms.
        #expect(abs(AllReduceCost.dataModel(data: 8, model: 4, bytes: 4e6, alpha: 5e-6, beta: 1e-9) - 1.82e-3) < 1e-12)
        // One rank moves nothing; a 1×p torus is a ring.
        #expect(AllReduceCost.ring(ranks: 1, bytes: 1e9, alpha: 1, beta: 1) == 0)
        #expect(AllReduceCost.torus(x: 1, y: 1, bytes: 1e9, alpha: 1, beta: 1) == 0)
        #expect(AllReduceCost.torus(x: 1, y: 6, bytes: 3e6, alpha: 1e-6, beta: 1e-9)
                == AllReduceCost.ring(ranks: 6, bytes: 3e6, alpha: 1e-6, beta: 1e-9))
    }

    @Test func torusGroupsUseTwoOrFourLinks() throws {
        let simulator = try MeshSimulator(config: benchModel(), settings: settings(batch: 64))
        let link = 82e9
        // A ring along one axis: β = 1/(2 links); a 2-D group: β = 1/(4 links).
        #expect(abs(simulator.allReduceSeconds(bytes: 1e8, grid: (1, 8), alpha: 1e-6)
                    - (14e-6 + 2 * 7.0 / 8 * 1e8 / (2 * link))) < 1e-12)
        #expect(abs(simulator.allReduceSeconds(bytes: 1e8, grid: (4, 4), alpha: 1e-6)
                    - (12e-6 + 2 * 15.0 / 16 * 1e8 / (4 * link))) < 1e-12)
    }

    @Test func bucketsHideTheGradientAllReduceBehindBackwardExceptTheLastOne() throws {
        var overlapped = settings(batch: 64)
        overlapped.bucketBytes = 1e6
        let simulator = try MeshSimulator(config: benchModel(), settings: overlapped)
        let placement = try Placement(layout: MeshLayout(data: 16, model: 1), on: TorusShape(x: 4, y: 4))
        let prediction = try simulator.predict(placement)
        for alpha in prediction.alphas {
            // Backward (2/3 of compute, ~4.5 ms) is far longer than the all-reduce: only the last 1 MB bucket shows.
            #expect(alpha.gradientAllReduceSeconds < 2 * prediction.computeSeconds / 3)
            let lastBucket = simulator.allReduceSeconds(bytes: 1e6, grid: (4, 4), alpha: alpha.alphaMicroseconds * 1e-6)
            #expect(abs(alpha.gradientExposedSeconds - lastBucket) < 1e-15)
            #expect(abs(alpha.stepSeconds - (prediction.computeSeconds + lastBucket)) < 1e-12)
            #expect(abs(alpha.stepSecondsWithoutOverlap - (prediction.computeSeconds + alpha.gradientAllReduceSeconds)) < 1e-12)
        }
        var blocking = overlapped
        blocking.overlapGradients = false
        let serial = try MeshSimulator(config: benchModel(), settings: blocking).predict(placement)
        #expect(serial.alphas.allSatisfy { $0.gradientExposedSeconds == $0.gradientAllReduceSeconds && $0.stepSeconds == $0.stepSecondsWithoutOverlap })
    }

    @Test func gradientAllReduceOfARingDataAxisIsTheDataModelFormula() throws {
        // 8x4 torus, model=4 → model grid 1×4, data grid 8×1 (a ring): docs/design.md's 2(D−1)α + 2(D−1)/D·(n/M)β
        // with n/M = the gradient bytes one chip holds.
        let simulator = try MeshSimulator(config: benchModel(), settings: settings(batch: 64))
        let prediction = try simulator.predict(Placement(layout: MeshLayout(data: 8, model: 4), on: TorusShape(x: 8, y: 4)))
        #expect(prediction.dataGrid == [8, 1] && prediction.modelGrid == [1, 4])
        for alpha in prediction.alphas {
            let expected = AllReduceCost.dataModel(data: 8, model: 4, bytes: prediction.gradientAllReduceBytes * 4,
                                                   alpha: alpha.alphaMicroseconds * 1e-6, beta: 1 / (2 * 82e9))
            #expect(abs(alpha.gradientAllReduceSeconds - expected) < 1e-12)
        }
    }

    // MARK: FLOPs and parameters

    @Test func oneChipComputeIsDesignsFLOPsOverPeakTimesMFU() throws {
        let model = try benchModel()
        let simulator = try MeshSimulator(config: model, settings: settings(batch: 4))
        #expect(abs(simulator.singleChipSeconds - FLOPCount.trainingStep(model, batch: 4) / (123e12 * 0.5)) < 1e-15)
        let cost = simulator.cost
        #expect(cost.parameterCount == 6_340_176)
        // Per layer q, k, v, output (4·d·hd), relative biases, FFN weights and hidden bias; 2 + 2 layers.
        let d = 256, hd = 256, f = 1024, heads = 4
        let relative = model.blocks.prefix(2).map { heads * (2 * $0.t - 1 + 2 * $0.h - 1 + 2 * $0.w - 1) }.reduce(0, +)
        #expect(cost.shardedParameterCount == 2 * (2 * (4 * d * hd + 2 * d * f + f)) + 2 * relative)
        #expect(cost.parametersPerChip(model: 4) == cost.replicatedParameterCount + cost.shardedParameterCount / 4)
    }

    // MARK: Memory

    /// The simulator's one activation account against the model's own buffers: softmax statistics (what the
    /// model keeps), both recompute settings, fp32 and bf16, whole and sharded — exactly equal.
    @Test(arguments: [1, 2, 3])
    func activationEstimateMatchesTheModelsBuffers(microBatch: Int) throws {
        for model in [smallRunConfig().model, try RunConfig.load(path: Self.configs.appendingPathComponent("tiny.yaml").path).model] {
            for shards in [1, 2] where ModelSharding.problem(config: model, count: shards) == nil {
                for precision in Precision.allCases {
                    for recompute in Recompute.allCases {
                        let measured = Double(try VideoTransformer(config: model, maxBatch: microBatch, sharding: ModelSharding(index: 0, count: shards),
                                                                   modelAxisReduce: { _, _ in }, precision: precision,
                                                                   recompute: recompute).activationBytes)
                        let estimated = ModelCost(config: model).activationBytes(microBatch: microBatch, model: shards, precision: precision,
                                                                                 recompute: recompute, attention: .statistics)
                        #expect(estimated == measured,
                                "model=\(shards), \(precision), \(recompute): estimated \(estimated) vs activationBytes \(measured)")
                    }
                }
            }
        }
    }

    @Test func memoryEstimateAddsParametersGradientsSlotsAndActivations() throws {
        let config = smallRunConfig(batch: 8).model
        let simulator = try MeshSimulator(config: config, settings: settings(batch: 8))
        let prediction = try simulator.predict(Placement(layout: MeshLayout(data: 4, model: 1), on: TorusShape(x: 2, y: 2)))
        let parameters = Double(ModelParameters(config: config).table.parameterCount)
        let activations = Double(try VideoTransformer(config: config, maxBatch: 2).activationBytes)
        #expect(prediction.memory.parameters == 4 * parameters)
        #expect(prediction.memory.gradients == 4 * parameters)
        #expect(prediction.memory.optimizer == 8 * parameters)
        #expect(prediction.memory.activations == activations)
        #expect(prediction.memory.total == prediction.memory.parameters + prediction.memory.gradients
                + prediction.memory.optimizer + prediction.memory.activations)
        // Sharding the model axis shrinks the per-chip state and the head/d_ff activations.
        let sharded = try simulator.predict(Placement(layout: MeshLayout(data: 2, model: 2), on: TorusShape(x: 2, y: 2)))
        #expect(sharded.memory.parameters < prediction.memory.parameters)
        #expect(sharded.memory.activations < 2 * prediction.memory.activations)
    }

    @Test func verdictFlipsWhenMemoryExceedsHBM() throws {
        let model = try RunConfig.load(path: Self.configs.appendingPathComponent("bair-base-300k.yaml").path).model
        // Stored probabilities, as this test was written for (flash-style statistics make 16 per chip fit:
        // MemoryFeaturesTests).
        var probabilities = settings(batch: 64)
        probabilities.attentionMemory = .probabilities
        let simulator = try MeshSimulator(config: model, settings: probabilities)
        // 64 videos on 64 chips: 1 per chip fits; on 4 chips, 16 per chip do not.
        let small = try simulator.predict(Placement(layout: MeshLayout(data: 64, model: 1), on: TorusShape(x: 8, y: 8)))
        let large = try simulator.predict(Placement(layout: MeshLayout(data: 4, model: 1), on: TorusShape(x: 2, y: 2)))
        #expect(small.memory.fits && small.memory.total < 32 * 1073741824)
        #expect(!large.memory.fits && large.memory.total > 32 * 1073741824)
        // The same layout with a chip of less memory flips too.
        var tiny = ChipSpec.tpuV3
        tiny.memoryBytes = small.memory.total - 1
        probabilities.chip = tiny
        let flipped = try MeshSimulator(config: model, settings: probabilities)
            .predict(Placement(layout: MeshLayout(data: 64, model: 1), on: TorusShape(x: 8, y: 8)))
        #expect(!flipped.memory.fits)
    }

    // MARK: Parsing and legality

    @Test func meshAndLayoutParsing() throws {
        #expect(try TorusShape.parse("4x8") == TorusShape(x: 4, y: 8))
        #expect(try TorusShape.parse("4×8") == TorusShape(x: 4, y: 8))
        #expect(try TorusShape.parseList("2x2,8x8") == [TorusShape(x: 2, y: 2), TorusShape(x: 8, y: 8)])
        #expect(try MeshLayout.parse("model=2,data=16", on: TorusShape(x: 4, y: 8)) == MeshLayout(data: 16, model: 2))
        #expect(try MeshLayout.parse("data=32", on: TorusShape(x: 4, y: 8)) == MeshLayout(data: 32, model: 1))
        for bad in ["4x", "x8", "4x8x2", "four", "0x8", "4*8"] {
            #expect(throws: MeshSimulationError.self) { try TorusShape.parse(bad) }
        }
        for bad in ["data=4,colour=2", "data=4,data=8", "data=0,model=32", "data=four", "data"] {
            #expect(throws: MeshSimulationError.self) { try MeshLayout.parse(bad) }
        }
        do {
            _ = try MeshLayout.parse("data=4,model=2", on: TorusShape(x: 4, y: 8))
            Issue.record("a layout of 8 chips on a 32-chip mesh was accepted")
        } catch let error as MeshSimulationError {
            #expect(error.message.contains("data=4,model=2 has 4 × 2 = 8 chips but --mesh 4x8 has 4 × 8 = 32"), "\(error)")
        }
    }

    @Test func sweepRejectsMismatchedAndIllegalLayouts() throws {
        let simulator = try MeshSimulator(config: benchModel(), settings: settings(batch: 64))
        #expect(throws: MeshSimulationError.self) {
            try simulator.sweep(meshes: [TorusShape(x: 4, y: 8)], layouts: [MeshLayout(data: 4, model: 2)])
        }
        #expect(throws: MeshSimulationError.self) { try simulator.sweep(meshes: [TorusShape(x: 64, y: 32)]) }
        // bench.yaml has 4 heads: model=8 and model=32 are refused with the reason; batch 64 refuses data=… > 64.
        let (predictions, rejected) = try simulator.sweep(meshes: [TorusShape(x: 4, y: 8)])
        #expect(predictions.map(\.model) == [1, 2, 4])
        #expect(rejected.contains { $0.layout == "data=4,model=8" && $0.reason.contains("does not divide heads=4") })
        let (_, batchRejected) = try MeshSimulator(config: benchModel(), settings: settings(batch: 8))
            .sweep(meshes: [TorusShape(x: 4, y: 4)])
        #expect(batchRejected.contains { $0.layout == "data=16,model=1" && $0.reason.contains("global batch 8") })
        // Placement: model on a contiguous Mx×My block (My = gcd(M, Y)), data on the complement.
        let placed = try Placement(layout: MeshLayout(data: 2, model: 6), on: TorusShape(x: 4, y: 3))
        #expect(placed.modelGrid == (2, 3) && placed.dataGrid == (2, 1))
        #expect(throws: MeshSimulationError.self) { try Placement(layout: MeshLayout(data: 2, model: 2), on: TorusShape(x: 4, y: 3)) }
    }

    // MARK: Efficiency

    @Test func scalingEfficiencyIsAtMostOneAndFallsWithAlpha() throws {
        let simulator = try MeshSimulator(config: benchModel(), settings: settings(batch: 256, alphas: [0.5e-6, 1e-6, 2e-6, 5e-6, 20e-6]))
        let (predictions, _) = try simulator.sweep(meshes: [TorusShape(x: 1, y: 1), TorusShape(x: 2, y: 2), TorusShape(x: 4, y: 8), TorusShape(x: 16, y: 16)])
        #expect(predictions.count >= 8)
        for prediction in predictions {
            for alpha in prediction.alphas { #expect(alpha.scalingEfficiency <= 1 + 1e-12 && alpha.scalingEfficiency > 0) }
            for (a, b) in zip(prediction.alphas, prediction.alphas.dropFirst()) {
                #expect(b.stepSeconds >= a.stepSeconds && b.scalingEfficiency <= a.scalingEfficiency)
                if prediction.data * prediction.model > 1 { #expect(b.stepSeconds > a.stepSeconds) }
            }
            #expect(prediction.alphas.allSatisfy {
                $0.gradientExposedSeconds <= $0.gradientAllReduceSeconds && $0.stepSeconds <= $0.stepSecondsWithoutOverlap
            })
        }
        // One chip is the reference itself.
        let one = try #require(predictions.first { $0.mesh == "1x1" })
        #expect(abs(one.alphas[0].scalingEfficiency - 1) < 1e-12)
    }

    // MARK: Calibration

    @Test func allReduceFitRecoversAlphaAndBeta() throws {
        let alpha = 3e-6, beta = 1 / 5e9, ranks = 4
        let sizes = MeshCalibration.defaultSizes.map(Double.init)
        let times = sizes.map { AllReduceCost.ring(ranks: ranks, bytes: $0, alpha: alpha, beta: beta) }
        let fit = try MeshSimulator.fitAllReduce(bytes: sizes, seconds: times, ranks: ranks)
        #expect(abs(fit.alpha - alpha) / alpha < 1e-6 && abs(fit.beta - beta) / beta < 1e-6)
        #expect(fit.maxRelativeResidual < 1e-9)
        #expect(throws: MeshSimulationError.self) { try MeshSimulator.fitAllReduce(bytes: sizes, seconds: times, ranks: 1) }
        #expect(throws: MeshSimulationError.self) { try MeshSimulator.fitAllReduce(bytes: [4096], seconds: [1e-5], ranks: 2) }
    }

    @Test func piecewiseFitFollowsABandwidthThatFallsWithSize() throws {
        // 2 ranks: 2 µs latency; 8 GB/s bus bandwidth up to 1 MB, 2 GB/s beyond (caches exhausted).
        let sizes = MeshCalibration.defaultSizes.map(Double.init)
        func time(_ n: Double) -> Double { n <= Double(1 << 20) ? 4e-6 + n / 8e9 : 4e-6 + Double(1 << 20) / 8e9 + (n - Double(1 << 20)) / 2e9 }
        let link = try MeshSimulator.fitLinkModel(bytes: sizes, seconds: sizes.map(time), ranks: 2)
        #expect(link.pieces.count == 7)
        #expect(link.pieces.first!.minBytes == 4096 && link.pieces.last!.maxBytes == Double(1 << 26))
        for (a, b) in zip(link.pieces, link.pieces.dropFirst()) { #expect(a.maxBytes == b.minBytes) }
        // The pieces follow each regime (exactly while the implied latency is ≥ 0; α is clamped at 0, so
        // the steep large-message regime is matched within 10%); the one straight line misses by far more.
        func error(_ fit: LinkFit, _ n: Double) -> Double { abs(fit.intercept + fit.slope * n - time(n)) / time(n) }
        #expect(error(link.fit(forBytes: 8192), 8192) < 1e-6)
        #expect(error(link.fit(forBytes: 262144), 262144) < 1e-6)
        for n in [Double(1 << 24), Double(3 << 24)] { #expect(error(link.fit(forBytes: n), n) < 0.1, "\(n)") }
        #expect(link.global.maxRelativeResidual > 0.3)
        #expect(link.pieces.allSatisfy { $0.alpha >= 0 && $0.maxRelativeResidual < link.global.maxRelativeResidual })
        // A message outside the measured sizes uses the nearest piece.
        #expect(link.fit(forBytes: 1) == link.pieces.first! && link.fit(forBytes: 1e12) == link.pieces.last!)
        // The simulator costs each message with its piece.
        let chip = MeshSimulator.localChip(sgemmPeakFlops: 1e11, ranks: 2, link: link, memoryBytes: 1e10)
        let simulator = try MeshSimulator(config: smallRunConfig().model, settings: settings(batch: 4, chip: chip))
        let n = Double(1 << 25), piece = link.fit(forBytes: n)
        #expect(abs(simulator.allReduceSeconds(bytes: n, grid: (1, 2), alpha: 0) - (piece.intercept + piece.slope * n)) < 1e-12)
    }

    @Test func localComparisonMatchesMeasurementsByLayout() throws {
        let config = smallRunConfig(batch: 8)
        let link = LinkModel.single(alpha: 5e-6, beta: 1e-10)
        let chip = MeshSimulator.localChip(sgemmPeakFlops: 1e11, ranks: 2, link: link, memoryBytes: 16 * 1073741824)
        let measured = MeasuredStep(data: 2, model: 1, stepSeconds: 0.01, communicationSeconds: 0.001, peakResidentBytes: 1e8, source: "test")
        let rows = try MeshSimulator.compareLocal(config: config, chip: chip, mfu: 0.5, mfuProvenance: .assumed, ranks: 2,
                                                  measurements: [measured])
        #expect(rows.map { "\($0.data)x\($0.model)" } == ["2x1", "1x2"])
        let dataParallel = rows[0]
        #expect(dataParallel.measured == measured && rows[1].measured == nil)
        let parameters = Double(ModelParameters(config: config.model).table.parameterCount)
        #expect(abs(dataParallel.predictedCommunicationSeconds - AllReduceCost.ring(ranks: 2, bytes: 4 * parameters, alpha: 5e-6, beta: 1e-10)) < 1e-15)
        #expect(abs(dataParallel.predictedComputeSeconds - FLOPCount.trainingStep(config.model, batch: 4) / 5e10) < 1e-15)
        #expect(dataParallel.stepError != nil && dataParallel.memoryRatio != nil)
        // The JSON hook round-trips.
        let data = try JSONEncoder().encode([measured])
        #expect(try JSONDecoder().decode([MeasuredStep].self, from: data) == [measured])
    }

    @Test func calibrationRunsOnOneLocalRank() throws {
        let config = smallRunConfig(batch: 2)
        let calibration = try MeshCalibration.run(config: config, communicator: LocalCommunicator(), steps: 1, mfu: nil, sgemmSize: 256)
        #expect(calibration.ranks == 1 && calibration.link == nil && calibration.allReduceBytes.isEmpty)
        #expect(calibration.mfu > 0 && calibration.mfuProvenance == .measured)
        let row = try #require(calibration.comparisons.first)
        #expect(row.data == 1 && row.model == 1)
        // Compute is calibrated from the same run, so with 1 rank (no communication) prediction equals measurement.
        #expect(abs(try #require(row.stepError)) < 1e-9)
    }
}
