// CachedSampler: generates videos slice by slice, position by position (raster order), channel by
// channel, for a batch of videos at once. The encoder runs once per slice; the decoder runs one position
// at a time, keeping every layer's keys and values of generated positions (a position attends only to
// earlier positions of its own block, which raster order has already produced) and the channel
// embeddings the shift convolution reads, so no earlier position is ever recomputed.
// `NaiveSampler` re-runs the full teacher-forced forward for every sub-pixel: the oracle for this file.
//
// Randomness: sub-pixel (video id, slice, position, channel) draws u from its own hash of the seed. A value
// is the inverse CDF of softmax(logits / temperature) at u, computed in Double. Primed pixels are copied,
// never sampled.
// Conditioning (docs/design.md §11): the encoder reads each video's actions and label as in training; the
// decoder adds each position's frame term (the model's own `conditioningTerms`). Classifier-free guidance
// w ≠ 0 runs every video twice side by side — rows 0..<B with their labels, rows B..<2B with "no label" — and
// draws from softmax(((1 + w)·ℓ_cond − w·ℓ_uncond) / temperature); w = 0 runs only the conditional rows,
// exactly the unguided sampler. The log-likelihood is always the conditional model's.
// Batch independence, bit for bit: the encoder runs one video at a time, and the per-position products
// (projections, FFN, shift convolution, conditioning, head) are RowProduct's fixed-order row sums, so a
// video's sample is the same whichever videos share its batch and however many there are.
// Precision: a bf16 model runs those products with bf16 inputs and weights (fp32 sums); the per-position
// attention over the fp32 key/value caches stays fp32.

import Foundation
import Kernels

/// Per-sub-pixel randomness and the categorical draw, shared by both samplers so they agree exactly.
public struct SubpixelRandom: Sendable {
    public let seed: UInt64
    public init(seed: UInt64) { self.seed = seed }

    /// u for sub-pixel (slice, position, channel) of the window whose first frame is the video's frame
    /// `firstFrame` (docs/design.md §12): window 0's stream is the one a T-frame sample has always had, and a
    /// later window's is keyed by where it starts, so each absolute frame has its own.
    public func uniform(video: Int, slice: Int, position: Int, channel: Int, firstFrame: Int = 0) -> Double {
        var state = seed ^ 0xA076_1D64_78BD_642F
        for value in firstFrame == 0 ? [video, slice, position, channel] : [video, slice, position, channel, firstFrame] {
            state = (state ^ UInt64(bitPattern: Int64(value))) &* 0x9E37_79B9_7F4A_7C15
            state ^= state >> 29
        }
        var generator = Xoshiro256(seed: state)
        return generator.nextUniform()
    }

    /// Inverse-CDF draw from softmax(logits / temperature); returns (value, log softmax(logits)[value]).
    public static func draw(logits: UnsafePointer<Float>, temperature: Double, uniform: Double) -> (value: UInt8, logProbability: Double) {
        var maximum = -Double.infinity
        for c in 0..<256 { maximum = max(maximum, Double(logits[c])) }
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: 256) { weights in
            var total = 0.0, plainTotal = 0.0
            if temperature == 1 {   // x / 1 == x exactly: the two sums are one (half the exps, the same bits)
                for c in 0..<256 { weights[c] = exp(Double(logits[c]) - maximum); total += weights[c] }
                plainTotal = total
            } else {
                for c in 0..<256 {
                    let x = Double(logits[c]) - maximum
                    weights[c] = exp(x / temperature); total += weights[c]; plainTotal += exp(x)
                }
            }
            let target = uniform * total
            var cumulative = 0.0, value = 255
            for c in 0..<256 {
                cumulative += weights[c]
                if target < cumulative { value = c; break }
            }
            return (UInt8(value), Double(logits[value]) - maximum - log(plainTotal))
        }
    }
}

public struct SamplingResult: Sendable {
    /// Σ log p(sampled value) over non-primed sub-pixels, per video (nats, temperature-free model).
    public var logLikelihood: [Double]
    public var subpixels: Int
}

