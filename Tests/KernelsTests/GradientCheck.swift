// Central finite differences for kernel backwards: L = Σ out·R for a fixed random R, so dOut = R.
// Float32 forwards are summed in Double; tolerances are stated per test.

import Foundation
import Kernels

struct TestRandom {
    var generator: Xoshiro256
    init(_ seed: UInt64) { generator = Xoshiro256(seed: seed) }
    mutating func normals(_ count: Int, scale: Double = 1) -> [Float] {
        (0..<count).map { _ in Float(scale * generator.nextNormal()) }
    }
}

/// Compares an analytic gradient with central differences of `loss` over every entry of `x`.
/// Returns the worst |numeric − analytic| divided by the largest |analytic| entry (at least `floor`):
/// float32 round-off stays near 1e-5 on that scale while an indexing or sign bug shows up near 1.
func finiteDifferenceCheck(_ x: inout [Float], analytic: [Float], epsilon: Float = 1e-2, floor: Double = 1e-3,
                           loss: ([Float]) -> Double) -> (worst: Double, message: String) {
    let scale = max(floor, analytic.map { abs(Double($0)) }.max() ?? 0)
    var worst = 0.0, message = "ok"
    for i in 0..<x.count {
        let saved = x[i]
        x[i] = saved + epsilon; let plus = loss(x)
        x[i] = saved - epsilon; let minus = loss(x)
        x[i] = saved
        let numeric = (plus - minus) / (2 * Double(epsilon))
        let error = abs(numeric - Double(analytic[i])) / scale
        if error > worst { worst = error; message = "entry \(i): numeric \(numeric), analytic \(analytic[i]) (gradient scale \(scale))" }
    }
    return (worst, message)
}

func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

extension Array where Element == Float {
    func withPointer<R>(_ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        var copy = self
        return copy.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }
}
