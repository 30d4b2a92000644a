// ModelParameters: the parameter table of the Video Transformer under docs/design.md §2's checkpoint names,
// plus typed offsets into the flat buffer so the model reads like the paper. On a device mesh with a
// model axis (docs/design.md §4) a rank's table holds its shard: the same names, with the heads and d_ff axes cut
// to heads/M and d_ff/M (`ModelSharding`); `ShardLayout` maps shards to full tensors and back.

import Kernels

/// Offsets of one block-local self-attention layer's tensors.
public struct LayerOffsets: Sendable {
    public let attentionNormScale, attentionNormBias, query, key, value, output: Int
    public let relativeT, relativeH, relativeW: Int
    public let ffnNormScale, ffnNormBias, hiddenWeight, hiddenBias, outputWeight, outputBias: Int
    public let block: Triple
}

public struct StackOffsets: Sendable {
    public let positionT, positionH, positionW: Int
    public let layers: [LayerOffsets]
    public let finalNormScale, finalNormBias: Int
}

/// Offsets of one stack's conditioning tensors (docs/design.md §11): the action projection and the class
/// table, each nil when the model has no actions or no classes.
public struct ConditioningOffsets: Sendable {
    /// `<stack>/action/weight` [A, d] and `<stack>/action/bias` [d].
    public let actionWeight: Int?, actionBias: Int?
    /// `<stack>/class_embedding` [K+1, d].
    public let classEmbedding: Int?
    public var isEmpty: Bool { actionWeight == nil && classEmbedding == nil }
}

public struct HeadOffsets: Sendable {
    public let hiddenWeight, hiddenBias: Int
    public let previous: Int?          // channel ≥ 1 only
    public let logitsWeight, logitsBias: Int
}

public struct ModelParameters: Sendable {
    public let table: ParameterTable
    public let encoderEmbedding, sliceEmbedding, inputWeight, inputBias: Int
    public let encoder: StackOffsets
    public let encoderConditioning: ConditioningOffsets
    public let decoderEmbedding, shiftWeight, shiftBias, condition: Int
    public let decoder: StackOffsets
    public let decoderConditioning: ConditioningOffsets
    public let head: [HeadOffsets]

    public let config: ModelConfig
    /// Which shard of the heads and the FFN hidden units these tensors are.
    public let sharding: ModelSharding
    /// For each table entry, the axis its full tensor is split along over a model axis (nil: replicated);
    /// the same for every sharding, the whole model included.
    public let splitAxes: [Int?]

