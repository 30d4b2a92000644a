// VideoTransformer: forward and backward of the Video Transformer (DESIGN.md §2) for a batch of
// (video, slice index) pairs with teacher forcing. `forward` reads like the paper: encoder embedding,
// encoder stack, decoder embedding with the shift convolution and conditioning, decoder stack, channel
// head and loss; `backward` mirrors it. All activations live in buffers sized once for `maxBatch`.
// With a model shard (ModelSharding.swift) each layer runs its own heads and d_ff columns and sums the
// row-split products (forward) and the column-split input gradients (backward) over the model group.
// Leaves out: sampling with cached keys/values (Evaluation) and optimisation (Optimization).

import Foundation
import Kernels

/// Wall-clock seconds spent in each phase of the last forward/backward.
public struct PhaseTimes: Sendable {
    public var encoder = 0.0, decoder = 0.0, head = 0.0, backward = 0.0
    public init() {}
}

/// What a forward pass returns.
public struct BatchResult: Sendable {
    /// Mean over videos of each video's mean NLL (nats) over its slice's non-primed sub-pixels.
    public var loss: Double
    public var videoLosses: [Double]
    /// Sub-pixels that entered the loss.
    public var subpixels: Int
}

public enum ForwardMode: Sendable {
    /// Compute the loss and prepare gradients for `backward()`.
    case training
    /// Compute per-sub-pixel NLLs only.
    case evaluation
}

/// Saved activations of one block-local attention layer (rows = batch × positions).
final class LayerActivations {
    let partition: BlockPartition
    let ln1Mean, ln1Rstd, ln2Mean, ln2Rstd: FloatBuffer
    /// `hidden` holds relu(LN(middle)·W1 + b1): the ReLU runs in place, and its backward mask
    /// relu(x) > 0 equals x > 0, so the pre-activation need not be kept.
    let blockedInput, query, key, value, attended, probs, middle, ffnInput, hidden, bias: FloatBuffer

    /// `heads`, `hd` and `f`: this shard's heads, heads·dh and d_ff.
    init(partition: BlockPartition, rows: Int, config: ModelConfig, heads: Int, hd: Int, f: Int) {
        let d = config.hiddenSize, nb = partition.blockLength
        self.partition = partition
        ln1Mean = FloatBuffer(count: rows); ln1Rstd = FloatBuffer(count: rows)
        ln2Mean = FloatBuffer(count: rows); ln2Rstd = FloatBuffer(count: rows)
        blockedInput = FloatBuffer(count: rows * d)
        query = FloatBuffer(count: rows * hd); key = FloatBuffer(count: rows * hd)
        value = FloatBuffer(count: rows * hd); attended = FloatBuffer(count: rows * hd)
        probs = FloatBuffer(count: rows / nb * heads * nb * nb)
        middle = FloatBuffer(count: rows * d); ffnInput = FloatBuffer(count: rows * d)
        hidden = FloatBuffer(count: rows * f)
        bias = FloatBuffer(count: heads * nb * nb)
    }

    var bytes: Int {
        [ln1Mean, ln1Rstd, ln2Mean, ln2Rstd, blockedInput, query, key, value, attended, probs, middle, ffnInput,
         hidden, bias].reduce(0) { $0 + $1.bytes }
    }
}

public final class VideoTransformer {
    public let config: ModelConfig
    public let subscaling: Subscaling
    public let layout: ModelParameters
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer
    public let maxBatch: Int
    public private(set) var phaseTimes = PhaseTimes()
    /// Called during `backward()` each time a group of parameter tensors has its final gradient, with
    /// their indices in `layout.table.entries` (head first, then layers in reverse): lets a data-parallel
    /// trainer start all-reducing those gradients while the rest of backward runs.
    public var onGradientsReady: (([Int]) -> Void)?
    /// Table indices of each readiness group, by name prefix.
    let readinessGroups: [String: [Int]]

    /// `heads`, `hd` (heads·dh) and `f` (d_ff) are this shard's; the whole model's when unsharded.
    let n: Int, e: Int, d: Int, heads: Int, hd: Int, f: Int
    public let sharding: ModelSharding
    /// Sums over the model group (nil when unsharded).
    let modelAxisReduce: ModelAxisReduce?
    static let c = ModelConfig.channels
    let grid: Triple
    let primeFrame: [Bool]
    let encoderTerms: Int

    // Batch state.
    private(set) var batch = 0
    private(set) var slices: [Int] = []
    private var mode: ForwardMode = .evaluation

    // Encoder activations.
    let encoderIndices: UnsafeMutablePointer<Int32>
    let encoderEmbedded: FloatBuffer
    let encoderStreams: [FloatBuffer]
    let encoderLayers: [LayerActivations]
    let encoderFinalMean, encoderFinalRstd, encoded: FloatBuffer

