// TrainingData: this data rank's part of every step's global batch — which examples (ExampleSchedule: a pure
// function of (seed, global step), so resumed runs and runs on other meshes read the same data) and their
// pixels, read one step ahead on a background thread while the current step computes (ClipPrefetcher,
// docs/design.md §3 loader). The ranks of a model group read the same examples; the data ranks split them.
//
//   batch(step:)   waits for step s's clips (at once, when the background read was in time), then starts
//                  reading step s+1's; its micro-batches are consecutive runs of `microBatch` examples
//
// Leaves out: the pixels' source (any VideoSource), evaluation's batches (EvaluationSchedule).

import Datasets
import Distribution
import VideoModel

public final class TrainingData {
    public let schedule: ExampleSchedule
    public let source: VideoSource
    /// Videos per forward/backward: the global batch over data ranks × accumulation steps.
    public let microBatch: Int
    /// The model's class count K (0: no classes): the "no label" class.
    let classes: Int
    /// The model's priming patterns when it has several (each example names the one it drew).
    let primings: [FramePriming]?
    /// This rank's position on the data axis, and its size.
    private let rank: Int, ranks: Int
    private let prefetcher: ClipPrefetcher

    /// `dataAxis`: the ranks that split the batch. `microBatch` × accumulation steps × data ranks must be
    /// the global batch (Trainer checks it).
    init(source: VideoSource, config: RunConfig, dataAxis: any Communicator) {
        let training = config.training
        self.source = source
        rank = dataAxis.rank
        ranks = dataAxis.size
        microBatch = training.batchSize / (ranks * training.accumulationSteps)
        classes = config.model.classes
        primings = config.model.primePatterns.count > 1 ? config.model.primings : nil
        schedule = ExampleSchedule(videoCount: source.count, globalBatch: training.batchSize, seed: training.seed,
                                   videoFrames: source.frames, clipFrames: config.model.frames,
                                   primings: PrimingChoice.choices(config.model), labelDropout: training.labelDropout)
        // A conditioned model's actions and labels are read with the pixels (docs/design.md §11).
        prefetcher = ClipPrefetcher(source: source, frameCount: config.model.frames,
                                    capacity: microBatch * training.accumulationSteps,
                                    actions: config.model.actions > 0, labels: config.model.classes > 0)
    }

    /// This rank's examples of global step `step` and their clips; starts reading step `step + 1`'s.
    func batch(step: Int) throws -> Batch {
        let examples = schedule.examples(step: step, rank: rank, ranks: ranks)
        let clipBatch = try prefetcher.batch(key: step, clips: clips(examples))
        let waited = prefetcher.waitSeconds
        prefetcher.prefetch(key: step + 1, clips: clips(schedule.examples(step: step + 1, rank: rank, ranks: ranks)))
        return Batch(examples: examples, videos: clipBatch.pixels, clipBytes: prefetcher.bytesPerClip, microBatch: microBatch,
                     waitSeconds: waited, actions: clipBatch.actions, actionsPerClip: prefetcher.actionsPerClip,
                     labels: clipBatch.labels, noLabel: classes, primings: primings)
    }

    private func clips(_ examples: [Example]) -> [ClipRequest] {
        examples.map { ClipRequest(video: $0.video, startFrame: $0.startFrame) }
    }
}

/// One step's examples of this rank and their pixels (valid until the next `batch(step:)`), cut into
/// micro-batches.
struct Batch {
    let examples: [Example]
    /// UInt8 [examples, frames, H, W, 3].
    let videos: UnsafeBufferPointer<UInt8>
    let clipBytes: Int
    let microBatch: Int
    /// Seconds the step waited for its clips (0 when the background read was done in time).
    let waitSeconds: Double
    /// Float [examples, frames, A] clip-aligned actions, when the model takes actions (docs/design.md §11).
    let actions: UnsafeBufferPointer<Float>?
    /// frames × A.
    let actionsPerClip: Int
    /// Each example's class, when the model takes classes.
    let labels: [Int]?
    /// The "no label" class K, which an example with `dropsLabel` trains instead of its own.
    let noLabel: Int
    /// The model's priming patterns when it has several (nil: the one pattern, for every example).
    let primings: [FramePriming]?

    var microBatches: Int { examples.count / microBatch }

    /// The pixels of micro-batch `index`.
    func videos(_ index: Int) -> UnsafePointer<UInt8> { videos.baseAddress! + index * microBatch * clipBytes }

    /// The actions of micro-batch `index` ([microBatch, frames, A]), nil without actions.
    func actions(_ index: Int) -> UnsafePointer<Float>? { actions.map { $0.baseAddress! + index * microBatch * actionsPerClip } }

    /// What micro-batch `index` is conditioned on: its actions and labels (label dropout applied).
    func conditioning(_ index: Int) -> Conditioning {
        let range = (index * microBatch)..<((index + 1) * microBatch)
        return Conditioning(actions: actions.map { $0.baseAddress! + index * microBatch * actionsPerClip },
                            labels: labels.map { labels in range.map { examples[$0].dropsLabel ? noLabel : labels[$0] } })
    }

    /// The frames each video of micro-batch `index` has primed (nil: the model's one pattern).
    func priming(_ index: Int) -> [FramePriming]? {
        primings.map { primings in examples[(index * microBatch)..<((index + 1) * microBatch)].map { primings[$0.priming] } }
    }

    /// The slice each video of micro-batch `index` trains.
    func slices(_ index: Int) -> [Int] { examples[(index * microBatch)..<((index + 1) * microBatch)].map(\.slice) }
}
