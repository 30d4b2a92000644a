// The encoder (docs/design.md §2): the visible video as a one-hot 3-D convolution centred on the slice's pixels
// (a gather-sum of embedding rows) plus the slice embedding, the input projection, per-axis positions,
// `encoder_layers` unmasked block-local layers and a final LayerNorm → `encoder.output` [B·N, D].
// `encodeBackward` runs the same steps in reverse. `stackForward`/`stackBackward` (layers and final
// LayerNorm) and the position tables serve the decoder too.

import Kernels

extension VideoTransformer {
    func encode(videos: UnsafePointer<UInt8>) {
        let rows = batch * positions, e = embeddingSize
        buildEncoderIndices(videos: videos)
        let embedded = encoderInput.embedded.values.pointer
        for b in 0..<batch {
            let row = parameter(layout.sliceEmbedding) + slices[b] * e
            for position in 0..<positions { (embedded + (b * positions + position) * e).update(from: row, count: e) }
        }
        Embedding.gatherSum(out: embedded, table: parameter(layout.encoderEmbedding), indices: encoderInput.indices,
                            rows: rows, terms: encoderTerms, width: e, accumulate: true)
        let x = encoder.streams[0].pointer
        Linear.forward(out: x, input: encoderInput.embedded.round(count: rows * e), weight: weight(layout.inputWeight),
                       bias: parameter(layout.inputBias), rows: rows, inputs: e, outputs: hiddenSize)
        addPositions(x, layout.encoder)
        if let terms = conditioningInput.encoderTerms {
            makeConditioningTerms(layout.encoderConditioning, into: terms)
            addConditioning(x, terms: terms)
        }
        stackForward(encoder, weights: layout.encoder)
    }

    /// On entry `scratch.rows` holds d(encoder output) (from the decoder's conditioning).
    func encodeBackward() {
        let rows = batch * positions, e = embeddingSize
        stackBackward(encoder, weights: layout.encoder, name: "encoder")
        let dX = scratch.stream.pointer, dEmbedded = scratch.embeddingGradient.pointer
        positionBackward(dX, layout.encoder)
        conditioningBackward(dX, layout.encoderConditioning)
        Linear.backward(dInput: dEmbedded, dWeight: gradient(layout.inputWeight), dBias: gradient(layout.inputBias), dOut: dX,
                        input: encoderInput.embedded.operand, weight: weight(layout.inputWeight), rows: rows, inputs: e,
                        outputs: hiddenSize, scratch: scratch.products)
        for b in 0..<batch {
            let target = gradient(layout.sliceEmbedding) + slices[b] * e
            for position in 0..<positions {
                let source = dEmbedded + (b * positions + position) * e
                for x in 0..<e { target[x] += source[x] }
            }
        }
        Embedding.scatterAdd(dTable: gradient(layout.encoderEmbedding), dOut: dEmbedded, indices: encoderInput.indices,
                             rows: rows, terms: encoderTerms, width: e)
        gradientsReady("encoder/input")
    }

    /// index[b·N + position, tap·C + ch] = row of `encoder/embedding` for pixel p = window tap of the
    /// position, channel ch, value V[p, ch]; −1 when p is outside the video or invisible to slice k
    /// (visible: an earlier slice's pixel, or a primed frame's).
    func buildEncoderIndices(videos: UnsafePointer<UInt8>) {
        let kernel = config.encoderKernel, c = Self.channels, terms = encoderTerms, n = positions
        let (frames, height, width) = (config.frames, config.height, config.width)
        let videoSize = frames * height * width * c
        let grid = self.grid
        Parallel.rows(batch * n, grain: 64) { rows in
            for row in rows {
                let b = row / n, position = row % n, k = slices[b]
                let isPrimedFrame = videoSubscaling[b].priming.isPrimed
                let origin = subscaling.offset(ofSlice: k)
                let (i, j, l) = grid.coordinates(ofRasterIndex: position)
                let centre = subscaling.pixel(slice: origin, i: i, j: j, l: l)
                let video = videos + b * videoSize
                let out = encoderInput.indices + row * terms
                for dt in 0..<kernel.t { for dh in 0..<kernel.h { for dw in 0..<kernel.w {
                    let tap = (dt * kernel.h + dh) * kernel.w + dw
                    let t = centre.t + dt - kernel.t / 2, h = centre.h + dh - kernel.h / 2, w = centre.w + dw - kernel.w / 2
                    let inside = t >= 0 && t < frames && h >= 0 && h < height && w >= 0 && w < width
                    if inside && (isPrimedFrame[t] || subscaling.sliceIndex(t: t, h: h, w: w) < k) {
                        let pixel = video + ((t * height + h) * width + w) * c
                        for ch in 0..<c { out[tap * c + ch] = Int32((tap * c + ch) * 256 + Int(pixel[ch])) }
                    } else {
                        for ch in 0..<c { out[tap * c + ch] = -1 }
                    }
                } } }
            }
        }
    }

