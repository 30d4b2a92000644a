// The channel head and the loss (docs/design.md §2): for channel c, hid = relu(y·H_c + b_c + Σ_{c'<c} G_c[c', x[p,c']]),
// logits = hid·P_c + q_c, NLL = −log softmax(logits)[x[p,c]]; a video's loss is the mean NLL over its slice's
// non-primed sub-pixels. `headBackward` hands the decoder d(decoder output). With `recompute: layer` the
// three channels share one set of buffers and backward re-runs each channel's forward just before its backward.

import Common
import Kernels

extension VideoTransformer {
    func channelHead(normalizer: Double) -> BatchResult {
        let c = Self.channels, n = positions
        // Loss weights: 1/(normalizer · C · predicted sub-pixel positions of the video's slice), 0 when primed.
        var videoCounts: [Int] = []
        for b in 0..<batch {
            let subscaling = videoSubscaling[b]
            let predicted = subscaling.predictedPositions(slice: slices[b])
            videoCounts.append(predicted * c)
            let weight = predicted == 0 ? 0 : Float(1 / (normalizer * Double(c * predicted)))
            for position in 0..<n {
                head.lossWeights[b * n + position] = subscaling.isPrimed(slice: slices[b], position: position) ? 0 : weight
            }
        }
        for channel in 0..<c { headChannelForward(channel) }
        var videoLosses: [Double] = []
        for b in 0..<batch {
            var total = 0.0, subscaling = videoSubscaling[b]
            for position in 0..<n where !subscaling.isPrimed(slice: slices[b], position: position) {
                for channel in 0..<c { total += head.nll[channel][b * n + position] }
            }
            videoLosses.append(videoCounts[b] == 0 ? 0 : total / Double(videoCounts[b]))
        }
        return BatchResult(loss: videoLosses.reduce(0, +) / Double(batch), videoLosses: videoLosses,
                           subpixels: videoCounts.reduce(0, +))
    }

    /// Channel `channel`: pre-activation, ReLU, logits and the NLL (training: d(loss)/d(logits) in place).
    func headChannelForward(_ channel: Int) {
        let rows = batch * positions, c = Self.channels, d = hiddenSize
        let weights = layout.head[channel], pre = head.preActivation.pointer
        Linear.forward(out: pre, input: decoder.output.operand, weight: weight(weights.hiddenWeight),
                       bias: parameter(weights.hiddenBias), rows: rows, inputs: d, outputs: d)
        if let previous = weights.previous, let indices = head.previousIndices[channel] {
            let values = decoderInput.sliceValues
            for row in 0..<rows {
                for earlier in 0..<channel { indices[row * channel + earlier] = Int32(earlier * 256 + Int(values[row * c + earlier])) }
            }
            Embedding.gatherSum(out: pre, table: parameter(previous), indices: indices, rows: rows, terms: channel, width: d,
                                accumulate: true)
        }
        let hidden = head.hidden[channel].staged(in: scratch.blocked)  // scratch.rows holds d(decoder output) in backward
        ReLU.forward(out: hidden, input: pre, count: rows * d)
        head.hidden[channel].commit(hidden, count: rows * d)
        let logits = head.logits[channel].pointer
        Linear.forward(out: logits, input: head.hidden[channel].operand, weight: weight(weights.logitsWeight),
                       bias: parameter(weights.logitsBias), rows: rows, inputs: d, outputs: 256)
        let targets = decoderInput.sliceValues + channel
        switch mode {
        case .training:
            CrossEntropy.forwardBackward(nll: head.nll[channel], dLogits: logits, logits: logits, targets: targets, targetStride: c,
                                         weights: head.lossWeights.pointer, rows: rows, classes: 256)
        case .evaluation:
            CrossEntropy.forward(nll: head.nll[channel], logits: logits, targets: targets, targetStride: c, rows: rows, classes: 256)
        }
    }

    /// d(decoder output) into `scratch.rows`, from each channel's d(logits).
    func headBackward() {
        let rows = batch * positions, d = hiddenSize
        let dDecoded = scratch.rows.pointer, dHidden = scratch.stream.pointer
        dDecoded.update(repeating: 0, count: rows * d)
        for channel in 0..<Self.channels {
            if recompute == .layer {
                var clock = Stopwatch()
                headChannelForward(channel)
                phaseTimes.recompute += clock.lap()
            }
            let weights = layout.head[channel], hidden = head.hidden[channel].operand
            Linear.backward(dInput: dHidden, dWeight: gradient(weights.logitsWeight), dBias: gradient(weights.logitsBias),
                            dOut: head.logits[channel].pointer, input: hidden, weight: weight(weights.logitsWeight), rows: rows,
                            inputs: d, outputs: 256, scratch: scratch.products)
            ReLU.backward(dInput: dHidden, dOut: dHidden, output: hidden, count: rows * d)
            if let previous = weights.previous, let indices = head.previousIndices[channel] {
                Embedding.scatterAdd(dTable: gradient(previous), dOut: dHidden, indices: indices, rows: rows, terms: channel, width: d)
            }
            Linear.backward(dInput: dDecoded, dWeight: gradient(weights.hiddenWeight), dBias: gradient(weights.hiddenBias),
                            dOut: dHidden, input: decoder.output.operand, weight: weight(weights.hiddenWeight), rows: rows,
                            inputs: d, outputs: d, accumulateInput: true, scratch: scratch.products)
        }
        gradientsReady("head")
    }
}
