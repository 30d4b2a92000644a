// Optimizer updates against hand-computed values, schedules at their landmarks, clipping.

import Foundation
import Testing
import Kernels
@testable import Optimization

@Suite struct OptimizerTests {
    @Test func rmspropFollowsTensorFlowsFormWithRmsInitialisedToOne() {
        let config = OptimizerConfig(name: .rmsprop, learningRate: 0.1, decay: 0.9, momentum: 0.5, epsilon: 1e-6)
        let optimizer = Optimizer(config: config, parameterCount: 1)
        let theta = FloatBuffer([1.0]), grad = FloatBuffer([2.0])
        // step 1: ms = 0.9·1 + 0.1·4 = 1.3; mom = 0 + 0.1·2/√(1.3+1e-6); θ = 1 − mom
        optimizer.apply(parameters: theta, gradients: grad, learningRate: 0.1)
        let mom1 = 0.1 * 2 / (1.3 + 1e-6).squareRoot()
        #expect(abs(Double(theta[0]) - (1 - mom1)) < 1e-6)
        // step 2: ms = 0.9·1.3 + 0.4 = 1.57; mom = 0.5·mom1 + 0.1·2/√1.57
        optimizer.apply(parameters: theta, gradients: grad, learningRate: 0.1)
        let mom2 = 0.5 * mom1 + 0.1 * 2 / (1.57 + 1e-6).squareRoot()
        #expect(abs(Double(theta[0]) - (1 - mom1 - mom2)) < 1e-6)
        #expect(optimizer.slotNames == ["rms", "momentum"])
    }

    @Test func adamMatchesTheBiasCorrectedFormula() {
        let config = OptimizerConfig(name: .adam, learningRate: 0.01, beta1: 0.9, beta2: 0.99, epsilon: 1e-8)
        let optimizer = Optimizer(config: config, parameterCount: 2)
        let theta = FloatBuffer([0.5, -0.5]), grad = FloatBuffer([0.3, -2.0])
        optimizer.apply(parameters: theta, gradients: grad, learningRate: 0.01)
        // First step: m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g).
        #expect(abs(theta[0] - (0.5 - 0.01)) < 1e-6 && abs(theta[1] - (-0.5 + 0.01)) < 1e-6)
        optimizer.apply(parameters: theta, gradients: grad, learningRate: 0.01)
        let m = 0.9 * 0.1 * 0.3 + 0.1 * 0.3, v = 0.99 * 0.01 * 0.09 + 0.01 * 0.09
        let expected = 0.5 - 0.01 - 0.01 * (m / (1 - 0.81)) / ((v / (1 - 0.9801)).squareRoot() + 1e-8)
        #expect(abs(Double(theta[0]) - expected) < 1e-6)
    }

    @Test func schedulesHitTheirLandmarks() {
        let warm = OptimizerConfig(learningRate: 1.0, warmupSteps: 10, schedule: .constant)
        let constant = LearningRateSchedule(config: warm, totalSteps: 100)
        #expect(constant.learningRate(atStep: 0) == 0.1 && constant.learningRate(atStep: 9) == 1.0)
        #expect(constant.learningRate(atStep: 50) == 1.0)
        var rsqrt = warm; rsqrt.schedule = .inverseSquareRoot
        let inverse = LearningRateSchedule(config: rsqrt, totalSteps: 100)
        #expect(inverse.learningRate(atStep: 9) == 1.0)
        #expect(abs(inverse.learningRate(atStep: 39) - 0.5) < 1e-12)
        var cos = warm; cos.schedule = .cosine; cos.minimumLearningRate = 0.1
        let cosine = LearningRateSchedule(config: cos, totalSteps: 110)
        #expect(cosine.learningRate(atStep: 10) == 1.0)
        #expect(abs(cosine.learningRate(atStep: 60) - 0.55) < 1e-12)
        #expect(abs(cosine.learningRate(atStep: 110) - 0.1) < 1e-12)
        #expect(abs(cosine.learningRate(atStep: 500) - 0.1) < 1e-12)
    }

