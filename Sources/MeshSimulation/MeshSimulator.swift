// MeshSimulator: predicts how a config would train on a mesh of TPU-v3-like chips (DESIGN.md §4,
// "Simulated TPU mesh") — per-step compute time, each collective's time by the α-β model, memory per chip
// with a fits / does-not-fit verdict, and the scaling efficiency against one chip. Pure arithmetic over the
// config (FLOPCount, ModelParameters): no MPI, no allocation of the model, so it is tested under `swift test`.
//
// The cost model, per optimizer step of a `data × model` layout (Megatron / Mesh-TensorFlow: batch→data,
// heads→model, d_ff→model):
//   compute      3 × (per-chip batch) × (sharded forward FLOPs / M + replicated forward FLOPs) / (peak · MFU)
//                 (sharded = the attention layers' projections, scores, weighted sums and FFN, all ∝ heads
//                 or d_ff; replicated = encoder input projection, shift convolution, conditioning, head)
//   gradients    one all-reduce over the data axis of the gradient bytes a chip holds (n/M when every
//                 tensor is sharded; replicated tensors count in full)
//   activations  over the model axis: 2 all-reduces per layer forward (after the attention output and after
//                 the FFN) and 2 in backward, each micro-batch × positions × d × bytes
//   step         compute + exposed gradient all-reduce + activation all-reduces. As in the trainer, gradient
//                 buckets are all-reduced while backward (2/3 of compute) runs: exposed = max(the last
//                 bucket's all-reduce, all-reduce − backward); `overlapGradients = false` exposes it all
// α-β formulas (p ranks, n bytes): ring 2(p−1)α + 2(p−1)/p·nβ; 2-D torus X×Y 2(X+Y−2)α + 2(p−1)/p·nβ;
// data×model 2(D−1)α + 2(D−1)/D·(n/M)β.
//
// Placement on the X×Y torus: the model axis takes a contiguous Mx×My sub-torus (My = gcd(M, Y),
// Mx = M/My) and the data axis the complementary Dx×Dy = (X/Mx)×(Y/My) grid; each group's all-reduce
// uses the ring formula when its grid is 1-D and the 2-D torus formula when it is 2-D. β comes from the
// links the group can drive: a 1-D ring on a torus axis uses the 2 links of that axis (one each way),
// a 2-D group all 4 (the published pod all-reduce bandwidth, 340 TB/s / 1024 chips = 332 GB/s per chip,
// matches 4 × 82 GB/s). Groups are assumed not to contend for links (exact when M is 1, Y or X·Y).
//
// Left out: overlap of activation all-reduces with compute, rematerialisation, bf16 master weights,
// input pipeline, HBM bandwidth limits on element-wise work (MFU absorbs them), multi-pod networks.

import Foundation
import Kernels
import VideoModel

// MARK: - Errors

public struct MeshSimulationError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

// MARK: - Provenance of every figure

/// Where a number comes from; the output keeps published and assumed figures apart.
public enum Provenance: String, Codable, Sendable {
    case published, assumed, derived, measured
}

/// One labelled figure of a chip or of the simulation, as printed and as JSON.
public struct Figure: Codable, Equatable, Sendable {
    public var name: String
    public var value: String
    public var provenance: Provenance
    public var source: String

    public init(_ name: String, _ value: String, _ provenance: Provenance, _ source: String) {
        self.name = name; self.value = value; self.provenance = provenance; self.source = source
    }
}

// MARK: - Chips

/// How collectives on a chip's network are costed.
public enum Interconnect: Equatable, Sendable {
    /// A 2-D torus of point-to-point links: β of a group follows from the links it drives.
    case torus(linkBandwidth: Double, linksPerChip: Int)
    /// A flat network with fitted (α, β) (this machine's shared-memory MPI): every group uses the ring formula.
    case flat(LinkModel)
}

/// t = a + b·n fitted to all-reduce times over a range of sizes, and the α, β of the ring formula it implies.
public struct LinkFit: Codable, Equatable, Sendable {
    public var ranks: Int
    /// The sizes (bytes) the fit covers.
    public var minBytes: Double
    public var maxBytes: Double
    /// Seconds and seconds per byte of t = a + b·n.
    public var intercept: Double
    public var slope: Double
    /// α (s) and β (s/byte) of 2(p−1)α + 2(p−1)/p·nβ.
    public var alpha: Double
    public var beta: Double
    /// Largest |t − fit| / t over the points.
    public var maxRelativeResidual: Double