    // Decoder activations.
    let sliceValues: UnsafeMutablePointer<UInt8>
    let decoderIndices: UnsafeMutablePointer<Int32>
    let decoderEmbedded, columns: FloatBuffer
    let decoderStreams: [FloatBuffer]
    let decoderLayers: [LayerActivations]
    let decoderFinalMean, decoderFinalRstd, decoded: FloatBuffer

    // Head activations (per channel).
    let previousIndices: [UnsafeMutablePointer<Int32>]
    let headPre, headHidden, logits: [FloatBuffer]
    /// Per-channel NLL (nats) of every row of the batch, [C][B·N]; primed rows hold their value too.
    public let nll: [UnsafeMutablePointer<Double>]
    let weights: FloatBuffer

    // Scratch shared by all layers.
    let scratchRows, scratchBlocked, dStream, dRows, dBlocked, dEncoded: FloatBuffer
    let dQuery, dKey, dValue, dAttended: FloatBuffer
    let dHidden, dColumns, dEmbedded, dBias, positionScratch, attentionWorkspace: FloatBuffer

    /// `sharding` and `modelAxisReduce` (which sums over the ranks holding the other shards) make this
    /// one shard of a model split over a model axis; a config whose heads or d_ff the axis does not
    /// divide is rejected.
    public init(config: ModelConfig, maxBatch: Int, sharding: ModelSharding = .whole,
                modelAxisReduce: ModelAxisReduce? = nil) throws {
        try config.validate()
        if let problem = ModelSharding.problem(config: config, count: sharding.count) { throw ConfigError(problem) }
        precondition(maxBatch >= 1)
        precondition(sharding.count == 1 || modelAxisReduce != nil, "a model shard needs a model-axis reduction")
        self.config = config
        self.maxBatch = maxBatch
        self.sharding = sharding
        self.modelAxisReduce = sharding.count > 1 ? modelAxisReduce : nil
        subscaling = Subscaling(config: config)
        layout = ModelParameters(config: config, sharding: sharding)
        var groups: [String: [Int]] = [:]
        for (index, entry) in layout.table.entries.enumerated() {
            let parts = entry.name.split(separator: "/")
            let key = parts[0] == "head" ? "head"
                : parts[1].hasPrefix("layer_") || parts[1] == "final_norm" ? "\(parts[0])/\(parts[1])" : "\(parts[0])/input"
            groups[key, default: []].append(index)
        }
        readinessGroups = groups
        parameters = FloatBuffer(count: layout.table.totalCount)
        gradients = FloatBuffer(count: layout.table.totalCount)
        grid = config.sliceShape
        n = config.positionsPerSlice; e = config.embeddingSize; d = config.hiddenSize
        heads = config.heads / sharding.count; hd = heads * config.headSize; f = config.ffnSize / sharding.count
        let (heads, hd, f) = (self.heads, self.hd, self.f)
        primeFrame = (0..<config.frames).map { config.primeFrames.contains($0) }
        encoderTerms = config.encoderKernel.product * Self.c
        let rows = maxBatch * n, c = Self.c, d = config.hiddenSize, e = config.embeddingSize

        encoderIndices = .allocate(capacity: rows * encoderTerms)
        encoderEmbedded = FloatBuffer(count: rows * e)
        encoderStreams = (0...config.encoderLayers).map { _ in FloatBuffer(count: rows * d) }
        let grid = self.grid
        encoderLayers = (0..<config.encoderLayers).map {
            LayerActivations(partition: BlockPartition(grid: grid.tuple, block: config.block(forLayer: $0).tuple),
                             rows: rows, config: config, heads: heads, hd: hd, f: f)
        }
        encoderFinalMean = FloatBuffer(count: rows); encoderFinalRstd = FloatBuffer(count: rows)
        encoded = FloatBuffer(count: rows * d)

        sliceValues = .allocate(capacity: rows * c)
        decoderIndices = .allocate(capacity: rows * c)
        decoderEmbedded = FloatBuffer(count: rows * e)
        columns = FloatBuffer(count: rows * ShiftConvolution.taps.count * e)
        decoderStreams = (0...config.decoderLayers).map { _ in FloatBuffer(count: rows * d) }
        decoderLayers = (0..<config.decoderLayers).map {
            LayerActivations(partition: BlockPartition(grid: grid.tuple, block: config.block(forLayer: $0).tuple),
                             rows: rows, config: config, heads: heads, hd: hd, f: f)
        }
        decoderFinalMean = FloatBuffer(count: rows); decoderFinalRstd = FloatBuffer(count: rows)
        decoded = FloatBuffer(count: rows * d)

        previousIndices = (0..<c).map { UnsafeMutablePointer<Int32>.allocate(capacity: max(1, rows * $0)) }
        headPre = (0..<c).map { _ in FloatBuffer(count: rows * config.hiddenSize) }
        headHidden = (0..<c).map { _ in FloatBuffer(count: rows * config.hiddenSize) }
        logits = (0..<c).map { _ in FloatBuffer(count: rows * 256) }
        nll = (0..<c).map { _ in
            let p = UnsafeMutablePointer<Double>.allocate(capacity: rows); p.initialize(repeating: 0, count: rows); return p
        }
        weights = FloatBuffer(count: rows)

        scratchRows = FloatBuffer(count: rows * d); scratchBlocked = FloatBuffer(count: rows * d)
        dStream = FloatBuffer(count: rows * d); dRows = FloatBuffer(count: rows * d)
        dBlocked = FloatBuffer(count: rows * d); dEncoded = FloatBuffer(count: rows * d)
        dQuery = FloatBuffer(count: rows * hd); dKey = FloatBuffer(count: rows * hd)
        dValue = FloatBuffer(count: rows * hd); dAttended = FloatBuffer(count: rows * hd)
        dHidden = FloatBuffer(count: rows * max(f, 256))
        dColumns = FloatBuffer(count: rows * ShiftConvolution.taps.count * e)
        dEmbedded = FloatBuffer(count: rows * e)
        let maxBlock = (encoderLayers + decoderLayers).map { $0.partition.blockLength }.max() ?? 1
        dBias = FloatBuffer(count: heads * maxBlock * maxBlock)
        attentionWorkspace = FloatBuffer(count: (encoderLayers + decoderLayers).map {
            BlockAttention.backwardWorkspaceCount(groups: rows / $0.partition.blockLength, blockLength: $0.partition.blockLength,
                                                  heads: heads)
        }.max() ?? 1)
        positionScratch = FloatBuffer(count: n * d)
    }