public final class CachedSampler {
    public let model: VideoTransformer
    /// Videos drawn together.
    public let batch: Int
    /// Classifier-free guidance weight w (0: none).
    public let guidance: Double
    /// Rows run per position: the videos, and with guidance their unconditional twins.
    let rows: Int
    let config: ModelConfig
    /// [rows, T, D] the decoder's conditioning term of every row and frame (conditioned models).
    let decoderTerms: FloatBuffer?
    let n: Int, d: Int, e: Int, hd: Int, f: Int
    // Per-decoder-layer caches (raster position order) and block geometry.
    let keyCache: [FloatBuffer], valueCache: [FloatBuffer], biases: [FloatBuffer]
    let blockOrderIndex: [[Int32]]
    let embeddingCache: FloatBuffer
    /// Each video's encoder output of the current slice [batch, N, D] (fp32, or bf16 in bf16 runs).
    let encodedCache: FloatBuffer
    let encodedCache16: BFloat16Buffer?
    // Rows of one position for the whole batch.
    let stream, normed, query, key, value, attended, projected, hidden, decoded, pre, headHidden, logits, columns: FloatBuffer
    let mean, rstd: FloatBuffer
    /// One guided sub-pixel's 256 logits (guidance only).
    let guidedLogits: FloatBuffer
    /// bf16 runs: one product input of the whole batch, rounded just before its product (nil in fp32).
    let input16: BFloat16Buffer?
    let scores: UnsafeMutablePointer<Double>
    let maxBlockLength: Int
    let previousIndices: UnsafeMutablePointer<Int32>

    /// `guidance` w ≠ 0 needs a class-conditioned model. The model may be built for any batch (even 1): the
    /// sampler runs its encoder one video at a time and keeps everything batch-sized itself.
    public init(model: VideoTransformer, batch: Int, guidance: Double = 0) {
        precondition(batch >= 1, "CachedSampler: batch \(batch) must be at least 1")
        precondition(model.sharding.count == 1, "CachedSampler: sampling runs on a whole model, not a model shard")
        precondition(guidance == 0 || model.config.classes > 0, "CachedSampler: guidance needs a class-conditioned model")
        self.model = model; self.batch = batch; self.guidance = guidance; config = model.config
        let batch = guidance == 0 ? batch : 2 * batch  // rows, from here on
        self.rows = batch
        decoderTerms = model.config.isConditioned ? FloatBuffer(count: batch * model.config.frames * model.hiddenSize) : nil
        n = model.positions; d = model.hiddenSize; e = model.embeddingSize; hd = model.attentionWidth; f = model.ffnWidth
        let layers = model.decoder.layers
        keyCache = layers.map { _ in FloatBuffer(count: batch * model.positions * model.attentionWidth) }
        valueCache = layers.map { _ in FloatBuffer(count: batch * model.positions * model.attentionWidth) }
        biases = layers.map { FloatBuffer(count: model.config.heads * $0.partition.blockLength * $0.partition.blockLength) }
        blockOrderIndex = layers.map { layer in
            var inverse = [Int32](repeating: 0, count: layer.partition.positions)
            for (blockOrder, raster) in layer.partition.rasterIndex.enumerated() { inverse[Int(raster)] = Int32(blockOrder) }
            return inverse
        }
        embeddingCache = FloatBuffer(count: batch * model.positions * model.embeddingSize)
        encodedCache = FloatBuffer(count: model.precision == .bf16 ? 0 : batch * model.positions * model.hiddenSize)
        encodedCache16 = model.precision == .bf16 ? BFloat16Buffer(count: batch * model.positions * model.hiddenSize) : nil
        func perRow(_ width: Int) -> FloatBuffer { FloatBuffer(count: batch * width) }
        stream = perRow(d); normed = perRow(d); query = perRow(hd); key = perRow(hd); value = perRow(hd); attended = perRow(hd)
        projected = perRow(d); hidden = perRow(f); decoded = perRow(d); pre = perRow(d); headHidden = perRow(d); logits = perRow(256)
        columns = perRow(ShiftConvolution.taps.count * e)
        mean = perRow(1); rstd = perRow(1); guidedLogits = FloatBuffer(count: 256)
        input16 = model.precision == .bf16 ? BFloat16Buffer(count: batch * max(ShiftConvolution.taps.count * e, d, hd, f)) : nil
        let maxBlock = layers.map { $0.partition.blockLength }.max() ?? 1
        scores = .allocate(capacity: batch * model.config.heads * maxBlock)  // one row per (video, head): they run in parallel
        maxBlockLength = maxBlock
        previousIndices = .allocate(capacity: batch * 2)
    }