    public init(config: ModelConfig, sharding: ModelSharding = .whole) {
        precondition(config.heads % sharding.count == 0 && config.ffnSize % sharding.count == 0,
                     "ModelParameters: \(sharding) does not divide heads \(config.heads) and ffn_size \(config.ffnSize)")
        var table = ParameterTable()
        var splitAxes: [Int?] = []
        let c = ModelConfig.channels, e = config.embeddingSize, d = config.hiddenSize
        let heads = config.heads / sharding.count
        let hd = heads * config.headSize, f = config.ffnSize / sharding.count
        let grid = config.sliceShape, k = config.encoderKernel
        /// Adds a tensor whose full form is split along `axis` across the model axis (nil: replicated).
        func add(_ name: String, _ shape: [Int], split axis: Int? = nil) -> Int {
            splitAxes.append(axis)
            return table.add(name, shape)
        }

        func stack(_ name: String, layers: Int, between: () -> Void) -> StackOffsets {
            between()
            let pt = add("\(name)/position/t", [grid.t, d])
            let ph = add("\(name)/position/h", [grid.h, d])
            let pw = add("\(name)/position/w", [grid.w, d])
            var result: [LayerOffsets] = []
            for i in 0..<layers {
                let p = "\(name)/layer_\(i)", b = config.block(forLayer: i)
                result.append(LayerOffsets(
                    attentionNormScale: add("\(p)/attention_norm/scale", [d]),
                    attentionNormBias: add("\(p)/attention_norm/bias", [d]),
                    query: add("\(p)/attention/query", [d, hd], split: 1),
                    key: add("\(p)/attention/key", [d, hd], split: 1),
                    value: add("\(p)/attention/value", [d, hd], split: 1),
                    output: add("\(p)/attention/output", [hd, d], split: 0),
                    relativeT: add("\(p)/attention/relative_t", [heads, 2 * b.t - 1], split: 0),
                    relativeH: add("\(p)/attention/relative_h", [heads, 2 * b.h - 1], split: 0),
                    relativeW: add("\(p)/attention/relative_w", [heads, 2 * b.w - 1], split: 0),
                    ffnNormScale: add("\(p)/ffn_norm/scale", [d]),
                    ffnNormBias: add("\(p)/ffn_norm/bias", [d]),
                    hiddenWeight: add("\(p)/ffn/hidden/weight", [d, f], split: 1),
                    hiddenBias: add("\(p)/ffn/hidden/bias", [f], split: 0),
                    outputWeight: add("\(p)/ffn/output/weight", [f, d], split: 0),
                    outputBias: add("\(p)/ffn/output/bias", [d]),
                    block: b))
            }
            return StackOffsets(positionT: pt, positionH: ph, positionW: pw, layers: result,
                                finalNormScale: add("\(name)/final_norm/scale", [d]),
                                finalNormBias: add("\(name)/final_norm/bias", [d]))
        }

        /// A stack's conditioning tensors (none unless the config asks for actions or classes).
        func conditioning(_ name: String) -> ConditioningOffsets {
            let actions = config.actions, classes = config.classes
            return ConditioningOffsets(actionWeight: actions > 0 ? add("\(name)/action/weight", [actions, d]) : nil,
                                       actionBias: actions > 0 ? add("\(name)/action/bias", [d]) : nil,
                                       classEmbedding: classes > 0 ? add("\(name)/class_embedding", [classes + 1, d]) : nil)
        }
        var encoderEmbedding = 0, sliceEmbedding = 0, inputWeight = 0, inputBias = 0
        var encoderConditioning = ConditioningOffsets(actionWeight: nil, actionBias: nil, classEmbedding: nil)
        encoder = stack("encoder", layers: config.encoderLayers) {
            encoderEmbedding = add("encoder/embedding", [k.t, k.h, k.w, c, 256, e])
            sliceEmbedding = add("encoder/slice_embedding", [config.sliceCount, e])
            inputWeight = add("encoder/input/weight", [e, d])
            inputBias = add("encoder/input/bias", [d])
            encoderConditioning = conditioning("encoder")
        }
        var decoderEmbedding = 0, shiftWeight = 0, shiftBias = 0, condition = 0
        var decoderConditioning = encoderConditioning
        decoder = stack("decoder", layers: config.decoderLayers) {
            decoderEmbedding = add("decoder/embedding", [c, 256, e])
            shiftWeight = add("decoder/shift/weight", [ShiftConvolution.taps.count, e, d])
            shiftBias = add("decoder/shift/bias", [d])
            condition = add("decoder/condition", [d, d])
            decoderConditioning = conditioning("decoder")
        }
        self.encoderConditioning = encoderConditioning
        self.decoderConditioning = decoderConditioning
        var head: [HeadOffsets] = []
        for channel in 0..<c {
            let p = "head/channel_\(channel)"
            head.append(HeadOffsets(
                hiddenWeight: add("\(p)/hidden/weight", [d, d]),
                hiddenBias: add("\(p)/hidden/bias", [d]),
                previous: channel >= 1 ? add("\(p)/previous", [channel, 256, d]) : nil,
                logitsWeight: add("\(p)/logits/weight", [d, 256]),
                logitsBias: add("\(p)/logits/bias", [256])))
        }
        self.encoderEmbedding = encoderEmbedding; self.sliceEmbedding = sliceEmbedding
        self.inputWeight = inputWeight; self.inputBias = inputBias
        self.decoderEmbedding = decoderEmbedding; self.shiftWeight = shiftWeight
        self.shiftBias = shiftBias; self.condition = condition
        self.head = head
        self.table = table
        self.config = config
        self.sharding = sharding
        self.splitAxes = splitAxes
    }

    /// Seeded initialisation: weights N(0, 1/fan_in) (fan_in = product of all axes but the last),
    /// embeddings and positions N(0, 0.02²), LayerNorm scales 1, biases and relative biases 0. The
    /// conditioning tensors (docs/design.md §11) start at 0 and draw nothing: a conditioned model starts as
    /// the unconditioned one of the same seed — every other tensor the same draw, every conditioning term 0 —
    /// so the two differ only by what training makes of the conditioning. (N(0, 1/A) action weights would
    /// add terms of the actions' size, far above the 0.02-scale embeddings, and drown the pixels at first.)
    /// A shard is initialised as the matching part of the full model's initialisation, so every mesh
    /// starts from the same parameters.
    public func initialize(_ buffer: FloatBuffer, seed: UInt64) {
        if sharding.count > 1 {
            let full = ModelParameters(config: config, sharding: .whole)
            let whole = FloatBuffer(count: full.table.totalCount)
            full.initialize(whole, seed: seed)
            ShardLayout(shard: self, full: full).extract(from: whole.pointer, into: buffer.pointer)
            return
        }
        precondition(buffer.count == table.totalCount)
        buffer.zero()
        var generator = Xoshiro256(seed: seed)
        for entry in table.entries {
            let target = buffer.pointer + entry.offset
            let leaf = entry.name.split(separator: "/").last!
            let isNormScale = entry.name.hasSuffix("norm/scale")
            if Self.isConditioning(entry.name) {
                continue
            } else if isNormScale {
                target.update(repeating: 1, count: entry.count)
            } else if leaf == "bias" || entry.name.contains("/relative_") {
                continue
            } else if entry.name.hasSuffix("embedding") || entry.name.contains("/position/") || leaf == "previous" {
                for i in 0..<entry.count { target[i] = Float(0.02 * generator.nextNormal()) }
            } else {
                let fanIn = entry.shape.dropLast().reduce(1, *)
                let std = 1 / Double(fanIn).squareRoot()
                for i in 0..<entry.count { target[i] = Float(std * generator.nextNormal()) }
            }
        }
    }

    /// Whether `name` is one of the conditioning tensors (`<stack>/action/…`, `<stack>/class_embedding`).
    static func isConditioning(_ name: String) -> Bool {
        name.hasSuffix("/class_embedding") || name.hasSuffix("/action/weight") || name.hasSuffix("/action/bias")
    }
}