    deinit {
        encoderIndices.deallocate(); sliceValues.deallocate(); decoderIndices.deallocate()
        previousIndices.forEach { $0.deallocate() }; nll.forEach { $0.deallocate() }
    }

    /// Bytes held in activation and scratch buffers (parameters and gradients excluded).
    public var activationBytes: Int {
        let rows = maxBatch * n, c = Self.c
        let buffers: [FloatBuffer] = [encoderEmbedded, encoderFinalMean, encoderFinalRstd, encoded, decoderEmbedded,
                                      columns, decoderFinalMean, decoderFinalRstd, decoded, weights, scratchRows,
                                      scratchBlocked, dStream, dRows, dBlocked, dEncoded, dQuery, dKey, dValue,
                                      dAttended, dHidden, dColumns, dEmbedded, dBias, positionScratch, attentionWorkspace]
            + encoderStreams + decoderStreams + headPre + headHidden + logits
        return buffers.reduce(0) { $0 + $1.bytes } + (encoderLayers + decoderLayers).reduce(0) { $0 + $1.bytes }
            + rows * (encoderTerms + 2 * c) * 4 + rows * c * (1 + 8) + rows * 3 * 4
    }

    @inline(__always) func p(_ offset: Int) -> UnsafeMutablePointer<Float> { parameters.pointer + offset }
    @inline(__always) func g(_ offset: Int) -> UnsafeMutablePointer<Float> { gradients.pointer + offset }

    // MARK: - Forward

    /// Runs the model on `videos` (UInt8 [B, T, H, W, 3]) for slice `slices[b]` of video b.
    /// In training mode the loss of video b is weighted by 1/`lossNormalizer` (default B) so that gradients
    /// from several ranks or micro-batches sum to the gradient of the global mean.
    @discardableResult
    public func forward(videos: UnsafePointer<UInt8>, slices: [Int], mode: ForwardMode,
                        lossNormalizer: Double? = nil) -> BatchResult {
        precondition(!slices.isEmpty && slices.count <= maxBatch, "forward: batch \(slices.count) outside 1...\(maxBatch)")
        prepare(slices: slices, mode: mode)
        var clock = Stopwatch()
        encode(videos: videos)
        phaseTimes.encoder = clock.lap()
        decode(videos: videos)
        phaseTimes.decoder = clock.lap()
        let result = channelHead(normalizer: lossNormalizer ?? Double(batch))
        phaseTimes.head = clock.lap()
        return result
    }

    /// Sets the batch's slices and mode (what `encode` and `decode` read).
    func prepare(slices: [Int], mode: ForwardMode) {
        precondition(!slices.isEmpty && slices.count <= maxBatch, "batch \(slices.count) outside 1...\(maxBatch)")
        precondition(slices.allSatisfy { (0..<config.sliceCount).contains($0) }, "slice index out of range")
        batch = slices.count; self.slices = slices; self.mode = mode
    }

