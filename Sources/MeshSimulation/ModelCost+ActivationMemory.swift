// ModelCost+ActivationMemory: the simulator's one account of activation and scratch memory — the bytes of
// every buffer VideoTransformer keeps for a micro-batch, as a function of (config, micro-batch, model shards,
// precision, recompute, what attention keeps). `vt mesh simulate` and `--calibrate` both call it; nothing
// else in the simulator sizes activations.
//
// Derived buffer by buffer from VideoTransformer.swift (LayerActivations and the model's own buffers); with
// `attention: .probabilities` it equals `VideoTransformer(config:maxBatch:sharding:precision:).activationBytes`
// of the trainer as it is on main before issue 12 (tested for fp32 and bf16, model = 1 and 2). What issue 12
// changes, modelled here ahead of the trainer:
// - flash-style attention (`.statistics`, the default): a layer keeps 2 floats of softmax statistics per
//   (row, head) instead of its block probabilities [rows/Nb, heads, Nb, Nb]; backward recomputes the
//   probabilities chunk by chunk in the attention workspace it already has (sized as today), and the
//   forward's chunk scratch is taken to be that same workspace;
// - `recompute: layer`: the input stream of every layer is kept (the residual streams, counted anyway) and
//   ONE layer's set of per-layer buffers (the largest) is shared by all layers instead of one set each;
// - bf16 (DESIGN §8): buffers that only feed products (blocked input, q, k, v, attended, FFN input and hidden,
//   encoded, decoded, im2col columns, the head's hidden) hold 2 bytes a value; LayerNorm statistics, residual
//   streams, `middle`, softmax data, logits and the gradient scratch stay fp32; bf16 adds the rounded copies
//   products read (embeddings, output gradients, dq/dk/dv, attention blocks) and drops the fp32 dq/dk/dv.
// The lead reconciles this body with VideoTransformer's buffers once the trainer implements these.

import Foundation
import Kernels
import VideoModel

/// What an attention layer keeps from forward for its backward.
public enum AttentionMemory: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    /// Flash-style (the trainer from issue 12 on): per-row softmax statistics, 2 floats per (row, head).
    case statistics
    /// The trainer before issue 12: each layer's block probabilities [rows/Nb, heads, Nb, Nb].
    case probabilities
    public var description: String { rawValue }
}

extension ModelCost {
    /// Rows of one block of the bf16 FFN backward (`VideoTransformer.ffnBlockRows`): bf16 runs hold dHid for
    /// this many rows only.
    static let ffnBlockRows = 2048

    /// Bytes of activation and scratch buffers for a micro-batch of `microBatch` videos with heads and d_ff
    /// split `model` ways (parameters, gradients, the bf16 weight copy and optimizer slots excluded).
    public func activationBytes(microBatch: Int, model: Int, precision: Precision, recompute: Recompute,
                                attention: AttentionMemory) -> Double {
        let rows = microBatch * config.positionsPerSlice, n = config.positionsPerSlice
        let d = config.hiddenSize, e = config.embeddingSize, c = ModelConfig.channels
        let heads = config.heads / model, hd = config.attentionWidth / model, f = config.ffnSize / model
        let taps = ShiftConvolution.taps.count
        let bf16 = precision == .bf16
        /// Bytes of a value that only products read.
        let product = bf16 ? 2 : 4
        let blocks = (0..<config.encoderLayers).map { config.block(forLayer: $0).product }
            + (0..<config.decoderLayers).map { config.block(forLayer: $0).product }

        // One layer's set: fp32 LayerNorm statistics (2 norms × mean, rstd), `middle`, the expanded relative
        // bias and the softmax data; blocked input, q, k, v, attended, FFN input and FFN hidden feed products.
        func layerSet(_ nb: Int) -> Int {
            let softmax = attention == .probabilities ? rows / nb * heads * nb * nb : 2 * rows * heads
            let fp32 = 4 * rows + rows * d + heads * nb * nb + softmax
            return 4 * fp32 + product * (rows * d + 4 * rows * hd + rows * d + rows * f)
        }
        let sets = blocks.map(layerSet)
        var bytes = recompute == .layer ? (sets.max() ?? 0) : sets.reduce(0, +)

        let maxBlock = blocks.max() ?? 1
        let workspace = blocks.map {
            BlockAttention.backwardWorkspaceCount(groups: rows / $0, blockLength: $0, heads: heads)
        }.max() ?? 1
        let dHiddenRows = bf16 ? min(rows, Self.ffnBlockRows) : rows
        var floats = rows * e + 2 * rows                     // encoder: embedded, final LayerNorm statistics
        floats += rows * e + 2 * rows + rows                 // decoder: embedded, final LayerNorm statistics, loss weights
        floats += 6 * rows * d                               // row scratch and the stream's gradients
        floats += (bf16 ? 0 : 3 * rows * hd) + rows * hd     // dq, dk, dv (fp32 runs only), dAttended
        floats += dHiddenRows * max(f, 256) + rows * taps * e + rows * e   // dHidden (also the head's dLogits), dColumns, dEmbedded
        floats += heads * maxBlock * maxBlock + n * d + workspace          // dBias, position scratch, attention backward workspace
        floats += (config.encoderLayers + 1 + config.decoderLayers + 1) * rows * d   // residual streams
        floats += (bf16 ? 1 : c) * rows * d + c * rows * 256 // head: pre-activations (bf16: one shared), logits
        bytes += 4 * floats
        // Product inputs outside the layers: encoded, im2col columns, decoded, the head's hidden per channel.
        bytes += product * (rows * d + rows * taps * e + rows * d + c * rows * d)
        if bf16 {
            // bf16 copies of the embeddings, output gradients, dq/dk/dv, attention's per-chunk blocks, one FFN block.
            let attention16 = blocks.map {
                max(BlockAttention.forwardWorkspaceCountBF16(groups: rows / $0, blockLength: $0),
                    BlockAttention.backwardWorkspaceCountBF16(groups: rows / $0, blockLength: $0))
            }.max() ?? 1
            bytes += 2 * (2 * rows * e + rows * max(f, 256, d, hd) + attention16 + 3 * rows * hd + min(rows, Self.ffnBlockRows) * f)
        }
        let encoderTerms = config.encoderKernel.product * c
        bytes += rows * (encoderTerms + 2 * c) * 4 + rows * c * (1 + 8) + rows * 3 * 4   // Int32 indices, UInt8 targets, Double NLL
        return Double(bytes)
    }
}