    public init(ranks: Int, minBytes: Double = 0, maxBytes: Double = .greatestFiniteMagnitude, intercept: Double, slope: Double,
                alpha: Double, beta: Double, maxRelativeResidual: Double) {
        self.ranks = ranks; self.minBytes = minBytes; self.maxBytes = maxBytes; self.intercept = intercept
        self.slope = slope; self.alpha = alpha; self.beta = beta; self.maxRelativeResidual = maxRelativeResidual
    }

    enum CodingKeys: String, CodingKey {
        case ranks, intercept, slope, alpha, beta
        case minBytes = "min_bytes", maxBytes = "max_bytes", maxRelativeResidual = "max_relative_residual"
    }
}

/// Measured α-β: one fit over every size, and fits over consecutive size ranges. Shared-memory all-reduce is
/// not one straight line (bandwidth falls several-fold once messages leave the caches), so a message of n
/// bytes is costed with the piece whose range holds n (the nearest piece outside them).
public struct LinkModel: Codable, Equatable, Sendable {
    public var global: LinkFit
    public var pieces: [LinkFit]

    public init(global: LinkFit, pieces: [LinkFit] = []) { self.global = global; self.pieces = pieces }

    /// One (α, β) for every size.
    public static func single(alpha: Double, beta: Double, ranks: Int = 2) -> LinkModel {
        LinkModel(global: LinkFit(ranks: ranks, intercept: 0, slope: 0, alpha: alpha, beta: beta, maxRelativeResidual: 0))
    }

    public func fit(forBytes n: Double) -> LinkFit {
        guard let first = pieces.first, let last = pieces.last else { return global }
        if n <= first.minBytes { return first }
        if n >= last.maxBytes { return last }
        return pieces.first { n >= $0.minBytes && n <= $0.maxBytes } ?? global
    }
}

public struct ChipSpec: Equatable, Sendable {
    public var name: String
    /// Peak matrix-multiply rate, FLOP/s.
    public var peakFlops: Double
    /// Memory per chip (HBM), bytes.
    public var memoryBytes: Double
    /// Memory bandwidth, bytes/s (reported; the MFU assumption absorbs memory-bound work).
    public var memoryBandwidth: Double
    public var interconnect: Interconnect
    /// Largest torus of one pod (chips); larger meshes are refused.
    public var chipsPerPod: Int
    /// Published pod all-reduce bandwidth (bytes/s), used as a cross-check of the link figures.
    public var podAllReduceBandwidth: Double?
    public var figures: [Figure]

    static let cloudTPUv3 = "Cloud TPU v3 docs (cloud.google.com/tpu/docs/v3)"
    static let jouppi2020 = "Jouppi et al., A Domain-Specific Supercomputer for Training DNNs, CACM 2020"

    /// TPU v3: 123 bf16 TFLOP/s, 32 GiB HBM at 900 GB/s, 1024 chips on a 2-D torus with 340 TB/s pod
    /// all-reduce bandwidth (Cloud TPU v3 documentation); 4 ICI links of 656 Gbit/s ≈ 82 GB/s (Jouppi et al.).
    public static let tpuV3 = ChipSpec(
        name: "tpu-v3", peakFlops: 123e12, memoryBytes: 32 * 1073741824, memoryBandwidth: 900e9,
        interconnect: .torus(linkBandwidth: 82e9, linksPerChip: 4), chipsPerPod: 1024, podAllReduceBandwidth: 340e12,
        figures: [
            Figure("peak compute", "123 TFLOP/s bf16 per chip (2 TensorCores)", .published, cloudTPUv3),
            Figure("HBM", "32 GiB at 900 GB/s per chip", .published, cloudTPUv3),
            Figure("pod", "1024 chips, 2-D torus, 340 TB/s all-reduce", .published, cloudTPUv3),
            Figure("ICI links", "4 per chip, ≈82 GB/s each (656 Gbit/s)", .published, jouppi2020),
            Figure("link direction", "82 GB/s taken per direction (full duplex)", .assumed,
                   "consistent with 340 TB/s / 1024 = 332 GB/s ≈ 4 × 82 GB/s per chip"),
        ])

    public static let known = ["tpu-v3": tpuV3]

    public static func named(_ name: String) throws -> ChipSpec {
        guard let chip = known[name.lowercased()] else {
            throw MeshSimulationError("unknown chip '\(name)'; known chips: \(known.keys.sorted().joined(separator: ", "))")
        }
        return chip
    }
}

// MARK: - α-β all-reduce formulas (DESIGN.md §4)

