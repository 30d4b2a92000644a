// MeshSimulator: predicts how a config would train on a mesh of TPU-v3-like chips (docs/design.md §4,
// "Simulated TPU mesh") — per-step compute time, each collective's time by the α-β model, memory per chip
// with a fits / does-not-fit verdict, and the scaling efficiency against one chip. Pure arithmetic over the
// config (ModelCost: FLOPCount, ModelParameters, the activation account): no MPI, no allocation of the
// model, so it is tested under `swift test`. It follows the memory features of docs/design.md §8–§9 as settings:
// `precision` (fp32 | bf16), `recompute` (none | layer), `shardOptimizer` (ZeRO-1 over the data axis) and
// `attentionMemory` (flash-style softmax statistics | stored probabilities); `vt mesh simulate` takes the
// first three from the config unless --precision, --recompute, --shard-optimizer say otherwise.
//
// The cost model, per optimizer step of a `data × model` layout (Megatron / Mesh-TensorFlow: batch→data,
// heads→model, d_ff→model):
//   compute      (per-chip batch) × (a × sharded forward FLOPs / M + 3 × replicated forward FLOPs) / (peak · MFU),
//                 a = 3, or 4 with recompute: layer (each attention layer's forward runs again just before its
//                 backward). Sharded = the attention layers' projections, scores, weighted sums and FFN, all
//                 ∝ heads or d_ff; replicated = encoder input projection, shift convolution, conditioning, head.
//                 FLOPs by docs/design.md §7, masked entries of the decoder's causal blocks included: a flash-style
//                 kernel skips that upper triangle, which is reported apart (causal_skipped_flops_per_chip)
//                 and not taken off the compute time (MFU is defined on §7's count; the skip shows up as a
//                 higher achievable MFU, not as fewer FLOPs).
//   gradients    over the data axis, of the gradient bytes n a chip holds (n/M of the whole when every
//                 tensor is sharded; replicated tensors count in full): one all-reduce, or with ZeRO-1 a
//                 reduce-scatter ((D−1)α + (D−1)/D·nβ on a ring, half the all-reduce) plus, after the
//                 optimizer step, an all-gather of the updated parameters (same formula, on the parameter bytes)
//   activations  over the model axis: 2 all-reduces per layer forward (after the attention output and after
//                 the FFN) and 2 in backward, each micro-batch × positions × d × bytes; with recompute: layer
//                 the re-run forward repeats its 2 (6 per layer)
//   step         compute + exposed gradient collective + parameter all-gather + activation all-reduces. As in
//                 the trainer, gradient buckets are reduced while backward runs (compute − one forward: 2/3 of
//                 compute without recomputation): exposed = max(the last bucket's collective, collective −
//                 backward); `overlapGradients = false` exposes it all. The all-gather cannot start before the
//                 optimizer step nor overlap the next forward, which needs it: it is exposed whole.
// α-β formulas (p ranks, n bytes): all-reduce on a ring 2(p−1)α + 2(p−1)/p·nβ, on a 2-D torus X×Y
// 2(X+Y−2)α + 2(p−1)/p·nβ; data×model 2(D−1)α + 2(D−1)/D·(n/M)β; reduce-scatter and all-gather half of
// each: (p−1)α + (p−1)/p·nβ and (X+Y−2)α + (p−1)/p·nβ.
//
// Memory per chip (P = parameters a chip holds = replicated + sharded/M; D = data axis):
//   parameters   4·P fp32 — the weights forward reads and the optimizer updates; with ZeRO-1 and a bf16
//                 all-gather 4·P/D (the fp32 master of the chip's own 1/D only)
//   bf16 weights 2·P with precision bf16 (the copy products read, docs/design.md §8), 0 in fp32
//   gradients    gradientBytes·P (fp32 in both precisions; whole on every chip under ZeRO stage 1)
//   optimizer    2 slots × 4·P, / D with ZeRO-1
//   activations  ModelCost.activationBytes of one micro-batch (ModelCost+ActivationMemory.swift, the one
//                 place the simulator sizes activations: precision, recompute and attention memory there)
// The ZeRO-1 all-gather carries fp32 parameters by default (4·P bytes): what docs/design.md §9's trainer does — it
// all-gathers the flat fp32 parameter buffer, which every rank keeps whole because LayerNorms, biases and
// the bf16 copy are made from it. `allGatherPrecision = .bf16` (--gather-precision bf16, bf16 runs only) models
// the ZeRO paper's layout instead: bf16 weights on the wire (2·P bytes) and fp32 master weights / D; the fp32
// tensors read outside products (embeddings, LayerNorms, biases) that would still need an fp32 copy are
// neglected there.
//
// Placement on the X×Y torus: the model axis takes a contiguous Mx×My sub-torus (My = gcd(M, Y),
// Mx = M/My) and the data axis the complementary Dx×Dy = (X/Mx)×(Y/My) grid; each group's collective
// uses the ring formula when its grid is 1-D and the 2-D torus formula when it is 2-D. β comes from the
// links the group can drive: a 1-D ring on a torus axis uses the 2 links of that axis (one each way),
// a 2-D group all 4 (the published pod all-reduce bandwidth, 340 TB/s / 1024 chips = 332 GB/s per chip,
// matches 4 × 82 GB/s). Groups are assumed not to contend for links (exact when M is 1, Y or X·Y).
//
// Left out: overlap of activation all-reduces or the all-gather with compute, a smarter recomputation that
// skips the FFN's second product, input pipeline, HBM bandwidth limits on element-wise work (MFU absorbs
// them), fp32 products' lower rate on a bf16 chip (MFU absorbs it), allocator fragmentation and the
// runtime's own memory, multi-pod networks.

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

