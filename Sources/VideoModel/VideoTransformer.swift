// VideoTransformer: the Video Transformer of docs/design.md §2 — forward and backward for a batch of (video, slice
// index) pairs with teacher forcing. Read in this order:
//
//   VideoTransformer.swift                 the model's state, `forward` and `backward` (this file)
//   VideoTransformer+Encoder.swift         encode / encodeBackward: one-hot convolution, projection, layers
//   VideoTransformer+Decoder.swift         decode / decodeBackward: embedding, shift convolution, conditioning
//   VideoTransformer+Head.swift            channelHead / headBackward: the per-channel head and the loss
//   VideoTransformer+AttentionLayer.swift  one block-local layer, forward and backward, and recomputation
//   ActivationPlan.swift                   every activation buffer, described once
//
// Precision (docs/design.md §8) is the kernels' business: the model hands products `Operand`s — the fp32
// parameters or, in bf16 runs, their bf16 rounding (`weight(_:)`), and activations kept in the precision
// their products read (`ProductActivation`) — so forward and backward read the same in both precisions.
// With a model shard (ModelSharding.swift) each layer runs its own heads and d_ff columns and sums the
// row-split products (forward) and the column-split input gradients (backward) over the model group.
// Leaves out: sampling with cached keys/values (CachedSampler.swift) and optimisation (Optimization).

import Common
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

public final class VideoTransformer {
    public let config: ModelConfig
    public let subscaling: Subscaling
    public let layout: ModelParameters
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer
    public let maxBatch: Int
    /// Precision of the matrix products (docs/design.md §8); everything else is fp32 either way.
    public let precision: Precision
    /// What backward keeps from forward (docs/design.md §9).
    public let recompute: Recompute
    public let sharding: ModelSharding
    /// Sums over the model group (nil when unsharded).
    let modelAxisReduce: ModelAxisReduce?
    public internal(set) var phaseTimes = PhaseTimes()
    /// Called during `backward()` each time a group of parameter tensors has its final gradient, with
    /// their indices in `layout.table.entries` (head first, then layers in reverse): lets a data-parallel
    /// trainer start all-reducing those gradients while the rest of backward runs.
    public var onGradientsReady: (([Int]) -> Void)?
    /// Table indices of each readiness group, by name prefix.
    let readinessGroups: [String: [Int]]

    /// bf16 runs: the bf16 rounding of `parameters` that products read, remade after every change.
    let roundedWeights: BFloat16Buffer?
    private var roundedWeightsCurrent = false
    /// `parameters` (and their rounding) as product inputs.
    let productWeights: ProductWeights

    // Sizes (this shard's heads, attention width heads·dh and d_ff; the whole model's when unsharded).
    public let positions: Int
    public let embeddingSize: Int
    public let hiddenSize: Int
    public let heads: Int
    public let attentionWidth: Int
    public let ffnWidth: Int
    static let channels = ModelConfig.channels
    let grid: Triple
    /// Terms of the encoder's one-hot convolution per position: kt·kh·kw·C.
    let encoderTerms: Int

    // The batch being run.
    private(set) var batch = 0
    private(set) var slices: [Int] = []
    /// Each video's slicing with its primed frames (`subscaling` unless the batch names its own priming).
    private(set) var videoSubscaling: [Subscaling] = []
    private(set) var mode: ForwardMode = .evaluation
    /// `recompute: layer`: which layer's activations the shared layer buffers hold (so backward skips
    /// re-running the layer forward ended with).
    var layerInSharedBuffers: Int?

    // Activations (ActivationPlan.swift describes every buffer).
    let plan: ActivationPlan
    let arena: ActivationArena
    let encoderInput: EncoderInput
    let encoder: StackActivations
    let decoderInput: DecoderInput
    let decoder: StackActivations
    let head: HeadActivations
    let scratch: Scratch
    let conditioningInput: ConditioningInput
    /// The batch's class labels (classes > 0).
    var batchLabels: [Int] = []

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
        readinessGroups = Self.readinessGroups(layout.table)
        parameters = FloatBuffer(count: layout.table.totalCount)
        gradients = FloatBuffer(count: layout.table.totalCount)
        roundedWeights = precision == .bf16 ? BFloat16Buffer(count: layout.table.totalCount) : nil
        productWeights = ProductWeights(values: parameters.pointer, rounded: roundedWeights?.pointer)