public enum AllReduceCost {
    /// Ring over p ranks: 2(p−1)α + 2(p−1)/p·nβ (seconds; α in s, β in s/byte, n in bytes).
    public static func ring(ranks p: Int, bytes n: Double, alpha: Double, beta: Double) -> Double {
        guard p > 1 else { return 0 }
        return 2 * Double(p - 1) * alpha + 2 * Double(p - 1) / Double(p) * n * beta
    }

    /// 2-D torus X×Y (reduce-scatter along one axis, all-reduce along the other, all-gather back):
    /// 2(X+Y−2)α + 2(p−1)/p·nβ with p = X·Y.
    public static func torus(x: Int, y: Int, bytes n: Double, alpha: Double, beta: Double) -> Double {
        let p = x * y
        guard p > 1 else { return 0 }
        return 2 * Double(x + y - 2) * alpha + 2 * Double(p - 1) / Double(p) * n * beta
    }

    /// The data-axis gradient all-reduce of a data × model mesh, each chip holding n/M of the gradients:
    /// 2(D−1)α + 2(D−1)/D·(n/M)β.
    public static func dataModel(data d: Int, model m: Int, bytes n: Double, alpha: Double, beta: Double) -> Double {
        ring(ranks: d, bytes: n / Double(m), alpha: alpha, beta: beta)
    }
}

// MARK: - Meshes and layouts

/// The physical X×Y torus of chips, written `XxY`.
public struct TorusShape: Equatable, Hashable, Codable, Sendable, CustomStringConvertible {
    public var x: Int, y: Int
    public init(x: Int, y: Int) { self.x = x; self.y = y }
    public var chips: Int { x * y }
    public var description: String { "\(x)x\(y)" }

    /// Parses `8x8` (also `8×8`, `8X8`).
    public static func parse(_ text: String) throws -> TorusShape {
        let parts = text.trimmingCharacters(in: .whitespaces).lowercased()
            .replacingOccurrences(of: "×", with: "x").split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let x = Int(parts[0]), let y = Int(parts[1]) else {
            throw MeshSimulationError("--mesh '\(text)' is not XxY (expected e.g. 8x8: the chips of a 2-D torus)")
        }
        guard x >= 1, y >= 1 else { throw MeshSimulationError("--mesh '\(text)': both sizes must be at least 1") }
        return TorusShape(x: x, y: y)
    }

    /// Parses a comma-separated list, `4x4,8x8,32x32`.
    public static func parseList(_ text: String) throws -> [TorusShape] {
        let shapes = try text.split(separator: ",").map { try parse(String($0)) }
        guard !shapes.isEmpty else { throw MeshSimulationError("--mesh is empty (expected e.g. 8x8 or 4x4,8x8)") }
        return shapes
    }
}

/// The logical `data × model` layout of a mesh.
public struct MeshLayout: Equatable, Hashable, Codable, Sendable, CustomStringConvertible {
    public var data: Int, model: Int
    public init(data: Int, model: Int) { self.data = data; self.model = model }
    public var chips: Int { data * model }
    public var description: String { "data=\(data),model=\(model)" }

    /// Parses `data=D,model=M` (either order; an omitted axis has size 1).
    public static func parse(_ text: String) throws -> MeshLayout {
        var sizes: [String: Int] = [:]
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, ["data", "model"].contains(parts[0]) else {
                throw MeshSimulationError("--layout '\(text)': '\(item)' is not data=N or model=N (expected e.g. data=8,model=4)")
            }
            guard sizes[parts[0]] == nil else { throw MeshSimulationError("--layout '\(text)': axis '\(parts[0])' is given twice") }
            guard let size = Int(parts[1]), size >= 1 else {
                throw MeshSimulationError("--layout '\(text)': axis '\(parts[0])' has size '\(parts[1])'; sizes are integers ≥ 1")
            }
            sizes[parts[0]] = size
        }
        return MeshLayout(data: sizes["data"] ?? 1, model: sizes["model"] ?? 1)
    }

    /// Parses `text` and checks that it uses every chip of `torus`.
    public static func parse(_ text: String, on torus: TorusShape) throws -> MeshLayout {
        let layout = try parse(text)
        guard layout.chips == torus.chips else {
            throw MeshSimulationError("--layout \(layout) has \(layout.data) × \(layout.model) = \(layout.chips) chips but --mesh \(torus) has \(torus.x) × \(torus.y) = \(torus.chips); the product of the layout must equal the chip count")
        }
        return layout
    }

    /// Every data × model factorisation of `chips`, data-parallel first.
    public static func factorisations(of chips: Int) -> [MeshLayout] {
        (1...max(1, chips)).filter { chips % $0 == 0 }.map { MeshLayout(data: chips / $0, model: $0) }
    }
}