    @Test func clippingScalesToTheGlobalNorm() {
        let gradients = FloatBuffer([3, 4, 0, 0])
        let norm = Optimizer.globalNorm(gradients)
        #expect(norm == 5)
        #expect(Optimizer.clipScale(norm: norm, clipNorm: 1) == 0.2)
        #expect(Optimizer.clipScale(norm: norm, clipNorm: 10) == 1)
        #expect(Optimizer.clipScale(norm: norm, clipNorm: 0) == 1)
    }

    /// ZeRO stage 1: optimizers that each own one range of the buffer, applied in turn, produce bitwise
    /// the parameters and slots of one optimizer over the whole buffer (both kinds, with clipping).
    @Test(arguments: [OptimizerKind.rmsprop, .adam])
    func optimizersOverRangesMatchOneOverTheWholeBuffer(_ kind: OptimizerKind) {
        let config = OptimizerConfig(name: kind, learningRate: 0.01)
        let count = 1000, cuts = [0, 333, 336, 1000]  // one range of 3 floats, one empty-ish split
        let initial = (0..<count).map { Float(($0 * 37) % 101) / 101 - 0.5 }
        let whole = Optimizer(config: config, parameterCount: count)
        let parts = (0..<3).map { Optimizer(config: config, parameterCount: count, range: cuts[$0]..<cuts[$0 + 1]) }
        #expect(parts.map { $0.slots[0].count } == [333, 3, 664])
        let a = FloatBuffer(initial), b = FloatBuffer(initial)
        for step in 0..<4 {
            let gradients = FloatBuffer((0..<count).map { Float((($0 + step) * 13) % 29) / 29 - 0.4 })
            whole.apply(parameters: a, gradients: gradients, learningRate: 0.01, gradientScale: 0.7)
            for part in parts { part.apply(parameters: b, gradients: gradients, learningRate: 0.01, gradientScale: 0.7) }
        }
        #expect(a.array.map(\.bitPattern) == b.array.map(\.bitPattern))
        for slot in 0..<2 {
            let joined = parts.flatMap { $0.slots[slot].array }
            #expect(joined.map(\.bitPattern) == whole.slots[slot].array.map(\.bitPattern), "slot \(whole.slotNames[slot])")
        }
    }

    /// The per-chunk partial sums over ranges made of whole norm chunks add up to globalNorm bit for bit;
    /// over ranges that split chunks, to within rounding.
    @Test func normPartialsOverRangesAddUpToTheGlobalNorm() {
        let count = 10_007
        let gradients = FloatBuffer((0..<count).map { Float(sin(Double($0) * 0.37)) * 1e-2 })
        let expected = Optimizer.globalNorm(gradients)
        func norm(cuts: [Int]) -> Double {
            var partials = [Double](repeating: 0, count: Optimizer.normChunks)
            for part in 0..<(cuts.count - 1) {
                for (index, value) in Optimizer.squaredNormPartials(gradients, within: cuts[part]..<cuts[part + 1]).enumerated() {
                    partials[index] += value
                }
            }
            return partials.reduce(0, +).squareRoot()
        }
        let chunkCuts = [0, 16, 32, 48, 64].map { $0 == 64 ? count : Parallel.range(of: $0, pieces: Optimizer.normChunks, count: count).lowerBound }
        #expect(norm(cuts: chunkCuts) == expected)
        #expect(abs(norm(cuts: [0, 2500, 5001, 7777, count]) - expected) <= 1e-14 * expected)
    }

    @Test func badSettingsNameTheField() {
        var config = OptimizerConfig(learningRate: -1)
        #expect(throws: OptimizerConfigError.self) { try config.validate() }
        config = OptimizerConfig(decay: 1.5)
        do { try config.validate(); Issue.record("no error") } catch { #expect("\(error)".contains("optimizer.decay")) }
    }
}
