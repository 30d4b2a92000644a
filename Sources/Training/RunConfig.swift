// RunConfig: one complete experiment as data — model, optimiser, training loop and data — decoded strictly
// from a YAML file (unknown keys, missing fields and broken rules name the field).

import Foundation
import Kernels
import Optimization
import VideoModel

public struct TrainingSettings: Codable, Equatable, Sendable {
    /// Global batch: videos per optimizer step, summed over data ranks and accumulation steps.
    public var batchSize: Int
    /// Train until this global step.
    public var steps: Int
    public var seed: UInt64
    public var logEvery: Int
    public var accumulationSteps: Int
    /// Exact bits/dim on data.eval every this many steps (0: never), logged to metrics and TensorBoard.
    public var evalEvery: Int
    /// Evaluate only the first N videos of data.eval (nil: all).
    public var evalVideos: Int?
    /// Precision of the matrix products: fp32 (OpenBLAS) or bf16 inputs with fp32 accumulation (oneDNN),
    /// docs/design.md §8. Master weights, gradients, optimizer state and checkpoints are fp32 either way.
    public var precision: Precision
    /// What backward keeps from forward (docs/design.md §9): `none` keeps every layer's activations, `layer`
    /// keeps each attention layer's input and re-runs its forward just before its backward (bitwise equal).
    public var recompute: Recompute
    /// Probability that a training video's label is replaced by "no label" (class K), so the model also
    /// learns the unconditional distribution classifier-free guidance needs (docs/design.md §11). A pure
    /// function of (seed, the example's place in the stream): resume and any rank count see the same drops.
    public var labelDropout: Double

    enum CodingKeys: String, CodingKey, CaseIterable {
        case batchSize = "batch_size", steps, seed, logEvery = "log_every", accumulationSteps = "accumulation_steps"
        case evalEvery = "eval_every", evalVideos = "eval_videos", precision, recompute, labelDropout = "label_dropout"
    }

    public init(batchSize: Int, steps: Int, seed: UInt64 = 0, logEvery: Int = 10, accumulationSteps: Int = 1,
                evalEvery: Int = 0, evalVideos: Int? = nil, precision: Precision = .fp32, recompute: Recompute = .none,
                labelDropout: Double = 0) {
        self.batchSize = batchSize; self.steps = steps; self.seed = seed; self.logEvery = logEvery
        self.accumulationSteps = accumulationSteps; self.evalEvery = evalEvery; self.evalVideos = evalVideos
        self.precision = precision; self.recompute = recompute; self.labelDropout = labelDropout
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        steps = try c.decode(Int.self, forKey: .steps)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        logEvery = try c.decodeIfPresent(Int.self, forKey: .logEvery) ?? 10
        accumulationSteps = try c.decodeIfPresent(Int.self, forKey: .accumulationSteps) ?? 1
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? 0
        evalVideos = try c.decodeIfPresent(Int.self, forKey: .evalVideos)
        let precisionName = try c.decodeIfPresent(String.self, forKey: .precision) ?? Precision.fp32.rawValue
        guard let precision = Precision(rawValue: precisionName) else {
            throw ConfigError("training.precision: must be one of \(Precision.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(precisionName)')")
        }
        self.precision = precision
        let recomputeName = try c.decodeIfPresent(String.self, forKey: .recompute) ?? Recompute.none.rawValue
        guard let recompute = Recompute(rawValue: recomputeName) else {
            throw ConfigError("training.recompute: must be one of \(Recompute.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(recomputeName)')")
        }
        self.recompute = recompute
        labelDropout = try c.decodeIfPresent(Double.self, forKey: .labelDropout) ?? 0
    }

    /// Encodes `label_dropout` only when set, so older runs' stored configs read as before.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(batchSize, forKey: .batchSize); try c.encode(steps, forKey: .steps); try c.encode(seed, forKey: .seed)
        try c.encode(logEvery, forKey: .logEvery); try c.encode(accumulationSteps, forKey: .accumulationSteps)
        try c.encode(evalEvery, forKey: .evalEvery); try c.encodeIfPresent(evalVideos, forKey: .evalVideos)
        try c.encode(precision, forKey: .precision); try c.encode(recompute, forKey: .recompute)
        if labelDropout != 0 { try c.encode(labelDropout, forKey: .labelDropout) }
    }
}

public struct DataSettings: Codable, Equatable, Sendable {
    /// Prepared shard file or folder for training; nil trains on the built-in synthetic corpus.
    public var train: String?
    /// Prepared shard file or folder for evaluation.
    public var eval: String?
    /// Size and seed of the built-in synthetic corpus (used when `train` is nil).
    public var syntheticVideos: Int
    public var syntheticSeed: UInt64

    enum CodingKeys: String, CodingKey, CaseIterable {
        case train, eval, syntheticVideos = "synthetic_videos", syntheticSeed = "synthetic_seed"
    }

