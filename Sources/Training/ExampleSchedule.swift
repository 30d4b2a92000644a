// ExampleSchedule: which video, which frames and which slice each example of each step uses — a pure function
// of (seed, global step), so a resumed run or a run on another number of ranks reads exactly the same data.
//
// The example stream is the concatenation of per-epoch permutations of 0..<N, the permutation of epoch e
// seeded with seed + e (docs/design.md §3). Global step s uses stream positions s·B ..< (s+1)·B; data rank r of D
// takes the positions whose offset within the step is r mod D (every D-th). No video repeats in an epoch.
// Label dropout (classifier-free guidance's "no label" examples) is drawn per example from the same hash, and
// so is the priming pattern when the model has several (docs/design.md §12): after the crop, before the slice,
// which is then drawn among the slices that pattern leaves something to predict in. One pattern draws nothing,
// so a one-pattern run makes exactly the choices it always made.

import Kernels
import VideoModel

public struct Example: Equatable, Sendable {
    /// Position in the example stream (unique per example of the run).
    public let position: Int
    public let epoch: Int
    public let video: Int
    public let startFrame: Int
    public let slice: Int
    /// Index of the priming pattern this example trains (`model.prime_frames`; 0 with one pattern).
    public var priming = 0
    /// Whether this example trains the "no label" class instead of the video's (`training.label_dropout`).
    public var dropsLabel = false
}

public final class ExampleSchedule {
    public let videoCount: Int
    public let globalBatch: Int
    public let seed: UInt64
    /// Frames available per video and frames per clip (random temporal crop when the video is longer).
    public let videoFrames: Int, clipFrames: Int
    /// Per priming pattern: its weight in the draw and the slices with something to predict under it.
    public let primings: [PrimingChoice]
    /// Probability of `Example.dropsLabel` (0: never).
    public let labelDropout: Double
    private var cachedEpoch = -1
    private var permutation: [Int] = []

    public convenience init(videoCount: Int, globalBatch: Int, seed: UInt64, videoFrames: Int, clipFrames: Int, trainableSlices: [Int],
                            labelDropout: Double = 0) {
        self.init(videoCount: videoCount, globalBatch: globalBatch, seed: seed, videoFrames: videoFrames, clipFrames: clipFrames,
                  primings: [PrimingChoice(weight: 1, trainableSlices: trainableSlices)], labelDropout: labelDropout)
    }

    public init(videoCount: Int, globalBatch: Int, seed: UInt64, videoFrames: Int, clipFrames: Int, primings: [PrimingChoice],
                labelDropout: Double = 0) {
        precondition(videoCount > 0 && globalBatch > 0 && clipFrames <= videoFrames && !primings.isEmpty)
        precondition(primings.allSatisfy { !$0.trainableSlices.isEmpty && $0.weight > 0 })
        self.videoCount = videoCount; self.globalBatch = globalBatch; self.seed = seed
        self.videoFrames = videoFrames; self.clipFrames = clipFrames; self.primings = primings
        self.labelDropout = labelDropout
    }

    /// The examples of global step `step` that data rank `rank` of `ranks` computes, in order.
    public func examples(step: Int, rank: Int = 0, ranks: Int = 1) -> [Example] {
        stride(from: rank, to: globalBatch, by: ranks).map { example(position: step * globalBatch + $0) }
    }

    /// Epoch and offset within it of the first example of `step` (the data cursor stored in checkpoints).
    public func cursor(step: Int) -> (epoch: Int, offset: Int) {
        let position = step * globalBatch
        return (position / videoCount, position % videoCount)
    }

    public func example(position: Int) -> Example {
        let epoch = position / videoCount
        if epoch != cachedEpoch {
            var generator = Xoshiro256(seed: seed &+ UInt64(epoch))
            permutation = Array(0..<videoCount)
            for i in stride(from: videoCount - 1, to: 0, by: -1) { permutation.swapAt(i, generator.nextInt(below: i + 1)) }
            cachedEpoch = epoch
        }
        // Per-example choices hash (seed, position), so they need no state either.
        var choice = Xoshiro256(seed: (seed ^ 0x5DEE_CE66_D1CE_5EED) &+ UInt64(position) &* 0x9E37_79B9_7F4A_7C15)
        let start = videoFrames > clipFrames ? choice.nextInt(below: videoFrames - clipFrames + 1) : 0
        var priming = 0
        if primings.count > 1 {
            var target = choice.nextUniform() * primings.reduce(0) { $0 + $1.weight }
            while priming < primings.count - 1 && target >= primings[priming].weight { target -= primings[priming].weight; priming += 1 }
        }
        let slices = primings[priming].trainableSlices
        let slice = slices[choice.nextInt(below: slices.count)]
        var example = Example(position: position, epoch: epoch, video: permutation[position % videoCount], startFrame: start, slice: slice)
        example.priming = priming
        // Drawn after the crop and the slice, so a run without dropout makes exactly the same choices.
        if labelDropout > 0 { example.dropsLabel = choice.nextUniform() < labelDropout }
        return example
    }
}

/// One priming pattern training may draw (docs/design.md §12).
public struct PrimingChoice: Equatable, Sendable {
    /// Relative weight in the draw (`model.prime_weights`; 1 each when not given).
    public let weight: Double
    /// Slices with at least one sub-pixel to predict under this pattern.
    public let trainableSlices: [Int]
    public init(weight: Double, trainableSlices: [Int]) { self.weight = weight; self.trainableSlices = trainableSlices }

    /// The choices of `config`'s patterns.
    public static func choices(_ config: ModelConfig) -> [PrimingChoice] {
        config.primings.enumerated().map { index, priming in
            PrimingChoice(weight: config.primeWeights?[index] ?? 1,
                          trainableSlices: Subscaling(config: config, priming: priming).trainableSlices)
        }
    }
}
