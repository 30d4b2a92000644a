// The decoder (docs/design.md §2): the true slice's channel embeddings (teacher forcing), the masked 13-tap shift
// convolution (im2col + one product), per-axis positions, conditioning on the encoder output, `decoder_layers`
// causal block-local layers and a final LayerNorm → `decoder.output` [B·N, D]. `decodeBackward` runs the
// same steps in reverse and hands the encoder d(encoder output).

import Kernels

extension VideoTransformer {
    func decode(videos: UnsafePointer<UInt8>) {
        let rows = batch * positions, c = Self.channels, e = embeddingSize, taps = ShiftConvolution.taps.count
        let videoSize = config.frames * config.height * config.width * c
        let values = decoderInput.sliceValues, indices = decoderInput.indices
        for b in 0..<batch {
            subscaling.extract(slice: slices[b], from: videos + b * videoSize, into: values + b * positions * c)
        }
        for row in 0..<rows { for ch in 0..<c { indices[row * c + ch] = Int32(ch * 256 + Int(values[row * c + ch])) } }
        Embedding.gatherSum(out: decoderInput.embedded.values.pointer, table: parameter(layout.decoderEmbedding), indices: indices,
                            rows: rows, terms: c, width: e, accumulate: false)
        ShiftConvolution.im2col(columns: decoderInput.columns.destination, embedded: decoderInput.embedded.round(count: rows * e),
                                videos: batch, grid: grid.tuple, width: e)
        let y = decoder.streams[0].pointer
        Linear.forward(out: y, input: decoderInput.columns.operand, weight: weight(layout.shiftWeight),
                       bias: parameter(layout.shiftBias), rows: rows, inputs: taps * e, outputs: hiddenSize)
        addPositions(y, layout.decoder)
        Linear.forward(out: y, input: encoder.output.operand, weight: weight(layout.condition), bias: nil, rows: rows,
                       inputs: hiddenSize, outputs: hiddenSize, accumulate: true)
        if let terms = conditioningInput.decoderTerms {
            makeConditioningTerms(layout.decoderConditioning, into: terms)
            addConditioning(y, terms: terms)
        }
        stackForward(decoder, weights: layout.decoder)
    }

    /// On entry `scratch.rows` holds d(decoder output); on exit d(encoder output).
    func decodeBackward() {
        let rows = batch * positions, n = positions, e = embeddingSize, d = hiddenSize, taps = ShiftConvolution.taps.count
        stackBackward(decoder, weights: layout.decoder, name: "decoder")
        let dY = scratch.stream.pointer  // d(decoder input y0)
        positionBackward(dY, layout.decoder)
        conditioningBackward(dY, layout.decoderConditioning)
        Linear.backward(dInput: scratch.rows.pointer, dWeight: gradient(layout.condition), dBias: nil, dOut: dY,
                        input: encoder.output.operand, weight: weight(layout.condition), rows: rows, inputs: d, outputs: d,
                        scratch: scratch.products)
        let dU = Linear.backward(dInput: nil, dWeight: gradient(layout.shiftWeight), dBias: gradient(layout.shiftBias), dOut: dY,
                                 input: decoderInput.columns.operand, weight: weight(layout.shiftWeight), rows: rows,
                                 inputs: taps * e, outputs: d, scratch: scratch.products)
        // d(columns) = dU·Wᵀ and col2im, one video at a time (col2im is per video; in bf16 from the rounded dU).
        let dEmbedded = scratch.embeddingGradient, dColumns = scratch.columnGradient.pointer
        dEmbedded.zero()
        for b in 0..<batch {
            MatMul.gemm(transB: true, m: n, n: taps * e, k: d, a: dU.advanced(by: b * n * d), lda: d, b: weight(layout.shiftWeight),
                        ldb: d, c: dColumns, ldc: taps * e)
            ShiftConvolution.col2im(dEmbedded: dEmbedded.pointer + b * n * e, dColumns: dColumns, videos: 1, grid: grid.tuple, width: e)
        }
        Embedding.scatterAdd(dTable: gradient(layout.decoderEmbedding), dOut: dEmbedded.pointer, indices: decoderInput.indices,
                             rows: rows, terms: Self.channels, width: e)
        gradientsReady("decoder/input")
    }
}
