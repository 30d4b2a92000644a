// One pre-LayerNorm block-local layer (docs/design.md §2), forward and backward side by side:
//
//   z' = z + unblock(BlockAttention(LN1(z) in block order)·Wo)      attention (relative biases; causal in the decoder)
//   z'' = z' + relu(LN2(z')·W1 + b1)·W2 + b2                         feed-forward
//
// With a model shard, Wo and W2 are row-split (their products are summed over the model group in forward) and
// Q, K, V and W1 column-split (the input gradients of LN1's and LN2's outputs are summed in backward).
// With `recompute: layer` every layer shares one set of saved buffers; `recomputeIfNeeded` re-runs the
// layer's forward into them just before its backward (the same kernels on the same values: bitwise what
// forward computed).

import Common
import Kernels

/// What one layer saves for backward (ActivationPlan.swift: "<stack>/layer_<i>/…" or the shared set).
final class SavedLayer {
    let attentionMean, attentionRstd, ffnMean, ffnRstd: FloatBuffer
    /// (max, 1/Σexp) per (row, head); `bias` is the expanded relative bias [heads, Nb, Nb].
    let statistics, bias: FloatBuffer
    /// The stream after attention, z'.
    let middle: FloatBuffer
    /// `hidden` holds relu(LN2(z')·W1 + b1): its backward mask relu(x) > 0 equals x > 0.
    let blockedInput, query, key, value, attended, ffnInput, hidden: ProductActivation

    init(_ arena: ActivationArena, prefix: String) {
        attentionMean = arena.float("\(prefix)/attention_mean"); attentionRstd = arena.float("\(prefix)/attention_rstd")
        ffnMean = arena.float("\(prefix)/ffn_mean"); ffnRstd = arena.float("\(prefix)/ffn_rstd")
        statistics = arena.float("\(prefix)/statistics"); bias = arena.float("\(prefix)/bias")
        middle = arena.float("\(prefix)/middle")
        blockedInput = arena.product("\(prefix)/blocked_input")
        query = arena.product("\(prefix)/query"); key = arena.product("\(prefix)/key"); value = arena.product("\(prefix)/value")
        attended = arena.product("\(prefix)/attended")
        ffnInput = arena.product("\(prefix)/ffn_input"); hidden = arena.product("\(prefix)/hidden")
    }

    /// q, k, v for the attention kernel.
    var attentionInputs: BlockAttention.Inputs {
        switch (query.operand, key.operand, value.operand) {
        case let (.fp32(q), .fp32(k), .fp32(v)): return .fp32(q: q, k: k, v: v)
        case let (.bf16(q), .bf16(k), .bf16(v)): return .bf16(q: q, k: k, v: v)
        default: preconditionFailure("attention inputs of mixed precision")
        }
    }
}

/// One attention layer: its place (`index` counts encoder layers first, then decoder layers), block
/// partition, mask, and where its activations live.
final class AttentionLayerActivations {
    let index: Int
    let partition: BlockPartition
    let causal: Bool
    let saved: SavedLayer

    init(index: Int, partition: BlockPartition, causal: Bool, saved: SavedLayer) {
        self.index = index; self.partition = partition; self.causal = causal; self.saved = saved
    }
}

extension VideoTransformer {
    func attentionShape(_ layer: AttentionLayerActivations) -> BlockAttention.Shape {
        let nb = layer.partition.blockLength
        return BlockAttention.Shape(groups: batch * positions / nb, blockLength: nb, heads: heads, headSize: config.headSize,
                                    causal: layer.causal)
    }