    deinit { scores.deallocate(); previousIndices.deallocate() }

    /// Bytes of every buffer this sampler allocated (`vt bench --sampling` sizes the largest batch with the
    /// difference between two batch sizes: the bytes per row).
    public var allocatedBytes: Int {
        let floats = keyCache + valueCache + biases + [embeddingCache, encodedCache, stream, normed, query, key, value, attended,
                                                      projected, hidden, decoded, pre, headHidden, logits, columns, mean, rstd, guidedLogits]
        return floats.reduce(0) { $0 + $1.bytes } + (decoderTerms?.bytes ?? 0) + (encodedCache16?.bytes ?? 0) + (input16?.bytes ?? 0)
            + rows * config.heads * maxBlockLength * MemoryLayout<Double>.stride + rows * 2 * MemoryLayout<Int32>.stride
    }

    @inline(__always) func p(_ offset: Int) -> UnsafeMutablePointer<Float> { model.parameters.pointer + offset }

    /// out (+)= input·W (+ b) for the batch's rows: fp32 as is, or (bf16) input rounded and W's bf16 copy. Row by
    /// row in a fixed order (RowProduct), so a video's values do not depend on its batch.
    func linear(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weight: Int, bias: Int?, inputs: Int,
                outputs: Int, accumulate: Bool = false) {
        if let input16 {
            BFloat16.convert(input, to: input16.pointer, count: rows * inputs)
            RowProduct.forward(out: out, input: input16.pointer, weight: model.roundedWeight(weight), bias: bias.map(p), rows: rows,
                               inputs: inputs, outputs: outputs, accumulate: accumulate)
        } else {
            RowProduct.forward(out: out, input: input, weight: p(weight), bias: bias.map(p), rows: rows, inputs: inputs,
                               outputs: outputs, accumulate: accumulate)
        }
    }