    public init(train: String? = nil, eval: String? = nil, syntheticVideos: Int = 512, syntheticSeed: UInt64 = 1) {
        self.train = train; self.eval = eval; self.syntheticVideos = syntheticVideos; self.syntheticSeed = syntheticSeed
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        train = try c.decodeIfPresent(String.self, forKey: .train)
        eval = try c.decodeIfPresent(String.self, forKey: .eval)
        syntheticVideos = try c.decodeIfPresent(Int.self, forKey: .syntheticVideos) ?? 512
        syntheticSeed = try c.decodeIfPresent(UInt64.self, forKey: .syntheticSeed) ?? 1
    }
}

public struct RunConfig: Codable, Equatable, Sendable {
    public var model: ModelConfig
    public var optimizer: OptimizerConfig
    public var training: TrainingSettings
    public var data: DataSettings
    /// When to save checkpoints, how many to keep, where (CheckpointSettings.swift).
    public var checkpoint: CheckpointSettings
    /// How data-parallel ranks communicate (DistributionSettings.swift).
    public var distribution: DistributionSettings

    enum CodingKeys: String, CodingKey, CaseIterable { case model, optimizer, training, data, checkpoint, distribution }

    public init(model: ModelConfig, optimizer: OptimizerConfig, training: TrainingSettings, data: DataSettings = DataSettings(),
                checkpoint: CheckpointSettings = CheckpointSettings(), distribution: DistributionSettings = DistributionSettings()) {
        self.distribution = distribution
        self.model = model; self.optimizer = optimizer; self.training = training; self.data = data
        self.checkpoint = checkpoint
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(ModelConfig.self, forKey: .model)
        optimizer = try c.decode(OptimizerConfig.self, forKey: .optimizer)
        training = try c.decode(TrainingSettings.self, forKey: .training)
        data = try c.decodeIfPresent(DataSettings.self, forKey: .data) ?? DataSettings()
        checkpoint = try c.decodeIfPresent(CheckpointSettings.self, forKey: .checkpoint) ?? CheckpointSettings()
        distribution = try c.decodeIfPresent(DistributionSettings.self, forKey: .distribution) ?? DistributionSettings()
    }

    public static func load(path: String) throws -> RunConfig {
        let config = try ConfigFile.load(RunConfig.self, path: path)
        do { try config.validate() } catch { throw ConfigError("\(path): \(error)") }
        return config
    }

    public func validate() throws {
        try model.validate(prefix: "model.")
        try optimizer.validate(prefix: "optimizer.")
        func fail(_ field: String, _ rule: String) throws { throw ConfigError("training.\(field): \(rule)") }
        if training.batchSize < 1 { try fail("batch_size", "must be at least 1 (got \(training.batchSize))") }
        if training.steps < 0 { try fail("steps", "must be at least 0 (got \(training.steps))") }
        if training.evalEvery < 0 { try fail("eval_every", "must be at least 0 (0: no evaluation during training; got \(training.evalEvery))") }
        if let videos = training.evalVideos, videos < 1 { try fail("eval_videos", "must be at least 1 (got \(videos))") }
        if training.evalEvery > 0 && data.eval == nil {
            throw ConfigError("training.eval_every: \(training.evalEvery) needs evaluation data (data.eval or --eval-data)")
        }
        if training.logEvery < 1 { try fail("log_every", "must be at least 1 (got \(training.logEvery))") }
        if training.accumulationSteps < 1 { try fail("accumulation_steps", "must be at least 1 (got \(training.accumulationSteps))") }
        if training.batchSize % training.accumulationSteps != 0 {
            try fail("batch_size", "\(training.batchSize) is not divisible by accumulation_steps \(training.accumulationSteps)")
        }
        if !(0..<1).contains(training.labelDropout) {
            try fail("label_dropout", "must be a probability in [0, 1) (got \(training.labelDropout))")
        }
        if training.labelDropout > 0 && model.classes == 0 {
            try fail("label_dropout", "drops class labels, but model.classes is 0 (the model has no classes)")
        }
        if data.train == nil && data.syntheticVideos < 1 {
            throw ConfigError("data.synthetic_videos: must be at least 1 (got \(data.syntheticVideos))")
        }
        try checkpoint.validate()
        try distribution.validate()
        // YAML reads `.inf`, `.nan` and 1e400 as numbers, and the rules above let some through; the resolved
        // config is JSON (logged, stored in checkpoints, decoded again by evaluate and sample), which has none.
        let numbers = [("optimizer.learning_rate", optimizer.learningRate), ("optimizer.decay", optimizer.decay),
                       ("optimizer.momentum", optimizer.momentum), ("optimizer.beta1", optimizer.beta1),
                       ("optimizer.beta2", optimizer.beta2), ("optimizer.epsilon", optimizer.epsilon),
                       ("optimizer.minimum_learning_rate", optimizer.minimumLearningRate), ("optimizer.clip_norm", optimizer.clipNorm),
                       ("distribution.bucket_mb", distribution.bucketMegabytes)]
        for (field, value) in numbers where !value.isFinite {
            throw ConfigError("\(field): must be a finite number (got \(value))")
        }
    }

    /// The resolved config as YAML-compatible JSON text (stored in checkpoints and logged at start).
    public func resolvedJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(data: (try? encoder.encode(self)) ?? Data(), encoding: .utf8) ?? "{}"
    }
}