    func layerForward(_ layer: AttentionLayerActivations, weights w: LayerOffsets, input: FloatBuffer, output: FloatBuffer) {
        let rows = batch * positions, d = hiddenSize, saved = layer.saved, partition = layer.partition
        layerInSharedBuffers = layer.index
        // Attention: z' = z + unblock(attention(block(LN1(z)))·Wo).
        LayerNorm.forward(out: scratch.rows.pointer, mean: saved.attentionMean.pointer, rstd: saved.attentionRstd.pointer,
                          input: input.pointer, scale: parameter(w.attentionNormScale), bias: parameter(w.attentionNormBias),
                          rows: rows, width: d)
        let blocked = saved.blockedInput.staged(in: scratch.blocked)
        partition.toBlockOrder(scratch.rows.pointer, blocked, videos: batch, width: d)
        saved.blockedInput.commit(blocked, count: rows * d)
        for (projection, offset) in [(saved.query, w.query), (saved.key, w.key), (saved.value, w.value)] {
            Linear.forward(into: projection, input: saved.blockedInput.operand, weight: weight(offset), bias: nil, rows: rows,
                           inputs: d, outputs: attentionWidth)
        }
        RelativeBias.expand(rt: parameter(w.relativeT), rh: parameter(w.relativeH), rw: parameter(w.relativeW), heads: heads,
                            block: w.block.tuple, into: saved.bias.pointer)
        BlockAttention.forward(out: saved.attended.destination, statistics: saved.statistics.pointer, inputs: saved.attentionInputs,
                               bias: saved.bias.pointer, shape: attentionShape(layer), workspace: scratch.attention)
        Linear.forward(out: scratch.blocked.pointer, input: saved.attended.operand, weight: weight(w.output), bias: nil, rows: rows,
                       inputs: attentionWidth, outputs: d)
        modelAxisReduce?(scratch.blocked.pointer, rows * d)  // row-split Wo: sum the heads of every shard
        saved.middle.pointer.update(from: input.pointer, count: rows * d)
        partition.toRasterOrder(scratch.blocked.pointer, saved.middle.pointer, videos: batch, width: d, accumulate: true)
        // Feed-forward: z'' = z' + relu(LN2(z')·W1 + b1)·W2 + b2.
        let normed = saved.ffnInput.staged(in: scratch.rows)
        LayerNorm.forward(out: normed, mean: saved.ffnMean.pointer, rstd: saved.ffnRstd.pointer, input: saved.middle.pointer,
                          scale: parameter(w.ffnNormScale), bias: parameter(w.ffnNormBias), rows: rows, width: d)
        saved.ffnInput.commit(normed, count: rows * d)
        Linear.forward(into: saved.hidden, input: saved.ffnInput.operand, weight: weight(w.hiddenWeight), bias: parameter(w.hiddenBias),
                       relu: true, rows: rows, inputs: d, outputs: ffnWidth)
        if let modelAxisReduce {
            // Row-split W2: output = middle + Σ_shards hidden·W2 + b2 (b2 is replicated, added once).
            Linear.forward(out: output.pointer, input: saved.hidden.operand, weight: weight(w.outputWeight), bias: nil, rows: rows,
                           inputs: ffnWidth, outputs: d)
            modelAxisReduce(output.pointer, rows * d)
            Self.add(saved.middle.pointer, to: output.pointer, count: rows * d)
            Linear.addRowVector(output.pointer, parameter(w.outputBias), rows: rows, columns: d)
        } else {
            output.pointer.update(from: saved.middle.pointer, count: rows * d)
            Linear.forward(out: output.pointer, input: saved.hidden.operand, weight: weight(w.outputWeight),
                           bias: parameter(w.outputBias), rows: rows, inputs: ffnWidth, outputs: d, accumulate: true)
        }
    }