    /// Generates every non-primed sub-pixel of `videos` (UInt8 [batch, T, H, W, 3]; primed frames must hold
    /// the priming data, the rest is overwritten). `videoIDs` name the videos for the random stream.
    /// `priming`: the frames given (default: the config's first pattern); `firstFrame`: where this clip starts
    /// in a longer video (a sliding window's start, docs/design.md §12), which keys the random stream.
    /// `conditioning` holds the videos' actions [batch, T, A] and labels, as the model needs them.
    /// `onlySlices` restricts generation to those slices, `onlyPositions` to each slice's first positions (for
    /// timing; the video is then partial).
    public func sample(videos: UnsafeMutablePointer<UInt8>, videoIDs: [Int], random: SubpixelRandom,
                       temperature: Double, priming: FramePriming? = nil, firstFrame: Int = 0, conditioning: Conditioning = .none,
                       onlySlices: Range<Int>? = nil, onlyPositions: Int? = nil, progress: ((Int, Int) -> Void)? = nil) -> SamplingResult {
        precondition(videoIDs.count == batch && temperature > 0)
        model.refreshLowPrecisionWeights()  // bf16: products read this call's parameters (nothing in fp32)
        let c = ModelConfig.channels, subscaling = priming.map { model.subscaling.primed($0) } ?? model.subscaling
        let videoSize = config.frames * config.height * config.width * c
        let rowConditioning = (0..<rows).map { self.conditioning(conditioning, row: $0) }
        prepareDecoderTerms(conditioning)
        var logLikelihood = [Double](repeating: 0, count: batch)
        var subpixels = 0
        var sliceValues = [UInt8](repeating: 0, count: batch * n * c)
        for k in onlySlices ?? 0..<config.sliceCount {
            // Encoder once per slice: it sees earlier slices (already generated) and primed frames. One video
            // at a time, so its products have the same shape whatever the batch (see RowProduct).
            for r in 0..<rows {
                model.prepare(slices: [k], priming: [subscaling.priming], conditioning: rowConditioning[r], mode: .evaluation)
                model.encode(videos: UnsafePointer(videos + (r % batch) * videoSize))
                if let encoded16 = model.encoder.output.bf16 {
                    (encodedCache16!.pointer + r * n * d).update(from: encoded16.pointer, count: n * d)
                } else {
                    (encodedCache.pointer + r * n * d).update(from: model.encoder.output.fp32!.pointer, count: n * d)
                }
            }
            for index in model.decoder.layers.indices {
                let o = model.layout.decoder.layers[index]
                RelativeBias.expand(rt: p(o.relativeT), rh: p(o.relativeH), rw: p(o.relativeW), heads: config.heads,
                                    block: o.block.tuple, into: biases[index].pointer)
            }
            sliceValues.withUnsafeMutableBufferPointer { values in
                for b in 0..<batch { subscaling.extract(slice: k, from: videos + b * videoSize, into: values.baseAddress! + b * n * c) }
            }
            for position in 0..<min(n, onlyPositions ?? n) {
                let primed = subscaling.isPrimed(slice: k, position: position)
                decodePosition(position, slice: k)   // primed positions too: later positions attend to them
                for channel in 0..<c where !primed {
                    headLogits(channel: channel, position: position, values: sliceValues)
                    for b in 0..<batch {
                        let u = random.uniform(video: videoIDs[b], slice: k, position: position, channel: channel, firstFrame: firstFrame)
                        let conditional = logits.pointer + b * 256
                        if guidance == 0 {
                            let draw = SubpixelRandom.draw(logits: conditional, temperature: temperature, uniform: u)
                            sliceValues[(b * n + position) * c + channel] = draw.value
                            logLikelihood[b] += draw.logProbability
                        } else {
                            SubpixelRandom.guided(conditional: conditional, unconditional: logits.pointer + (batch + b) * 256,
                                                  weight: guidance, into: guidedLogits.pointer)
                            let value = SubpixelRandom.draw(logits: guidedLogits.pointer, temperature: temperature, uniform: u).value
                            sliceValues[(b * n + position) * c + channel] = value
                            logLikelihood[b] += SubpixelRandom.logProbability(logits: conditional, value: value)
                        }
                    }
                }
                if !primed { subpixels += batch * c }
                // Channel embedding of this position, read by later positions' shift convolution.
                for r in 0..<rows {
                    let b = r % batch
                    let target = embeddingCache.pointer + (r * n + position) * e
                    target.update(repeating: 0, count: e)
                    for channel in 0..<c {
                        let row = p(model.layout.decoderEmbedding) + (channel * 256 + Int(sliceValues[(b * n + position) * c + channel])) * e
                        for x in 0..<e { target[x] += row[x] }
                    }
                }
                progress?(k * n + position + 1, config.sliceCount * n)
            }
            sliceValues.withUnsafeBufferPointer { values in
                for b in 0..<batch { subscaling.insert(slice: k, values: values.baseAddress! + b * n * c, into: videos + b * videoSize) }
            }
        }
        return SamplingResult(logLikelihood: logLikelihood, subpixels: subpixels)
    }

    /// Decoder input and all decoder layers for one position of every row → `decoded` [rows, D].
    func decodePosition(_ position: Int, slice k: Int) {
        let grid = config.sliceShape
        let (t, h, w) = grid.coordinates(ofRasterIndex: position)
        let taps = ShiftConvolution.taps
        for b in 0..<rows {
            for (tap, offset) in taps.enumerated() {
                let slot = columns.pointer + (b * taps.count + tap) * e
                let (tt, hh, ww) = (t + offset.dt, h + offset.dh, w + offset.dw)
                if tt < 0 || tt >= grid.t || hh < 0 || hh >= grid.h || ww < 0 || ww >= grid.w {
                    slot.update(repeating: 0, count: e)
                } else {
                    slot.update(from: embeddingCache.pointer + (b * n + (tt * grid.h + hh) * grid.w + ww) * e, count: e)
                }
            }
        }
        let layout = model.layout
        linear(out: stream.pointer, input: columns.pointer, weight: layout.shiftWeight, bias: layout.shiftBias,
               inputs: taps.count * e, outputs: d)
        let pt = p(layout.decoder.positionT) + t * d, ph = p(layout.decoder.positionH) + h * d, pw = p(layout.decoder.positionW) + w * d
        for r in 0..<rows {
            let row = stream.pointer + r * d
            for x in 0..<d { row[x] += pt[x] + ph[x] + pw[x] }
        }
        // Conditioning on this position's encoder output: its rows are N apart, so one strided product.
        if let encodedCache16 {
            RowProduct.forward(out: stream.pointer, input: encodedCache16.pointer + position * d, ldx: n * d, weight: model.roundedWeight(layout.condition),
                               bias: nil, rows: rows, inputs: d, outputs: d, accumulate: true)
        } else {
            RowProduct.forward(out: stream.pointer, input: encodedCache.pointer + position * d, ldx: n * d, weight: p(layout.condition),
                               bias: nil, rows: rows, inputs: d, outputs: d, accumulate: true)
        }
        if let decoderTerms {   // the frame's conditioning term, as the model adds it after the conditioning product
            let frames = config.frames, frame = model.subscaling.offset(ofSlice: k).t + t * config.subscale.t
            for r in 0..<rows {
                let row = stream.pointer + r * d, term = decoderTerms.pointer + (r * frames + frame) * d
                for x in 0..<d { row[x] += term[x] }
            }
        }
        for index in 0..<model.decoder.layers.count { layerStep(index, position: position) }
        LayerNorm.forward(out: decoded.pointer, mean: mean.pointer, rstd: rstd.pointer, input: stream.pointer,
                          scale: p(layout.decoder.finalNormScale), bias: p(layout.decoder.finalNormBias), rows: rows, width: d)
    }