/// A layout placed on a torus: the sub-grids its model and data groups occupy.
public struct Placement: Equatable, Sendable {
    public var torus: TorusShape
    public var layout: MeshLayout
    public var modelGrid: (x: Int, y: Int)
    public var dataGrid: (x: Int, y: Int)

    public static func == (a: Placement, b: Placement) -> Bool {
        a.torus == b.torus && a.layout == b.layout && a.modelGrid == b.modelGrid && a.dataGrid == b.dataGrid
    }

    /// Model axis on a contiguous Mx×My sub-torus (My = gcd(M, Y)), data axis on the complement.
    public init(layout: MeshLayout, on torus: TorusShape) throws {
        guard layout.chips == torus.chips else {
            throw MeshSimulationError("layout \(layout) has \(layout.chips) chips but the \(torus) torus has \(torus.chips)")
        }
        // M | X·Y implies (M/gcd(M, Y)) | X, so this only guards against a caller's mistake.
        let my = gcd(layout.model, torus.y), mx = layout.model / my
        guard torus.x % mx == 0 else {
            throw MeshSimulationError("model=\(layout.model) does not tile the \(torus) torus (model groups of \(mx)×\(my) chips do not divide it)")
        }
        self.torus = torus; self.layout = layout
        modelGrid = (mx, my)
        dataGrid = (torus.x / mx, torus.y / my)
    }
}

func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

// MARK: - What the model costs, independent of the mesh

/// FLOPs and parameters of a config, split into what the model axis shards and what it replicates.
public struct ModelCost: Sendable {
    public let config: ModelConfig
    public let parameterCount: Int
    /// Parameters of the tensors split over the model axis (q, k, v, attention output, relative biases,
    /// FFN hidden weight and bias, FFN output weight).
    public let shardedParameterCount: Int
    public var replicatedParameterCount: Int { parameterCount - shardedParameterCount }
    /// Forward FLOPs per video (DESIGN §7) and the part of it the model axis divides.
    public let forwardFlopsPerVideo: Double
    public let shardedForwardFlopsPerVideo: Double
    public var replicatedForwardFlopsPerVideo: Double { forwardFlopsPerVideo - shardedForwardFlopsPerVideo }

    public init(config: ModelConfig) {
        self.config = config
        let layout = ModelParameters(config: config)
        parameterCount = layout.table.parameterCount
        shardedParameterCount = zip(layout.table.entries, layout.splitAxes).filter { $0.1 != nil }.reduce(0) { $0 + $1.0.count }
        forwardFlopsPerVideo = FLOPCount.forwardPerVideo(config)
        let n = Double(config.positionsPerSlice), d = Double(config.hiddenSize)
        let hd = Double(config.attentionWidth), f = Double(config.ffnSize)
        func layer(_ index: Int) -> Double {
            let nb = Double(config.block(forLayer: index).product)
            return 2 * n * d * hd * 4 + 2 * n * nb * hd * 2 + 2 * n * d * f * 2
        }
        shardedForwardFlopsPerVideo = (0..<config.encoderLayers).map(layer).reduce(0, +)
            + (0..<config.decoderLayers).map(layer).reduce(0, +)
    }

    /// Parameters one chip holds with `model` shards.
    public func parametersPerChip(model: Int) -> Int { replicatedParameterCount + shardedParameterCount / model }

    /// Training FLOPs one chip runs per step: 3 × forward × its videos, sharded work divided by `model`.
    public func trainingFlopsPerChip(videos: Int, model: Int) -> Double {
        3 * Double(videos) * (shardedForwardFlopsPerVideo / Double(model) + replicatedForwardFlopsPerVideo)
    }