    /// On entry `scratch.stream` holds d(layer output); on exit d(layer input).
    func layerBackward(_ layer: AttentionLayerActivations, weights w: LayerOffsets, input: FloatBuffer) {
        let rows = batch * positions, d = hiddenSize, saved = layer.saved, partition = layer.partition
        let dOutput = scratch.stream.pointer, dRows = scratch.rows.pointer, dBlocked = scratch.blocked.pointer
        // Feed-forward → d(LN2 output) in dRows; the residual keeps d(output) in dOutput, LN2 adds to it.
        FeedForward.backward(dInput: dRows, dOutput: dOutput, hidden: saved.hidden.operand, input: saved.ffnInput.operand,
                             parameters: FeedForward.Parameters(
                                hiddenWeight: weight(w.hiddenWeight), outputWeight: weight(w.outputWeight),
                                hiddenWeightGradient: gradient(w.hiddenWeight), hiddenBiasGradient: gradient(w.hiddenBias),
                                outputWeightGradient: gradient(w.outputWeight), outputBiasGradient: gradient(w.outputBias)),
                             rows: rows, width: d, hiddenWidth: ffnWidth, workspace: scratch.feedForward)
        modelAxisReduce?(dRows, rows * d)  // column-split W1: d(LN2 output) sums every shard's part
        LayerNorm.backward(dInput: dOutput, dScale: gradient(w.ffnNormScale), dBias: gradient(w.ffnNormBias), dOut: dRows,
                           input: saved.middle.pointer, mean: saved.ffnMean.pointer, rstd: saved.ffnRstd.pointer,
                           scale: parameter(w.ffnNormScale), rows: rows, width: d)
        // Attention: d(attended) in dRows, then dq, dk, dv, the relative biases, d(LN1 output) and LN1.
        partition.toBlockOrder(dOutput, dBlocked, videos: batch, width: d)
        Linear.backward(dInput: dRows, dWeight: gradient(w.output), dBias: nil, dOut: dBlocked, input: saved.attended.operand,
                        weight: weight(w.output), rows: rows, inputs: attentionWidth, outputs: d, scratch: scratch.products)
        let shape = attentionShape(layer), dBias = scratch.biasGradient.pointer
        dBias.update(repeating: 0, count: heads * shape.blockLength * shape.blockLength)
        let dAttended = scratch.products.operand(dRows, count: rows * attentionWidth, precision: saved.attended.precision)
        BlockAttention.backward(dq: scratch.dQuery.destination, dk: scratch.dKey.destination, dv: scratch.dValue.destination,
                                dBias: dBias, dOut: dAttended, inputs: saved.attentionInputs, statistics: saved.statistics.pointer,
                                bias: saved.bias.pointer, shape: shape, workspace: scratch.attention)
        RelativeBias.backward(dBias: dBias, heads: heads, block: w.block.tuple, dRt: gradient(w.relativeT), dRh: gradient(w.relativeH),
                              dRw: gradient(w.relativeW))
        for (index, (dProjection, offset)) in [(scratch.dQuery, w.query), (scratch.dKey, w.key), (scratch.dValue, w.value)].enumerated() {
            Linear.backward(dInput: dBlocked, dWeight: gradient(offset), dOut: dProjection.operand, input: saved.blockedInput.operand,
                            weight: weight(offset), rows: rows, inputs: d, outputs: attentionWidth, accumulateInput: index > 0)
        }
        modelAxisReduce?(dBlocked, rows * d)  // column-split Q/K/V: d(LN1 output) sums every shard's part
        partition.toRasterOrder(dBlocked, dRows, videos: batch, width: d, accumulate: false)
        LayerNorm.backward(dInput: dOutput, dScale: gradient(w.attentionNormScale), dBias: gradient(w.attentionNormBias),
                           dOut: dRows, input: input.pointer, mean: saved.attentionMean.pointer, rstd: saved.attentionRstd.pointer,
                           scale: parameter(w.attentionNormScale), rows: rows, width: d)
    }

    /// `recompute: layer`: re-runs the layer's forward into the shared buffers, unless they still hold it.
    /// The output stream it rewrites holds those same values already and is not read again by this backward.
    func recomputeIfNeeded(_ layer: AttentionLayerActivations, weights: LayerOffsets, input: FloatBuffer, output: FloatBuffer) {
        guard recompute == .layer, layerInSharedBuffers != layer.index else { return }
        var clock = Stopwatch()
        layerForward(layer, weights: weights, input: input, output: output)
        phaseTimes.recompute += clock.lap()
    }

    /// target[i] += source[i].
    static func add(_ source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.rows(count, grain: 1 << 14) { range in
            for i in range { target[i] += source[i] }
        }
    }
}