// MARK: - α-β all-reduce formulas (docs/design.md §4)

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

/// Reduce-scatter (each of p ranks ends with the sum of its 1/p of n bytes) — and all-gather, its mirror,
/// which costs the same: half an all-reduce (an all-reduce is a reduce-scatter then an all-gather).
public enum ReduceScatterCost {
    /// Ring over p ranks: (p−1)α + (p−1)/p·nβ.
    public static func ring(ranks p: Int, bytes n: Double, alpha: Double, beta: Double) -> Double {
        guard p > 1 else { return 0 }
        return Double(p - 1) * alpha + Double(p - 1) / Double(p) * n * beta
    }

    /// 2-D torus X×Y (along one axis, then the other): (X+Y−2)α + (p−1)/p·nβ with p = X·Y.
    public static func torus(x: Int, y: Int, bytes n: Double, alpha: Double, beta: Double) -> Double {
        let p = x * y
        guard p > 1 else { return 0 }
        return Double(x + y - 2) * alpha + Double(p - 1) / Double(p) * n * beta
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

// MARK: - Settings and predictions

public struct SimulationSettings: Sendable {
    public var chip: ChipSpec
    /// Achievable FLOP utilisation of the chip on the work it runs (assumed unless measured). Without
    /// recomputation this is docs/design.md §7's MFU; with it, the recomputed forwards count as work run.
    public var mfu: Double
    public var mfuProvenance: Provenance
    /// Per-hop latencies to sweep (seconds). Ignored for a `.flat` interconnect (its α is fitted; the
    /// predictions report the global fit's α).
    public var alphas: [Double]
    /// Bytes per gradient value, in memory and on the wire (4: fp32, as the trainer keeps them in both
    /// precisions; 2: a bf16 what-if).
    public var gradientBytes: Int
    /// Bytes per value of the model-axis activation all-reduces on the wire (4: the trainer's fp32, also
    /// in bf16 runs; 2: a bf16 what-if). Stored activations follow `precision`.
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
    /// Precision of the products (docs/design.md §8): bf16 stores product inputs in 2 bytes and adds a bf16 weight copy.
    public var precision: Precision = .fp32
    /// `layer`: one more forward of each attention layer per step, one layer's activations instead of all (§9).
    public var recompute: Recompute = .none
    /// ZeRO stage 1 over the data axis (§9): gradients reduce-scattered, parameters all-gathered after the
    /// step, optimizer slots / D.
    public var shardOptimizer = false
    /// What the ZeRO-1 all-gather carries: fp32 parameters (the trainer's flat buffer, kept whole on every
    /// chip) or bf16 ones (needs bf16 precision; the fp32 master weights are then / D too).
    public var allGatherPrecision: Precision = .fp32
    /// What attention keeps for backward: softmax statistics (flash-style, what the trainer runs) or
    /// the block probabilities (the trainer before).
    public var attentionMemory: AttentionMemory = .statistics

    public init(chip: ChipSpec, mfu: Double, mfuProvenance: Provenance = .assumed, alphas: [Double],
                gradientBytes: Int, activationBytes: Int, globalBatch: Int, accumulationSteps: Int) {
        self.chip = chip; self.mfu = mfu; self.mfuProvenance = mfuProvenance; self.alphas = alphas
        self.gradientBytes = gradientBytes; self.activationBytes = activationBytes
        self.globalBatch = globalBatch; self.accumulationSteps = accumulationSteps
    }

    public static let defaultAlphas = [0.5e-6, 1e-6, 2e-6, 5e-6]
}

public struct MemoryEstimate: Codable, Equatable, Sendable {
    /// fp32 parameters (master weights): whole, or / D with ZeRO-1 and a bf16 all-gather.
    public var parameters: Double
    /// The bf16 weight copy products read (bf16 precision; 0 in fp32).
    public var lowPrecisionWeights: Double
    public var gradients: Double
    public var optimizer: Double
    public var activations: Double
    public var capacity: Double
    /// Parameters, bf16 weights, gradients and optimizer slots.
    public var state: Double { parameters + lowPrecisionWeights + gradients + optimizer }
    public var total: Double { state + activations }
    public var fits: Bool { total <= capacity }

    enum CodingKeys: String, CodingKey {
        case parameters, gradients, optimizer, activations, capacity, total, fits, state
        case lowPrecisionWeights = "bf16_weights"
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(parameters, forKey: .parameters); try c.encode(lowPrecisionWeights, forKey: .lowPrecisionWeights)
        try c.encode(gradients, forKey: .gradients)
        try c.encode(optimizer, forKey: .optimizer); try c.encode(activations, forKey: .activations)
        try c.encode(state, forKey: .state)
        try c.encode(capacity, forKey: .capacity); try c.encode(total, forKey: .total); try c.encode(fits, forKey: .fits)
    }
    public init(parameters: Double, lowPrecisionWeights: Double = 0, gradients: Double, optimizer: Double, activations: Double,
                capacity: Double) {
        self.parameters = parameters; self.lowPrecisionWeights = lowPrecisionWeights; self.gradients = gradients
        self.optimizer = optimizer; self.activations = activations; self.capacity = capacity
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        parameters = try c.decode(Double.self, forKey: .parameters)
        lowPrecisionWeights = try c.decodeIfPresent(Double.self, forKey: .lowPrecisionWeights) ?? 0
        gradients = try c.decode(Double.self, forKey: .gradients)
        optimizer = try c.decode(Double.self, forKey: .optimizer); activations = try c.decode(Double.self, forKey: .activations)
        capacity = try c.decode(Double.self, forKey: .capacity)
    }
}

/// The α-dependent part of a prediction.
public struct AlphaPrediction: Codable, Equatable, Sendable {
    public var alphaMicroseconds: Double
    /// The whole gradient collective (an all-reduce; with ZeRO-1 a reduce-scatter), and the part of it
    /// backward does not hide.
    public var gradientAllReduceSeconds: Double
    public var gradientExposedSeconds: Double
    /// ZeRO-1: the all-gather of the updated parameters after the optimizer step (exposed whole); else 0.
    public var parameterAllGatherSeconds: Double
    public var activationAllReduceSeconds: Double
    /// compute + exposed gradient collective + parameter all-gather + activation all-reduces.
    public var stepSeconds: Double
    /// compute + the whole gradient collective + parameter all-gather + activation all-reduces.
    public var stepSecondsWithoutOverlap: Double
    /// One chip's step time (same global batch, compute only) / (chips × this step time); ≤ 1.
    public var scalingEfficiency: Double

    enum CodingKeys: String, CodingKey {
        case alphaMicroseconds = "alpha_us", gradientAllReduceSeconds = "gradient_allreduce_seconds"
        case gradientExposedSeconds = "gradient_allreduce_exposed_seconds"
        case parameterAllGatherSeconds = "parameter_allgather_seconds"
        case activationAllReduceSeconds = "activation_allreduces_seconds", stepSeconds = "step_seconds"
        case stepSecondsWithoutOverlap = "step_seconds_without_overlap", scalingEfficiency = "scaling_efficiency"
    }
}

/// Which collective carries the gradients over the data axis.
public enum GradientCollective: String, Codable, Sendable {
    case allReduce = "all-reduce", reduceScatter = "reduce-scatter"
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
    /// FLOPs a chip runs per step (docs/design.md §7 count; recomputed forwards included), and the masked causal
    /// entries among them that a flash-style kernel skips (not taken off the compute time).
    public var trainingFlopsPerChip: Double
    public var causalSkippedFlopsPerChip: Double
    public var computeSeconds: Double
    public var gradientCollective: GradientCollective
    /// Bytes of the gradient collective (the gradients a chip holds) and, with ZeRO-1, of the parameter
    /// all-gather (0 without).
    public var gradientAllReduceBytes: Double
    public var parameterAllGatherBytes: Double
    public var activationAllReduceBytes: Double
    public var activationAllReduceCount: Int
    /// Activation bytes of one micro-batch / its videos.
    public var activationsPerVideo: Double
    public var memory: MemoryEstimate
    public var alphas: [AlphaPrediction]

    enum CodingKeys: String, CodingKey {
        case mesh, data, model, memory, alphas
        case dataGrid = "data_grid", modelGrid = "model_grid", videosPerChip = "videos_per_chip"
        case microBatch = "micro_batch", trainingFlopsPerChip = "training_flops_per_chip"
        case causalSkippedFlopsPerChip = "causal_skipped_flops_per_chip"
        case computeSeconds = "compute_seconds", gradientCollective = "gradient_collective"
        case gradientAllReduceBytes = "gradient_allreduce_bytes", parameterAllGatherBytes = "parameter_allgather_bytes"
        case activationAllReduceBytes = "activation_allreduce_bytes", activationAllReduceCount = "activation_allreduces_per_step"
        case activationsPerVideo = "activation_bytes_per_video"
    }
}

/// A layout that cannot run, and why.
public struct RejectedLayout: Codable, Equatable, Sendable {
    public var mesh: String
    public var layout: String
    public var reason: String
}

// MARK: - The simulator

/// The collectives the simulator costs.
public enum Collective: Sendable {
    case allReduce, reduceScatter, allGather
}

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
        if settings.allGatherPrecision == .bf16 && !(settings.shardOptimizer && settings.precision == .bf16) {
            throw MeshSimulationError("a bf16 parameter all-gather (--gather-precision bf16) needs --shard-optimizer and bf16 precision (--precision bf16)")
        }
        cost = ModelCost(config: config)
        self.settings = settings
    }

