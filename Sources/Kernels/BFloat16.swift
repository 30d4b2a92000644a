// BFloat16: the 16-bit brain float that bf16 matrix products take as inputs (docs/design.md §8), its
// conversions and an owned buffer of it.
//
//   fp32 → bf16   round to nearest, ties to even, on the bit pattern; NaN stays a quiet NaN (sign and
//                 top payload bits kept), ±∞ stays ±∞, finite values past the largest bf16 become ±∞,
//                 subnormals round like any other value (no flush to zero)
//   bf16 → fp32   exact: the 16 bits become the top half of the fp32 pattern
//
// Leaves out: bf16 arithmetic. Nothing is computed in bf16; products accumulate in fp32 (oneDNN).

import Foundation
import _KernelShims

/// Floating-point precision of the matrix products (`training.precision`, `--precision`).
public enum Precision: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    /// Every product on OpenBLAS sgemm (fp32 inputs and accumulation).
    case fp32
    /// Products on oneDNN with bf16 inputs and fp32 accumulation; everything else fp32.
    case bf16
    public var description: String { rawValue }
}

/// A bfloat16 value, stored as its bit pattern.
@frozen
public struct BFloat16: Equatable, Sendable, CustomStringConvertible {
    public var bitPattern: UInt16
    @inline(__always) public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    /// Rounds `value` to the nearest bf16, ties to even.
    @inline(__always)
    public init(_ value: Float) {
        let bits = value.bitPattern
        if bits & 0x7fff_ffff > 0x7f80_0000 {
            bitPattern = UInt16(truncatingIfNeeded: bits >> 16) | 0x0040  // NaN: keep sign and payload, set quiet bit
        } else {
            let roundingBias = 0x7fff &+ ((bits >> 16) & 1)
            bitPattern = UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
        }
    }

    @inline(__always) public var float: Float { Float(bitPattern: UInt32(bitPattern) << 16) }
    public var description: String { "\(float)" }

    /// target[i] = BFloat16(source[i]), spread over the workers for large counts.
    public static func convert(_ source: UnsafePointer<Float>, to target: UnsafeMutablePointer<BFloat16>, count: Int) {
        Parallel.rows(count, grain: 1 << 16) { range in convertSerial(source + range.lowerBound, to: target + range.lowerBound,
                                                                          count: range.count) }
    }

    /// The same on the calling thread (for per-block scratch inside a parallel loop).
    @inline(__always)
    public static func convertSerial(_ source: UnsafePointer<Float>, to target: UnsafeMutablePointer<BFloat16>, count: Int) {
        // The C twin of `init(_:)`, vectorised for this CPU (Sources/_KernelShims); tests hold it to `naive`.
        target.withMemoryRebound(to: UInt16.self, capacity: count) { vt_round_to_bf16(source, $0, count) }
    }

    /// target[i] = Float(source[i]) (exact).
    public static func widen(_ source: UnsafePointer<BFloat16>, to target: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.rows(count, grain: 1 << 16) { range in
            for i in range { target[i] = source[i].float }
        }
    }

    /// The naive oracle for the conversion: the two bf16 neighbours of `value` found by truncation, the
    /// nearer chosen by exact Double distance, a tie going to the even pattern.
    public static func naive(_ value: Float) -> BFloat16 {
        if value.isNaN { return BFloat16(bitPattern: UInt16(value.bitPattern >> 16) | 0x0040) }
        if value.isInfinite { return BFloat16(bitPattern: UInt16(value.bitPattern >> 16)) }
        let down = BFloat16(bitPattern: UInt16(value.bitPattern >> 16))      // toward zero
        let up = BFloat16(bitPattern: down.bitPattern + 1)                   // away from zero (may be ∞)
        if down.float == value { return down }
        let exact = Double(value)
        let upValue: Double = up.float.isInfinite
            ? Double(sign: value.sign, exponent: 128, significand: 1)       // where ∞ sits for rounding: 2^128
            : Double(up.float)
        let distanceDown = abs(exact - Double(down.float)), distanceUp = abs(upValue - exact)
        if distanceDown < distanceUp { return down }
        if distanceUp < distanceDown { return up }
        return down.bitPattern & 1 == 0 ? down : up
    }
}

/// An owned, 64-byte-aligned array of bf16 values (saved activations and bf16 weight copies).
public final class BFloat16Buffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<BFloat16>

    public init(count: Int) {
        precondition(count >= 0, "BFloat16Buffer: negative count")
        self.count = count
        pointer = allocateAligned(BFloat16.self, count: count, zero: BFloat16(bitPattern: 0), owner: "BFloat16Buffer")
    }

    deinit { free(pointer) }

    public var bytes: Int { count * MemoryLayout<BFloat16>.stride }

    /// Rounds every value of `source` (same count) into this buffer.
    public func round(from source: UnsafePointer<Float>) { BFloat16.convert(source, to: pointer, count: count) }

    public var floats: [Float] { (0..<count).map { pointer[$0].float } }
}
