// Benchmark+OptimizerSharding: ZeRO stage 1 against replicated optimizer state in one job (`vt bench
// --compare-shard-optimizer`, under mpirun). Both trainers live in the same processes, on the same data
// ranks, and take turns step by step (replicated then sharded, the order swapped every step), so a load
// that drifts on a shared host reaches both alike; the ratio of their median step times and the median of
// the per-pair ratios are measured under the same conditions, as MFU is (Benchmark.swift).
//
// Leaves out: a model axis (data parallel only), accumulation (one micro-batch per step, as `vt bench`).

import Foundation
import Datasets
import Distribution
import Kernels
import Training
import Common

public struct OptimizerShardingComparison: Codable, Sendable {
    public struct Side: Codable, Sendable {
        public var stepSecondsMedian: Double
        public var stepSecondsAll: [Double]
        /// Median time waiting for gradients after backward, plus (sharded) the parameter all-gather.
        public var exposedCommunicationSecondsMedian: Double
        /// World rank 0's state (docs/design.md §9 `state_bytes`) and its optimizer part (slots + master weights updated).
        public var stateBytes: Int
        public var optimizerStateBytes: Int
        public var optimizerSlotBytes: Int
        public var masterWeightBytes: Int
    }

    public var config: String
    public var ranks: Int
    public var steps: Int
    public var precision: String
    public var replicated: Side
    public var sharded: Side
    /// sharded / replicated of the medians, and the median of the per-step-pair ratios.
    public var stepTimeRatio: Double
    public var stepTimeRatioOfPairs: Double
    public var optimizerStateRatio: Double
}

extension Benchmark {
    /// Trains `config` replicated and sharded on all ranks of `world` (the data axis), `warmup` steps each
    /// and then `steps` steps each in alternation. Collective; every rank returns the same report.
    public static func compareOptimizerSharding(config: RunConfig, configName: String, world: any Communicator, steps: Int,
                                                warmup: Int = 1, progress: (String) -> Void = { _ in }) throws -> OptimizerShardingComparison {
        MatMul.configureThreads()
        var base = config
        base.training.accumulationSteps = 1
        let source = try ConditioningCheck.syntheticSource(for: config.model, count: config.training.batchSize, seed: 7, standIn: true)
        var replicatedConfig = base, shardedConfig = base
        replicatedConfig.distribution.shardOptimizer = false
        shardedConfig.distribution.shardOptimizer = true
        let trainers = [try Trainer(config: replicatedConfig, source: source, communicator: world),
                        try Trainer(config: shardedConfig, source: source, communicator: world)]
        guard trainers[1].optimizerShards != nil else {
            throw TrainingError("--compare-shard-optimizer needs several data ranks: run it under mpirun -np 2 or more")
        }
        var seconds: [[Double]] = [[], []], exposed: [[Double]] = [[], []]
        for index in 0..<(warmup + steps) {
            let order = index % 2 == 0 ? [0, 1] : [1, 0]
            for side in order {
                let metrics = try trainers[side].trainStep()
                guard index >= warmup else { continue }
                // The slowest rank's step: what the job waits for.
                seconds[side].append(try world.allReduceMax(metrics.stepSeconds))
                exposed[side].append(try world.allReduceMax(metrics.communicationSeconds))
            }
            progress("step \(index + 1)/\(warmup + steps)\(index < warmup ? " (warm-up)" : ""): replicated "
                     + String(format: "%.3f s, sharded %.3f s", seconds[0].last ?? 0, seconds[1].last ?? 0))
        }
        func side(_ index: Int) -> OptimizerShardingComparison.Side {
            let memory = trainers[index].stateMemory
            return .init(stepSecondsMedian: median(seconds[index]), stepSecondsAll: seconds[index],
                         exposedCommunicationSecondsMedian: median(exposed[index]), stateBytes: memory.stateBytes,
                         optimizerStateBytes: memory.optimizerStateBytes, optimizerSlotBytes: memory.optimizerSlotBytes,
                         masterWeightBytes: memory.masterWeightBytes)
        }
        let (replicated, sharded) = (side(0), side(1))
        return OptimizerShardingComparison(
            config: configName, ranks: world.size, steps: steps, precision: config.training.precision.rawValue,
            replicated: replicated, sharded: sharded, stepTimeRatio: sharded.stepSecondsMedian / replicated.stepSecondsMedian,
            stepTimeRatioOfPairs: median(zip(seconds[1], seconds[0]).map { $0 / $1 }),
            optimizerStateRatio: Double(sharded.optimizerStateBytes) / Double(replicated.optimizerStateBytes))
    }
}
