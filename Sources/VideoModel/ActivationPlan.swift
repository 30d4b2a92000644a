// ActivationPlan: every activation and scratch buffer of the model described once — name, element type,
// element count, and what it holds (including what else shares it) — from the config alone (llm.c's
// `fill_in_activation_sizes`). The same plan allocates the buffers (`ActivationArena`), answers
// `activationBytes` of a live model and `plannedActivationBytes` of one never built (the mesh simulator's
// memory figures), so the three cannot drift apart.
//
// Sizes below: R = maxBatch × N rows (N positions per slice), D hidden size, E embedding size, this shard's
// H heads, A = H·Dh attention width and F d_ff, C = 3 channels, T = 13 shift taps, K = kt·kh·kw·C encoder
// terms. Product inputs (docs/design.md §8) are fp32, or bf16 in bf16 runs.
//
// Leaves out: parameters, gradients and optimizer state (ModelParameters, Optimization).

import Kernels

/// The activation buffers of a model with these settings.
public struct ActivationPlan: Sendable {
    public enum Element: Sendable {
        case float32, bfloat16, int32, uint8, float64
        public var size: Int {
            switch self {
            case .float32, .int32: return 4
            case .bfloat16: return 2
            case .uint8: return 1
            case .float64: return 8
            }
        }
    }

    public struct Buffer: Sendable {
        public let name: String
        public let element: Element
        public let count: Int
        /// What it holds, and what else uses it.
        public let purpose: String
        /// Part of what grows with depth: a layer's saved activations or a residual stream.
        public let growsWithDepth: Bool
        public var bytes: Int { count * element.size }
    }

    public private(set) var buffers: [Buffer] = []
    /// The attention layers' names in order (encoder first): the prefix of each layer's buffers.
    public private(set) var layerPrefixes: [String] = []

    /// Bytes of every buffer.
    public var bytes: Int { buffers.reduce(0) { $0 + $1.bytes } }
    /// Bytes of the layers' saved activations and the residual streams: the part that grows with depth.
    public var bytesGrowingWithDepth: Int { buffers.filter(\.growsWithDepth).reduce(0) { $0 + $1.bytes } }

