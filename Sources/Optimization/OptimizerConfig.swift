// OptimizerConfig: optimiser, learning-rate schedule and clipping settings as config data.

import Foundation

public enum OptimizerKind: String, Codable, Sendable { case rmsprop, adam }
public enum ScheduleKind: String, Codable, Sendable {
    case constant
    case inverseSquareRoot = "inverse_sqrt"
    case cosine
}

public struct OptimizerConfig: Codable, Equatable, Sendable {
    public var name: OptimizerKind
    public var learningRate: Double
    /// RMSProp: decay of the squared-gradient average (TensorFlow's `decay`/`rho`).
    public var decay: Double
    /// RMSProp: momentum of the update (TensorFlow's `momentum`).
    public var momentum: Double
    /// Adam: β1 and β2.
    public var beta1: Double
    public var beta2: Double
    /// Added under the square root (RMSProp, TensorFlow form) or to it (Adam).
    public var epsilon: Double
    public var warmupSteps: Int
    public var schedule: ScheduleKind
    /// For cosine: the step at which the rate reaches `minimumLearningRate` (defaults to the run's steps).
    public var decaySteps: Int?
    public var minimumLearningRate: Double
    /// Global-norm gradient clipping; 0 disables it.
    public var clipNorm: Double

    public init(name: OptimizerKind = .rmsprop, learningRate: Double = 2e-5, decay: Double = 0.95, momentum: Double = 0.9,
                beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, warmupSteps: Int = 0,
                schedule: ScheduleKind = .constant, decaySteps: Int? = nil, minimumLearningRate: Double = 0,
                clipNorm: Double = 0) {
        self.name = name; self.learningRate = learningRate; self.decay = decay; self.momentum = momentum
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.warmupSteps = warmupSteps
        self.schedule = schedule; self.decaySteps = decaySteps; self.minimumLearningRate = minimumLearningRate
        self.clipNorm = clipNorm
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, decay, momentum, beta1, beta2, epsilon, schedule
        case learningRate = "learning_rate", warmupSteps = "warmup_steps", decaySteps = "decay_steps"
        case minimumLearningRate = "minimum_learning_rate", clipNorm = "clip_norm"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        let known = Set(CodingKeys.allCases.map(\.stringValue))
        for key in container.allKeys where !known.contains(key.stringValue) {
            let path = (decoder.codingPath + [key]).map(\.stringValue).joined(separator: ".")
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [key],
                debugDescription: "unknown key '\(path)' (known keys here: \(known.sorted().joined(separator: ", ")))"))
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = OptimizerConfig()
        name = try c.decode(OptimizerKind.self, forKey: .name)
        learningRate = try c.decode(Double.self, forKey: .learningRate)
        decay = try c.decodeIfPresent(Double.self, forKey: .decay) ?? defaults.decay
        momentum = try c.decodeIfPresent(Double.self, forKey: .momentum) ?? defaults.momentum
        beta1 = try c.decodeIfPresent(Double.self, forKey: .beta1) ?? defaults.beta1
        beta2 = try c.decodeIfPresent(Double.self, forKey: .beta2) ?? defaults.beta2
        epsilon = try c.decodeIfPresent(Double.self, forKey: .epsilon) ?? defaults.epsilon
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? 0
        schedule = try c.decodeIfPresent(ScheduleKind.self, forKey: .schedule) ?? .constant
        decaySteps = try c.decodeIfPresent(Int.self, forKey: .decaySteps)
        minimumLearningRate = try c.decodeIfPresent(Double.self, forKey: .minimumLearningRate) ?? 0
        clipNorm = try c.decodeIfPresent(Double.self, forKey: .clipNorm) ?? 0
    }

    /// Throws a message naming the field and the rule.
    public func validate(prefix: String = "optimizer.") throws -> Void {
        func fail(_ field: String, _ rule: String) throws { throw OptimizerConfigError("\(prefix)\(field): \(rule)") }
        if !(learningRate > 0) { try fail("learning_rate", "must be positive (got \(learningRate))") }
        if !(0..<1).contains(decay) { try fail("decay", "must be in [0, 1) (got \(decay))") }
        if !(0..<1).contains(momentum) { try fail("momentum", "must be in [0, 1) (got \(momentum))") }
        if !(0..<1).contains(beta1) || !(0..<1).contains(beta2) { try fail("beta1/beta2", "must be in [0, 1)") }
        if !(epsilon > 0) { try fail("epsilon", "must be positive (got \(epsilon))") }
        if warmupSteps < 0 { try fail("warmup_steps", "must be at least 0 (got \(warmupSteps))") }
        if let decaySteps, decaySteps < 1 { try fail("decay_steps", "must be at least 1 (got \(decaySteps))") }
        if minimumLearningRate < 0 || minimumLearningRate > learningRate {
            try fail("minimum_learning_rate", "must be in [0, learning_rate] (got \(minimumLearningRate))")
        }
        if clipNorm < 0 { try fail("clip_norm", "must be at least 0 (0 disables clipping; got \(clipNorm))") }
    }
}

public struct OptimizerConfigError: Error, CustomStringConvertible {
    public let description: String
    init(_ message: String) { description = message }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