    /// One chip's compute-only step time for the whole global batch (with the same recomputation): the
    /// scaling-efficiency reference.
    public var singleChipSeconds: Double {
        cost.trainingFlopsPerChip(videos: settings.globalBatch, model: 1, recompute: settings.recompute)
            / (settings.chip.peakFlops * settings.mfu)
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
        collectiveSeconds(.allReduce, bytes: bytes, grid: grid, alpha: alpha)
    }

    /// Time of one collective over a group occupying a `grid` of chips; `bytes` is what each chip holds
    /// before a reduce-scatter or after an all-gather (the whole buffer, as for an all-reduce).
    public func collectiveSeconds(_ collective: Collective, bytes: Double, grid: (x: Int, y: Int), alpha: Double) -> Double {
        let ranks = grid.x * grid.y
        func ring(_ alpha: Double, _ beta: Double) -> Double {
            collective == .allReduce ? AllReduceCost.ring(ranks: ranks, bytes: bytes, alpha: alpha, beta: beta)
                : ReduceScatterCost.ring(ranks: ranks, bytes: bytes, alpha: alpha, beta: beta)
        }
        switch settings.chip.interconnect {
        case .flat(let link):
            let fit = link.fit(forBytes: bytes)
            return ring(fit.alpha, fit.beta)
        case .torus(let linkBandwidth, _):
            if grid.x == 1 || grid.y == 1 {
                // A ring along one torus axis: the 2 links of that axis (one each way).
                return ring(alpha, 1 / (2 * linkBandwidth))
            }
            let beta = 1 / (4 * linkBandwidth)
            return collective == .allReduce ? AllReduceCost.torus(x: grid.x, y: grid.y, bytes: bytes, alpha: alpha, beta: beta)
                : ReduceScatterCost.torus(x: grid.x, y: grid.y, bytes: bytes, alpha: alpha, beta: beta)
        }
    }

