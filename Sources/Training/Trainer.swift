// Trainer: one optimizer step at a time, as nanoGPT's loop reads — read this rank's part of the batch,
// forward and backward over accumulation micro-batches, synchronise gradients across the data ranks,
// clip and update, record. Every choice is a function of (seed, step), so results do not depend on how the
// global batch is split or on being resumed.
//
// Who owns what:
//   data              TrainingData: which examples, their clips read a step ahead (docs/design.md §3)
//   model, optimizer  the forward/backward (this rank's model shard on a model axis, docs/design.md §4) and the
//                     update (this rank's range of the flat buffer under ZeRO-1, docs/design.md §9)
//   synchronization   a GradientSynchronization: SingleRank, ReplicatedAllReduce or ShardedOptimizer, each
//                     with the model axis's norm and checks composed in (ModelGroup) — the step never asks which
//   watchdog          Watchdog: ends the job when a rank stalls
// The ranks of a model group read the same examples; gradients are summed over the data axis only.
//
// Leaves out: checkpoints (TrainerCheckpoint.swift, RunCheckpoints.swift, Checkpointing), the loop around
// steps — metrics, timeline, evaluation, stop signals (TrainingRun.swift) — and the command line (vt).

import Common
import Foundation
import VideoModel
import Optimization
import Datasets
import Distribution

public final class Trainer {
    public let config: RunConfig
    public let model: VideoTransformer
    public let optimizer: Optimizer
    public let schedule: LearningRateSchedule
    /// This rank's examples of each step and their clips, read a step ahead.
    public let data: TrainingData
    /// The data axis: ranks that split the batch and sum gradients (all ranks when there is no model axis).
    public let communicator: any Communicator
    /// The model axis: ranks that hold the other shards of this rank's model (size 1: a whole model).
    public let modelAxis: any Communicator
    /// Every rank of the job; world rank 0 logs and writes checkpoints.
    public let world: any Communicator
    /// How gradients become the global batch's and parameters stay equal across ranks.
    let synchronization: any GradientSynchronization
    /// Ends the job when a rank stalls (dead or hung); evaluation and checkpoints tell it their progress too.
    public let watchdog: Watchdog
    /// Times the model axis's activation all-reduces (the model calls them inside forward and backward).
    let modelAxisTimer = ModelAxisTimer()
    /// Global steps completed.
    public internal(set) var step = 0

    /// Whether this rank logs and writes files.
    public var isLeader: Bool { world.rank == 0 }
    /// ZeRO stage 1: the data ranks' ranges of the flat parameter buffer (range r: what data rank r
    /// reduces, updates and keeps optimizer slots for). Nil when the optimizer state is not sharded
    /// (the setting is off, or the data axis has one rank).
    public var optimizerShards: FlatPartition? { synchronization.optimizerShards }

    /// `communicator` is the data axis; `modelAxis` (default: none) splits heads and d_ff; `world` (default:
    /// the data axis) holds every rank — pass `DeviceMesh.all` with a model axis.
    public init(config: RunConfig, source: VideoSource, communicator: any Communicator = LocalCommunicator(),
                modelAxis: any Communicator = LocalCommunicator(), world: (any Communicator)? = nil) throws {
        try config.validate()
        let ranks = communicator.size, training = config.training
        let world = world ?? communicator
        guard world.size == ranks * modelAxis.size else {
            throw TrainingError("the world has \(world.size) ranks but the mesh is data=\(ranks),model=\(modelAxis.size)")
        }
        if let problem = ModelSharding.problem(config: config.model, count: modelAxis.size) {
            throw TrainingError("--mesh data=\(ranks),model=\(modelAxis.size): \(problem)")
        }
        if modelAxis.size > 1 && ranks > 1 && !MPIRuntime.allowsConcurrentCalls {
            throw TrainingError("a mesh with both axes larger than 1 reduces activations (main thread) while gradients are reduced (communication thread); "
                                + "this MPI library provides \(MPIRuntime.providedThreadLevel.map(\.description) ?? "no MPI"), which cannot run them concurrently — use an Open MPI built with MPI_THREAD_MULTIPLE")
        }
        guard training.batchSize % (ranks * training.accumulationSteps) == 0 else {
            throw TrainingError("training.batch_size \(training.batchSize) is not divisible by data ranks (\(ranks)) × accumulation_steps (\(training.accumulationSteps))")
        }
        guard source.height == config.model.height, source.width == config.model.width else {
            throw TrainingError("the data's frames are \(source.height)×\(source.width) but the model expects \(config.model.height)×\(config.model.width)")
        }
        guard source.frames >= config.model.frames else {
            throw TrainingError("the data's videos have \(source.frames) frames but the model needs clips of \(config.model.frames)")
        }
        try ConditioningCheck.require(config.model, from: source, role: "data.train")
        self.config = config
        self.communicator = communicator
        self.modelAxis = modelAxis
        self.world = world
        let microBatch = training.batchSize / (ranks * training.accumulationSteps)  // videos per forward (TrainingData's too)
        let sharding = ModelSharding(index: modelAxis.rank, count: modelAxis.size)
        model = try VideoTransformer(config: config.model, maxBatch: microBatch, sharding: sharding,
                                     modelAxisReduce: sharding.count > 1 ? ModelGroup.activationReduce(over: modelAxis, timer: modelAxisTimer) : nil,
                                     precision: training.precision, recompute: training.recompute)
        model.layout.initialize(model.parameters, seed: training.seed)
        synchronization = try makeGradientSynchronization(config: config, model: model, dataAxis: communicator, modelAxis: modelAxis)
        optimizer = Optimizer(config: config.optimizer, parameterCount: model.parameters.count,
                              range: synchronization.optimizerShards?.range(communicator.rank))
        schedule = LearningRateSchedule(config: config.optimizer, totalSteps: training.steps)
        data = TrainingData(source: source, config: config, dataAxis: communicator)
        // Started together (duplicating the communicator is collective), so no peer looks late.
        watchdog = try Watchdog(world: world, timeout: config.distribution.stallTimeout)
        // Every rank starts from rank 0's parameters, and checks that it does.
        if world.size > 1 { try synchronizeParameters() }
    }

