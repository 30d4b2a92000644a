// Optimizer: RMSProp (TensorFlow form) and Adam over one flat parameter buffer, plus global-norm clipping.
// The slots are flat buffers laid out like the parameters, so checkpoints store them under the same names.
//
//   RMSProp  ms ← ρ·ms + (1−ρ)·g²;  mom ← μ·mom + lr·g/√(ms + ε);  θ ← θ − mom      (slots: ms, momentum)
//   Adam     m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  θ ← θ − lr·m̂/(√v̂ + ε)       (slots: m, v)
// TensorFlow initialises RMSProp's `ms` to 1 (not 0), which damps the first steps; so do we.
// Under ZeRO stage 1 an optimizer owns one range of the flat buffer (`range`): its slots hold that range
// only, and `apply` updates only those parameters — element by element, so every value is bitwise what
// the unsharded optimizer computes from the same gradient and clip factor.

import Foundation
import Kernels

public final class Optimizer {
    public let config: OptimizerConfig
    public let slotNames: [String]
    public let slots: [FloatBuffer]
    /// Updates applied so far (Adam's bias correction uses it).
    public var step: Int = 0
    /// Floats in the whole flat parameter buffer.
    let count: Int
    /// The part of the flat buffer this optimizer updates; slot i holds `slots[i][j]` for parameter
    /// `range.lowerBound + j`. The whole buffer unless the optimizer state is sharded.
    public let range: Range<Int>

    /// `range` (default: all of `0..<parameterCount`): the parameters this optimizer updates and keeps
    /// slots for.
    public init(config: OptimizerConfig, parameterCount: Int, range: Range<Int>? = nil) {
        self.config = config
        count = parameterCount
        let range = range ?? 0..<parameterCount
        precondition(range.lowerBound >= 0 && range.upperBound <= parameterCount, "Optimizer: range \(range) outside 0..<\(parameterCount)")
        self.range = range
        let parameterCount = range.count  // the slots' size
        switch config.name {
        case .rmsprop:
            slotNames = ["rms", "momentum"]
            let ms = FloatBuffer(count: parameterCount)
            ms.pointer.update(repeating: 1, count: parameterCount)
            slots = [ms, FloatBuffer(count: parameterCount)]
        case .adam:
            slotNames = ["m", "v"]
            slots = [FloatBuffer(count: parameterCount), FloatBuffer(count: parameterCount)]
        }
    }

    /// θ ← update(θ, g) with learning rate `learningRate`; g is read after scaling by `gradientScale`
    /// (clipping factor). Element-wise, split over workers (no reductions).
    /// Only `range` of `parameters` is read or written (and of `gradients` read).
    public func apply(parameters: FloatBuffer, gradients: FloatBuffer, learningRate: Double, gradientScale: Float = 1) {
        precondition(parameters.count == count && gradients.count == count)
        let theta = parameters.pointer + range.lowerBound, grad = gradients.pointer + range.lowerBound
        let s0 = slots[0].pointer, s1 = slots[1].pointer
        let lr = Float(learningRate), eps = Float(config.epsilon)
        let count = range.count
        step += 1
        switch config.name {
        case .rmsprop:
            let rho = Float(config.decay), mu = Float(config.momentum)
            Parallel.rows(count, grain: 1 << 15) { range in
                for i in range {
                    let g = grad[i] * gradientScale
                    let ms = rho * s0[i] + (1 - rho) * g * g
                    s0[i] = ms
                    let mom = mu * s1[i] + lr * g / (ms + eps).squareRoot()
                    s1[i] = mom
                    theta[i] -= mom
                }
            }
        case .adam:
            let b1 = Float(config.beta1), b2 = Float(config.beta2)
            let c1 = Float(1 - pow(config.beta1, Double(step))), c2 = Float(1 - pow(config.beta2, Double(step)))
            Parallel.rows(count, grain: 1 << 15) { range in
                for i in range {
                    let g = grad[i] * gradientScale
                    let m = b1 * s0[i] + (1 - b1) * g
                    let v = b2 * s1[i] + (1 - b2) * g * g
                    s0[i] = m; s1[i] = v
                    theta[i] -= lr * (m / c1) / ((v / c2).squareRoot() + eps)
                }
            }
        }
    }

    /// The fixed chunks `globalNorm` sums over (`Parallel.range(of:pieces:count:)` of the buffer).
    public static let normChunks = 64

    /// √(Σ g²) in Double over fixed chunks summed in order (deterministic on any machine).
    public static func globalNorm(_ gradients: FloatBuffer) -> Double {
        squaredNormPartials(gradients, within: 0..<gradients.count).reduce(0, +).squareRoot()
    }

    /// `globalNorm`'s per-chunk sums of g², each over the part of its chunk inside `within` (0 for chunks
    /// outside). A chunk wholly inside gets exactly the sum `globalNorm` adds, so when every rank's range
    /// is a union of whole chunks, adding all ranks' partials (x + 0 is exact) and summing them in order
    /// gives `globalNorm` bit for bit.
    public static func squaredNormPartials(_ gradients: FloatBuffer, within: Range<Int>) -> [Double] {
        let chunks = normChunks
        var partials = [Double](repeating: 0, count: chunks)
        let g = gradients.pointer
        partials.withUnsafeMutableBufferPointer { partial in
            let base = partial.baseAddress!
            Parallel.chunks(gradients.count, chunks: chunks) { chunk, range in
                let inside = range.clamped(to: within)
                var sum = 0.0
                for i in inside { sum += Double(g[i]) * Double(g[i]) }
                base[chunk] = sum
            }
        }
        return partials
    }

    /// The factor that brings the norm down to `clipNorm` (1 when clipping is off or not needed).
    public static func clipScale(norm: Double, clipNorm: Double) -> Float {
        clipNorm > 0 && norm > clipNorm ? Float(clipNorm / norm) : 1
    }
}
