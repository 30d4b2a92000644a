// LearningRateSchedule: linear warm-up, then constant, inverse square root or cosine decay.
//
//   warm-up     lr·(step+1)/warmup                              for step < warmup
//   constant    lr
//   inverse_sqrt lr·√(warmup / (step+1))  (lr·√(1/(step+1)) scaled to 1 at the end of warm-up)
//   cosine      min + (lr − min)·½(1 + cos(π·progress)), progress = (step − warmup)/(decaySteps − warmup)
// `step` counts optimizer updates from 0.

import Foundation

public struct LearningRateSchedule: Sendable {
    public let config: OptimizerConfig
    public let totalSteps: Int

    public init(config: OptimizerConfig, totalSteps: Int) {
        self.config = config; self.totalSteps = totalSteps
    }

    public func learningRate(atStep step: Int) -> Double {
        let peak = config.learningRate, warmup = config.warmupSteps
        if step < warmup { return peak * Double(step + 1) / Double(warmup) }
        switch config.schedule {
        case .constant:
            return peak
        case .inverseSquareRoot:
            return peak * (Double(max(1, warmup)) / Double(step + 1)).squareRoot()
        case .cosine:
            let end = max(warmup + 1, config.decaySteps ?? totalSteps)
            let progress = min(1, Double(step - warmup) / Double(end - warmup))
            return config.minimumLearningRate + (peak - config.minimumLearningRate) * 0.5 * (1 + cos(Double.pi * progress))
        }
    }
}