    /// Bytes of activation and scratch buffers for a micro-batch of `microBatch` videos with heads and d_ff
    /// split `model` ways, derived from VideoTransformer's buffers (with model = 1 and 4-byte values it equals
    /// `VideoTransformer(config:maxBatch:).activationBytes`). `bytesPerValue` applies to the float buffers;
    /// index, target and NLL buffers keep their sizes.
    public func activationBytes(microBatch: Int, model: Int = 1, bytesPerValue: Int = 4) -> Double {
        let rows = microBatch * config.positionsPerSlice, n = config.positionsPerSlice
        let d = config.hiddenSize, e = config.embeddingSize, c = ModelConfig.channels
        let heads = config.heads / model, hd = config.attentionWidth / model, f = config.ffnSize / model
        let taps = ShiftConvolution.taps.count
        let layers = (0..<config.encoderLayers).map { config.block(forLayer: $0).product }
            + (0..<config.decoderLayers).map { config.block(forLayer: $0).product }
        // Per layer: LayerNorm statistics, blocked input, q/k/v/attended, probabilities, middle and FFN input,
        // FFN hidden, expanded relative bias.
        var floats = layers.reduce(0) { sum, nb in
            sum + 4 * rows + rows * d + 4 * rows * hd + rows / nb * heads * nb * nb + 2 * rows * d + rows * f + heads * nb * nb
        }
        let maxBlock = layers.max() ?? 1
        let workspace = layers.map {
            BlockAttention.backwardWorkspaceCount(groups: rows / $0, blockLength: $0, heads: heads)
        }.max() ?? 1
        floats += rows * e + 2 * rows + rows * d            // encoder embedding, final LayerNorm, encoded
        floats += rows * e + rows * taps * e + 2 * rows + rows * d + rows   // decoder embedding, im2col, final, decoded, loss weights
        floats += 6 * rows * d + 4 * rows * hd              // row scratch and gradients of the stream; dq, dk, dv, dAttended
        floats += rows * max(f, 256) + rows * taps * e + rows * e   // dHidden (also the head's dLogits), dColumns, dEmbedded
        floats += heads * maxBlock * maxBlock + n * d + workspace   // dBias, position scratch, attention backward workspace
        floats += (config.encoderLayers + 1 + config.decoderLayers + 1) * rows * d   // residual streams
        floats += c * (2 * rows * d + rows * 256)           // head: pre-activation, hidden, logits
        let encoderTerms = config.encoderKernel.product * c
        let other = rows * (encoderTerms + 2 * c) * 4 + rows * c * (1 + 8) + rows * 3 * 4   // Int32 indices, UInt8 targets, Double NLL
        return Double(floats) * Double(bytesPerValue) + Double(other)
    }
}

// MARK: - Settings and predictions

public struct SimulationSettings: Sendable {
    public var chip: ChipSpec
    /// Achievable model FLOP utilisation of the chip (assumed unless measured).
    public var mfu: Double
    public var mfuProvenance: Provenance
    /// Per-hop latencies to sweep (seconds). Ignored for a `.flat` interconnect (its α is fitted; the
    /// predictions report the global fit's α).
    public var alphas: [Double]
    /// Bytes per gradient value, in memory and on the wire (4 fp32, 2 bf16).
    public var gradientBytes: Int
    /// Bytes per stored and communicated activation value (4: this implementation's fp32; 2: bf16).
    public var activationBytes: Int
    /// Bytes per parameter and per optimizer-slot value (fp32 master weights).
    public var parameterBytes: Int = 4
    /// RMSProp (ms, momentum) and Adam (m, v) both keep 2 slots.
    public var optimizerSlots: Int = 2
    /// All-reduce gradient buckets while backward runs (the trainer does); false: one all-reduce after it.
    public var overlapGradients = true
    /// Gradient bucket size (bytes): the last bucket cannot start before backward ends.
    public var bucketBytes: Double = Double(25 * 1024 * 1024)
    public var globalBatch: Int
    public var accumulationSteps: Int

    public init(chip: ChipSpec, mfu: Double, mfuProvenance: Provenance = .assumed, alphas: [Double],
                gradientBytes: Int, activationBytes: Int, globalBatch: Int, accumulationSteps: Int) {
        self.chip = chip; self.mfu = mfu; self.mfuProvenance = mfuProvenance; self.alphas = alphas
        self.gradientBytes = gradientBytes; self.activationBytes = activationBytes
        self.globalBatch = globalBatch; self.accumulationSteps = accumulationSteps
    }

    public static let defaultAlphas = [0.5e-6, 1e-6, 2e-6, 5e-6]
}

public struct MemoryEstimate: Codable, Equatable, Sendable {
    public var parameters: Double
    public var gradients: Double
    public var optimizer: Double
    public var activations: Double
    public var capacity: Double
    public var total: Double { parameters + gradients + optimizer + activations }
    public var fits: Bool { total <= capacity }

    enum CodingKeys: String, CodingKey { case parameters, gradients, optimizer, activations, capacity, total, fits }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(parameters, forKey: .parameters); try c.encode(gradients, forKey: .gradients)
        try c.encode(optimizer, forKey: .optimizer); try c.encode(activations, forKey: .activations)
        try c.encode(capacity, forKey: .capacity); try c.encode(total, forKey: .total); try c.encode(fits, forKey: .fits)
    }
    public init(parameters: Double, gradients: Double, optimizer: Double, activations: Double, capacity: Double) {
        self.parameters = parameters; self.gradients = gradients; self.optimizer = optimizer
        self.activations = activations; self.capacity = capacity
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        parameters = try c.decode(Double.self, forKey: .parameters); gradients = try c.decode(Double.self, forKey: .gradients)
        optimizer = try c.decode(Double.self, forKey: .optimizer); activations = try c.decode(Double.self, forKey: .activations)
        capacity = try c.decode(Double.self, forKey: .capacity)
    }
}