    /// One masked block-local layer at one position, reading and extending the layer's key/value cache.
    func layerStep(_ index: Int, position: Int) {
        let o = model.layout.decoder.layers[index], partition = model.decoder.layers[index].partition
        let heads = config.heads, dh = config.headSize, nb = partition.blockLength
        LayerNorm.forward(out: normed.pointer, mean: mean.pointer, rstd: rstd.pointer, input: stream.pointer,
                          scale: p(o.attentionNormScale), bias: p(o.attentionNormBias), rows: rows, width: d)
        linear(out: query.pointer, input: normed.pointer, weight: o.query, bias: nil, inputs: d, outputs: hd)
        linear(out: key.pointer, input: normed.pointer, weight: o.key, bias: nil, inputs: d, outputs: hd)
        linear(out: value.pointer, input: normed.pointer, weight: o.value, bias: nil, inputs: d, outputs: hd)
        for b in 0..<rows {
            (keyCache[index].pointer + (b * n + position) * hd).update(from: key.pointer + b * hd, count: hd)
            (valueCache[index].pointer + (b * n + position) * hd).update(from: value.pointer + b * hd, count: hd)
        }
        let blockOrder = Int(blockOrderIndex[index][position])
        let blockStart = blockOrder / nb * nb, rank = blockOrder % nb
        let scale = 1 / Float(dh).squareRoot()
        // Each (video, head) pair is independent and computed exactly as on one thread: spread them over
        // the workers (the result does not depend on how), each with its own row of `scores`.
        let keys = keyCache[index].pointer, values = valueCache[index].pointer, bias = biases[index].pointer
        let (queries, outputs, scoreRows, n, hd, maxBlock) = (query.pointer, attended.pointer, scores, self.n, self.hd, maxBlockLength)
        partition.rasterIndex.withUnsafeBufferPointer { raster in
            Parallel.rows(rows * heads, grain: 4) { pairs in
                for pair in pairs {
                    let b = pair / heads, head = pair % heads
                    let scores = scoreRows + pair * maxBlock
                    let q = queries + b * hd + head * dh
                    let biasRow = bias + (head * nb + rank) * nb
                    var maximum = -Double.infinity
                    for j in 0...rank {
                        let k = keys + (b * n + Int(raster[blockStart + j])) * hd + head * dh
                        var dot: Float = 0
                        for x in 0..<dh { dot += q[x] * k[x] }
                        let logit = Double(dot * scale + biasRow[j])
                        scores[j] = logit; maximum = max(maximum, logit)
                    }
                    var total = 0.0
                    for j in 0...rank { scores[j] = exp(scores[j] - maximum); total += scores[j] }
                    let out = outputs + b * hd + head * dh
                    out.update(repeating: 0, count: dh)
                    for j in 0...rank {
                        let weight = Float(scores[j] / total)
                        let v = values + (b * n + Int(raster[blockStart + j])) * hd + head * dh
                        for x in 0..<dh { out[x] += weight * v[x] }
                    }
                }
            }
        }
        linear(out: stream.pointer, input: attended.pointer, weight: o.output, bias: nil, inputs: hd, outputs: d, accumulate: true)
        LayerNorm.forward(out: normed.pointer, mean: mean.pointer, rstd: rstd.pointer, input: stream.pointer,
                          scale: p(o.ffnNormScale), bias: p(o.ffnNormBias), rows: rows, width: d)
        linear(out: hidden.pointer, input: normed.pointer, weight: o.hiddenWeight, bias: o.hiddenBias, inputs: d, outputs: f)
        ReLU.forwardInPlace(hidden.pointer, count: rows * f)
        linear(out: stream.pointer, input: hidden.pointer, weight: o.outputWeight, bias: o.outputBias, inputs: f, outputs: d,
               accumulate: true)
    }