    /// Broadcasts data rank 0's parameters (each model shard within its data axis) and verifies the
    /// cross-rank checksums (at start and after resume).
    public func synchronizeParameters() throws {
        guard world.size > 1 else { return }
        try synchronization.broadcastParameters()
        try synchronization.verifyParameters(step: step)
    }

    /// Runs global step `step` (0-based) and advances.
    public func trainStep() throws -> StepMetrics {
        var clock = Stopwatch()
        var trace = StepTrace(step: step)
        let learningRate = schedule.learningRate(atStep: step)
        let batch = try data.batch(step: step)  // read during the previous step; the next step's read starts
        model.gradients.zero()
        model.parametersChanged()  // bf16: this step's weight copy, whatever set the parameters (update, resume, broadcast)
        modelAxisTimer.reset()
        var lossSum = 0.0, phases = PhaseTimes()
        for microBatch in 0..<batch.microBatches {
            let start = monotonicSeconds()
            let result = model.forward(videos: batch.videos(microBatch), slices: batch.slices(microBatch),
                                       priming: batch.priming(microBatch), conditioning: batch.conditioning(microBatch), mode: .training,
                                       lossNormalizer: Double(config.training.batchSize))
            if microBatch == batch.microBatches - 1 {
                try synchronization.backward(model)  // each gradient is final as backward makes it: its sum starts at once
            } else {
                model.backward()
            }
            trace.record(.compute(microBatch: microBatch), from: start, to: monotonicSeconds())
            lossSum += result.videoLosses.reduce(0, +)
            phases.add(model.phaseTimes)
        }
        lossSum = try synchronization.synchronize(lossSum: lossSum, trace: &trace)
        var optimizerClock = Stopwatch()
        let norm = try synchronization.gradientNorm()
        optimizer.apply(parameters: model.parameters, gradients: model.gradients, learningRate: learningRate,
                        gradientScale: Optimizer.clipScale(norm: norm, clipNorm: config.optimizer.clipNorm))
        let optimizerSeconds = optimizerClock.lap()
        try synchronization.parametersUpdated(trace: &trace)
        step += 1
        let checksum = try checksumIsDue ? synchronization.verifyParameters(step: step) : nil
        let stepSeconds = clock.lap()
        watchdog.stepFinished(step, seconds: stepSeconds)
        trace.record(modelAxisTimer)
        return StepMetrics(step: step, loss: lossSum / Double(config.training.batchSize), learningRate: learningRate,
                           gradientNorm: norm, stepSeconds: stepSeconds, examples: config.training.batchSize, phases: phases,
                           optimizerSeconds: optimizerSeconds, dataWaitSeconds: batch.waitSeconds, parameterChecksum: checksum,
                           trace: trace)
    }

    /// Whether the cross-rank parameter checksums are verified after the step just completed
    /// (`distribution.checksum_every`).
    private var checksumIsDue: Bool {
        let every = config.distribution.checksumEvery
        return world.size > 1 && every > 0 && step % every == 0
    }
}

extension PhaseTimes {
    mutating func add(_ other: PhaseTimes) {
        encoder += other.encoder; decoder += other.decoder; recompute += other.recompute
        head += other.head; backward += other.backward
    }
}