    public init(config: ModelConfig, maxBatch: Int, modelShards: Int = 1, precision: Precision, recompute: Recompute) {
        let rows = maxBatch * config.positionsPerSlice, n = config.positionsPerSlice, c = ModelConfig.channels
        let d = config.hiddenSize, e = config.embeddingSize, taps = ShiftConvolution.taps.count
        let heads = config.heads / modelShards, a = heads * config.headSize, f = config.ffnSize / modelShards
        let bf16 = precision == .bf16, product: Element = bf16 ? .bfloat16 : .float32
        let recomputing = recompute == .layer
        func add(_ name: String, _ element: Element, _ count: Int, _ purpose: String, grows: Bool = false) {
            buffers.append(Buffer(name: name, element: element, count: count, purpose: purpose, growsWithDepth: grows))
        }
        let encoderBlocks = (0..<config.encoderLayers).map { config.block(forLayer: $0).product }
        let decoderBlocks = (0..<config.decoderLayers).map { config.block(forLayer: $0).product }
        let blocks = encoderBlocks + decoderBlocks, largestBlock = blocks.max() ?? 1

        // Encoder.
        add("encoder/indices", .int32, rows * config.encoderKernel.product * c, "[R, K] embedding row of each visible window pixel, −1 if none")
        add("encoder/embedded", .float32, rows * e, "[R, E] one-hot convolution + slice embedding")
        if bf16 { add("encoder/embedded16", .bfloat16, rows * e, "[R, E] its bf16 rounding (the input projection's operand)") }
        for index in 0...config.encoderLayers {
            add("encoder/stream_\(index)", .float32, rows * d, "[R, D] residual stream before layer \(index) (after the last: the final LayerNorm's input)", grows: true)
        }
        add("encoder/final_mean", .float32, rows, "[R] final LayerNorm statistics")
        add("encoder/final_rstd", .float32, rows, "[R]")
        add("encoder/output", product, rows * d, "[R, D] encoder output after its final LayerNorm (the conditioning product's input)")

        // Decoder.
        add("decoder/slice_values", .uint8, rows * c, "[R, C] the true slice (teacher forcing)")
        add("decoder/indices", .int32, rows * c, "[R, C] decoder embedding rows")
        add("decoder/embedded", .float32, rows * e, "[R, E] channel embeddings")
        if bf16 { add("decoder/embedded16", .bfloat16, rows * e, "[R, E] their bf16 rounding (im2col's input)") }
        add("decoder/columns", product, rows * taps * e, "[R, T·E] im2col of the shift convolution")
        for index in 0...config.decoderLayers {
            add("decoder/stream_\(index)", .float32, rows * d, "[R, D] residual stream before layer \(index)", grows: true)
        }
        add("decoder/final_mean", .float32, rows, "[R] final LayerNorm statistics")
        add("decoder/final_rstd", .float32, rows, "[R]")
        add("decoder/output", product, rows * d, "[R, D] decoder output after its final LayerNorm (the channel head's input)")

        // Conditioning (docs/design.md §11): c_t per (video, frame), each stack's per-(video, frame) terms and
        // backward's sums of d(stream) per (video, frame).
        if config.actions > 0 {
            add("conditioning/frame_actions", .float32, maxBatch * config.frames * config.actions, "[B, T, A] c_t: the action that led to frame t (0 at t = 0)")
        }
        if config.isConditioned {
            add("conditioning/encoder_terms", .float32, maxBatch * config.frames * d, "[B, T, D] c_t·Wa + ba + class row, encoder")
            add("conditioning/decoder_terms", .float32, maxBatch * config.frames * d, "[B, T, D] the same, decoder")
            add("conditioning/term_gradients", .float32, maxBatch * config.frames * d, "[B, T, D] d(stream) summed per (video, frame)")
        }

        // Attention layers: each its own set, or (recompute: layer) one set refilled before each layer's backward.
        func layer(_ prefix: String, blockLength nb: Int) {
            add("\(prefix)/attention_mean", .float32, rows, "[R] LN1 statistics", grows: true)
            add("\(prefix)/attention_rstd", .float32, rows, "[R]", grows: true)
            add("\(prefix)/blocked_input", product, rows * d, "[R, D] LN1 output in block order (q, k, v products' input)", grows: true)
            for name in ["query", "key", "value"] { add("\(prefix)/\(name)", product, rows * a, "[R, A] block order", grows: true) }
            add("\(prefix)/statistics", .float32, BlockAttention.statisticsCount(rows: rows, heads: heads),
                "[R, H, 2] softmax (max, 1/Σexp) per row and head", grows: true)
            add("\(prefix)/bias", .float32, heads * nb * nb, "[H, Nb, Nb] expanded relative bias", grows: true)
            add("\(prefix)/attended", product, rows * a, "[R, A] attention output (the output projection's input)", grows: true)
            add("\(prefix)/middle", .float32, rows * d, "[R, D] stream after attention", grows: true)
            add("\(prefix)/ffn_mean", .float32, rows, "[R] LN2 statistics", grows: true)
            add("\(prefix)/ffn_rstd", .float32, rows, "[R]", grows: true)
            add("\(prefix)/ffn_input", product, rows * d, "[R, D] LN2 output", grows: true)
            add("\(prefix)/hidden", product, rows * f,
                "[R, F] relu(LN2·W1 + b1), ReLU in place: its backward mask relu(x) > 0 equals x > 0", grows: true)
        }
        if recomputing {
            layerPrefixes = Array(repeating: "layers/recomputed", count: blocks.count)
            layer("layers/recomputed", blockLength: largestBlock)
        } else {
            layerPrefixes = (0..<config.encoderLayers).map { "encoder/layer_\($0)" } + (0..<config.decoderLayers).map { "decoder/layer_\($0)" }
            for (prefix, nb) in zip(layerPrefixes, blocks) { layer(prefix, blockLength: nb) }
        }

        // Channel head: per channel, or (recompute: layer) one set re-run per channel in backward.
        for channel in 1..<c {
            add("head/previous_indices_\(channel)", .int32, rows * channel, "[R, \(channel)] rows of head/channel_\(channel)/previous")
        }
        add("head/pre_activation", .float32, rows * d, "[R, D] one channel's y·H + b + Σ G (ReLU's input; not kept for backward)")
        for channel in 0..<(recomputing ? 1 : c) {
            add("head/hidden_\(channel)", product, rows * d, "[R, D] relu of the pre-activation (the logits product's input; the ReLU mask)")
            add("head/logits_\(channel)", .float32, rows * 256, "[R, 256] logits; in training overwritten by d(loss)/d(logits)")
        }
        for channel in 0..<c { add("head/nll_\(channel)", .float64, rows, "[R] NLL (nats) of every row, primed rows included") }
        add("head/loss_weights", .float32, rows, "[R] 1/(batch · C · predicted positions of the row's video), 0 when primed")

        // Scratch shared by forward and backward (each user's lifetime ends before the next begins).
        add("scratch/rows", .float32, rows * max(d, a),
            "[R, max(D, A)] forward: LayerNorm outputs before blocking or rounding; backward: d(decoder output) (head → "
            + "decoder), d(LN input) inside a layer, d(encoder output) (decoder input → encoder), d(attended)")
        add("scratch/blocked", .float32, rows * d,
            "[R, D] forward: block-order LN1 output staging, attention output projection, the head's ReLU staging; backward: d(blocked LN1 output)")
        add("scratch/stream", .float32, rows * d, "[R, D] backward: d(residual stream); the head's d(hidden)")
        for name in ["query", "key", "value"] {
            add("scratch/d_\(name)", product, rows * a, "[R, A] attention's gradient of \(name) (only products read it)")
        }
        add("scratch/ffn_hidden_gradient", .float32, FeedForward.Workspace.hiddenGradientCount(rows: rows, hiddenWidth: f, precision: precision),
            "[R or one block, F] d(FFN hidden)")
        if bf16 { add("scratch/ffn_hidden_gradient16", .bfloat16, min(rows, FeedForward.blockRows) * f, "[one block, F] its bf16 rounding") }
        add("scratch/column_gradient", .float32, n * taps * e, "[N, T·E] d(im2col columns) of one video (col2im is per video)")
        add("scratch/embedding_gradient", .float32, rows * e, "[R, E] d(embedding) of the encoder or the decoder")
        add("scratch/bias_gradient", .float32, heads * largestBlock * largestBlock, "[H, Nb, Nb] d(expanded relative bias)")
        add("scratch/position_sums", .float32, n * d, "[N, D] d(stream) summed over the batch, for the position tables")
        let shapes = (encoderBlocks.map { ($0, false) } + decoderBlocks.map { ($0, true) }).map { nb, causal in
            BlockAttention.Shape(groups: rows / nb, blockLength: nb, heads: heads, headSize: config.headSize, causal: causal)
        }
        add("scratch/attention", .float32, shapes.map(\.backwardWorkspaceCount).max() ?? 1,
            "per chunk of blocks: dBias partials, a probability and a dS block (forward uses the first part)")
        if bf16 {
            add("scratch/attention16", .bfloat16, shapes.map(\.workspaceCountBF16).max() ?? 1,
                "per chunk: bf16 probability and dS blocks, kᵀ and vᵀ")
            add("scratch/output_gradient16", .bfloat16, rows * max(256, d, a),
                "[R, max(256, D, A)] a product's output gradient rounded to bf16 (read by both backward products)")
            add("scratch/bias_partials", .float32, Linear.roundingWorkspaceCount(columns: max(f, 256, d, a)),
                "per-chunk column sums of a bias gradient while rounding")
        }
    }