    /// Channel `channel`'s logits at `position` for every video → `logits` [rows, 256].
    func headLogits(channel: Int, position: Int, values: [UInt8]) {
        let offsets = model.layout.head[channel], c = ModelConfig.channels
        linear(out: pre.pointer, input: decoded.pointer, weight: offsets.hiddenWeight, bias: offsets.hiddenBias, inputs: d, outputs: d)
        if let previous = offsets.previous {
            for r in 0..<rows {
                let b = r % batch  // an unconditional twin reads its video's values
                for earlier in 0..<channel {
                    previousIndices[r * channel + earlier] = Int32(earlier * 256 + Int(values[(b * n + position) * c + earlier]))
                }
            }
            Embedding.gatherSum(out: pre.pointer, table: p(previous), indices: previousIndices, rows: rows, terms: channel,
                                width: d, accumulate: true)
        }
        ReLU.forward(out: headHidden.pointer, input: pre.pointer, count: rows * d)
        linear(out: logits.pointer, input: headHidden.pointer, weight: offsets.logitsWeight, bias: offsets.logitsBias,
               inputs: d, outputs: 256)
    }
}

extension CachedSampler {
    /// Row r's conditioning for the encoder: video r mod B's actions, and its label (a conditional row) or
    /// "no label" K (an unconditional twin).
    func conditioning(_ conditioning: Conditioning, row r: Int) -> Conditioning {
        let b = r % batch, width = config.frames * config.actions
        return Conditioning(actions: conditioning.actions.map { $0 + b * width },
                            labels: config.classes > 0 ? [r < batch ? conditioning.labels![b] : config.classes] : nil)
    }

    /// Every row's decoder conditioning term per frame (the model's own `conditioningTerms`).
    func prepareDecoderTerms(_ conditioning: Conditioning) {
        guard let decoderTerms else { return }
        let frames = config.frames, width = config.actions
        var frameActions = [Float](repeating: 0, count: rows * frames * width)
        if width > 0, let actions = conditioning.actions {
            for r in 0..<rows where frames > 1 {   // c_0 = 0, c_t = the clip's action t − 1
                let source = actions + (r % batch) * frames * width
                for i in 0..<((frames - 1) * width) { frameActions[r * frames * width + width + i] = source[i] }
            }
        }
        let labels = (0..<rows).map { config.classes > 0 ? ($0 < batch ? conditioning.labels![$0 % batch] : config.classes) : 0 }
        frameActions.withUnsafeBufferPointer { actions in
            VideoTransformer.conditioningTerms(model.layout.decoderConditioning, parameters: model.parameters.pointer,
                                               frameActions: width > 0 ? actions.baseAddress : nil, labels: labels, videos: rows,
                                               frames: frames, actions: width, width: d, into: decoderTerms.pointer)
        }
    }
}

extension SubpixelRandom {
    /// Classifier-free guidance: (1 + w)·ℓ_cond − w·ℓ_uncond per value, in Double, rounded to Float.
    public static func guided(conditional: UnsafePointer<Float>, unconditional: UnsafePointer<Float>, weight: Double) -> [Float] {
        [Float](unsafeUninitializedCapacity: 256) { buffer, count in
            guided(conditional: conditional, unconditional: unconditional, weight: weight, into: buffer.baseAddress!)
            count = 256
        }
    }

    /// The same into a caller's 256 values (the cached sampler's per-sub-pixel path allocates nothing).
    public static func guided(conditional: UnsafePointer<Float>, unconditional: UnsafePointer<Float>, weight: Double,
                              into out: UnsafeMutablePointer<Float>) {
        for c in 0..<256 { out[c] = Float((1 + weight) * Double(conditional[c]) - weight * Double(unconditional[c])) }
    }

