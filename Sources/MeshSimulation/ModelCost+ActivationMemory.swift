// ModelCost+ActivationMemory: the simulator's one account of activation and scratch memory — the bytes of
// every buffer VideoTransformer keeps for a micro-batch, as a function of (config, micro-batch, model shards,
// precision, recompute, what attention keeps). `vt mesh simulate` and `--calibrate` both call it; nothing
// else in the simulator sizes activations.
//
// With `attention: .statistics` (what the trainer does) it is VideoTransformer.plannedActivationBytes, which a
// test holds equal to the allocated model's buffers (flash-style attention's 2 floats of softmax statistics
// per (row, head); `recompute: layer`'s one shared set of layer buffers and one head channel's; bf16's 2-byte
// product inputs and rounded copies). `.probabilities` is the what-if of the same trainer keeping each layer's
// block probabilities [rows/Nb, heads, Nb, Nb] instead of the statistics, as vt's first attention kernel did (StoredProbabilityAttention).

import Foundation
import Kernels
import VideoModel

/// What an attention layer keeps from forward for its backward.
public enum AttentionMemory: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    /// Flash-style (what the trainer runs, BlockAttention): per-row softmax statistics, 2 floats per (row, head).
    case statistics
    /// The stored-probability kernel (StoredProbabilityAttention): each layer's block probabilities [rows/Nb, heads, Nb, Nb].
    case probabilities
    public var description: String { rawValue }
}

extension ModelCost {
    /// Bytes of activation and scratch buffers for a micro-batch of `microBatch` videos with heads and d_ff
    /// split `model` ways (parameters, gradients, the bf16 weight copy and optimizer slots excluded).
    public func activationBytes(microBatch: Int, model: Int, precision: Precision, recompute: Recompute,
                                attention: AttentionMemory) -> Double {
        let planned = VideoTransformer.plannedActivationBytes(config: config, maxBatch: microBatch, modelShards: model,
                                                              precision: precision, recompute: recompute)
        guard attention == .probabilities else { return Double(planned) }
        let rows = microBatch * config.positionsPerSlice, heads = config.heads / model
        let blocks = (0..<config.encoderLayers).map { config.block(forLayer: $0).product }
            + (0..<config.decoderLayers).map { config.block(forLayer: $0).product }
        // Per layer set: probabilities instead of statistics (recomputing: the one shared set, sized for the largest block).
        let extra = blocks.map { rows / $0 * heads * $0 * $0 - BlockAttention.statisticsCount(rows: rows, heads: heads) }
        return Double(planned + 4 * (recompute == .layer ? (extra.max() ?? 0) : extra.reduce(0, +)))
    }
}
