// SimulationSettings and predictions: what a simulation assumes (chip, MFU, α sweep, bytes on the wire, the
// memory features of docs/design.md §8–§9) and what it answers per layout (memory per chip, per-α times,
// the whole prediction, or why a layout is rejected). Leaves out: computing them (MeshSimulator).

import Foundation
import Kernels
import VideoModel

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
