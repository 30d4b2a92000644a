// ModelParameters: the parameter table of the Video Transformer under DESIGN.md §2's checkpoint names,
// plus typed offsets into the flat buffer so the model reads like the paper.

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

public struct HeadOffsets: Sendable {
    public let hiddenWeight, hiddenBias: Int
    public let previous: Int?          // channel ≥ 1 only
    public let logitsWeight, logitsBias: Int
}

public struct ModelParameters: Sendable {
    public let table: ParameterTable
    public let encoderEmbedding, sliceEmbedding, inputWeight, inputBias: Int
    public let encoder: StackOffsets
    public let decoderEmbedding, shiftWeight, shiftBias, condition: Int
    public let decoder: StackOffsets
    public let head: [HeadOffsets]

    public init(config: ModelConfig) {
        var table = ParameterTable()
        let c = ModelConfig.channels, e = config.embeddingSize, d = config.hiddenSize
        let hd = config.attentionWidth, f = config.ffnSize, grid = config.sliceShape, k = config.encoderKernel

        func stack(_ name: String, layers: Int, between: () -> Void) -> StackOffsets {
            between()
            let pt = table.add("\(name)/position/t", [grid.t, d])
            let ph = table.add("\(name)/position/h", [grid.h, d])
            let pw = table.add("\(name)/position/w", [grid.w, d])
            var result: [LayerOffsets] = []
            for i in 0..<layers {
                let p = "\(name)/layer_\(i)", b = config.block(forLayer: i)
                result.append(LayerOffsets(
                    attentionNormScale: table.add("\(p)/attention_norm/scale", [d]),
                    attentionNormBias: table.add("\(p)/attention_norm/bias", [d]),
                    query: table.add("\(p)/attention/query", [d, hd]),
                    key: table.add("\(p)/attention/key", [d, hd]),
                    value: table.add("\(p)/attention/value", [d, hd]),
                    output: table.add("\(p)/attention/output", [hd, d]),
                    relativeT: table.add("\(p)/attention/relative_t", [config.heads, 2 * b.t - 1]),
                    relativeH: table.add("\(p)/attention/relative_h", [config.heads, 2 * b.h - 1]),
                    relativeW: table.add("\(p)/attention/relative_w", [config.heads, 2 * b.w - 1]),
                    ffnNormScale: table.add("\(p)/ffn_norm/scale", [d]),
                    ffnNormBias: table.add("\(p)/ffn_norm/bias", [d]),
                    hiddenWeight: table.add("\(p)/ffn/hidden/weight", [d, f]),
                    hiddenBias: table.add("\(p)/ffn/hidden/bias", [f]),
                    outputWeight: table.add("\(p)/ffn/output/weight", [f, d]),
                    outputBias: table.add("\(p)/ffn/output/bias", [d]),
                    block: b))
            }
            return StackOffsets(positionT: pt, positionH: ph, positionW: pw, layers: result,
                                finalNormScale: table.add("\(name)/final_norm/scale", [d]),
                                finalNormBias: table.add("\(name)/final_norm/bias", [d]))
        }

        var encoderEmbedding = 0, sliceEmbedding = 0, inputWeight = 0, inputBias = 0
        encoder = stack("encoder", layers: config.encoderLayers) {
            encoderEmbedding = table.add("encoder/embedding", [k.t, k.h, k.w, c, 256, e])
            sliceEmbedding = table.add("encoder/slice_embedding", [config.sliceCount, e])
            inputWeight = table.add("encoder/input/weight", [e, d])
            inputBias = table.add("encoder/input/bias", [d])
        }
        var decoderEmbedding = 0, shiftWeight = 0, shiftBias = 0, condition = 0
        decoder = stack("decoder", layers: config.decoderLayers) {
            decoderEmbedding = table.add("decoder/embedding", [c, 256, e])
            shiftWeight = table.add("decoder/shift/weight", [ShiftConvolution.taps.count, e, d])
            shiftBias = table.add("decoder/shift/bias", [d])
            condition = table.add("decoder/condition", [d, d])
        }
        var head: [HeadOffsets] = []
        for channel in 0..<c {
            let p = "head/channel_\(channel)"
            head.append(HeadOffsets(
                hiddenWeight: table.add("\(p)/hidden/weight", [d, d]),
                hiddenBias: table.add("\(p)/hidden/bias", [d]),
                previous: channel >= 1 ? table.add("\(p)/previous", [channel, 256, d]) : nil,
                logitsWeight: table.add("\(p)/logits/weight", [d, 256]),
                logitsBias: table.add("\(p)/logits/bias", [256])))
        }
        self.encoderEmbedding = encoderEmbedding; self.sliceEmbedding = sliceEmbedding
        self.inputWeight = inputWeight; self.inputBias = inputBias
        self.decoderEmbedding = decoderEmbedding; self.shiftWeight = shiftWeight
        self.shiftBias = shiftBias; self.condition = condition
        self.head = head
        self.table = table
    }

    /// Seeded initialisation: weights N(0, 1/fan_in) (fan_in = product of all axes but the last),
    /// embeddings and positions N(0, 0.02²), LayerNorm scales 1, biases and relative biases 0.
    public func initialize(_ buffer: FloatBuffer, seed: UInt64) {
        precondition(buffer.count == table.totalCount)
        buffer.zero()
        var generator = Xoshiro256(seed: seed)
        for entry in table.entries {
            let target = buffer.pointer + entry.offset
            let leaf = entry.name.split(separator: "/").last!
            let isNormScale = entry.name.hasSuffix("norm/scale")
            if isNormScale {
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
}