    /// Encoder: one-hot 3-D convolution of the visible video (a gather-sum) + slice embedding, input
    /// projection, positions, unmasked block-local layers, final LayerNorm → `encoded` [B·N, D].
    func encode(videos: UnsafePointer<UInt8>) {
        let rows = batch * n
        buildEncoderIndices(videos: videos)
        for b in 0..<batch {
            let row = p(layout.sliceEmbedding) + slices[b] * e
            for position in 0..<n { (encoderEmbedded.pointer + (b * n + position) * e).update(from: row, count: e) }
        }
        Embedding.gatherSum(out: encoderEmbedded.pointer, table: p(layout.encoderEmbedding), indices: encoderIndices,
                            rows: rows, terms: encoderTerms, width: e, accumulate: true)
        Linear.forward(out: encoderStreams[0].pointer, input: encoderEmbedded.pointer, weight: p(layout.inputWeight),
                       bias: p(layout.inputBias), rows: rows, inputs: e, outputs: d)
        addPositions(encoderStreams[0].pointer, layout.encoder)
        for (index, layer) in encoderLayers.enumerated() {
            attentionLayerForward(layer, offsets: layout.encoder.layers[index], input: encoderStreams[index],
                                  output: encoderStreams[index + 1], causal: false)
        }
        LayerNorm.forward(out: encoded.pointer, mean: encoderFinalMean.pointer, rstd: encoderFinalRstd.pointer,
                          input: encoderStreams[config.encoderLayers].pointer, scale: p(layout.encoder.finalNormScale),
                          bias: p(layout.encoder.finalNormBias), rows: rows, width: d)
    }

    /// index[b·N + position, tap·C + ch] = row of `encoder/embedding` for pixel p = window tap of the
    /// position, channel ch, value V[p, ch]; −1 when p is outside the video or invisible to slice k.
    func buildEncoderIndices(videos: UnsafePointer<UInt8>) {
        let kernel = config.encoderKernel, c = Self.c, terms = encoderTerms
        let (frames, height, width) = (config.frames, config.height, config.width)
        let videoSize = frames * height * width * c
        let grid = self.grid
        Parallel.rows(batch * n, grain: 64) { rows in
            for row in rows {
                let b = row / n, position = row % n, k = slices[b]
                let origin = subscaling.offset(ofSlice: k)
                let (i, j, l) = grid.coordinates(ofRasterIndex: position)
                let centre = subscaling.pixel(slice: origin, i: i, j: j, l: l)
                let video = videos + b * videoSize
                let out = encoderIndices + row * terms
                for dt in 0..<kernel.t { for dh in 0..<kernel.h { for dw in 0..<kernel.w {
                    let tap = (dt * kernel.h + dh) * kernel.w + dw
                    let t = centre.t + dt - kernel.t / 2, h = centre.h + dh - kernel.h / 2, w = centre.w + dw - kernel.w / 2
                    let inside = t >= 0 && t < frames && h >= 0 && h < height && w >= 0 && w < width
                    if inside && (primeFrame[t] || subscaling.sliceIndex(t: t, h: h, w: w) < k) {
                        let pixel = video + ((t * height + h) * width + w) * c
                        for ch in 0..<c { out[tap * c + ch] = Int32((tap * c + ch) * 256 + Int(pixel[ch])) }
                    } else {
                        for ch in 0..<c { out[tap * c + ch] = -1 }
                    }
                } } }
            }
        }
    }

    /// Decoder: channel embedding of the true slice, 13-tap shift convolution, positions, conditioning on
    /// the encoder, masked block-local layers, final LayerNorm → `decoded` [B·N, D].
    func decode(videos: UnsafePointer<UInt8>) {
        let rows = batch * n, c = Self.c
        let videoSize = config.frames * config.height * config.width * c
        for b in 0..<batch {
            subscaling.extract(slice: slices[b], from: videos + b * videoSize, into: sliceValues + b * n * c)
        }
        for row in 0..<rows { for ch in 0..<c { decoderIndices[row * c + ch] = Int32(ch * 256 + Int(sliceValues[row * c + ch])) } }
        Embedding.gatherSum(out: decoderEmbedded.pointer, table: p(layout.decoderEmbedding), indices: decoderIndices,
                            rows: rows, terms: c, width: e, accumulate: false)
        ShiftConvolution.im2col(columns: columns.pointer, embedded: decoderEmbedded.pointer, videos: batch,
                                grid: grid.tuple, width: e)
        let stream = decoderStreams[0].pointer
        Linear.forward(out: stream, input: columns.pointer, weight: p(layout.shiftWeight), bias: p(layout.shiftBias),
                       rows: rows, inputs: ShiftConvolution.taps.count * e, outputs: d)
        addPositions(stream, layout.decoder)
        Linear.forward(out: stream, input: encoded.pointer, weight: p(layout.condition), bias: nil, rows: rows,
                       inputs: d, outputs: d, accumulate: true)
        for (index, layer) in decoderLayers.enumerated() {
            attentionLayerForward(layer, offsets: layout.decoder.layers[index], input: decoderStreams[index],
                                  output: decoderStreams[index + 1], causal: true)
        }
        LayerNorm.forward(out: decoded.pointer, mean: decoderFinalMean.pointer, rstd: decoderFinalRstd.pointer,
                          input: decoderStreams[config.decoderLayers].pointer, scale: p(layout.decoder.finalNormScale),
                          bias: p(layout.decoder.finalNormBias), rows: rows, width: d)
    }

