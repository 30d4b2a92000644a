// Trainer: one optimizer step at a time — read this rank's examples, forward/backward over accumulation
// micro-batches, sum gradients across data ranks, clip, update. Every choice is a function of (seed, step),
// so results do not depend on how the global batch is split or on being resumed. On a mesh with a model
// axis the model is this rank's shard (Trainer+ModelAxis.swift): the ranks of a model group read the same
// examples, and gradients are summed over the data axis only. With `distribution.shard_optimizer` (ZeRO
// stage 1, Trainer+OptimizerSharding.swift) each data rank reduces, clips and updates only its range of
// the flat buffer, then the parameters are all-gathered.
// Leaves out: checkpoints (Checkpointing), evaluation and sampling (Evaluation), the command line (vt).

import Foundation
import Kernels
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
    /// Whether this rank logs and writes files.
    public var isLeader: Bool { world.rank == 0 }
    /// Global steps completed.
    public internal(set) var step = 0
    /// Sums gradients over the data ranks bucket by bucket while backward runs (nil for one rank).
    let reducer: BucketedAllReducer?
    /// Ends the job when a rank stalls (dead or hung); evaluation and checkpoints tell it their progress too.
    public let watchdog: Watchdog
    /// Times the model axis's activation all-reduces.
    let modelAxisTimer = ModelAxisTimer()
    /// ZeRO stage 1: the data ranks' ranges of the flat parameter buffer (range r: what data rank r
    /// reduces, updates and keeps optimizer slots for). Nil when the optimizer state is not sharded
    /// (the setting is off, or the data axis has one rank).
    public let optimizerShards: FlatPartition?

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
        self.config = config
        self.communicator = communicator
        self.modelAxis = modelAxis
        self.world = world
        let microBatch = training.batchSize / (ranks * training.accumulationSteps)
        let sharding = ModelSharding(index: modelAxis.rank, count: modelAxis.size)
        model = try VideoTransformer(config: config.model, maxBatch: microBatch, sharding: sharding,
                                     modelAxisReduce: sharding.count > 1 ? Self.modelAxisReduce(modelAxis, timer: modelAxisTimer) : nil,
                                     precision: training.precision, recompute: training.recompute)
        model.layout.initialize(model.parameters, seed: training.seed)
        if config.distribution.shardOptimizer && ranks > 1 {
            guard model.parameters.count <= Int(Int32.max) else {
                throw TrainingError("distribution.shard_optimizer: a flat buffer of \(model.parameters.count) floats exceeds MPI's int counts (\(Int32.max)); add a model axis or turn sharding off")
            }
            optimizerShards = try FlatPartition(count: model.parameters.count, parts: ranks, chunks: Optimizer.normChunks)
        } else {
            optimizerShards = nil
        }
        optimizer = Optimizer(config: config.optimizer, parameterCount: model.parameters.count,
                              range: optimizerShards?.range(communicator.rank))
        schedule = LearningRateSchedule(config: config.optimizer, totalSteps: training.steps)
        data = TrainingData(source: source, config: config, trainableSlices: model.subscaling.trainableSlices, dataAxis: communicator)
        reducer = ranks > 1 ? try BucketedAllReducer(communicator: communicator, plan: BucketPlan(
            table: model.layout.table, bucketBytes: Int(config.distribution.bucketMegabytes * 1_000_000)),
            partition: optimizerShards) : nil
        // Started together (duplicating the communicator is collective), so no peer looks late.
        watchdog = try Watchdog(world: world, timeout: config.distribution.stallTimeout)
        // Every rank starts from rank 0's parameters, and checks that it does.
        if world.size > 1 { try synchronizeParameters() }
    }

    /// Broadcasts data rank 0's parameters (each model shard within its data axis) and verifies the
    /// cross-rank checksums (at start and after resume).
    public func synchronizeParameters() throws {
        guard world.size > 1 else { return }
        if communicator.size > 1 {
            try communicator.broadcast(UnsafeMutableBufferPointer(start: model.parameters.pointer, count: model.parameters.count), root: 0)
        }
        try verifyParameters()
    }

    /// Runs global step `step` (0-based) and advances.
    public func trainStep() throws -> StepMetrics {
        var clock = Stopwatch()
        var trace = StepTrace(step: step)
        let learningRate = schedule.learningRate(atStep: step)
        model.gradients.zero()
        // bf16: this step's weight copy, from whatever set the parameters (optimizer, resume, broadcast).
        model.parametersChanged()
        modelAxisTimer.reset()
        var lossSum = 0.0
        var phases = PhaseTimes()
        // This step's clips (read in the background during the previous step); the next step's start loading.
        let batch = try data.batch(step: step)
        let accumulation = batch.microBatches
        for micro in 0..<accumulation {
            let computeStart = monotonicSeconds()
            let result = model.forward(videos: batch.videos(micro), slices: batch.slices(micro),
                                       mode: .training, lossNormalizer: Double(config.training.batchSize))
            if let reducer, micro == accumulation - 1 {
                // The last micro-batch's backward finishes each gradient: reduce it across ranks at once.
                try reducer.begin(gradients: UnsafeMutableBufferPointer(start: model.gradients.pointer, count: model.gradients.count))
                var readinessError: Error? = nil
                model.onGradientsReady = { indices in
                    do { for index in indices { try reducer.markReady(index) } } catch { readinessError = readinessError ?? error }
                }
                model.backward()
                model.onGradientsReady = nil
                if let readinessError { throw readinessError }
            } else {
                model.backward()
            }
            trace.record(.compute(microBatch: micro), from: computeStart, to: monotonicSeconds())
            lossSum += result.videoLosses.reduce(0, +)
            phases.encoder += model.phaseTimes.encoder; phases.decoder += model.phaseTimes.decoder; phases.recompute += model.phaseTimes.recompute
            phases.head += model.phaseTimes.head; phases.backward += model.phaseTimes.backward
        }
        var shardedNorm: Double? = nil
        if let reducer {
            let waitStart = monotonicSeconds()
            let result = try reducer.finish()
            if let optimizerShards {  // ZeRO-1: the loss with this rank's squared-norm partials, in one all-reduce
                (lossSum, shardedNorm) = try shardedLossAndGradientNorm(lossSum: lossSum, optimizerShards)
            } else {
                lossSum = try communicator.allReduceSum(lossSum)
            }
            trace.recordWait(from: waitStart, to: monotonicSeconds())
            trace.record(result, reduceScatter: optimizerShards != nil)
        }
        var optimizerClock = Stopwatch()
        let norm = try shardedNorm ?? gradientNorm()
        let scale = Optimizer.clipScale(norm: norm, clipNorm: config.optimizer.clipNorm)
        optimizer.apply(parameters: model.parameters, gradients: model.gradients, learningRate: learningRate, gradientScale: scale)
        let optimizerSeconds = optimizerClock.lap()
        if optimizerShards != nil {  // ZeRO-1: every data rank updated its range; now all of them everywhere
            let gatherStart = monotonicSeconds()
            try allGatherParameters()
            let gatherEnd = monotonicSeconds()
            trace.communicationSeconds += gatherEnd - gatherStart
            trace.record(.allGatherParameters, from: gatherStart, to: gatherEnd)
        }
        step += 1
        var checksum: UInt64? = nil
        let every = config.distribution.checksumEvery
        if world.size > 1 && every > 0 && step % every == 0 {
            checksum = try verifyParameters()
        }
        let stepSeconds = clock.lap()
        watchdog.stepFinished(step, seconds: stepSeconds)
        trace.record(modelAxisTimer)
        return StepMetrics(step: step, loss: lossSum / Double(config.training.batchSize), learningRate: learningRate,
                           gradientNorm: norm, stepSeconds: stepSeconds, examples: config.training.batchSize, phases: phases,
                           optimizerSeconds: optimizerSeconds, dataWaitSeconds: batch.waitSeconds, parameterChecksum: checksum,
                           trace: trace)
    }
}