/// The α-dependent part of a prediction.
public struct AlphaPrediction: Codable, Equatable, Sendable {
    public var alphaMicroseconds: Double
    /// The whole gradient all-reduce, and the part of it backward does not hide.
    public var gradientAllReduceSeconds: Double
    public var gradientExposedSeconds: Double
    public var activationAllReduceSeconds: Double
    /// compute + exposed gradient all-reduce + activation all-reduces.
    public var stepSeconds: Double
    /// compute + the whole gradient all-reduce + activation all-reduces.
    public var stepSecondsWithoutOverlap: Double
    /// One chip's step time (same global batch, compute only) / (chips × this step time); ≤ 1.
    public var scalingEfficiency: Double

    enum CodingKeys: String, CodingKey {
        case alphaMicroseconds = "alpha_us", gradientAllReduceSeconds = "gradient_allreduce_seconds"
        case gradientExposedSeconds = "gradient_allreduce_exposed_seconds"
        case activationAllReduceSeconds = "activation_allreduces_seconds", stepSeconds = "step_seconds"
        case stepSecondsWithoutOverlap = "step_seconds_without_overlap", scalingEfficiency = "scaling_efficiency"
    }
}

public struct LayoutPrediction: Codable, Equatable, Sendable {
    public var mesh: String
    public var data: Int
    public var model: Int
    public var dataGrid: [Int]
    public var modelGrid: [Int]
    /// Videos per chip per step, and per micro-batch (÷ accumulation steps).
    public var videosPerChip: Int
    public var microBatch: Int
    public var trainingFlopsPerChip: Double
    public var computeSeconds: Double
    public var gradientAllReduceBytes: Double
    public var activationAllReduceBytes: Double
    public var activationAllReduceCount: Int
    public var memory: MemoryEstimate
    public var alphas: [AlphaPrediction]

    enum CodingKeys: String, CodingKey {
        case mesh, data, model, memory, alphas
        case dataGrid = "data_grid", modelGrid = "model_grid", videosPerChip = "videos_per_chip"
        case microBatch = "micro_batch", trainingFlopsPerChip = "training_flops_per_chip"
        case computeSeconds = "compute_seconds", gradientAllReduceBytes = "gradient_allreduce_bytes"
        case activationAllReduceBytes = "activation_allreduce_bytes", activationAllReduceCount = "activation_allreduces_per_step"
    }
}

/// A layout that cannot run, and why.
public struct RejectedLayout: Codable, Equatable, Sendable {
    public var mesh: String
    public var layout: String
    public var reason: String
}

// MARK: - The simulator

public struct MeshSimulator: Sendable {
    public let cost: ModelCost
    public let settings: SimulationSettings

    public init(config: ModelConfig, settings: SimulationSettings) throws {
        guard settings.mfu > 0 else { throw MeshSimulationError("MFU must be positive (got \(settings.mfu))") }
        guard settings.globalBatch >= 1, settings.accumulationSteps >= 1 else {
            throw MeshSimulationError("the global batch and accumulation steps must be at least 1")
        }
        guard !settings.alphas.isEmpty, settings.alphas.allSatisfy({ $0 >= 0 }) else {
            throw MeshSimulationError("α values must be given and be ≥ 0")
        }
        cost = ModelCost(config: config)
        self.settings = settings
    }

    /// One chip's compute-only step time for the whole global batch: the scaling-efficiency reference.
    public var singleChipSeconds: Double {
        cost.trainingFlopsPerChip(videos: settings.globalBatch, model: 1) / (settings.chip.peakFlops * settings.mfu)
    }

    /// Why `layout` cannot run this config (nil when it can): sizes the model axis or the batch cannot split.
    public func illegality(_ layout: MeshLayout) -> String? {
        Self.illegality(layout, config: cost.config, globalBatch: settings.globalBatch, accumulationSteps: settings.accumulationSteps)
    }

    /// Why `layout` cannot run `config` with this batch (nil when it can).
    public static func illegality(_ layout: MeshLayout, config: ModelConfig, globalBatch batch: Int, accumulationSteps accumulation: Int) -> String? {
        if config.heads % layout.model != 0 { return "model=\(layout.model) does not divide heads=\(config.heads)" }
        if config.ffnSize % layout.model != 0 { return "model=\(layout.model) does not divide ffn_size=\(config.ffnSize)" }
        if batch % (layout.data * accumulation) != 0 {
            return "global batch \(batch) is not divisible by data=\(layout.data) × accumulation_steps=\(accumulation)"
        }
        return nil
    }

