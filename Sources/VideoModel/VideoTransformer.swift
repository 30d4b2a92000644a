// VideoTransformer: forward and backward of the Video Transformer (DESIGN.md §2) for a batch of
// (video, slice index) pairs with teacher forcing. `forward` reads like the paper: encoder embedding,
// encoder stack, decoder embedding with the shift convolution and conditioning, decoder stack, channel
// head and loss; `backward` mirrors it. All activations live in buffers sized once for `maxBatch`.
// With a model shard (ModelSharding.swift) each layer runs its own heads and d_ff columns and sums the
// row-split products (forward) and the column-split input gradients (backward) over the model group.
// With `precision: .bf16` every product reads bf16 inputs (a bf16 weight copy made once per step, saved
// activations kept in bf16 where only products read them) and writes fp32 (DESIGN.md §8); the rest is fp32.
// Leaves out: sampling with cached keys/values (Evaluation) and optimisation (Optimization).

import Foundation
import Kernels

/// Wall-clock seconds spent in each phase of the last forward/backward.
public struct PhaseTimes: Sendable {
    /// `recompute`: the part of `backward` spent re-running layer forwards (`recompute: layer`).
    public var encoder = 0.0, decoder = 0.0, head = 0.0, backward = 0.0, recompute = 0.0
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

/// A saved activation that only products read: an fp32 buffer, or (bf16) a bf16 one of half the bytes.
final class ProductInput {
    let fp32: FloatBuffer?
    let bf16: BFloat16Buffer?

    init(count: Int, precision: Precision) {
        fp32 = precision == .fp32 ? FloatBuffer(count: count) : nil
        bf16 = precision == .bf16 ? BFloat16Buffer(count: count) : nil
    }

    var operand: Operand { fp32.map { .fp32($0.pointer) } ?? .bf16(bf16!.pointer) }
    var bytes: Int { fp32?.bytes ?? bf16!.bytes }

    /// Where a producer writes the values: the fp32 buffer itself, or (bf16) `staging`, then `commit`.
    func destination(staging: FloatBuffer) -> UnsafeMutablePointer<Float> { fp32?.pointer ?? staging.pointer }

    /// The buffer as the destination of an attention product (fp32, or bf16 stored by oneDNN).
    var attentionOutput: BlockAttention.Output { fp32.map { .fp32($0.pointer) } ?? .bf16(bf16!.pointer) }

    /// bf16: rounds the `count` staged values into the bf16 buffer. fp32: nothing (already in place).
    func commit(_ staged: UnsafeMutablePointer<Float>, count: Int) {
        if let bf16 { BFloat16.convert(staged, to: bf16.pointer, count: count) }
    }
}

/// Saved activations of one block-local attention layer (rows = batch × positions). Attention keeps per-row
/// softmax statistics, not probabilities (BlockAttention+Statistics.swift). With `recompute: layer` every
/// layer shares one set, refilled by re-running the layer's forward just before its backward.
final class LayerBuffers {
    let ln1Mean, ln1Rstd, ln2Mean, ln2Rstd: FloatBuffer
    /// (max, 1/Σexp) per (row, head); `bias` is the expanded relative bias [heads, Nb, Nb].
    let statistics, middle, bias: FloatBuffer
    /// `hidden` holds relu(LN(middle)·W1 + b1): the ReLU runs in place, and its backward mask
    /// relu(x) > 0 equals x > 0, so the pre-activation need not be kept.
    let blockedInput, query, key, value, attended, ffnInput, hidden: ProductInput

    /// `heads`, `hd` and `f`: this shard's heads, heads·dh and d_ff; `blockLength`: the largest Nb served.
    init(rows: Int, config: ModelConfig, heads: Int, hd: Int, f: Int, blockLength nb: Int, precision: Precision) {
        let d = config.hiddenSize
        ln1Mean = FloatBuffer(count: rows); ln1Rstd = FloatBuffer(count: rows)
        ln2Mean = FloatBuffer(count: rows); ln2Rstd = FloatBuffer(count: rows)
        blockedInput = ProductInput(count: rows * d, precision: precision)
        query = ProductInput(count: rows * hd, precision: precision); key = ProductInput(count: rows * hd, precision: precision)
        value = ProductInput(count: rows * hd, precision: precision)
        attended = ProductInput(count: rows * hd, precision: precision)
        statistics = FloatBuffer(count: BlockAttention.statisticsCount(rows: rows, heads: heads))
        middle = FloatBuffer(count: rows * d); ffnInput = ProductInput(count: rows * d, precision: precision)
        hidden = ProductInput(count: rows * f, precision: precision)
        bias = FloatBuffer(count: heads * nb * nb)
    }

    var bytes: Int {
        [ln1Mean, ln1Rstd, ln2Mean, ln2Rstd, statistics, middle, bias].reduce(0) { $0 + $1.bytes }
            + [blockedInput, query, key, value, attended, ffnInput, hidden].reduce(0) { $0 + $1.bytes }
    }
}

/// One attention layer: its block partition and where its activations live (its own, or the shared set).
final class LayerActivations {
    let partition: BlockPartition
    let saved: LayerBuffers
    init(partition: BlockPartition, saved: LayerBuffers) { self.partition = partition; self.saved = saved }
}

public final class VideoTransformer {
    public let config: ModelConfig
    public let subscaling: Subscaling
    public let layout: ModelParameters
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer
    public let maxBatch: Int
    /// Precision of the matrix products (DESIGN.md §8); everything else is fp32 either way.
    public let precision: Precision
    /// What backward keeps from forward (DESIGN.md §9).
    public let recompute: Recompute
    /// bf16 runs: the bf16 rounding of `parameters` that products read, remade after every change.
    let weights16: BFloat16Buffer?
    private var weights16Current = false
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
    /// Which attention layer's activations the layer buffers hold (encoder i → i, decoder i → encoder layers + i);
    /// with `recompute: layer` backward skips re-running the layer the forward ended with.
    private var layerInScratch: Int?
    private(set) var batch = 0
    private(set) var slices: [Int] = []
    private var mode: ForwardMode = .evaluation