    /// Channel head and loss: hid = relu(y·H_c + b_c + Σ_{c'<c} G_c[c', x[p,c']]), logits = hid·P_c + q_c.
    func channelHead(normalizer: Double) -> BatchResult {
        let rows = batch * n, c = Self.c
        // Loss weights: 1/(normalizer · C · predicted sub-pixel positions of the video's slice), 0 when primed.
        var videoCounts: [Int] = []
        for b in 0..<batch {
            let predicted = subscaling.predictedPositions(slice: slices[b])
            videoCounts.append(predicted * c)
            let weight = predicted == 0 ? 0 : Float(1 / (normalizer * Double(c * predicted)))
            for position in 0..<n {
                weights[b * n + position] = subscaling.isPrimed(slice: slices[b], position: position) ? 0 : weight
            }
        }
        for channel in 0..<c {
            let offsets = layout.head[channel]
            Linear.forward(out: headPre[channel].pointer, input: decoded.pointer, weight: p(offsets.hiddenWeight),
                           bias: p(offsets.hiddenBias), rows: rows, inputs: d, outputs: d)
            if let previous = offsets.previous {
                let indices = previousIndices[channel]
                for row in 0..<rows {
                    for earlier in 0..<channel {
                        indices[row * channel + earlier] = Int32(earlier * 256 + Int(sliceValues[row * c + earlier]))
                    }
                }
                Embedding.gatherSum(out: headPre[channel].pointer, table: p(previous), indices: indices, rows: rows,
                                    terms: channel, width: d, accumulate: true)
            }
            ReLU.forward(out: headHidden[channel].pointer, input: headPre[channel].pointer, count: rows * d)
            Linear.forward(out: logits[channel].pointer, input: headHidden[channel].pointer,
                           weight: p(offsets.logitsWeight), bias: p(offsets.logitsBias), rows: rows, inputs: d, outputs: 256)
            switch mode {
            case .training:
                CrossEntropy.forwardBackward(nll: nll[channel], dLogits: logits[channel].pointer,
                                             logits: logits[channel].pointer, targets: sliceValues + channel,
                                             targetStride: c, weights: weights.pointer, rows: rows, classes: 256)
            case .evaluation:
                CrossEntropy.forward(nll: nll[channel], logits: logits[channel].pointer, targets: sliceValues + channel,
                                     targetStride: c, rows: rows, classes: 256)
            }
        }
        var videoLosses: [Double] = []
        for b in 0..<batch {
            var total = 0.0
            for position in 0..<n where !subscaling.isPrimed(slice: slices[b], position: position) {
                for channel in 0..<c { total += nll[channel][b * n + position] }
            }
            videoLosses.append(videoCounts[b] == 0 ? 0 : total / Double(videoCounts[b]))
        }
        return BatchResult(loss: videoLosses.reduce(0, +) / Double(batch), videoLosses: videoLosses,
                           subpixels: videoCounts.reduce(0, +))
    }

    /// stream[b, (i,j,l)] += pos_t[i] + pos_h[j] + pos_w[l].
    func addPositions(_ stream: UnsafeMutablePointer<Float>, _ stack: StackOffsets) {
        let pt = p(stack.positionT), ph = p(stack.positionH), pw = p(stack.positionW), d = self.d, grid = self.grid
        Parallel.rows(batch * n, grain: 256) { rows in
            for row in rows {
                let position = row % n
                let (i, j, l) = grid.coordinates(ofRasterIndex: position)
                let target = stream + row * d, a = pt + i * d, b = ph + j * d, c = pw + l * d
                for x in 0..<d { target[x] += a[x] + b[x] + c[x] }
            }
        }
    }

