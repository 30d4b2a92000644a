// ModelActivations: the model's activation buffers grouped as forward produces them — the encoder's input
// part, each stack (streams, layers, final LayerNorm), the decoder's input part, the channel head — and the
// scratch forward and backward share. Every buffer comes from the ActivationArena by its plan name
// (ActivationPlan.swift says what each holds and what shares it).

import Kernels

/// The encoder's input part: the one-hot convolution's indices and its output (and bf16 rounding).
struct EncoderInput {
    /// [B·N, K]: row of `encoder/embedding` for each (window tap, channel), −1 when invisible or outside.
    let indices: UnsafeMutablePointer<Int32>
    /// [B·N, E]: one-hot convolution + slice embedding; its rounding is the input projection's operand.
    let embedded: RoundedActivation

    init(_ arena: ActivationArena) {
        indices = arena.pointer("encoder/indices", as: Int32.self)
        embedded = RoundedActivation(values: arena.float("encoder/embedded"), rounded: arena.bfloat16IfPlanned("encoder/embedded16"))
    }
}

/// The decoder's input part: the true slice, its channel embeddings and their im2col columns.
struct DecoderInput {
    /// [B·N, C] the slice's values (teacher forcing).
    let sliceValues: UnsafeMutablePointer<UInt8>
    /// [B·N, C] rows of `decoder/embedding`.
    let indices: UnsafeMutablePointer<Int32>
    /// [B·N, E] Σ_ch embedding rows; its rounding is im2col's input.
    let embedded: RoundedActivation
    /// [B·N, 13·E] the shift convolution's im2col.
    let columns: ProductActivation

    init(_ arena: ActivationArena) {
        sliceValues = arena.pointer("decoder/slice_values", as: UInt8.self)
        indices = arena.pointer("decoder/indices", as: Int32.self)
        embedded = RoundedActivation(values: arena.float("decoder/embedded"), rounded: arena.bfloat16IfPlanned("decoder/embedded16"))
        columns = arena.product("decoder/columns")
    }
}

/// One stack (encoder or decoder): residual streams, layers, final LayerNorm and output.
struct StackActivations {
    /// streams[i]: [B·N, D] the residual stream before layer i; streams[layers]: the final LayerNorm's input.
    let streams: [FloatBuffer]
    let layers: [AttentionLayerActivations]
    let finalMean, finalRstd: FloatBuffer
    /// [B·N, D] after the final LayerNorm: read only by products (conditioning, or the channel head).
    let output: ProductActivation

    init(_ arena: ActivationArena, stack: String, layers: [AttentionLayerActivations]) {
        streams = (0...layers.count).map { arena.float("\(stack)/stream_\($0)") }
        self.layers = layers
        finalMean = arena.float("\(stack)/final_mean")
        finalRstd = arena.float("\(stack)/final_rstd")
        output = arena.product("\(stack)/output")
    }

    var finalStream: FloatBuffer { streams[layers.count] }
}

/// The channel head's activations: per channel, or (recompute: layer) one set re-run per channel in backward.
struct HeadActivations {
    /// previousIndices[c] [B·N, c]: rows of `head/channel_c/previous` for the earlier channels (c ≥ 1).
    let previousIndices: [UnsafeMutablePointer<Int32>?]
    /// [B·N, D] one channel's pre-activation (ReLU's input; the ReLU mask comes from `hidden`).
    let preActivation: FloatBuffer
    /// [B·N, D] relu of the pre-activation, per channel: the logits product's input.
    let hidden: [ProductActivation]
    /// [B·N, 256] per channel; in training overwritten by d(loss)/d(logits).
    let logits: [FloatBuffer]
    /// [C][B·N] NLL in nats of every row, primed rows included.
    let nll: [UnsafeMutablePointer<Double>]
    /// [B·N] each row's weight in the loss: 1/(normalizer · C · predicted positions), 0 when primed.
    let lossWeights: FloatBuffer

    init(_ arena: ActivationArena, recompute: Recompute) {
        let channels = ModelConfig.channels, shared = recompute == .layer
        previousIndices = (0..<channels).map { $0 == 0 ? nil : arena.pointer("head/previous_indices_\($0)", as: Int32.self) }
        preActivation = arena.float("head/pre_activation")
        hidden = (0..<channels).map { arena.product("head/hidden_\(shared ? 0 : $0)") }
        logits = (0..<channels).map { arena.float("head/logits_\(shared ? 0 : $0)") }
        nll = (0..<channels).map { arena.pointer("head/nll_\($0)", as: Double.self) }
        lossWeights = arena.float("head/loss_weights")
    }
}

/// Scratch shared by forward and backward; ActivationPlan.swift says what each holds when.
struct Scratch {
    let rows, blocked, stream: FloatBuffer
    /// attention's dq, dk, dv in the precision their products read.
    let dQuery, dKey, dValue: ProductActivation
    let feedForward: FeedForward.Workspace
    let columnGradient, embeddingGradient, biasGradient, positionSums: FloatBuffer
    let attention: BlockAttention.Workspace
    let products: ProductScratch

    init(_ arena: ActivationArena) {
        rows = arena.float("scratch/rows"); blocked = arena.float("scratch/blocked"); stream = arena.float("scratch/stream")
        dQuery = arena.product("scratch/d_query"); dKey = arena.product("scratch/d_key"); dValue = arena.product("scratch/d_value")
        products = ProductScratch(outputGradient16: arena.bfloat16IfPlanned("scratch/output_gradient16"),
                                  biasPartials: arena.floatIfPlanned("scratch/bias_partials"))
        feedForward = FeedForward.Workspace(hiddenGradient: arena.float("scratch/ffn_hidden_gradient"),
                                            hiddenGradient16: arena.bfloat16IfPlanned("scratch/ffn_hidden_gradient16"), products: products)
        columnGradient = arena.float("scratch/column_gradient")
        embeddingGradient = arena.float("scratch/embedding_gradient")
        biasGradient = arena.float("scratch/bias_gradient")
        positionSums = arena.float("scratch/position_sums")
        attention = BlockAttention.Workspace(fp32: arena.float("scratch/attention"), bf16: arena.bfloat16IfPlanned("scratch/attention16"))
    }
}