    // MARK: - Stacks (encoder and decoder)

    /// The stack's layers on `streams[0]`, then its final LayerNorm into `output`.
    func stackForward(_ stack: StackActivations, weights: StackOffsets) {
        let rows = batch * positions
        for (index, layer) in stack.layers.enumerated() {
            layerForward(layer, weights: weights.layers[index], input: stack.streams[index], output: stack.streams[index + 1])
        }
        let normed = stack.output.staged(in: scratch.rows)
        LayerNorm.forward(out: normed, mean: stack.finalMean.pointer, rstd: stack.finalRstd.pointer, input: stack.finalStream.pointer,
                          scale: parameter(weights.finalNormScale), bias: parameter(weights.finalNormBias), rows: rows, width: hiddenSize)
        stack.output.commit(normed, count: rows * hiddenSize)
    }

    /// From d(stack output) in `scratch.rows` to d(streams[0]) in `scratch.stream`, layer by layer in reverse.
    func stackBackward(_ stack: StackActivations, weights: StackOffsets, name: String) {
        let rows = batch * positions
        scratch.stream.zero()
        LayerNorm.backward(dInput: scratch.stream.pointer, dScale: gradient(weights.finalNormScale),
                           dBias: gradient(weights.finalNormBias), dOut: scratch.rows.pointer, input: stack.finalStream.pointer,
                           mean: stack.finalMean.pointer, rstd: stack.finalRstd.pointer, scale: parameter(weights.finalNormScale),
                           rows: rows, width: hiddenSize)
        gradientsReady("\(name)/final_norm")
        for index in stack.layers.indices.reversed() {
            let (layer, layerWeights) = (stack.layers[index], weights.layers[index])
            recomputeIfNeeded(layer, weights: layerWeights, input: stack.streams[index], output: stack.streams[index + 1])
            layerBackward(layer, weights: layerWeights, input: stack.streams[index])
            gradientsReady("\(name)/layer_\(index)")
        }
    }

    // MARK: - Positions

    /// stream[b, (i,j,l)] += pos_t[i] + pos_h[j] + pos_w[l].
    func addPositions(_ stream: UnsafeMutablePointer<Float>, _ stack: StackOffsets) {
        let pt = parameter(stack.positionT), ph = parameter(stack.positionH), pw = parameter(stack.positionW)
        let d = hiddenSize, grid = self.grid, n = positions
        Parallel.rows(batch * n, grain: 256) { rows in
            for row in rows {
                let (i, j, l) = grid.coordinates(ofRasterIndex: row % n)
                let target = stream + row * d, a = pt + i * d, b = ph + j * d, c = pw + l * d
                for x in 0..<d { target[x] += a[x] + b[x] + c[x] }
            }
        }
    }

    /// dPos_t[i] += Σ_{b, j, l} dStream[b, (i, j, l)] (and likewise for h and w), in a fixed order.
    func positionBackward(_ dStream: UnsafePointer<Float>, _ stack: StackOffsets) {
        let sums = scratch.positionSums.pointer, d = hiddenSize, n = positions, batch = self.batch
        Parallel.rows(n, grain: 64) { range in
            for position in range {
                let target = sums + position * d
                target.update(from: dStream + position * d, count: d)
                for b in 1..<max(1, batch) {
                    let source = dStream + (b * n + position) * d
                    for x in 0..<d { target[x] += source[x] }
                }
            }
        }
        let dt = gradient(stack.positionT), dh = gradient(stack.positionH), dw = gradient(stack.positionW)
        for position in 0..<n {
            let (i, j, l) = grid.coordinates(ofRasterIndex: position)
            let source = sums + position * d
            for x in 0..<d { dt[i * d + x] += source[x]; dh[j * d + x] += source[x]; dw[l * d + x] += source[x] }
        }
    }
}