        grid = config.sliceShape
        positions = config.positionsPerSlice
        embeddingSize = config.embeddingSize
        hiddenSize = config.hiddenSize
        heads = config.heads / sharding.count
        attentionWidth = heads * config.headSize
        ffnWidth = config.ffnSize / sharding.count
        encoderTerms = config.encoderKernel.product * Self.channels

        plan = ActivationPlan(config: config, maxBatch: maxBatch, modelShards: sharding.count, precision: precision,
                              recompute: recompute)
        arena = ActivationArena(plan)
        let blocks = (0..<config.encoderLayers).map { (config.block(forLayer: $0), false) }
            + (0..<config.decoderLayers).map { (config.block(forLayer: $0), true) }
        let arena = self.arena, prefixes = plan.layerPrefixes
        var savedSets: [String: SavedLayer] = [:]  // one per prefix: with recomputation every layer shares one set
        for prefix in prefixes where savedSets[prefix] == nil { savedSets[prefix] = SavedLayer(arena, prefix: prefix) }
        let layers = blocks.enumerated().map { index, layer in
            AttentionLayerActivations(index: index, partition: BlockPartition(grid: config.sliceShape.tuple, block: layer.0.tuple),
                                      causal: layer.1, saved: savedSets[prefixes[index]]!)
        }
        encoderInput = EncoderInput(arena)
        encoder = StackActivations(arena, stack: "encoder", layers: Array(layers[..<config.encoderLayers]))
        decoderInput = DecoderInput(arena)
        decoder = StackActivations(arena, stack: "decoder", layers: Array(layers[config.encoderLayers...]))
        head = HeadActivations(arena, recompute: recompute)
        scratch = Scratch(arena)
        conditioningInput = ConditioningInput(arena)
    }

    /// Groups of table entries whose gradients are final together: the head, each stack's input part, each
    /// layer and each final norm.
    static func readinessGroups(_ table: ParameterTable) -> [String: [Int]] {
        var groups: [String: [Int]] = [:]
        for (index, entry) in table.entries.enumerated() {
            let parts = entry.name.split(separator: "/")
            let key = parts[0] == "head" ? "head"
                : parts[1].hasPrefix("layer_") || parts[1] == "final_norm" ? "\(parts[0])/\(parts[1])" : "\(parts[0])/input"
            groups[key, default: []].append(index)
        }
        return groups
    }

    // MARK: - Forward

    /// Runs the model on `videos` (UInt8 [B, T, H, W, 3]) for slice `slices[b]` of video b with frames
    /// `priming[b]` primed (default: the config's first pattern for every video), conditioned on
    /// `conditioning` (actions and labels, when the config has them).
    /// In training mode the loss of video b is weighted by 1/`lossNormalizer` (default B) so that gradients
    /// from several ranks or micro-batches sum to the gradient of the global mean.
    @discardableResult
    public func forward(videos: UnsafePointer<UInt8>, slices: [Int], priming: [FramePriming]? = nil, conditioning: Conditioning = .none,
                        mode: ForwardMode, lossNormalizer: Double? = nil) -> BatchResult {
        prepare(slices: slices, priming: priming, conditioning: conditioning, mode: mode)
        if precision == .bf16 && (mode == .evaluation || !roundedWeightsCurrent) { refreshLowPrecisionWeights() }
        var clock = Stopwatch()
        encode(videos: videos)
        phaseTimes.encoder = clock.lap()
        decode(videos: videos)
        phaseTimes.decoder = clock.lap()
        let result = channelHead(normalizer: lossNormalizer ?? Double(batch))
        phaseTimes.head = clock.lap()
        return result
    }

    /// Sets the batch's slices, priming, conditioning and mode (what `encode` and `decode` read).
    func prepare(slices: [Int], priming: [FramePriming]? = nil, conditioning: Conditioning = .none, mode: ForwardMode) {
        precondition(!slices.isEmpty && slices.count <= maxBatch, "batch \(slices.count) outside 1...\(maxBatch)")
        precondition(slices.allSatisfy { (0..<config.sliceCount).contains($0) }, "slice index out of range")
        precondition(priming == nil || priming!.count == slices.count, "one priming per video")
        batch = slices.count; self.slices = slices; self.mode = mode
        if let priming {
            videoSubscaling = priming.map { $0 == subscaling.priming ? subscaling : subscaling.primed($0) }
        } else if videoSubscaling.count != batch || videoSubscaling.contains(where: { $0.priming != subscaling.priming }) {
            videoSubscaling = Array(repeating: subscaling, count: batch)
        }
        prepareConditioning(conditioning, batch: batch)
    }

    // MARK: - Backward

    /// Accumulates the gradient of the last training forward's loss into `gradients`: forward's steps in
    /// reverse, each handing the next the gradient of its input.
    public func backward() {
        precondition(mode == .training && batch > 0, "backward: needs a training-mode forward first")
        var clock = Stopwatch()
        phaseTimes.recompute = 0
        headBackward()      // d(decoder output) → scratch.rows
        decodeBackward()    // d(encoder output) → scratch.rows
        encodeBackward()
        phaseTimes.backward = clock.lap()
    }

    func gradientsReady(_ group: String) {
        if let onGradientsReady, let indices = readinessGroups[group] { onGradientsReady(indices) }
    }

    // MARK: - Parameters

    @inline(__always) func parameter(_ offset: Int) -> UnsafeMutablePointer<Float> { parameters.pointer + offset }
    @inline(__always) func gradient(_ offset: Int) -> UnsafeMutablePointer<Float> { gradients.pointer + offset }
    /// bf16 runs: the bf16 rounding of the weight tensor at `offset` (the sampler's row products read it).
    @inline(__always) func roundedWeight(_ offset: Int) -> UnsafePointer<BFloat16> { UnsafePointer(roundedWeights!.pointer + offset) }
    /// The weight tensor at `offset` as a product input in the run's precision.
    @inline(__always) func weight(_ offset: Int) -> Operand { productWeights.weight(offset) }

    /// Bytes of the bf16 weight copy (0 in fp32 runs): state beside the fp32 parameters and gradients.
    public var lowPrecisionWeightBytes: Int { roundedWeights?.bytes ?? 0 }

    /// Tells a bf16 model that `parameters` changed (optimizer step, load, broadcast): the next training
    /// forward remakes the bf16 weight copy. Evaluation forwards and samplers remake it every call.
    public func parametersChanged() { roundedWeightsCurrent = false }

    /// bf16 runs: rounds `parameters` into the bf16 copy products read (once per optimizer step).
    public func refreshLowPrecisionWeights() {
        guard let roundedWeights else { return }
        roundedWeights.round(from: parameters.pointer)
        roundedWeightsCurrent = true
    }

    // MARK: - Memory

    /// Bytes held in activation and scratch buffers (parameters and gradients excluded).
    public var activationBytes: Int { plan.bytes }

    /// Bytes of the attention layers' saved activations (each layer's, or recomputing the one shared set)
    /// and of the residual streams: the part of `activationBytes` that grows with depth.
    public var savedActivationBytes: Int { plan.bytesGrowingWithDepth }

    /// Bytes the buffers really occupy (tests hold it equal to the plan's `activationBytes`).
    var allocatedActivationBytes: Int { arena.allocatedBytes }

    /// `activationBytes` of a model with these settings, from the config alone (no allocation): the mesh
    /// simulator predicts memory with it.
    public static func plannedActivationBytes(config: ModelConfig, maxBatch: Int, modelShards: Int = 1,
                                              precision: Precision, recompute: Recompute) -> Int {
        ActivationPlan.bytes(config: config, maxBatch: maxBatch, modelShards: modelShards, precision: precision,
                             recompute: recompute)
    }

    // MARK: - Outputs others read

    /// Per-channel NLL (nats) of every row of the last forward, [C][B·N]; primed rows hold their value too.
    public var nll: [UnsafeMutablePointer<Double>] { head.nll }
}