    /// log softmax(logits)[value], in Double (the same arithmetic as `draw`'s log-probability).
    public static func logProbability(logits: UnsafePointer<Float>, value: UInt8) -> Double {
        var maximum = -Double.infinity
        for c in 0..<256 { maximum = max(maximum, Double(logits[c])) }
        var total = 0.0
        for c in 0..<256 { total += exp(Double(logits[c]) - maximum) }
        return Double(logits[Int(value)]) - maximum - log(total)
    }
}

/// The oracle: for every sub-pixel, re-run the whole teacher-forced forward on the partly generated
/// videos and read that sub-pixel's logits (with guidance, a second forward with "no label" for ℓ_uncond).
/// Causality makes the not-yet-generated values irrelevant.
public enum NaiveSampler {
    public static func sample(model: VideoTransformer, videos: UnsafeMutablePointer<UInt8>, videoIDs: [Int],
                              random: SubpixelRandom, temperature: Double, priming: FramePriming? = nil, firstFrame: Int = 0,
                              conditioning: Conditioning = .none, guidance: Double = 0, limit: Int? = nil) -> SamplingResult {
        let subscaling = priming.map { model.subscaling.primed($0) } ?? model.subscaling
        let primings = Array(repeating: subscaling.priming, count: videoIDs.count)
        precondition(model.recompute == .none, "NaiveSampler reads every channel's logits: needs recompute none")
        let config = model.config, c = ModelConfig.channels, batch = videoIDs.count, n = model.positions
        let videoSize = config.frames * config.height * config.width * c, shape = config.sliceShape
        let unconditional = Conditioning(actions: conditioning.actions,
                                         labels: config.classes > 0 ? Array(repeating: config.classes, count: batch) : nil)
        var logLikelihood = [Double](repeating: 0, count: batch), subpixels = 0, done = 0
        for k in 0..<config.sliceCount {
            let origin = subscaling.offset(ofSlice: k)
            for position in 0..<n where !subscaling.isPrimed(slice: k, position: position) {
                let pixel = subscaling.pixel(slice: origin, i: position / (shape.h * shape.w),
                                                   j: (position / shape.w) % shape.h, l: position % shape.w)
                let offset = ((pixel.t * config.height + pixel.h) * config.width + pixel.w) * c
                for channel in 0..<c {
                    if let limit, done >= limit { return SamplingResult(logLikelihood: logLikelihood, subpixels: subpixels) }
                    func logits() -> [Float] {
                        Array(UnsafeBufferPointer(start: model.head.logits[channel].pointer, count: batch * n * 256))
                    }
                    var guidedBy: [Float] = []
                    if guidance != 0 {
                        model.forward(videos: UnsafePointer(videos), slices: Array(repeating: k, count: batch), priming: primings,
                                      conditioning: unconditional, mode: .evaluation)
                        guidedBy = logits()
                    }
                    model.forward(videos: UnsafePointer(videos), slices: Array(repeating: k, count: batch), priming: primings,
                                  conditioning: conditioning, mode: .evaluation)
                    for b in 0..<batch {
                        let u = random.uniform(video: videoIDs[b], slice: k, position: position, channel: channel, firstFrame: firstFrame)
                        let conditional = model.head.logits[channel].pointer + (b * n + position) * 256
                        var logits = Array(UnsafeBufferPointer(start: conditional, count: 256))
                        if guidance != 0 {
                            logits = guidedBy.withUnsafeBufferPointer {
                                SubpixelRandom.guided(conditional: conditional, unconditional: $0.baseAddress! + (b * n + position) * 256,
                                                      weight: guidance)
                            }
                        }
                        let value = logits.withUnsafeBufferPointer {
                            SubpixelRandom.draw(logits: $0.baseAddress!, temperature: temperature, uniform: u).value
                        }
                        videos[b * videoSize + offset + channel] = value
                        logLikelihood[b] += SubpixelRandom.logProbability(logits: conditional, value: value)
                    }
                    subpixels += batch; done += 1
                }
            }
        }
        return SamplingResult(logLikelihood: logLikelihood, subpixels: subpixels)
    }
}