    /// One pre-LayerNorm block-local layer: z += Attention(LN(z)); z += FFN(LN(z)).
    func attentionLayerForward(_ layer: LayerActivations, offsets o: LayerOffsets, input: FloatBuffer,
                               output: FloatBuffer, causal: Bool) {
        let rows = batch * n, partition = layer.partition, nb = partition.blockLength
        LayerNorm.forward(out: scratchRows.pointer, mean: layer.ln1Mean.pointer, rstd: layer.ln1Rstd.pointer,
                          input: input.pointer, scale: p(o.attentionNormScale), bias: p(o.attentionNormBias),
                          rows: rows, width: d)
        partition.toBlockOrder(scratchRows.pointer, layer.blockedInput.pointer, videos: batch, width: d)
        Linear.forward(out: layer.query.pointer, input: layer.blockedInput.pointer, weight: p(o.query), bias: nil,
                       rows: rows, inputs: d, outputs: hd)
        Linear.forward(out: layer.key.pointer, input: layer.blockedInput.pointer, weight: p(o.key), bias: nil,
                       rows: rows, inputs: d, outputs: hd)
        Linear.forward(out: layer.value.pointer, input: layer.blockedInput.pointer, weight: p(o.value), bias: nil,
                       rows: rows, inputs: d, outputs: hd)
        RelativeBias.expand(rt: p(o.relativeT), rh: p(o.relativeH), rw: p(o.relativeW), heads: heads,
                            block: o.block.tuple, into: layer.bias.pointer)
        BlockAttention.forward(out: layer.attended.pointer, probs: layer.probs.pointer, q: layer.query.pointer,
                               k: layer.key.pointer, v: layer.value.pointer, bias: layer.bias.pointer,
                               groups: rows / nb, blockLength: nb, heads: heads, headSize: config.headSize,
                               causal: causal)
        Linear.forward(out: scratchBlocked.pointer, input: layer.attended.pointer, weight: p(o.output), bias: nil,
                       rows: rows, inputs: hd, outputs: d)
        modelAxisReduce?(scratchBlocked.pointer, rows * d)  // row-split Wo: sum the heads of every shard
        layer.middle.pointer.update(from: input.pointer, count: rows * d)
        partition.toRasterOrder(scratchBlocked.pointer, layer.middle.pointer, videos: batch, width: d, accumulate: true)
        LayerNorm.forward(out: layer.ffnInput.pointer, mean: layer.ln2Mean.pointer, rstd: layer.ln2Rstd.pointer,
                          input: layer.middle.pointer, scale: p(o.ffnNormScale), bias: p(o.ffnNormBias),
                          rows: rows, width: d)
        Linear.forward(out: layer.hidden.pointer, input: layer.ffnInput.pointer, weight: p(o.hiddenWeight),
                       bias: p(o.hiddenBias), rows: rows, inputs: d, outputs: f)
        ReLU.forwardInPlace(layer.hidden.pointer, count: rows * f)
        if let modelAxisReduce {
            // Row-split W2: output = middle + Σ_shards hidden·W2 + b2 (b2 is replicated, added once).
            Linear.forward(out: output.pointer, input: layer.hidden.pointer, weight: p(o.outputWeight), bias: nil,
                           rows: rows, inputs: f, outputs: d)
            modelAxisReduce(output.pointer, rows * d)
            Self.add(layer.middle.pointer, to: output.pointer, count: rows * d)
            Linear.addRowVector(output.pointer, p(o.outputBias), rows: rows, columns: d)
        } else {
            output.pointer.update(from: layer.middle.pointer, count: rows * d)
            Linear.forward(out: output.pointer, input: layer.hidden.pointer, weight: p(o.outputWeight),
                           bias: p(o.outputBias), rows: rows, inputs: f, outputs: d, accumulate: true)
        }
    }

    /// target[i] += source[i].
    static func add(_ source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.rows(count, grain: 1 << 14) { range in
            for i in range { target[i] += source[i] }
        }
    }

    // MARK: - Backward

    func gradientsReady(_ group: String) {
        if let onGradientsReady, let indices = readinessGroups[group] { onGradientsReady(indices) }
    }