    // Encoder activations.
    let encoderIndices: UnsafeMutablePointer<Int32>
    let encoderEmbedded: FloatBuffer
    /// bf16 runs: bf16 copies of fp32 activations that products read (nil in fp32 runs).
    let encoderEmbedded16, decoderEmbedded16: BFloat16Buffer?
    let encoderStreams: [FloatBuffer]
    let encoderLayers: [LayerActivations]
    let encoderFinalMean, encoderFinalRstd: FloatBuffer
    /// The encoder's output after its final LayerNorm [B·N, D]: read only by products (conditioning).
    let encoded: ProductInput

    // Decoder activations.
    let sliceValues: UnsafeMutablePointer<UInt8>
    let decoderIndices: UnsafeMutablePointer<Int32>
    let decoderEmbedded: FloatBuffer
    let columns: ProductInput
    let decoderStreams: [FloatBuffer]
    let decoderLayers: [LayerActivations]
    let decoderFinalMean, decoderFinalRstd: FloatBuffer
    /// The decoder's output after its final LayerNorm [B·N, D]: read only by products (the channel head).
    let decoded: ProductInput

    // Head activations (per channel).
    let previousIndices: [UnsafeMutablePointer<Int32>]
    /// fp32: each channel's pre-ReLU head activation, kept for the ReLU mask (shared when recomputing). bf16: one shared scratch
    /// (the mask comes from the bf16 ReLU output, as in the FFN).
    let headPre, logits: [FloatBuffer]
    let headHidden: [ProductInput]
    /// Per-channel NLL (nats) of every row of the batch, [C][B·N]; primed rows hold their value too.
    public let nll: [UnsafeMutablePointer<Double>]
    let weights: FloatBuffer

    // Scratch shared by all layers.
    let scratchRows, scratchBlocked, dStream, dRows, dBlocked, dEncoded: FloatBuffer
    let dQuery, dKey, dValue, dAttended: FloatBuffer
    let dHidden, dColumns, dEmbedded, dBias, positionScratch, attentionWorkspace: FloatBuffer
    /// bf16 runs: rounded output gradients of a product, attention's per-chunk bf16 blocks, and dq, dk, dv
    /// (bf16 only: the fp32 dQuery, dKey, dValue are then empty).
    let dOut16, attentionWorkspace16, dQuery16, dKey16, dValue16: BFloat16Buffer?
    /// bf16 runs: per-chunk bias-gradient partials of `Linear.roundRows`; one block's rounded FFN gradient.
    let roundingSums: FloatBuffer?
    let ffnGradient16: BFloat16Buffer?

