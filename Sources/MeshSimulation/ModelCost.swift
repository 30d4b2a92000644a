// ModelCost: what a config costs independent of the mesh — parameters and forward FLOPs (docs/design.md §7),
// split into what the model axis shards (the attention layers: q, k, v, output, relative biases, FFN) and
// what it replicates (encoder input, shift convolution, conditioning, channel head, embeddings, LayerNorms);
// the training FLOPs of a step with or without recomputation; the attention work a causal block skips.
// The activation memory is in ModelCost+ActivationMemory.swift.

import Foundation
import VideoModel

/// FLOPs and parameters of a config, split into what the model axis shards and what it replicates.
public struct ModelCost: Sendable {
    public let config: ModelConfig
    public let parameterCount: Int
    /// Parameters of the tensors split over the model axis (q, k, v, attention output, relative biases,
    /// FFN hidden weight and bias, FFN output weight).
    public let shardedParameterCount: Int
    public var replicatedParameterCount: Int { parameterCount - shardedParameterCount }
    /// Forward FLOPs per video (docs/design.md §7) and the part of it the model axis divides: the attention layers'
    /// projections, scores, weighted sums and FFN — all of a layer's counted work, so this is also what
    /// `recompute: layer` runs a second time.
    public let forwardFlopsPerVideo: Double
    public let shardedForwardFlopsPerVideo: Double
    public var replicatedForwardFlopsPerVideo: Double { forwardFlopsPerVideo - shardedForwardFlopsPerVideo }
    /// Forward FLOPs per video of the decoder blocks' masked upper triangle that the trainer's tiled causal
    /// attention does not compute (beyond its diagonal tiles of 64 rows: FLOPCount.skippedPerVideo / 3): counted
    /// by docs/design.md §7 (and so in every FLOP figure here and in MFU), skipped by the kernel.
    public let causalSkippedForwardFlopsPerVideo: Double

    public init(config: ModelConfig) {
        self.config = config
        let layout = ModelParameters(config: config)
        parameterCount = layout.table.parameterCount
        shardedParameterCount = zip(layout.table.entries, layout.splitAxes).filter { $0.1 != nil }.reduce(0) { $0 + $1.0.count }
        forwardFlopsPerVideo = FLOPCount.forwardPerVideo(config)
        let n = Double(config.positionsPerSlice), d = Double(config.hiddenSize)
        let hd = Double(config.attentionWidth), f = Double(config.ffnSize)
        func layer(_ index: Int) -> Double {
            let nb = Double(config.block(forLayer: index).product)
            return 2 * n * d * hd * 4 + 2 * n * nb * hd * 2 + 2 * n * d * f * 2
        }
        shardedForwardFlopsPerVideo = (0..<config.encoderLayers).map(layer).reduce(0, +)
            + (0..<config.decoderLayers).map(layer).reduce(0, +)
        causalSkippedForwardFlopsPerVideo = FLOPCount.skippedPerVideo(config) / 3
    }

    /// Parameters one chip holds with `model` shards.
    public func parametersPerChip(model: Int) -> Int { replicatedParameterCount + shardedParameterCount / model }

    /// How many forwards' worth of work a training step runs: 3 (forward, and backward = 2 forwards) for every
    /// part; with `recompute: layer` the attention layers 4 (their forward again just before their backward).
    public static func passes(recompute: Recompute) -> (layers: Double, rest: Double) {
        recompute == .layer ? (4, 3) : (3, 3)
    }

    /// Training FLOPs one chip runs per step: passes × forward × its videos, sharded work divided by `model`.
    /// With `recompute: none` this is docs/design.md §7's 3 × forward; with `layer` it is the work actually run
    /// (4 × the layers' forward + 3 × the rest), which MFU, by §7's convention, does not count.
    public func trainingFlopsPerChip(videos: Int, model: Int, recompute: Recompute = .none) -> Double {
        let passes = Self.passes(recompute: recompute)
        return Double(videos) * (passes.layers * shardedForwardFlopsPerVideo / Double(model) + passes.rest * replicatedForwardFlopsPerVideo)
    }

    /// Forward FLOPs one chip runs per step (one pass over its videos), sharded work divided by `model`.
    public func forwardFlopsPerChip(videos: Int, model: Int) -> Double {
        Double(videos) * (shardedForwardFlopsPerVideo / Double(model) + replicatedForwardFlopsPerVideo)
    }

    /// Of `trainingFlopsPerChip`, the masked upper triangles of the decoder blocks a causal kernel skips (the
    /// backward's four block products skip the same triangle as the forward's two, and a recomputed forward
    /// skips it again). Reported beside the counted FLOPs; the compute time is not reduced by it.
    public func causalSkippedFlopsPerChip(videos: Int, model: Int, recompute: Recompute = .none) -> Double {
        Double(videos) * Self.passes(recompute: recompute).layers * causalSkippedForwardFlopsPerVideo / Double(model)
    }
}