    /// Accumulates the gradient of the last training forward's loss into `gradients`.
    public func backward() {
        precondition(mode == .training && batch > 0, "backward: needs a training-mode forward first")
        var clock = Stopwatch()
        let rows = batch * n, c = Self.c
        // Channel head → dY (in dRows).
        let dY = dRows.pointer
        dY.update(repeating: 0, count: rows * d)
        for channel in 0..<c {
            let offsets = layout.head[channel]
            let dHid = dStream.pointer
            Linear.backward(dInput: dHid, dWeight: g(offsets.logitsWeight), dBias: g(offsets.logitsBias),
                            dOut: logits[channel].pointer, input: headHidden[channel].pointer,
                            weight: p(offsets.logitsWeight), rows: rows, inputs: d, outputs: 256)
            ReLU.backward(dInput: dHid, dOut: dHid, input: headPre[channel].pointer, count: rows * d)
            if let previous = offsets.previous {
                Embedding.scatterAdd(dTable: g(previous), dOut: dHid, indices: previousIndices[channel], rows: rows,
                                     terms: channel, width: d)
            }
            Linear.backward(dInput: dY, dWeight: g(offsets.hiddenWeight), dBias: g(offsets.hiddenBias), dOut: dHid,
                            input: decoded.pointer, weight: p(offsets.hiddenWeight), rows: rows, inputs: d,
                            outputs: d, accumulateInput: true)
        }
        gradientsReady("head")
        // Decoder final LayerNorm and stack → dStream = d(decoder stream 0).
        dStream.zero()
        LayerNorm.backward(dInput: dStream.pointer, dScale: g(layout.decoder.finalNormScale),
                           dBias: g(layout.decoder.finalNormBias), dOut: dY,
                           input: decoderStreams[config.decoderLayers].pointer, mean: decoderFinalMean.pointer,
                           rstd: decoderFinalRstd.pointer, scale: p(layout.decoder.finalNormScale), rows: rows, width: d)
        gradientsReady("decoder/final_norm")
        for index in stride(from: config.decoderLayers - 1, through: 0, by: -1) {
            attentionLayerBackward(decoderLayers[index], offsets: layout.decoder.layers[index],
                                   input: decoderStreams[index])
            gradientsReady("decoder/layer_\(index)")
        }
        // Decoder input: shift convolution, positions, conditioning.
        let dInput = dStream.pointer
        positionBackward(dInput, layout.decoder)
        Linear.backward(dInput: dEncoded.pointer, dWeight: g(layout.condition), dBias: nil, dOut: dInput,
                        input: encoded.pointer, weight: p(layout.condition), rows: rows, inputs: d, outputs: d)
        let taps = ShiftConvolution.taps.count
        Linear.backward(dInput: dColumns.pointer, dWeight: g(layout.shiftWeight), dBias: g(layout.shiftBias),
                        dOut: dInput, input: columns.pointer, weight: p(layout.shiftWeight), rows: rows,
                        inputs: taps * e, outputs: d)
        dEmbedded.zero()
        ShiftConvolution.col2im(dEmbedded: dEmbedded.pointer, dColumns: dColumns.pointer, videos: batch,
                                grid: grid.tuple, width: e)
        Embedding.scatterAdd(dTable: g(layout.decoderEmbedding), dOut: dEmbedded.pointer, indices: decoderIndices,
                             rows: rows, terms: c, width: e)
        gradientsReady("decoder/input")
        // Encoder final LayerNorm and stack.
        dStream.zero()
        LayerNorm.backward(dInput: dStream.pointer, dScale: g(layout.encoder.finalNormScale),
                           dBias: g(layout.encoder.finalNormBias), dOut: dEncoded.pointer,
                           input: encoderStreams[config.encoderLayers].pointer, mean: encoderFinalMean.pointer,
                           rstd: encoderFinalRstd.pointer, scale: p(layout.encoder.finalNormScale), rows: rows, width: d)
        gradientsReady("encoder/final_norm")
        for index in stride(from: config.encoderLayers - 1, through: 0, by: -1) {
            attentionLayerBackward(encoderLayers[index], offsets: layout.encoder.layers[index],
                                   input: encoderStreams[index])
            gradientsReady("encoder/layer_\(index)")
        }
        // Encoder input: positions, projection, slice embedding, one-hot convolution.
        positionBackward(dInput, layout.encoder)
        Linear.backward(dInput: dEmbedded.pointer, dWeight: g(layout.inputWeight), dBias: g(layout.inputBias),
                        dOut: dInput, input: encoderEmbedded.pointer, weight: p(layout.inputWeight), rows: rows,
                        inputs: e, outputs: d)
        for b in 0..<batch {
            let target = g(layout.sliceEmbedding) + slices[b] * e
            for position in 0..<n {
                let source = dEmbedded.pointer + (b * n + position) * e
                for x in 0..<e { target[x] += source[x] }
            }
        }
        Embedding.scatterAdd(dTable: g(layout.encoderEmbedding), dOut: dEmbedded.pointer, indices: encoderIndices,
                             rows: rows, terms: encoderTerms, width: e)
        gradientsReady("encoder/input")
        phaseTimes.backward = clock.lap()
    }