    /// Bytes `VideoTransformer` would allocate with these settings (no allocation).
    public static func bytes(config: ModelConfig, maxBatch: Int, modelShards: Int = 1, precision: Precision,
                             recompute: Recompute) -> Int {
        ActivationPlan(config: config, maxBatch: maxBatch, modelShards: modelShards, precision: precision, recompute: recompute).bytes
    }
}

/// The plan's buffers, allocated once (64-byte aligned, zeroed) and found by name. Asking for a name the plan
/// does not hold, or in another element type, is a programming error.
final class ActivationArena {
    let plan: ActivationPlan
    private var floats: [String: FloatBuffer] = [:]
    private var halves: [String: BFloat16Buffer] = [:]
    private var raw: [String: UnsafeMutableRawPointer] = [:]

    init(_ plan: ActivationPlan) {
        self.plan = plan
        for buffer in plan.buffers {
            precondition(floats[buffer.name] == nil && halves[buffer.name] == nil && raw[buffer.name] == nil,
                         "ActivationPlan: \(buffer.name) twice")
            switch buffer.element {
            case .float32: floats[buffer.name] = FloatBuffer(count: buffer.count)
            case .bfloat16: halves[buffer.name] = BFloat16Buffer(count: buffer.count)
            case .int32, .uint8, .float64:
                let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(1, buffer.bytes), alignment: 64)
                pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(1, buffer.bytes))
                raw[buffer.name] = pointer
            }
        }
    }

    deinit { raw.values.forEach { $0.deallocate() } }

    /// Bytes actually allocated (what the plan promises, checked by the tests).
    var allocatedBytes: Int {
        floats.values.reduce(0) { $0 + $1.bytes } + halves.values.reduce(0) { $0 + $1.bytes }
            + plan.buffers.filter { raw[$0.name] != nil }.reduce(0) { $0 + $1.bytes }
    }

    func float(_ name: String) -> FloatBuffer {
        guard let buffer = floats[name] else { preconditionFailure("ActivationPlan has no fp32 buffer \(name)") }
        return buffer
    }

    /// An fp32 buffer the plan holds only in some runs (nil otherwise).
    func floatIfPlanned(_ name: String) -> FloatBuffer? { floats[name] }

    /// A bf16 buffer the plan holds only in bf16 runs (nil otherwise).
    func bfloat16IfPlanned(_ name: String) -> BFloat16Buffer? { halves[name] }

    /// A product input: fp32 or bf16, as planned.
    func product(_ name: String) -> ProductActivation {
        if let buffer = floats[name] { return ProductActivation(fp32: buffer) }
        guard let buffer = halves[name] else { preconditionFailure("ActivationPlan has no buffer \(name)") }
        return ProductActivation(bf16: buffer)
    }

    func pointer<Element>(_ name: String, as type: Element.Type) -> UnsafeMutablePointer<Element> {
        guard let pointer = raw[name] else { preconditionFailure("ActivationPlan has no buffer \(name)") }
        return pointer.assumingMemoryBound(to: Element.self)
    }
}