    /// `sharding` and `modelAxisReduce` (which sums over the ranks holding the other shards) make this
    /// one shard of a model split over a model axis; a config whose heads or d_ff the axis does not
    /// divide is rejected.
    public init(config: ModelConfig, maxBatch: Int, sharding: ModelSharding = .whole,
                modelAxisReduce: ModelAxisReduce? = nil, precision: Precision = .fp32, recompute: Recompute = .none) throws {
        try config.validate()
        if let problem = ModelSharding.problem(config: config, count: sharding.count) { throw ConfigError(problem) }
        precondition(maxBatch >= 1)
        precondition(sharding.count == 1 || modelAxisReduce != nil, "a model shard needs a model-axis reduction")
        self.config = config
        self.maxBatch = maxBatch
        self.precision = precision
        self.recompute = recompute
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
        weights16 = precision == .bf16 ? BFloat16Buffer(count: layout.table.totalCount) : nil
        func copy16(_ count: Int) -> BFloat16Buffer? { precision == .bf16 ? BFloat16Buffer(count: count) : nil }
        grid = config.sliceShape
        n = config.positionsPerSlice; e = config.embeddingSize; d = config.hiddenSize
        heads = config.heads / sharding.count; hd = heads * config.headSize; f = config.ffnSize / sharding.count
        let (heads, hd, f) = (self.heads, self.hd, self.f)
        primeFrame = (0..<config.frames).map { config.primeFrames.contains($0) }
        encoderTerms = config.encoderKernel.product * Self.c
        let rows = maxBatch * n, c = Self.c, d = config.hiddenSize, e = config.embeddingSize

        encoderIndices = .allocate(capacity: rows * encoderTerms)
        encoderEmbedded = FloatBuffer(count: rows * e)
        encoderEmbedded16 = copy16(rows * e); decoderEmbedded16 = copy16(rows * e)
        encoderStreams = (0...config.encoderLayers).map { _ in FloatBuffer(count: rows * d) }
        let grid = self.grid
        let encoderPartitions = (0..<config.encoderLayers).map { BlockPartition(grid: grid.tuple, block: config.block(forLayer: $0).tuple) }
        let decoderPartitions = (0..<config.decoderLayers).map { BlockPartition(grid: grid.tuple, block: config.block(forLayer: $0).tuple) }
        let maxBlock = (encoderPartitions + decoderPartitions).map(\.blockLength).max() ?? 1
        func buffers(_ nb: Int) -> LayerBuffers {
            LayerBuffers(rows: rows, config: config, heads: heads, hd: hd, f: f, blockLength: nb, precision: precision)
        }
        let shared = recompute == .layer ? buffers(maxBlock) : nil
        encoderLayers = encoderPartitions.map { LayerActivations(partition: $0, saved: shared ?? buffers($0.blockLength)) }
        encoderFinalMean = FloatBuffer(count: rows); encoderFinalRstd = FloatBuffer(count: rows)
        encoded = ProductInput(count: rows * d, precision: precision)

        sliceValues = .allocate(capacity: rows * c)
        decoderIndices = .allocate(capacity: rows * c)
        decoderEmbedded = FloatBuffer(count: rows * e)
        columns = ProductInput(count: rows * ShiftConvolution.taps.count * e, precision: precision)
        decoderStreams = (0...config.decoderLayers).map { _ in FloatBuffer(count: rows * d) }
        decoderLayers = decoderPartitions.map { LayerActivations(partition: $0, saved: shared ?? buffers($0.blockLength)) }
        decoderFinalMean = FloatBuffer(count: rows); decoderFinalRstd = FloatBuffer(count: rows)
        decoded = ProductInput(count: rows * d, precision: precision)

        previousIndices = (0..<c).map { UnsafeMutablePointer<Int32>.allocate(capacity: max(1, rows * $0)) }
        let sharedHeadPre = FloatBuffer(count: rows * config.hiddenSize)
        // Recomputing, backward re-runs each channel of the head just before its backward: one set serves all.
        let shareHead = recompute == .layer
        headPre = (0..<c).map { _ in precision == .bf16 || shareHead ? sharedHeadPre : FloatBuffer(count: rows * config.hiddenSize) }
        let sharedHidden = ProductInput(count: rows * config.hiddenSize, precision: precision)
        headHidden = (0..<c).map { _ in shareHead ? sharedHidden : ProductInput(count: rows * config.hiddenSize, precision: precision) }
        let sharedLogits = FloatBuffer(count: rows * 256)
        logits = (0..<c).map { _ in shareHead ? sharedLogits : FloatBuffer(count: rows * 256) }
        nll = (0..<c).map { _ in
            let p = UnsafeMutablePointer<Double>.allocate(capacity: rows); p.initialize(repeating: 0, count: rows); return p
        }
        weights = FloatBuffer(count: rows)

        // Row scratch: forward's staging buffers are free during backward and backward's are free during
        // forward, so each pair is one buffer; so are d(encoder output) and d(attended), which live while dRows
        // is not in use (between the decoder stack and the encoder's final LayerNorm; inside one layer's backward).
        dRows = FloatBuffer(count: rows * max(d, hd)); dBlocked = FloatBuffer(count: rows * d)
        scratchRows = dRows; scratchBlocked = dBlocked; dEncoded = dRows; dAttended = dRows
        dStream = FloatBuffer(count: rows * d)
        let fp32Only = precision == .fp32 ? 1 : 0
        dQuery = FloatBuffer(count: fp32Only * rows * hd); dKey = FloatBuffer(count: fp32Only * rows * hd)
        dValue = FloatBuffer(count: fp32Only * rows * hd)
        dQuery16 = copy16(rows * hd); dKey16 = copy16(rows * hd); dValue16 = copy16(rows * hd)
        roundingSums = precision == .bf16 ? FloatBuffer(count: Linear.roundingWorkspaceCount(columns: max(f, 256, d, hd))) : nil
        // bf16 runs need dHid for one block of rows only (ffnBackwardBF16).
        dHidden = FloatBuffer(count: (precision == .bf16 ? min(rows, Self.ffnBlockRows) : rows) * max(f, 256))
        ffnGradient16 = copy16(min(rows, Self.ffnBlockRows) * f)
        // The shift convolution's column gradient is formed one video at a time (col2im is per video).
        dColumns = FloatBuffer(count: n * ShiftConvolution.taps.count * e)
        dEmbedded = FloatBuffer(count: rows * e)
        dBias = FloatBuffer(count: heads * maxBlock * maxBlock)
        let partitions = encoderPartitions + decoderPartitions
        attentionWorkspace = FloatBuffer(count: partitions.map {
            BlockAttention.statisticsBackwardWorkspaceCount(groups: rows / $0.blockLength, blockLength: $0.blockLength, heads: heads)
        }.max() ?? 1)
        positionScratch = FloatBuffer(count: n * d)
        // Rounded output gradients of products: widths 256 (logits), d and hd; the FFN's d_ff-wide gradient is
        // rounded block by block into ffnGradient16.
        dOut16 = copy16(rows * max(256, d, hd))
        attentionWorkspace16 = copy16(partitions.map {
            BlockAttention.statisticsWorkspaceCountBF16(groups: rows / $0.blockLength, blockLength: $0.blockLength, headSize: config.headSize)
        }.max() ?? 1)
    }

    deinit {
        encoderIndices.deallocate(); sliceValues.deallocate(); decoderIndices.deallocate()
        previousIndices.forEach { $0.deallocate() }; nll.forEach { $0.deallocate() }
    }

    /// Bytes held in activation and scratch buffers (parameters and gradients excluded), each buffer once.
    public var activationBytes: Int {
        let rows = maxBatch * n, c = Self.c
        let buffers: [FloatBuffer] = [encoderEmbedded, encoderFinalMean, encoderFinalRstd, decoderEmbedded,
                                      decoderFinalMean, decoderFinalRstd, weights, scratchRows,
                                      scratchBlocked, dStream, dRows, dBlocked, dEncoded, dQuery, dKey, dValue,
                                      dAttended, dHidden, dColumns, dEmbedded, dBias, positionScratch, attentionWorkspace]
            + encoderStreams + decoderStreams + headPre + logits
        var seen = Set<ObjectIdentifier>()
        let floats = buffers.filter { seen.insert(ObjectIdentifier($0)).inserted }.reduce(0) { $0 + $1.bytes }
        let layers = (encoderLayers + decoderLayers).map(\.saved).filter { seen.insert(ObjectIdentifier($0)).inserted }
        let copies16 = [encoderEmbedded16, decoderEmbedded16, dOut16, attentionWorkspace16,
                        dQuery16, dKey16, dValue16, ffnGradient16]
            .reduce(0) { $0 + ($1?.bytes ?? 0) }
        let productInputs = ([columns, encoded, decoded] + headHidden).filter { seen.insert(ObjectIdentifier($0)).inserted }
        return floats + layers.reduce(0) { $0 + $1.bytes } + productInputs.reduce(0) { $0 + $1.bytes } + copies16
            + rows * (encoderTerms + 2 * c) * 4 + rows * c * (1 + 8) + rows * 3 * 4
    }