    /// Backward of one layer. On entry `dStream` holds d(layer output); on exit d(layer input).
    func attentionLayerBackward(_ layer: LayerActivations, offsets o: LayerOffsets, input: FloatBuffer) {
        let rows = batch * n, partition = layer.partition, nb = partition.blockLength
        let dOutput = dStream.pointer
        // FFN: output = middle + relu(LN2(middle)·W1 + b1)·W2 + b2.
        let dHid = dHidden.pointer
        Linear.backward(dInput: dHid, dWeight: g(o.outputWeight), dBias: g(o.outputBias), dOut: dOutput,
                        input: layer.hidden.pointer, weight: p(o.outputWeight), rows: rows, inputs: f, outputs: d)
        ReLU.backward(dInput: dHid, dOut: dHid, input: layer.hidden.pointer, count: rows * f)
        Linear.backward(dInput: dRows.pointer, dWeight: g(o.hiddenWeight), dBias: g(o.hiddenBias), dOut: dHid,
                        input: layer.ffnInput.pointer, weight: p(o.hiddenWeight), rows: rows, inputs: d, outputs: f)
        modelAxisReduce?(dRows.pointer, rows * d)  // column-split W1: d(LN2 output) sums every shard's part
        LayerNorm.backward(dInput: dOutput, dScale: g(o.ffnNormScale), dBias: g(o.ffnNormBias), dOut: dRows.pointer,
                           input: layer.middle.pointer, mean: layer.ln2Mean.pointer, rstd: layer.ln2Rstd.pointer,
                           scale: p(o.ffnNormScale), rows: rows, width: d)
        // Attention: middle = input + unblock(attended·Wo).
        partition.toBlockOrder(dOutput, dBlocked.pointer, videos: batch, width: d)
        Linear.backward(dInput: dAttended.pointer, dWeight: g(o.output), dBias: nil, dOut: dBlocked.pointer,
                        input: layer.attended.pointer, weight: p(o.output), rows: rows, inputs: hd, outputs: d)
        let biasCount = heads * nb * nb
        dBias.pointer.update(repeating: 0, count: biasCount)
        BlockAttention.backward(dq: dQuery.pointer, dk: dKey.pointer, dv: dValue.pointer, dBias: dBias.pointer,
                                dOut: dAttended.pointer, q: layer.query.pointer, k: layer.key.pointer,
                                v: layer.value.pointer, probs: layer.probs.pointer, groups: rows / nb, blockLength: nb,
                                heads: heads, headSize: config.headSize, workspace: attentionWorkspace)
        RelativeBias.backward(dBias: dBias.pointer, heads: heads, block: o.block.tuple, dRt: g(o.relativeT),
                              dRh: g(o.relativeH), dRw: g(o.relativeW))
        let blocked = layer.blockedInput.pointer
        Linear.backward(dInput: dBlocked.pointer, dWeight: g(o.query), dBias: nil, dOut: dQuery.pointer,
                        input: blocked, weight: p(o.query), rows: rows, inputs: d, outputs: hd)
        Linear.backward(dInput: dBlocked.pointer, dWeight: g(o.key), dBias: nil, dOut: dKey.pointer,
                        input: blocked, weight: p(o.key), rows: rows, inputs: d, outputs: hd, accumulateInput: true)
        Linear.backward(dInput: dBlocked.pointer, dWeight: g(o.value), dBias: nil, dOut: dValue.pointer,
                        input: blocked, weight: p(o.value), rows: rows, inputs: d, outputs: hd, accumulateInput: true)
        modelAxisReduce?(dBlocked.pointer, rows * d)  // column-split Q/K/V: d(LN1 output) sums every shard's part
        partition.toRasterOrder(dBlocked.pointer, dRows.pointer, videos: batch, width: d, accumulate: false)
        LayerNorm.backward(dInput: dOutput, dScale: g(o.attentionNormScale), dBias: g(o.attentionNormBias),
                           dOut: dRows.pointer, input: input.pointer, mean: layer.ln1Mean.pointer,
                           rstd: layer.ln1Rstd.pointer, scale: p(o.attentionNormScale), rows: rows, width: d)
    }

    /// dPos_t[i] += Σ_{b, j, l} dStream[b, (i, j, l)] (and likewise for h and w), in a fixed order.
    func positionBackward(_ dStream: UnsafePointer<Float>, _ stack: StackOffsets) {
        let scratch = positionScratch.pointer, d = self.d, n = self.n, batch = self.batch
        Parallel.rows(n, grain: 64) { positions in
            for position in positions {
                let target = scratch + position * d
                target.update(from: dStream + position * d, count: d)
                for b in 1..<max(1, batch) {
                    let source = dStream + (b * n + position) * d
                    for x in 0..<d { target[x] += source[x] }
                }
            }
        }
        let dt = g(stack.positionT), dh = g(stack.positionH), dw = g(stack.positionW)
        for position in 0..<n {
            let (i, j, l) = grid.coordinates(ofRasterIndex: position)
            let source = scratch + position * d
            for x in 0..<d { dt[i * d + x] += source[x]; dh[j * d + x] += source[x]; dw[l * d + x] += source[x] }
        }
    }
}

/// Monotonic lap timer.
public struct Stopwatch {
    private var start = DispatchTime.now().uptimeNanoseconds
    public init() {}
    /// Seconds since the last lap (or creation), and restarts.
    public mutating func lap() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { start = now }
        return Double(now - start) / 1e9
    }
}