    /// Time of one all-reduce of `bytes` over a group occupying a `grid` of chips.
    public func allReduceSeconds(bytes: Double, grid: (x: Int, y: Int), alpha: Double) -> Double {
        switch settings.chip.interconnect {
        case .flat(let link):
            let fit = link.fit(forBytes: bytes)
            return AllReduceCost.ring(ranks: grid.x * grid.y, bytes: bytes, alpha: fit.alpha, beta: fit.beta)
        case .torus(let linkBandwidth, _):
            if grid.x == 1 || grid.y == 1 {
                // A ring along one torus axis: the 2 links of that axis (one each way).
                return AllReduceCost.ring(ranks: grid.x * grid.y, bytes: bytes, alpha: alpha, beta: 1 / (2 * linkBandwidth))
            }
            return AllReduceCost.torus(x: grid.x, y: grid.y, bytes: bytes, alpha: alpha, beta: 1 / (4 * linkBandwidth))
        }
    }

    /// The prediction for one placed layout (throws when the layout is illegal for the config).
    public func predict(_ placement: Placement) throws -> LayoutPrediction {
        let layout = placement.layout
        if let reason = illegality(layout) { throw MeshSimulationError("\(layout) on \(placement.torus): \(reason)") }
        let chip = settings.chip
        let videos = settings.globalBatch / layout.data
        let microBatch = videos / settings.accumulationSteps
        let flops = cost.trainingFlopsPerChip(videos: videos, model: layout.model)
        let compute = flops / (chip.peakFlops * settings.mfu)
        let parameters = Double(cost.parametersPerChip(model: layout.model))
        let gradientBytes = parameters * Double(settings.gradientBytes)
        let activationBytes = Double(microBatch * cost.config.positionsPerSlice * cost.config.hiddenSize * settings.activationBytes)
        let activationCount = layout.model > 1
            ? 4 * (cost.config.encoderLayers + cost.config.decoderLayers) * settings.accumulationSteps : 0
        let memory = MemoryEstimate(
            parameters: parameters * Double(settings.parameterBytes), gradients: gradientBytes,
            optimizer: parameters * Double(settings.parameterBytes * settings.optimizerSlots),
            activations: cost.activationBytes(microBatch: microBatch, model: layout.model, bytesPerValue: settings.activationBytes),
            capacity: chip.memoryBytes)
        let alphas: [Double]
        if case .flat(let link) = chip.interconnect { alphas = [link.global.alpha] } else { alphas = settings.alphas }
        let reference = singleChipSeconds
        let byAlpha = alphas.map { alpha -> AlphaPrediction in
            let gradient = allReduceSeconds(bytes: gradientBytes, grid: placement.dataGrid, alpha: alpha)
            let lastBucket = allReduceSeconds(bytes: min(settings.bucketBytes, gradientBytes), grid: placement.dataGrid, alpha: alpha)
            let exposed = settings.overlapGradients ? min(gradient, max(lastBucket, gradient - 2 * compute / 3)) : gradient
            let activations = Double(activationCount) * allReduceSeconds(bytes: activationBytes, grid: placement.modelGrid, alpha: alpha)
            let step = compute + exposed + activations
            return AlphaPrediction(alphaMicroseconds: alpha * 1e6, gradientAllReduceSeconds: gradient,
                                   gradientExposedSeconds: exposed, activationAllReduceSeconds: activations,
                                   stepSeconds: step, stepSecondsWithoutOverlap: compute + gradient + activations,
                                   scalingEfficiency: reference / (Double(layout.chips) * step))
        }
        return LayoutPrediction(mesh: placement.torus.description, data: layout.data, model: layout.model,
                                dataGrid: [placement.dataGrid.x, placement.dataGrid.y],
                                modelGrid: [placement.modelGrid.x, placement.modelGrid.y],
                                videosPerChip: videos, microBatch: microBatch, trainingFlopsPerChip: flops,
                                computeSeconds: compute, gradientAllReduceBytes: gradientBytes,
                                activationAllReduceBytes: activationBytes, activationAllReduceCount: activationCount,
                                memory: memory, alphas: byAlpha)
    }