    /// Bytes of the attention layers' saved activations (each layer's, or recomputing the one shared set)
    /// and of the residual streams: the part of `activationBytes` that grows with depth.
    public var savedActivationBytes: Int {
        var seen = Set<ObjectIdentifier>()
        let layers = (encoderLayers + decoderLayers).map(\.saved).filter { seen.insert(ObjectIdentifier($0)).inserted }
        let streams = (encoderStreams + decoderStreams).reduce(0) { $0 + $1.bytes }
        return layers.reduce(0) { $0 + $1.bytes } + streams
    }

    @inline(__always) func p(_ offset: Int) -> UnsafeMutablePointer<Float> { parameters.pointer + offset }
    @inline(__always) func g(_ offset: Int) -> UnsafeMutablePointer<Float> { gradients.pointer + offset }
    @inline(__always) func w16(_ offset: Int) -> UnsafePointer<BFloat16> { UnsafePointer(weights16!.pointer + offset) }

    // MARK: - Precision

    /// Bytes of the bf16 weight copy (0 in fp32 runs): state beside the fp32 parameters and gradients.
    public var lowPrecisionWeightBytes: Int { weights16?.bytes ?? 0 }

    /// Tells a bf16 model that `parameters` changed (optimizer step, load, broadcast): the next training
    /// forward remakes the bf16 weight copy. Evaluation forwards and samplers remake it every call.
    public func parametersChanged() { weights16Current = false }

    /// bf16 runs: rounds `parameters` into the bf16 copy products read (once per optimizer step).
    public func refreshLowPrecisionWeights() {
        guard let weights16 else { return }
        weights16.round(from: parameters.pointer)
        weights16Current = true
    }

    /// An fp32 activation kept as it is (fp32) or with a bf16 copy (bf16) for products.
    @inline(__always) func operand(_ buffer: FloatBuffer, _ copy16: BFloat16Buffer?) -> Operand {
        copy16.map { .bf16($0.pointer) } ?? .fp32(buffer.pointer)
    }

    /// out (+)= input·W (+ b): OpenBLAS in fp32 runs, oneDNN on the bf16 weight copy in bf16 runs.
    func linearForward(out: UnsafeMutablePointer<Float>, input: Operand, weight: Int, bias: Int?, rows: Int,
                       inputs: Int, outputs: Int, accumulate: Bool = false) {
        switch input {
        case .fp32(let x):
            Linear.forward(out: out, input: x, weight: p(weight), bias: bias.map(p), rows: rows, inputs: inputs,
                           outputs: outputs, accumulate: accumulate)
        case .bf16(let x):
            Linear.forward(out: out, input: x, weight: w16(weight), bias: bias.map(p), rows: rows, inputs: inputs,
                           outputs: outputs, accumulate: accumulate)
        }
    }

    /// dW += inputᵀ·dOut, db += Σ dOut, dInput (+)= dOut·Wᵀ in the run's precision (gradients fp32).
    func linearBackward(dInput: UnsafeMutablePointer<Float>?, weight: Int, bias: Int?, dOut: UnsafePointer<Float>,
                        input: Operand, rows: Int, inputs: Int, outputs: Int, accumulateInput: Bool = false) {
        switch input {
        case .fp32(let x):
            Linear.backward(dInput: dInput, dWeight: g(weight), dBias: bias.map(g), dOut: dOut, input: x, weight: p(weight),
                            rows: rows, inputs: inputs, outputs: outputs, accumulateInput: accumulateInput)
        case .bf16(let x):
            Linear.backward(dInput: dInput, dWeight: g(weight), dBias: bias.map(g), dOut: dOut, input: x, weight: w16(weight),
                            rows: rows, inputs: inputs, outputs: outputs, accumulateInput: accumulateInput, dOutScratch: dOut16!,
                            sums: roundingSums)
        }
    }

    // MARK: - Forward

