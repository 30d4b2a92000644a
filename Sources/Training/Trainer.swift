// Trainer: one optimizer step at a time — read this rank's examples, forward/backward over accumulation
// micro-batches, sum gradients across data ranks, clip, update. Every choice is a function of (seed, step),
// so results do not depend on how the global batch is split or on being resumed.
// Leaves out: checkpoints (Checkpointing), evaluation and sampling (Evaluation), the command line (vt).

import Foundation
import Kernels
import VideoModel
import Optimization
import Datasets
import Distribution

public struct StepMetrics: Sendable {
    public var step: Int
    public var loss: Double
    public var bitsPerDim: Double { loss / M_LN2 }
    public var learningRate: Double
    public var gradientNorm: Double
    public var stepSeconds: Double
    public var communicationSeconds: Double
    public var examples: Int
    public var phases: PhaseTimes
    public var optimizerSeconds: Double
    public var examplesPerSecond: Double { Double(examples) / max(stepSeconds, 1e-12) }
}

public final class Trainer {
    public let config: RunConfig
    public let model: VideoTransformer
    public let optimizer: Optimizer
    public let sampler: Sampler
    public let schedule: LearningRateSchedule
    public let source: VideoSource
    public let communicator: any Communicator
    /// Global steps completed.
    public internal(set) var step = 0
    let microBatch: Int
    /// Reads step s+1's clips on a background thread while step s computes (DESIGN §3 loader).
    private let prefetcher: ClipPrefetcher
    /// Seconds the last step waited for its clips (0 when the background read was done in time).
    public private(set) var lastDataWaitSeconds = 0.0

    public init(config: RunConfig, source: VideoSource, communicator: any Communicator = LocalCommunicator()) throws {
        try config.validate()
        let ranks = communicator.size, training = config.training
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
        self.source = source
        self.communicator = communicator
        microBatch = training.batchSize / (ranks * training.accumulationSteps)
        model = try VideoTransformer(config: config.model, maxBatch: microBatch)
        model.layout.initialize(model.parameters, seed: training.seed)
        optimizer = Optimizer(config: config.optimizer, parameterCount: model.parameters.count)
        schedule = LearningRateSchedule(config: config.optimizer, totalSteps: training.steps)
        sampler = Sampler(videoCount: source.count, globalBatch: training.batchSize, seed: training.seed,
                          videoFrames: source.frames, clipFrames: config.model.frames,
                          trainableSlices: model.subscaling.trainableSlices)
        prefetcher = ClipPrefetcher(source: source, frameCount: config.model.frames,
                                    capacity: microBatch * training.accumulationSteps)
        if ranks > 1 {
            // Every rank starts from rank 0's parameters.
            try communicator.broadcast(UnsafeMutableBufferPointer(start: model.parameters.pointer, count: model.parameters.count), root: 0)
        }
    }

    /// Runs global step `step` (0-based) and advances.
    public func trainStep() throws -> StepMetrics {
        var clock = Stopwatch()
        let examples = sampler.examples(step: step, rank: communicator.rank, ranks: communicator.size)
        let learningRate = schedule.learningRate(atStep: step)
        model.gradients.zero()
        var lossSum = 0.0
        var phases = PhaseTimes()
        let clipBytes = config.model.frames * source.bytesPerFrame
        // This step's clips (read in the background during the previous step), then start on the next step's.
        func clips(_ examples: [Example]) -> [ClipRequest] { examples.map { ClipRequest(video: $0.video, startFrame: $0.startFrame) } }
        let videos = try prefetcher.batch(key: step, clips: clips(examples))
        lastDataWaitSeconds = prefetcher.waitSeconds
        prefetcher.prefetch(key: step + 1, clips: clips(sampler.examples(step: step + 1, rank: communicator.rank, ranks: communicator.size)))
        for micro in 0..<config.training.accumulationSteps {
            let part = examples[(micro * microBatch)..<((micro + 1) * microBatch)]
            let result = model.forward(videos: videos.baseAddress! + micro * microBatch * clipBytes, slices: part.map(\.slice),
                                       mode: .training, lossNormalizer: Double(config.training.batchSize))
            model.backward()
            lossSum += result.videoLosses.reduce(0, +)
            phases.encoder += model.phaseTimes.encoder; phases.decoder += model.phaseTimes.decoder
            phases.head += model.phaseTimes.head; phases.backward += model.phaseTimes.backward
        }
        var communication = 0.0
        if communicator.size > 1 {
            var comm = Stopwatch()
            try communicator.allReduceSum(UnsafeMutableBufferPointer(start: model.gradients.pointer, count: model.gradients.count))
            lossSum = try communicator.allReduceSum(lossSum)
            communication = comm.lap()
        }
        var optimizerClock = Stopwatch()
        let norm = Optimizer.globalNorm(model.gradients)
        let scale = Optimizer.clipScale(norm: norm, clipNorm: config.optimizer.clipNorm)
        optimizer.apply(parameters: model.parameters, gradients: model.gradients, learningRate: learningRate, gradientScale: scale)
        let optimizerSeconds = optimizerClock.lap()
        step += 1
        return StepMetrics(step: step, loss: lossSum / Double(config.training.batchSize), learningRate: learningRate,
                           gradientNorm: norm, stepSeconds: clock.lap(), communicationSeconds: communication,
                           examples: config.training.batchSize, phases: phases, optimizerSeconds: optimizerSeconds)
    }
}