    /// Bytes one chip holds for `layout`: fp32 (master) parameters, the bf16 copy, gradients, optimizer
    /// slots and one micro-batch's activations.
    public func memory(_ layout: MeshLayout, microBatch: Int) -> MemoryEstimate {
        let parameters = Double(cost.parametersPerChip(model: layout.model))
        let optimizerShards = Double(settings.shardOptimizer ? layout.data : 1)
        let masterShards = settings.shardOptimizer && settings.allGatherPrecision == .bf16 ? optimizerShards : 1
        return MemoryEstimate(
            parameters: parameters * Double(settings.parameterBytes) / masterShards,
            lowPrecisionWeights: settings.precision == .bf16 ? parameters * 2 : 0,
            gradients: parameters * Double(settings.gradientBytes),
            optimizer: parameters * Double(settings.parameterBytes * settings.optimizerSlots) / optimizerShards,
            activations: cost.activationBytes(microBatch: microBatch, model: layout.model, precision: settings.precision,
                                              recompute: settings.recompute, attention: settings.attentionMemory),
            capacity: settings.chip.memoryBytes)
    }

    /// The prediction for one placed layout (throws when the layout is illegal for the config).
    public func predict(_ placement: Placement) throws -> LayoutPrediction {
        let layout = placement.layout
        if let reason = illegality(layout) { throw MeshSimulationError("\(layout) on \(placement.torus): \(reason)") }
        let chip = settings.chip, rate = chip.peakFlops * settings.mfu
        let videos = settings.globalBatch / layout.data
        let microBatch = videos / settings.accumulationSteps
        let flops = cost.trainingFlopsPerChip(videos: videos, model: layout.model, recompute: settings.recompute)
        let compute = flops / rate
        // Backward (recomputed forwards included) is all but one forward of the step.
        let backward = compute - cost.forwardFlopsPerChip(videos: videos, model: layout.model) / rate
        let parameters = Double(cost.parametersPerChip(model: layout.model))
        let gradientBytes = parameters * Double(settings.gradientBytes)
        let gradientCollective: GradientCollective = settings.shardOptimizer ? .reduceScatter : .allReduce
        let gatherBytes = settings.shardOptimizer
            ? parameters * Double(settings.allGatherPrecision == .bf16 ? 2 : settings.parameterBytes) : 0
        let activationBytes = Double(microBatch * cost.config.positionsPerSlice * cost.config.hiddenSize * settings.activationBytes)
        // 2 all-reduces per layer in forward, 2 in backward, and 2 more when backward re-runs the forward.
        let perLayer = settings.recompute == .layer ? 6 : 4
        let activationCount = layout.model > 1
            ? perLayer * (cost.config.encoderLayers + cost.config.decoderLayers) * settings.accumulationSteps : 0
        let memory = memory(layout, microBatch: microBatch)
        let alphas: [Double]
        if case .flat(let link) = chip.interconnect { alphas = [link.global.alpha] } else { alphas = settings.alphas }
        let reference = singleChipSeconds
        let gradientKind: Collective = settings.shardOptimizer ? .reduceScatter : .allReduce
        let byAlpha = alphas.map { alpha -> AlphaPrediction in
            let gradient = collectiveSeconds(gradientKind, bytes: gradientBytes, grid: placement.dataGrid, alpha: alpha)
            let lastBucket = collectiveSeconds(gradientKind, bytes: min(settings.bucketBytes, gradientBytes), grid: placement.dataGrid, alpha: alpha)
            let exposed = settings.overlapGradients ? min(gradient, max(lastBucket, gradient - backward)) : gradient
            let gather = settings.shardOptimizer ? collectiveSeconds(.allGather, bytes: gatherBytes, grid: placement.dataGrid, alpha: alpha) : 0
            let activations = Double(activationCount) * allReduceSeconds(bytes: activationBytes, grid: placement.modelGrid, alpha: alpha)
            let step = compute + exposed + gather + activations
            return AlphaPrediction(alphaMicroseconds: alpha * 1e6, gradientAllReduceSeconds: gradient,
                                   gradientExposedSeconds: exposed, parameterAllGatherSeconds: gather,
                                   activationAllReduceSeconds: activations,
                                   stepSeconds: step, stepSecondsWithoutOverlap: compute + gradient + gather + activations,
                                   scalingEfficiency: reference / (Double(layout.chips) * step))
        }
        return LayoutPrediction(mesh: placement.torus.description, data: layout.data, model: layout.model,
                                dataGrid: [placement.dataGrid.x, placement.dataGrid.y],
                                modelGrid: [placement.modelGrid.x, placement.modelGrid.y],
                                videosPerChip: videos, microBatch: microBatch, trainingFlopsPerChip: flops,
                                causalSkippedFlopsPerChip: cost.causalSkippedFlopsPerChip(videos: videos, model: layout.model,
                                                                                          recompute: settings.recompute),
                                computeSeconds: compute, gradientCollective: gradientCollective,
                                gradientAllReduceBytes: gradientBytes, parameterAllGatherBytes: gatherBytes,
                                activationAllReduceBytes: activationBytes, activationAllReduceCount: activationCount,
                                activationsPerVideo: memory.activations / Double(microBatch),
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
        figures.append(Figure("achievable MFU", String(format: "%.2f", settings.mfu), settings.mfuProvenance,
                              mfuSource + (settings.recompute == .layer ? "; applied to the FLOPs run, recomputed forwards included" : "")))
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
        figures.append(Figure("precision", settings.precision == .bf16
                                ? "bf16 product inputs (2 B), bf16 weight copy (2 B/param); fp32 master weights, gradients, slots"
                                : "fp32 everywhere (4 B a value)",
                              .assumed, "--precision (default: the config's training.precision; docs/design.md §8)"))
        figures.append(Figure("recompute", settings.recompute == .layer
                                ? "layer: 4 × the layers' forward FLOPs + 3 × the rest; one layer's activations kept"
                                : "none: 3 × forward FLOPs; every layer's activations kept",
                              .assumed, "--recompute (default: the config's training.recompute; docs/design.md §9)"))
        figures.append(Figure("optimizer state", settings.shardOptimizer
                                ? "ZeRO-1 over data: slots / D\(settings.allGatherPrecision == .bf16 ? " and fp32 master / D" : "");"
                                  + " gradients reduce-scattered (full on each chip), parameters all-gathered in \(settings.allGatherPrecision) after the step"
                                : "replicated on the data axis; gradients all-reduced",
                              .assumed, "--shard-optimizer, --gather-precision (default: the config's distribution.shard_optimizer)"))
        figures.append(Figure("attention memory", settings.attentionMemory == .statistics
                                ? "softmax statistics, 2 floats per row and head (flash-style)"
                                : "block probabilities, heads × Nb² per block (the stored-probability kernel)",
                              .assumed, "--attention-memory"))
        figures.append(Figure("causal blocks", "masked upper triangle counted (docs/design.md §7), skipped by the kernel",
                              .assumed, "reported as causal_skipped_flops; the compute time keeps §7's count"))
        figures.append(Figure("gradient bytes / value", "\(settings.gradientBytes)", .assumed, "--gradient-bytes (4 fp32, 2 bf16)"))
        figures.append(Figure("activation all-reduce bytes / value", "\(settings.activationBytes)", .assumed,
                              "--activation-bytes (4 = the trainer's fp32 model-axis sums, 2 = bf16); stored activations follow --precision"))
        figures.append(Figure("parameter and optimizer-slot bytes", "\(settings.parameterBytes) × (1 + \(settings.optimizerSlots) slots)",
                              .assumed, "fp32 master weights, RMSProp/Adam 2 slots"))
        let collective = settings.shardOptimizer ? "reduce-scatter" : "all-reduce"
        figures.append(settings.overlapGradients
            ? Figure("overlap", String(format: "gradient buckets of %.0f MB during backward (%@)", settings.bucketBytes / 1e6,
                                       settings.recompute == .layer ? "compute − one forward" : "2/3 of compute"),
                     .assumed, "as the trainer does; exposed = max(last bucket, \(collective) − backward); --no-overlap")
            : Figure("overlap", "none: the gradient \(collective) follows backward", .assumed, "--no-overlap"))
        if settings.shardOptimizer {
            figures.append(Figure("parameter all-gather", "after the optimizer step, not overlapped", .assumed,
                                  "the next forward needs every parameter"))
        }
        figures.append(Figure("activation all-reduces", "not overlapped with compute", .assumed, "Megatron layout: they sit on the critical path"))
        return figures
    }
}