    /// Runs the model on `videos` (UInt8 [B, T, H, W, 3]) for slice `slices[b]` of video b.
    /// In training mode the loss of video b is weighted by 1/`lossNormalizer` (default B) so that gradients
    /// from several ranks or micro-batches sum to the gradient of the global mean.
    @discardableResult
    public func forward(videos: UnsafePointer<UInt8>, slices: [Int], mode: ForwardMode,
                        lossNormalizer: Double? = nil) -> BatchResult {
        precondition(!slices.isEmpty && slices.count <= maxBatch, "forward: batch \(slices.count) outside 1...\(maxBatch)")
        prepare(slices: slices, mode: mode)
        if precision == .bf16 && (mode == .evaluation || !weights16Current) { refreshLowPrecisionWeights() }
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
        if let encoderEmbedded16 { BFloat16.convert(encoderEmbedded.pointer, to: encoderEmbedded16.pointer, count: rows * e) }
        linearForward(out: encoderStreams[0].pointer, input: operand(encoderEmbedded, encoderEmbedded16),
                      weight: layout.inputWeight, bias: layout.inputBias, rows: rows, inputs: e, outputs: d)
        addPositions(encoderStreams[0].pointer, layout.encoder)
        for (index, layer) in encoderLayers.enumerated() {
            attentionLayerForward(layer, offsets: layout.encoder.layers[index], input: encoderStreams[index],
                                  output: encoderStreams[index + 1], causal: false, id: index)
        }
        let encodedOut = encoded.destination(staging: scratchRows)
        LayerNorm.forward(out: encodedOut, mean: encoderFinalMean.pointer, rstd: encoderFinalRstd.pointer,
                          input: encoderStreams[config.encoderLayers].pointer, scale: p(layout.encoder.finalNormScale),
                          bias: p(layout.encoder.finalNormBias), rows: rows, width: d)
        encoded.commit(encodedOut, count: rows * d)
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
        if let columns16 = columns.bf16, let decoderEmbedded16 {
            BFloat16.convert(decoderEmbedded.pointer, to: decoderEmbedded16.pointer, count: rows * e)
            ShiftConvolution.im2col(columns: columns16.pointer, embedded: decoderEmbedded16.pointer, videos: batch,
                                    grid: grid.tuple, width: e)
        } else {
            ShiftConvolution.im2col(columns: columns.fp32!.pointer, embedded: decoderEmbedded.pointer, videos: batch,
                                    grid: grid.tuple, width: e)
        }
        let stream = decoderStreams[0].pointer
        linearForward(out: stream, input: columns.operand, weight: layout.shiftWeight, bias: layout.shiftBias,
                      rows: rows, inputs: ShiftConvolution.taps.count * e, outputs: d)
        addPositions(stream, layout.decoder)
        linearForward(out: stream, input: encoded.operand, weight: layout.condition, bias: nil, rows: rows,
                      inputs: d, outputs: d, accumulate: true)
        for (index, layer) in decoderLayers.enumerated() {
            attentionLayerForward(layer, offsets: layout.decoder.layers[index], input: decoderStreams[index],
                                  output: decoderStreams[index + 1], causal: true, id: encoderLayers.count + index)
        }
        let decodedOut = decoded.destination(staging: scratchRows)
        LayerNorm.forward(out: decodedOut, mean: decoderFinalMean.pointer, rstd: decoderFinalRstd.pointer,
                          input: decoderStreams[config.decoderLayers].pointer, scale: p(layout.decoder.finalNormScale),
                          bias: p(layout.decoder.finalNormBias), rows: rows, width: d)
        decoded.commit(decodedOut, count: rows * d)
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
        for channel in 0..<c { headChannelForward(channel) }
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

    /// Channel `channel` of the head: pre-activation, ReLU, logits and the loss (training: dLogits in place).
    /// `recompute: layer` runs it again in backward (the three channels share one set of buffers).
    func headChannelForward(_ channel: Int) {
        let rows = batch * n, c = Self.c
        let offsets = layout.head[channel]
        linearForward(out: headPre[channel].pointer, input: decoded.operand, weight: offsets.hiddenWeight,
                      bias: offsets.hiddenBias, rows: rows, inputs: d, outputs: d)
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
        let hidden = headHidden[channel].destination(staging: scratchBlocked)  // dRows holds dY in backward
        ReLU.forward(out: hidden, input: headPre[channel].pointer, count: rows * d)
        headHidden[channel].commit(hidden, count: rows * d)
        linearForward(out: logits[channel].pointer, input: headHidden[channel].operand,
                      weight: offsets.logitsWeight, bias: offsets.logitsBias, rows: rows, inputs: d, outputs: 256)
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
                               output: FloatBuffer, causal: Bool, id: Int) {
        let rows = batch * n, partition = layer.partition, nb = partition.blockLength, a = layer.saved
        layerInScratch = id
        LayerNorm.forward(out: scratchRows.pointer, mean: a.ln1Mean.pointer, rstd: a.ln1Rstd.pointer,
                          input: input.pointer, scale: p(o.attentionNormScale), bias: p(o.attentionNormBias),
                          rows: rows, width: d)
        // bf16 runs stage each product input in fp32 scratch (free during forward) and keep its rounding.
        let blocked = a.blockedInput.destination(staging: scratchBlocked)
        partition.toBlockOrder(scratchRows.pointer, blocked, videos: batch, width: d)
        a.blockedInput.commit(blocked, count: rows * d)
        func project(_ projection: ProductInput, _ weight: Int) {
            switch a.blockedInput.operand {
            case .fp32(let x):
                Linear.forward(out: projection.fp32!.pointer, input: x, weight: p(weight), bias: nil, rows: rows, inputs: d, outputs: hd)
            case .bf16(let x):  // q, k, v only feed products: oneDNN stores them as bf16 directly
                Linear.forward(out: projection.bf16!.pointer, input: x, weight: w16(weight), bias: nil, rows: rows, inputs: d, outputs: hd)
            }
        }
        project(a.query, o.query)
        project(a.key, o.key)
        project(a.value, o.value)
        RelativeBias.expand(rt: p(o.relativeT), rh: p(o.relativeH), rw: p(o.relativeW), heads: heads,
                            block: o.block.tuple, into: a.bias.pointer)
        BlockAttention.forward(out: a.attended.attentionOutput, statistics: a.statistics.pointer, inputs: attentionInputs(a),
                               bias: a.bias.pointer, groups: rows / nb, blockLength: nb, heads: heads, headSize: config.headSize,
                               causal: causal, workspace: attentionWorkspace, workspace16: attentionWorkspace16)
        linearForward(out: scratchBlocked.pointer, input: a.attended.operand, weight: o.output, bias: nil,
                      rows: rows, inputs: hd, outputs: d)
        modelAxisReduce?(scratchBlocked.pointer, rows * d)  // row-split Wo: sum the heads of every shard
        a.middle.pointer.update(from: input.pointer, count: rows * d)
        partition.toRasterOrder(scratchBlocked.pointer, a.middle.pointer, videos: batch, width: d, accumulate: true)
        let ffnInput = a.ffnInput.destination(staging: scratchRows)
        LayerNorm.forward(out: ffnInput, mean: a.ln2Mean.pointer, rstd: a.ln2Rstd.pointer,
                          input: a.middle.pointer, scale: p(o.ffnNormScale), bias: p(o.ffnNormBias),
                          rows: rows, width: d)
        a.ffnInput.commit(ffnInput, count: rows * d)
        switch a.ffnInput.operand {
        case .fp32(let x):
            let hidden = a.hidden.fp32!.pointer
            Linear.forward(out: hidden, input: x, weight: p(o.hiddenWeight), bias: p(o.hiddenBias), rows: rows, inputs: d, outputs: f)
            ReLU.forwardInPlace(hidden, count: rows * f)
        case .bf16(let x):  // bias and ReLU in oneDNN's epilogue, stored as bf16: W2's product is all that reads it
            Linear.forward(out: a.hidden.bf16!.pointer, input: x, weight: w16(o.hiddenWeight), bias: p(o.hiddenBias),
                           relu: true, rows: rows, inputs: d, outputs: f)
        }
        if let modelAxisReduce {
            // Row-split W2: output = middle + Σ_shards hidden·W2 + b2 (b2 is replicated, added once).
            linearForward(out: output.pointer, input: a.hidden.operand, weight: o.outputWeight, bias: nil,
                          rows: rows, inputs: f, outputs: d)
            modelAxisReduce(output.pointer, rows * d)
            Self.add(a.middle.pointer, to: output.pointer, count: rows * d)
            Linear.addRowVector(output.pointer, p(o.outputBias), rows: rows, columns: d)
        } else {
            output.pointer.update(from: a.middle.pointer, count: rows * d)
            linearForward(out: output.pointer, input: a.hidden.operand, weight: o.outputWeight,
                          bias: o.outputBias, rows: rows, inputs: f, outputs: d, accumulate: true)
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
        phaseTimes.recompute = 0
        let rows = batch * n, c = Self.c
        // Channel head → dY (in dRows).
        let dY = dRows.pointer
        dY.update(repeating: 0, count: rows * d)
        for channel in 0..<c {
            if recompute == .layer {
                var clock = Stopwatch()
                headChannelForward(channel)
                phaseTimes.recompute += clock.lap()
            }
            let offsets = layout.head[channel]
            let dHid = dStream.pointer
            linearBackward(dInput: dHid, weight: offsets.logitsWeight, bias: offsets.logitsBias,
                           dOut: logits[channel].pointer, input: headHidden[channel].operand, rows: rows, inputs: d, outputs: 256)
            switch headHidden[channel].operand {
            case .fp32: ReLU.backward(dInput: dHid, dOut: dHid, input: headPre[channel].pointer, count: rows * d)
            case .bf16(let hidden): ReLU.backward(dInput: dHid, dOut: dHid, input: hidden, count: rows * d)
            }
            if let previous = offsets.previous {
                Embedding.scatterAdd(dTable: g(previous), dOut: dHid, indices: previousIndices[channel], rows: rows,
                                     terms: channel, width: d)
            }
            linearBackward(dInput: dY, weight: offsets.hiddenWeight, bias: offsets.hiddenBias, dOut: dHid,
                           input: decoded.operand, rows: rows, inputs: d, outputs: d, accumulateInput: true)
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
            let (layer, offsets) = (decoderLayers[index], layout.decoder.layers[index])
            restore(layer, offsets: offsets, input: decoderStreams[index], output: decoderStreams[index + 1], causal: true,
                    id: encoderLayers.count + index)
            attentionLayerBackward(layer, offsets: offsets, input: decoderStreams[index], causal: true)
            gradientsReady("decoder/layer_\(index)")
        }
        // Decoder input: shift convolution, positions, conditioning.
        let dInput = dStream.pointer
        positionBackward(dInput, layout.decoder)
        linearBackward(dInput: dEncoded.pointer, weight: layout.condition, bias: nil, dOut: dInput,
                       input: encoded.operand, rows: rows, inputs: d, outputs: d)
        let taps = ShiftConvolution.taps.count
        linearBackward(dInput: nil, weight: layout.shiftWeight, bias: layout.shiftBias,
                       dOut: dInput, input: columns.operand, rows: rows, inputs: taps * e, outputs: d)
        // d(columns) = dInput·Wᵀ and col2im, one video at a time (bf16: from the rounded dInput linearBackward left).
        dEmbedded.zero()
        for b in 0..<batch {
            switch columns.operand {
            case .fp32:
                MatMul.gemm(transB: true, m: n, n: taps * e, k: d, a: dInput + b * n * d, lda: d, b: p(layout.shiftWeight),
                            ldb: d, c: dColumns.pointer, ldc: taps * e)
            case .bf16:
                MatMul.gemmBF16(transB: true, m: n, n: taps * e, k: d, a: dOut16!.pointer + b * n * d, lda: d,
                                b: w16(layout.shiftWeight), ldb: d, c: dColumns.pointer, ldc: taps * e)
            }
            ShiftConvolution.col2im(dEmbedded: dEmbedded.pointer + b * n * e, dColumns: dColumns.pointer, videos: 1,
                                    grid: grid.tuple, width: e)
        }
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
            let (layer, offsets) = (encoderLayers[index], layout.encoder.layers[index])
            restore(layer, offsets: offsets, input: encoderStreams[index], output: encoderStreams[index + 1], causal: false,
                    id: index)
            attentionLayerBackward(layer, offsets: offsets, input: encoderStreams[index], causal: false)
            gradientsReady("encoder/layer_\(index)")
        }
        // Encoder input: positions, projection, slice embedding, one-hot convolution.
        positionBackward(dInput, layout.encoder)
        linearBackward(dInput: dEmbedded.pointer, weight: layout.inputWeight, bias: layout.inputBias,
                       dOut: dInput, input: operand(encoderEmbedded, encoderEmbedded16), rows: rows, inputs: e, outputs: d)
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

    /// `recompute: layer`: re-runs the layer's forward from its saved input into the shared buffers (the same
    /// kernels on the same values: bitwise what forward computed), unless they still hold it. The output
    /// stream it rewrites holds those same values already and is not read again by this backward.
    func restore(_ layer: LayerActivations, offsets: LayerOffsets, input: FloatBuffer, output: FloatBuffer, causal: Bool, id: Int) {
        guard recompute == .layer, layerInScratch != id else { return }
        var clock = Stopwatch()
        attentionLayerForward(layer, offsets: offsets, input: input, output: output, causal: causal, id: id)
        phaseTimes.recompute += clock.lap()
    }

    /// q, k, v of a layer's saved activations for the attention kernel.
    func attentionInputs(_ a: LayerBuffers) -> BlockAttention.Inputs {
        switch (a.query.operand, a.key.operand, a.value.operand) {
        case let (.fp32(q), .fp32(k), .fp32(v)): return .fp32(q: q, k: k, v: v)
        case let (.bf16(q), .bf16(k), .bf16(v)): return .bf16(q: q, k: k, v: v)
        default: preconditionFailure("attention inputs of mixed precision")
        }
    }

    /// Backward of one layer. On entry `dStream` holds d(layer output); on exit d(layer input).
    func attentionLayerBackward(_ layer: LayerActivations, offsets o: LayerOffsets, input: FloatBuffer, causal: Bool) {
        let rows = batch * n, partition = layer.partition, nb = partition.blockLength, a = layer.saved
        let dOutput = dStream.pointer
        // FFN: output = middle + relu(LN2(middle)·W1 + b1)·W2 + b2.
        switch (a.hidden.operand, a.ffnInput.operand) {
        case let (.fp32(hidden), ffnInput):
            let dHid = dHidden.pointer
            linearBackward(dInput: dHid, weight: o.outputWeight, bias: o.outputBias, dOut: dOutput,
                           input: .fp32(hidden), rows: rows, inputs: f, outputs: d)
            ReLU.backward(dInput: dHid, dOut: dHid, input: hidden, count: rows * f)
            linearBackward(dInput: dRows.pointer, weight: o.hiddenWeight, bias: o.hiddenBias, dOut: dHid,
                           input: ffnInput, rows: rows, inputs: d, outputs: f)
        case let (.bf16(hidden), .bf16(ffnInput)):
            ffnBackwardBF16(o, hidden: hidden, ffnInput: ffnInput, dOutput: dOutput, rows: rows)
        default: preconditionFailure("FFN inputs of mixed precision")
        }
        modelAxisReduce?(dRows.pointer, rows * d)  // column-split W1: d(LN2 output) sums every shard's part
        LayerNorm.backward(dInput: dOutput, dScale: g(o.ffnNormScale), dBias: g(o.ffnNormBias), dOut: dRows.pointer,
                           input: a.middle.pointer, mean: a.ln2Mean.pointer, rstd: a.ln2Rstd.pointer,
                           scale: p(o.ffnNormScale), rows: rows, width: d)
        // Attention: middle = input + unblock(attended·Wo).
        partition.toBlockOrder(dOutput, dBlocked.pointer, videos: batch, width: d)
        linearBackward(dInput: dAttended.pointer, weight: o.output, bias: nil, dOut: dBlocked.pointer,
                       input: a.attended.operand, rows: rows, inputs: hd, outputs: d)
        let biasCount = heads * nb * nb
        dBias.pointer.update(repeating: 0, count: biasCount)
        let dOut: Operand
        switch a.attended.operand {
        case .fp32: dOut = .fp32(dAttended.pointer)
        case .bf16:
            BFloat16.convert(dAttended.pointer, to: dOut16!.pointer, count: rows * hd)
            dOut = .bf16(dOut16!.pointer)
        }
        // bf16 runs: dq, dk, dv only feed the projections' backward products and are stored as bf16.
        let (dq, dk, dv): (BlockAttention.Output, BlockAttention.Output, BlockAttention.Output) = precision == .bf16
            ? (.bf16(dQuery16!.pointer), .bf16(dKey16!.pointer), .bf16(dValue16!.pointer))
            : (.fp32(dQuery.pointer), .fp32(dKey.pointer), .fp32(dValue.pointer))
        BlockAttention.backward(dq: dq, dk: dk, dv: dv, dBias: dBias.pointer, dOut: dOut, inputs: attentionInputs(a),
                                statistics: a.statistics.pointer, bias: a.bias.pointer, groups: rows / nb, blockLength: nb,
                                heads: heads, headSize: config.headSize, causal: causal, workspace: attentionWorkspace,
                                workspace16: attentionWorkspace16)
        RelativeBias.backward(dBias: dBias.pointer, heads: heads, block: o.block.tuple, dRt: g(o.relativeT),
                              dRh: g(o.relativeH), dRw: g(o.relativeW))
        switch a.blockedInput.operand {
        case .fp32:
            let blocked = a.blockedInput.operand
            linearBackward(dInput: dBlocked.pointer, weight: o.query, bias: nil, dOut: dQuery.pointer,
                           input: blocked, rows: rows, inputs: d, outputs: hd)
            linearBackward(dInput: dBlocked.pointer, weight: o.key, bias: nil, dOut: dKey.pointer,
                           input: blocked, rows: rows, inputs: d, outputs: hd, accumulateInput: true)
            linearBackward(dInput: dBlocked.pointer, weight: o.value, bias: nil, dOut: dValue.pointer,
                           input: blocked, rows: rows, inputs: d, outputs: hd, accumulateInput: true)
        case .bf16(let blocked):  // dq, dk, dv arrive in bf16 from attention's backward products
            func projectionBackward(_ weight: Int, _ dOut: BFloat16Buffer, accumulate: Bool) {
                Linear.backward(dInput: dBlocked.pointer, dWeight: g(weight), dOut: dOut.pointer, input: blocked,
                                weight: w16(weight), rows: rows, inputs: d, outputs: hd, accumulateInput: accumulate)
            }
            projectionBackward(o.query, dQuery16!, accumulate: false)
            projectionBackward(o.key, dKey16!, accumulate: true)
            projectionBackward(o.value, dValue16!, accumulate: true)
        }
        modelAxisReduce?(dBlocked.pointer, rows * d)  // column-split Q/K/V: d(LN1 output) sums every shard's part
        partition.toRasterOrder(dBlocked.pointer, dRows.pointer, videos: batch, width: d, accumulate: false)
        LayerNorm.backward(dInput: dOutput, dScale: g(o.attentionNormScale), dBias: g(o.attentionNormBias),
                           dOut: dRows.pointer, input: input.pointer, mean: a.ln1Mean.pointer,
                           rstd: a.ln1Rstd.pointer, scale: p(o.attentionNormScale), rows: rows, width: d)
    }

    /// Rows per block of the bf16 FFN backward (a fixed number: results do not depend on the machine).
    static let ffnBlockRows = 2048

    /// The bf16 FFN backward without a [rows, d_ff] gradient: dW2 += hiddenᵀ·bf16(dOutput), db2 += Σ dOutput;
    /// then, per block of `ffnBlockRows` rows, dHid = bf16(dOutput)·W2ᵀ (fp32), its ReLU mask, bf16 rounding
    /// and b1's gradient in one pass, dW1 += ffnInputᵀ·dHid16 and d(LN2 output) = dHid16·W1ᵀ into `dRows`.
    func ffnBackwardBF16(_ o: LayerOffsets, hidden: UnsafePointer<BFloat16>, ffnInput: UnsafePointer<BFloat16>,
                         dOutput: UnsafePointer<Float>, rows: Int) {
        let dOutput16 = dOut16!.pointer, dHid = dHidden.pointer, dHid16 = ffnGradient16!
        Linear.backward(dInput: nil, dWeight: g(o.outputWeight), dBias: g(o.outputBias), dOut: dOutput, input: hidden,
                        weight: w16(o.outputWeight), rows: rows, inputs: f, outputs: d, dOutScratch: dOut16!, sums: roundingSums)
        for start in stride(from: 0, to: rows, by: Self.ffnBlockRows) {
            let count = min(Self.ffnBlockRows, rows - start)
            MatMul.gemmBF16(transB: true, m: count, n: f, k: d, a: dOutput16 + start * d, lda: d, b: w16(o.outputWeight),
                            ldb: d, c: dHid, ldc: f)
            Linear.roundRows(dHid, mask: hidden + start * f, into: dHid16, biasGradient: g(o.hiddenBias), rows: count,
                             columns: f, sums: roundingSums)
            MatMul.gemmBF16(transA: true, m: d, n: f, k: count, a: ffnInput + start * d, lda: d, b: dHid16.pointer, ldb: f,
                            accumulate: true, c: g(o.hiddenWeight), ldc: f)
            MatMul.gemmBF16(transB: true, m: count, n: d, k: f, a: dHid16.pointer, lda: f, b: w16(o.hiddenWeight), ldb: f,
                            c: dRows.pointer + start * d, ldc: d)
        }
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

extension VideoTransformer {
    /// `activationBytes` of a model with these settings, from the config alone (no allocation): the same
    /// buffers `init` allocates, counted the same way. The mesh simulator predicts memory with it; a test
    /// holds it equal to the allocated model's figure for every shipped config and setting.
    public static func plannedActivationBytes(config: ModelConfig, maxBatch: Int, modelShards: Int = 1,
                                              precision: Precision, recompute: Recompute) -> Int {
        let rows = maxBatch * config.positionsPerSlice, n = config.positionsPerSlice, c = ModelConfig.channels
        let d = config.hiddenSize, e = config.embeddingSize, taps = ShiftConvolution.taps.count
        let heads = config.heads / modelShards, hd = heads * config.headSize, f = config.ffnSize / modelShards
        let bf16 = precision == .bf16, value = bf16 ? 2 : 4, sharedHead = recompute == .layer
        let blocks = (0..<config.encoderLayers).map { config.block(forLayer: $0).product }
            + (0..<config.decoderLayers).map { config.block(forLayer: $0).product }
        let maxBlock = blocks.max() ?? 1
        func layer(_ nb: Int) -> Int {
            4 * (4 * rows + BlockAttention.statisticsCount(rows: rows, heads: heads) + rows * d + heads * nb * nb)
                + value * (rows * d + 4 * rows * hd + rows * d + rows * f)
        }
        let layers = recompute == .layer ? layer(maxBlock) : blocks.map(layer).reduce(0, +)
        var floats = 2 * rows * e + 5 * rows                                     // embeddings, final LayerNorms, loss weights
        floats += rows * max(d, hd) + 2 * rows * d                               // dRows (staging, dEncoded, dAttended), dBlocked, dStream
        floats += bf16 ? 0 : 3 * rows * hd                                       // fp32 dq, dk, dv
        floats += (bf16 ? min(rows, ffnBlockRows) : rows) * max(f, 256)          // dHidden
        floats += n * taps * e + rows * e + heads * maxBlock * maxBlock + n * d  // dColumns, dEmbedded, dBias, positions
        floats += blocks.map { BlockAttention.statisticsBackwardWorkspaceCount(groups: rows / $0, blockLength: $0, heads: heads) }.max() ?? 1
        floats += (config.encoderLayers + config.decoderLayers + 2) * rows * d  // residual streams
        floats += (bf16 || sharedHead ? 1 : c) * rows * d + (sharedHead ? 1 : c) * rows * 256   // head pre-activations, logits
        let productInputs = value * (rows * taps * e + 2 * rows * d + (sharedHead ? 1 : c) * rows * d)
        let copies16 = bf16 ? 2 * (2 * rows * e + rows * max(256, d, hd) + 3 * rows * hd + min(rows, ffnBlockRows) * f
            + (blocks.map { BlockAttention.statisticsWorkspaceCountBF16(groups: rows / $0, blockLength: $0, headSize: config.headSize) }.max() ?? 1)) : 0
        let encoderTerms = config.encoderKernel.product * c
        let other = rows * (encoderTerms + 2 * c) * 4 + rows * c * (1 + 8) + rows * 3 * 4
        return 4 * floats + layers + productInputs + copies16 + other
    }
}