    /// Predicts every layout of `layouts` (or, when empty, every factorisation) on every torus of `meshes`.
    /// A layout given explicitly must match some mesh's chip count (else it throws); illegal ones are returned
    /// as rejected with the reason.
    public func sweep(meshes: [TorusShape], layouts: [MeshLayout] = []) throws
        -> (predictions: [LayoutPrediction], rejected: [RejectedLayout]) {
        for torus in meshes where torus.chips > settings.chip.chipsPerPod {
            throw MeshSimulationError("--mesh \(torus) has \(torus.chips) chips; one \(settings.chip.name) pod has \(settings.chip.chipsPerPod) (multi-pod networks are not modelled)")
        }
        for layout in layouts where !meshes.contains(where: { $0.chips == layout.chips }) {
            let chips = meshes.map { "\($0) = \($0.chips)" }.joined(separator: ", ")
            throw MeshSimulationError("--layout \(layout) has \(layout.data) × \(layout.model) = \(layout.chips) chips but --mesh has \(chips); the product of the layout must equal the chip count")
        }
        var predictions: [LayoutPrediction] = [], rejected: [RejectedLayout] = []
        for torus in meshes {
            let candidates = layouts.isEmpty ? MeshLayout.factorisations(of: torus.chips) : layouts.filter { $0.chips == torus.chips }
            for layout in candidates {
                if let reason = illegality(layout) {
                    rejected.append(RejectedLayout(mesh: torus.description, layout: layout.description, reason: reason))
                    continue
                }
                do {
                    predictions.append(try predict(Placement(layout: layout, on: torus)))
                } catch let error as MeshSimulationError {
                    rejected.append(RejectedLayout(mesh: torus.description, layout: layout.description, reason: error.message))
                }
            }
        }
        return (predictions, rejected)
    }

    /// Published, assumed and derived figures behind the predictions, for the output.
    public var figures: [Figure] {
        var figures = settings.chip.figures
        let mfuSource = settings.mfuProvenance == .measured ? "this machine's bench step / sgemm peak" : "--mfu (not published for this model)"
        figures.append(Figure("achievable MFU", String(format: "%.2f", settings.mfu), settings.mfuProvenance, mfuSource))
        switch settings.chip.interconnect {
        case .torus(let linkBandwidth, let links):
            let alphas = settings.alphas.map { String(format: "%g", $0 * 1e6) }.joined(separator: ", ")
            figures.append(Figure("α (per hop)", "\(alphas) µs", .assumed, "not published; swept (--alpha-us)"))
            figures.append(Figure("β, 1-D ring on a torus axis", String(format: "1/(2 × %.0f GB/s) = 1/%.0f GB/s", linkBandwidth / 1e9, 2 * linkBandwidth / 1e9),
                                  .derived, "the 2 links of that axis, one each way"))
            figures.append(Figure("β, 2-D torus group", String(format: "1/(%d × %.0f GB/s) = 1/%.0f GB/s", links, linkBandwidth / 1e9, Double(links) * linkBandwidth / 1e9),
                                  .derived, settings.chip.podAllReduceBandwidth.map {
                                      String(format: "all %d links; cf. %.0f TB/s / %d chips = %.0f GB/s per chip", links, $0 / 1e12,
                                             settings.chip.chipsPerPod, $0 / Double(settings.chip.chipsPerPod) / 1e9)
                                  } ?? "all links"))
        case .flat(let link):
            figures.append(Figure("α", String(format: "%.2f µs", link.global.alpha * 1e6), .measured, "fit of MPI_Allreduce times, ring formula"))
            figures.append(Figure("β", String(format: "1/%.2f GB/s", 1 / link.global.beta / 1e9), .measured, "fit of MPI_Allreduce times, ring formula"))
        }
        figures.append(Figure("gradient bytes / value", "\(settings.gradientBytes)", .assumed, "--gradient-bytes (4 fp32, 2 bf16)"))
        figures.append(Figure("activation bytes / value", "\(settings.activationBytes)", .assumed,
                              "--activation-bytes (4 = this implementation's fp32, 2 = bf16)"))
        figures.append(Figure("parameter and optimizer-slot bytes", "\(settings.parameterBytes) × (1 + \(settings.optimizerSlots) slots)",
                              .assumed, "fp32 master weights, RMSProp/Adam 2 slots"))
        figures.append(settings.overlapGradients
            ? Figure("overlap", String(format: "gradient buckets of %.0f MB during backward (2/3 of compute)", settings.bucketBytes / 1e6),
                     .assumed, "as the trainer does; exposed = max(last bucket, all-reduce − backward); --no-overlap")
            : Figure("overlap", "none: the gradient all-reduce follows backward", .assumed, "--no-overlap"))
        figures.append(Figure("activation all-reduces", "not overlapped with compute", .assumed, "Megatron layout: they sit on the critical path"))
        return figures
    }
}
