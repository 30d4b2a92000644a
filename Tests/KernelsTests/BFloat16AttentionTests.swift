// The bf16 kernels (docs/design.md §8) against their fp32 twins run on the same bf16-rounded inputs, so that
// only what the bf16 path adds is measured:
//
//   BlockAttention  forward and backward, masked and unmasked, block lengths 8…256. The bf16 path rounds
//                   the probabilities P (forward, and for dV) and dS (for dQ, dK) to bf16; everything else
//                   differs only by fp32 summation order. Each element gets a bound from the inputs (below).
//   ReLU            backward with a bf16 saved input: every one of the 65,536 bf16 patterns, bitwise.
//   ShiftConvolution.im2col  bf16 vs fp32 copies, bitwise.
//   Linear          forward/backward: products of bf16 inputs, fp32 accumulation (bound from K); dBias from
//                   the unrounded fp32 output gradient (fp32 summation bound).
//
// Bounds. u = 2⁻⁸ is bf16's unit roundoff (|bf16(x) − x| ≤ u·|x|), e = 2⁻²⁴ fp32's. For a product of K
// exact bf16·bf16 terms accumulated in fp32 by either library, |computed − exact| ≤ (K+2)·e·Σ|terms|,
// so the two libraries differ by at most twice that. Rounding P to bf16 moves out = P·v by at most
// u·Σ_j P_ij·|v_jc|; rounding dS moves dQ = s·dS·K by at most u·s·Σ_j |dS_ij|·|k_jc| (and dK alike);
// the fp32 differences of the scores (q·kᵀ) and of dP (dO·vᵀ) propagate through softmax and dS as
// derived in `attentionBounds`. A test fails when |bf16 − fp32| exceeds its element's bound.

import Foundation
import Testing
import Kernels

/// `values` rounded to bf16 (nearest, ties to even): the bf16 buffer and the same values in fp32 (exact).
func bf16Rounded(_ values: [Float]) -> (bf16: BFloat16Buffer, floats: [Float]) {
    let buffer = BFloat16Buffer(count: values.count)
    if !values.isEmpty { values.withUnsafeBufferPointer { buffer.round(from: $0.baseAddress!) } }
    return (buffer, buffer.floats)
}

/// The worst |got − expected| / bound over all elements, where it occurs, and the largest difference
/// relative to the largest |expected| (printed for scale). NaN anywhere counts as a failure.
struct BoundCheck: CustomStringConvertible {
    var worstRatio = 0.0, worstIndex = -1, worstGot = 0.0, worstExpected = 0.0, worstBound = 0.0
    var largestDifference = 0.0, largestExpected = 0.0
    var firstValues = ""

    init(got: UnsafePointer<Float>, expected: UnsafePointer<Float>, bounds: [Double], floor: Double = 1e-30) {
        for i in 0..<bounds.count {
            let g = Double(got[i]), x = Double(expected[i])
            let difference = abs(g - x)
            let ratio = difference.isNaN ? .infinity : difference / max(bounds[i], floor)
            if ratio > worstRatio || (worstIndex < 0 && ratio.isNaN) {
                worstRatio = ratio.isNaN ? .infinity : ratio; worstIndex = i; worstGot = g; worstExpected = x; worstBound = bounds[i]
            }
            largestDifference = max(largestDifference, difference.isNaN ? .infinity : difference)
            largestExpected = max(largestExpected, abs(x))
        }
        firstValues = (0..<min(4, bounds.count)).map { "\(got[$0]) vs \(expected[$0])" }.joined(separator: ", ")
    }

    var description: String {
        "worst |bf16 − fp32| / bound = \(worstRatio) at \(worstIndex) (bf16 \(worstGot), fp32 \(worstExpected), bound \(worstBound)); "
            + "max difference \(largestDifference) = \(largestDifference / max(largestExpected, 1e-30)) of max |fp32| \(largestExpected); "
            + "first values \(firstValues)"
    }
}

/// The kernels' shape of `groups` blocks of `nb` positions, `heads` heads of `dh`.
func kernelShape(_ groups: Int, _ nb: Int, _ heads: Int, _ dh: Int, _ causal: Bool) -> BlockAttention.Shape {
    BlockAttention.Shape(groups: groups, blockLength: nb, heads: heads, headSize: dh, causal: causal)
}

/// One attention shape: groups × blockLength positions, heads × headSize columns.
struct AttentionShape: CustomStringConvertible, Sendable {
    let blockLength: Int, heads: Int, headSize: Int, groups: Int
    var description: String { "Nb \(blockLength), \(heads) heads of \(headSize), \(groups) groups" }
}

@Suite struct BFloat16AttentionTests {
    static let u16 = 0x1p-8, u32 = 0x1p-24

    /// Block lengths of the model's layers (8 … 256) with 2–4 heads of 16 or 64; more groups than the
    /// kernel's 8 reduction chunks in the first case, so chunks hold several groups.
    static let shapes = [
        AttentionShape(blockLength: 8, heads: 2, headSize: 16, groups: 19),
        AttentionShape(blockLength: 32, heads: 3, headSize: 64, groups: 5),
        AttentionShape(blockLength: 128, heads: 4, headSize: 16, groups: 3),
        AttentionShape(blockLength: 256, heads: 2, headSize: 64, groups: 2),
    ]

    /// Per-element bounds on |bf16 kernel − fp32 kernel| for the inputs given (all in fp32, already
    /// bf16-representable), with P the fp32 kernel's probabilities:
    ///
    ///   ε_ij  = 2(dh+2)·e·s·Σ_c |q_ic·k_jc|               scores of the two libraries (s = 1/√dh)
    ///   ρ_i   = 2.01·max_j ε_ij + 2(nb+4)·e               relative change of P_ij before rounding
    ///   out   (u + ρ_i(1+u) + 2(nb+2)·e) · Σ_j P_ij·|v_jc|
    ///   probs ρ_i · P_ij
    ///   dV    (u + 2(nb+2)·e) · Σ_i P_ij·|dO_ic|          (backward reads the same fp32 P in both)
    ///   α_ij  = 2(dh+2)·e·Σ_c |dO_ic·v_jc|                dP of the two libraries
    ///   β_ij  = P_ij·(α_ij + Σ_j' P_ij'·α_ij' + 2(nb+2)·e·Σ_j' P_ij'·|dP_ij'| + 4e·(|dP_ij| + |Σ_j' P_ij' dP_ij'|))
    ///                                                     dS (fp32 in both) from the dP difference
    ///   dQ    s·Σ_j ((u + 2(nb+4)·e)·|dS_ij| + (1+u)·β_ij)·|k_jc|,  dK the same with dSᵀ and q
    ///   dBias Σ_g β_gij + 2(groups+10)·e·(|dBias₀| + Σ_g |dS_gij|)
    struct AttentionBounds {
        var out: [Double], probs: [Double], dq: [Double], dk: [Double], dv: [Double], dBias: [Double]
        /// Σ|terms| of each output's last product (Σ_j P_ij|v_jc|, s·Σ_j |dS_ij||k_jc|, …): what two fp32
        /// accumulations of the same bf16 inputs can differ by, times 2(nb+4)·e.
        var outMagnitude: [Double], dqMagnitude: [Double], dkMagnitude: [Double], dvMagnitude: [Double]
    }

    static func attentionBounds(q: [Float], k: [Float], v: [Float], dOut: [Float], probs: [Float], dBias0: [Float],
                                shape: AttentionShape) -> AttentionBounds {
        let nb = shape.blockLength, heads = shape.heads, dh = shape.headSize, groups = shape.groups
        let width = heads * dh, s = 1 / Double(dh).squareRoot()
        var bounds = AttentionBounds(out: .init(repeating: 0, count: q.count), probs: .init(repeating: 0, count: probs.count),
                                     dq: .init(repeating: 0, count: q.count), dk: .init(repeating: 0, count: q.count),
                                     dv: .init(repeating: 0, count: q.count), dBias: .init(repeating: 0, count: heads * nb * nb),
                                     outMagnitude: .init(repeating: 0, count: q.count), dqMagnitude: .init(repeating: 0, count: q.count),
                                     dkMagnitude: .init(repeating: 0, count: q.count), dvMagnitude: .init(repeating: 0, count: q.count))
        var dSSum = [Double](repeating: 0, count: heads * nb * nb)
        var pm = [Double](repeating: 0, count: nb * nb), dS = pm, beta = pm
        for g in 0..<groups {
            for h in 0..<heads {
                let base = g * nb * width + h * dh, pBase = (g * heads + h) * nb * nb
                for index in 0..<(nb * nb) { pm[index] = Double(probs[pBase + index]) }
                for i in 0..<nb {
                    // Forward: score differences, then P, then out.
                    var epsilon = 0.0
                    for j in 0..<nb {
                        var magnitude = 0.0
                        for c in 0..<dh { magnitude += abs(Double(q[base + i * width + c]) * Double(k[base + j * width + c])) }
                        epsilon = max(epsilon, 2 * Double(dh + 2) * u32 * s * magnitude)
                    }
                    let rho = 2.01 * epsilon + 2 * Double(nb + 4) * u32
                    for j in 0..<nb { bounds.probs[pBase + i * nb + j] = rho * pm[i * nb + j] }
                    for c in 0..<dh {
                        var magnitude = 0.0
                        for j in 0..<nb { magnitude += pm[i * nb + j] * abs(Double(v[base + j * width + c])) }
                        bounds.out[base + i * width + c] = (u16 + rho * (1 + u16) + 2 * Double(nb + 2) * u32) * magnitude
                        bounds.outMagnitude[base + i * width + c] = magnitude
                    }
                    // Backward: dP exactly (Double) and its two-library difference α, then dS and β.
                    var dP = [Double](repeating: 0, count: nb), alpha = dP
                    for j in 0..<nb {
                        var exact = 0.0, magnitude = 0.0
                        for c in 0..<dh {
                            let term = Double(dOut[base + i * width + c]) * Double(v[base + j * width + c])
                            exact += term; magnitude += abs(term)
                        }
                        dP[j] = exact; alpha[j] = 2 * Double(dh + 2) * u32 * magnitude
                    }
                    var dot = 0.0, dotMagnitude = 0.0, alphaMean = 0.0
                    for j in 0..<nb {
                        let p = pm[i * nb + j]
                        dot += p * dP[j]; dotMagnitude += p * abs(dP[j]); alphaMean += p * alpha[j]
                    }
                    for j in 0..<nb {
                        let p = pm[i * nb + j]
                        dS[i * nb + j] = p * (dP[j] - dot)
                        beta[i * nb + j] = p * (alpha[j] + alphaMean + 2 * Double(nb + 2) * u32 * dotMagnitude
                                                + 4 * u32 * (abs(dP[j]) + abs(dot)))
                    }
                }
                let rounding = u16 + 2 * Double(nb + 4) * u32
                for i in 0..<nb {
                    for c in 0..<dh {
                        var dqBound = 0.0, dkBound = 0.0, dvBound = 0.0, dqMagnitude = 0.0, dkMagnitude = 0.0
                        for j in 0..<nb {
                            dqMagnitude += abs(dS[i * nb + j]) * abs(Double(k[base + j * width + c]))
                            dkMagnitude += abs(dS[j * nb + i]) * abs(Double(q[base + j * width + c]))
                            dqBound += (rounding * abs(dS[i * nb + j]) + (1 + u16) * beta[i * nb + j]) * abs(Double(k[base + j * width + c]))
                            // dK and dV of row i sum over the queries (first index) j.
                            dkBound += (rounding * abs(dS[j * nb + i]) + (1 + u16) * beta[j * nb + i]) * abs(Double(q[base + j * width + c]))
                            dvBound += pm[j * nb + i] * abs(Double(dOut[base + j * width + c]))
                        }
                        bounds.dq[base + i * width + c] = s * dqBound
                        bounds.dk[base + i * width + c] = s * dkBound
                        bounds.dv[base + i * width + c] = (u16 + 2 * Double(nb + 2) * u32) * dvBound
                        bounds.dqMagnitude[base + i * width + c] = s * dqMagnitude
                        bounds.dkMagnitude[base + i * width + c] = s * dkMagnitude
                        bounds.dvMagnitude[base + i * width + c] = dvBound
                    }
                }
                for index in 0..<(nb * nb) {
                    bounds.dBias[h * nb * nb + index] += beta[index]
                    dSSum[h * nb * nb + index] += abs(dS[index])
                }
            }
        }
        for index in 0..<bounds.dBias.count {
            bounds.dBias[index] += 2 * Double(groups + 10) * u32 * (abs(Double(dBias0[index])) + dSSum[index])
        }
        return bounds
    }

    @Test(.enabled(if: MatMul.bf16ProductsAvailable, Comment(rawValue: MatMul.bf16UnavailableReason)), arguments: shapes, [false, true])
    func attentionMatchesFP32OnRoundedInputs(shape: AttentionShape, causal: Bool) {
        let nb = shape.blockLength, heads = shape.heads, dh = shape.headSize, groups = shape.groups
        let width = heads * dh, rows = groups * nb, probCount = groups * heads * nb * nb
        var random = TestRandom(UInt64(100 + nb + heads + (causal ? 1 : 0)))
        // Scores q·k/√dh of standard deviation ≈ 2.25 (peaked and flat rows both occur).
        let q = bf16Rounded(random.normals(rows * width, scale: 1.5)), k = bf16Rounded(random.normals(rows * width, scale: 1.5))
        let v = bf16Rounded(random.normals(rows * width)), dOut = bf16Rounded(random.normals(rows * width))
        let bias = random.normals(heads * nb * nb, scale: 0.5)
        let dBias0 = random.normals(heads * nb * nb, scale: 0.1)   // dBias accumulates: start from nonzero values

        // fp32 kernels on the rounded values.
        let out32 = FloatBuffer(count: rows * width), probs32 = FloatBuffer(count: probCount)
        StoredProbabilityAttention.forward(out: out32.pointer, probs: probs32.pointer, q: q.floats, k: k.floats, v: v.floats, bias: bias,
                               shape: kernelShape(groups, nb, heads, dh, causal))
        let dq32 = FloatBuffer(count: rows * width), dk32 = FloatBuffer(count: rows * width), dv32 = FloatBuffer(count: rows * width)
        let dBias32 = FloatBuffer(dBias0)
        let workspace = FloatBuffer(count: StoredProbabilityAttention.backwardWorkspaceCount(kernelShape(groups, nb, heads, dh, false)))
        StoredProbabilityAttention.backward(dq: dq32.pointer, dk: dk32.pointer, dv: dv32.pointer, dBias: dBias32.pointer, dOut: dOut.floats,
                                q: q.floats, k: k.floats, v: v.floats, probs: probs32.pointer, shape: kernelShape(groups, nb, heads, dh, false), workspace: workspace)

        // bf16 kernels; outputs start as NaN so an element never written shows up.
        let nan = [Float](repeating: .nan, count: rows * width)
        let out16 = FloatBuffer(nan), probs16 = FloatBuffer([Float](repeating: .nan, count: probCount))
        StoredProbabilityAttention.forward(out: out16.pointer, probs: probs16.pointer, q: q.bf16.pointer, k: k.bf16.pointer, v: v.bf16.pointer,
                               bias: bias, shape: kernelShape(groups, nb, heads, dh, causal),
                               workspace: BFloat16Buffer(count: StoredProbabilityAttention.forwardWorkspaceCountBF16(kernelShape(groups, nb, heads, dh, false))))
        let dq16 = FloatBuffer(nan), dk16 = FloatBuffer(nan), dv16 = FloatBuffer(nan), dBias16 = FloatBuffer(dBias0)
        // Both backwards read the same saved fp32 probabilities (the fp32 forward's), so the backward is
        // measured alone; the forwards' probabilities are compared separately.
        StoredProbabilityAttention.backward(dq: dq16.pointer, dk: dk16.pointer, dv: dv16.pointer, dBias: dBias16.pointer, dOut: dOut.bf16.pointer,
                                q: q.bf16.pointer, k: k.bf16.pointer, v: v.bf16.pointer, probs: probs32.pointer, shape: kernelShape(groups, nb, heads, dh, false), workspace: workspace,
                                workspace16: BFloat16Buffer(count: StoredProbabilityAttention.backwardWorkspaceCountBF16(kernelShape(groups, nb, heads, dh, false))))

        if causal {  // the mask is a true −∞ in the bf16 forward too: masked probabilities are exactly 0
            var unmasked = 0
            for g in 0..<groups { for h in 0..<heads { for i in 0..<nb { for j in (i + 1)..<max(i + 1, nb)
                where probs16[((g * heads + h) * nb + i) * nb + j] != 0 { unmasked += 1 } } } }
            #expect(unmasked == 0, "\(shape) causal: \(unmasked) masked probabilities are not 0")
        }

        let bounds = Self.attentionBounds(q: q.floats, k: k.floats, v: v.floats, dOut: dOut.floats, probs: probs32.array,
                                          dBias0: dBias0, shape: shape)
        let checks: [(String, BoundCheck)] = [
            ("probs", BoundCheck(got: probs16.pointer, expected: probs32.pointer, bounds: bounds.probs, floor: 1e-37)),
            ("out", BoundCheck(got: out16.pointer, expected: out32.pointer, bounds: bounds.out)),
            ("dq", BoundCheck(got: dq16.pointer, expected: dq32.pointer, bounds: bounds.dq)),
            ("dk", BoundCheck(got: dk16.pointer, expected: dk32.pointer, bounds: bounds.dk)),
            ("dv", BoundCheck(got: dv16.pointer, expected: dv32.pointer, bounds: bounds.dv)),
            ("dBias", BoundCheck(got: dBias16.pointer, expected: dBias32.pointer, bounds: bounds.dBias)),
        ]
        for (name, check) in checks {
            #expect(check.worstRatio <= 1, "\(shape) causal=\(causal) \(name): \(check)")
        }
        print("bf16 attention \(shape) causal=\(causal): "
              + checks.map { "\($0.0) " + String(format: "%.3f (%.1e)", $0.1.worstRatio, $0.1.largestDifference / max($0.1.largestExpected, 1e-30)) }
                .joined(separator: ", ") + "  [worst |Δ|/bound (max |Δ| / max |fp32|)]")
    }

    /// ReLU's backward reads a bf16 saved value in bf16 runs: for every bf16 pattern (±0, subnormals,
    /// normals, ±∞, every NaN) it must gate exactly as the fp32 backward gates on the same value in fp32.
    @Test func reluBackwardOnEveryBF16PatternMatchesFP32OnTheSameValue() {
        let count = 3 * 65_536  // every pattern three times: the parallel split (grain 16,384) has many pieces
        let input = BFloat16Buffer(count: count)
        for i in 0..<count { input.pointer[i] = BFloat16(bitPattern: UInt16(truncatingIfNeeded: i)) }
        let widened = input.floats
        var random = TestRandom(41)
        let dOut = random.normals(count).map { $0 == 0 ? 1 : $0 }  // nonzero, so a passed gradient is seen
        let expected = FloatBuffer([Float](repeating: .nan, count: count)), got = FloatBuffer([Float](repeating: .nan, count: count))
        ReLU.backward(dInput: expected.pointer, dOut: dOut, input: widened, count: count)
        ReLU.backward(dInput: got.pointer, dOut: dOut, input: input.pointer, count: count)
        var mismatches: [String] = []
        for i in 0..<count where got[i].bitPattern != expected[i].bitPattern {
            mismatches.append("0x\(String(i & 0xffff, radix: 16)) (\(widened[i])): bf16 \(got[i]), fp32 \(expected[i])")
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(count) differ; first \(mismatches.prefix(6))")
        // The cases by name (pattern → passes the gradient?).
        let named: [(UInt16, Bool, String)] = [
            (0x7f80, true, "+∞"), (0xff80, false, "−∞"), (0x7fc0, false, "quiet NaN"), (0x7f81, false, "signalling NaN"),
            (0xffc0, false, "negative NaN"), (0x0000, false, "+0"), (0x8000, false, "−0"), (0x0001, true, "smallest subnormal"),
            (0x007f, true, "largest subnormal"), (0x8001, false, "negative subnormal"), (0x0080, true, "smallest normal"),
            (0x7f7f, true, "largest finite"), (0x3f80, true, "1"), (0xbf80, false, "−1"),
        ]
        for (pattern, passes, name) in named {
            let i = Int(pattern)
            let wanted: Float = passes ? dOut[i] : 0
            #expect(got[i].bitPattern == wanted.bitPattern, "\(name) (0x\(String(pattern, radix: 16))): got \(got[i]), dOut \(dOut[i])")
        }
        // dInput may alias dOut, as in the fp32 kernel.
        let inPlace = FloatBuffer(dOut)
        ReLU.backward(dInput: inPlace.pointer, dOut: inPlace.pointer, input: input.pointer, count: count)
        #expect(inPlace.array.map(\.bitPattern) == got.array.map(\.bitPattern), "in-place bf16 ReLU backward differs")
    }

    /// What the model relies on: gating on bf16(x) instead of x differs only where a positive x rounds to
    /// +0, i.e. 0 < x ≤ 2⁻¹³⁴ (random fp32 patterns plus those edge values).
    @Test func reluGateOnTheRoundedValueDiffersOnlyBelowTheSmallestBF16() {
        var generator = SplitMix(seed: 43)
        var values = (0..<100_000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: generator.next())) }
        values += [0x0000_0001, 0x0000_7fff, 0x0000_8000, 0x0000_8001, 0x0001_0000, 0x8000_0001, 0x7f7f_ffff, 0x7f80_0001]
            .map { Float(bitPattern: $0) }
        let count = values.count
        let rounded = bf16Rounded(values)
        let dOut = [Float](repeating: 1, count: count)
        let exact = FloatBuffer(count: count), gated = FloatBuffer(count: count)
        ReLU.backward(dInput: exact.pointer, dOut: dOut, input: values, count: count)
        ReLU.backward(dInput: gated.pointer, dOut: dOut, input: rounded.bf16.pointer, count: count)
        var unexpected: [String] = [], expectedFlips = 0
        for i in 0..<count where exact[i] != gated[i] {
            if values[i] > 0 && rounded.bf16.pointer[i].bitPattern == 0 { expectedFlips += 1; continue }
            unexpected.append("\(values[i]) (0x\(String(values[i].bitPattern, radix: 16))): exact \(exact[i]), bf16 \(gated[i])")
        }
        #expect(unexpected.isEmpty, "\(unexpected.count) gates differ beyond the values that round to +0: \(unexpected.prefix(6))")
        #expect(expectedFlips >= 2, "the edge values 2⁻¹⁴⁹ and 2⁻¹³⁴ must round to +0 (flips seen: \(expectedFlips))")
    }

    /// The bf16 im2col copies the same elements as the fp32 one: widened, the columns are bitwise equal
    /// (−0, NaN and subnormal values included; zero padding is +0 in both).
    @Test(.enabled(if: MatMul.bf16ProductsAvailable, Comment(rawValue: MatMul.bf16UnavailableReason)), arguments: [(2, 3, 5, 4, 7), (3, 4, 8, 8, 16)])
    func shiftConvolutionIm2colIsBitwiseTheFP32Copy(videos: Int, t: Int, h: Int, w: Int, e: Int) {
        let grid = (t: t, h: h, w: w), n = t * h * w, taps = ShiftConvolution.taps.count
        var random = TestRandom(UInt64(50 + e))
        var values = random.normals(videos * n * e)
        values[0] = -0.0; values[1] = .nan; values[2] = Float(bitPattern: 0x0001_0000); values[3] = -.infinity
        let embedded = bf16Rounded(values)
        let columns32 = FloatBuffer([Float](repeating: 7, count: videos * n * taps * e))
        let columns16 = BFloat16Buffer(count: videos * n * taps * e)
        for i in 0..<columns16.count { columns16.pointer[i] = BFloat16(bitPattern: 0x7fc1) }  // NaN: unwritten shows up
        ShiftConvolution.im2col(columns: columns32.pointer, embedded: embedded.floats, videos: videos, grid: grid, width: e)
        ShiftConvolution.im2col(columns: columns16.pointer, embedded: embedded.bf16.pointer, videos: videos, grid: grid, width: e)
        let a = columns16.floats.map(\.bitPattern), b = columns32.array.map(\.bitPattern)
        let differing = (0..<a.count).filter { a[$0] != b[$0] }
        let firstDifferences = differing.prefix(4).map { "bf16 \(Float(bitPattern: a[$0])) vs fp32 \(Float(bitPattern: b[$0]))" }
        #expect(differing.isEmpty, "\(differing.count) of \(a.count) columns differ; first at \(differing.prefix(4)): \(firstDifferences)")
        let padding = b.filter { $0 == 0 }.count
        #expect(padding > 0, "the grid has borders, so some columns are zero padding")
    }

    /// Linear with bf16 x and W: forward (with and without accumulation and bias) and backward against the
    /// fp32 Linear on the rounded x, W and output gradient. Bounds: 2(K+4)·e·(Σ|terms| + |C₀| + |b|) with
    /// K the product's inner size. dBias sums the fp32 output gradient (not its rounding) in fp32.
    @Test(.enabled(if: MatMul.bf16ProductsAvailable, Comment(rawValue: MatMul.bf16UnavailableReason)), arguments: [(5, 4, 3), (37, 130, 65), (2048, 64, 96)])
    func linearMatchesFP32OnRoundedInputs(rows: Int, inputs: Int, outputs: Int) {
        var random = TestRandom(UInt64(60 + rows))
        let x = bf16Rounded(random.normals(rows * inputs)), w = bf16Rounded(random.normals(inputs * outputs, scale: 0.3))
        let bias = random.normals(outputs)
        let u32 = Self.u32
        for accumulate in [false, true] {
            let c0 = random.normals(rows * outputs)
            let out32 = FloatBuffer(c0), out16 = FloatBuffer(c0)
            Linear.forward(out: out32.pointer, input: x.floats, weight: w.floats, bias: bias, rows: rows, inputs: inputs,
                           outputs: outputs, accumulate: accumulate)
            Linear.forward(out: out16.pointer, input: x.bf16.pointer, weight: w.bf16.pointer, bias: bias, rows: rows,
                           inputs: inputs, outputs: outputs, accumulate: accumulate)
            var bounds = [Double](repeating: 0, count: rows * outputs)
            for r in 0..<rows {
                for o in 0..<outputs {
                    var magnitude = abs(Double(bias[o])) + (accumulate ? abs(Double(c0[r * outputs + o])) : 0)
                    for i in 0..<inputs { magnitude += abs(Double(x.floats[r * inputs + i]) * Double(w.floats[i * outputs + o])) }
                    bounds[r * outputs + o] = 2 * Double(inputs + 4) * u32 * magnitude
                }
            }
            let check = BoundCheck(got: out16.pointer, expected: out32.pointer, bounds: bounds)
            #expect(check.worstRatio <= 1, "forward \(rows)×\(inputs)→\(outputs) accumulate=\(accumulate): \(check)")
        }

        let dOutValues = random.normals(rows * outputs)
        let dOut = bf16Rounded(dOutValues)  // what both products of the bf16 backward read
        let dW0 = random.normals(inputs * outputs), dB0 = random.normals(outputs)
        for accumulateInput in [false, true] {
            let dX0 = random.normals(rows * inputs)
            let dX32 = FloatBuffer(dX0), dW32 = FloatBuffer(dW0), dB32 = FloatBuffer(dB0)
            Linear.backward(dInput: dX32.pointer, dWeight: dW32.pointer, dBias: nil, dOut: dOut.floats, input: x.floats,
                            weight: w.floats, rows: rows, inputs: inputs, outputs: outputs, accumulateInput: accumulateInput)
            Linear.columnSums(dOutValues, rows: rows, columns: outputs, into: dB32.pointer)
            let dX16 = FloatBuffer(dX0), dW16 = FloatBuffer(dW0), dB16 = FloatBuffer(dB0)
            Linear.backward(dInput: dX16.pointer, dWeight: dW16.pointer, dBias: dB16.pointer, dOut: dOutValues,
                            input: x.bf16.pointer, weight: w.bf16.pointer, rows: rows, inputs: inputs, outputs: outputs,
                            accumulateInput: accumulateInput, dOutScratch: BFloat16Buffer(count: rows * outputs))
            var dWBounds = [Double](repeating: 0, count: inputs * outputs), dXBounds = [Double](repeating: 0, count: rows * inputs)
            for i in 0..<inputs {
                for o in 0..<outputs {
                    var magnitude = abs(Double(dW0[i * outputs + o]))
                    for r in 0..<rows { magnitude += abs(Double(x.floats[r * inputs + i]) * Double(dOut.floats[r * outputs + o])) }
                    dWBounds[i * outputs + o] = 2 * Double(rows + 4) * u32 * magnitude
                }
            }
            for r in 0..<rows {
                for i in 0..<inputs {
                    var magnitude = accumulateInput ? abs(Double(dX0[r * inputs + i])) : 0
                    for o in 0..<outputs { magnitude += abs(Double(dOut.floats[r * outputs + o]) * Double(w.floats[i * outputs + o])) }
                    dXBounds[r * inputs + i] = 2 * Double(outputs + 4) * u32 * magnitude
                }
            }
            let dW = BoundCheck(got: dW16.pointer, expected: dW32.pointer, bounds: dWBounds)
            let dX = BoundCheck(got: dX16.pointer, expected: dX32.pointer, bounds: dXBounds)
            let label = "backward \(rows)×\(inputs)→\(outputs) accumulateInput=\(accumulateInput)"
            #expect(dW.worstRatio <= 1, "\(label) dWeight: \(dW)")
            #expect(dX.worstRatio <= 1, "\(label) dInput: \(dX)")
            // dBias: the fp32 sum Σ_r dOut_ro in any fixed order, |Δ| ≤ 2(rows+10)·e·(Σ_r |dOut_ro| + |dBias₀|).
            var dBBounds = [Double](repeating: 0, count: outputs)
            for o in 0..<outputs {
                var magnitude = abs(Double(dB0[o]))
                for r in 0..<rows { magnitude += abs(Double(dOutValues[r * outputs + o])) }
                dBBounds[o] = 2 * Double(rows + 10) * u32 * magnitude
            }
            let dB = BoundCheck(got: dB16.pointer, expected: dB32.pointer, bounds: dBBounds)
            #expect(dB.worstRatio <= 1, "\(label) dBias must be Σ of the fp32 output gradient: \(dB)")
            // …and not of its bf16 rounding, which the bound tells apart (that sum is off by ≈ u·√rows·|dOut|).
            // (For thousands of rows the worst-case fp32 bound outgrows that gap; only the small shapes tell.)
            if rows <= 64 {
                let roundedSums = FloatBuffer(dB0)
                Linear.columnSums(dOut.floats, rows: rows, columns: outputs, into: roundedSums.pointer)
                let fromRounded = BoundCheck(got: roundedSums.pointer, expected: dB32.pointer, bounds: dBBounds)
                #expect(fromRounded.worstRatio > 1, "\(label): the dBias bound cannot tell Σ dOut from Σ bf16(dOut) (\(fromRounded))")
            }
            if rows == 5 {
                // Without dInput: the same weight and bias gradients.
                let dW16b = FloatBuffer(dW0), dB16b = FloatBuffer(dB0)
                Linear.backward(dInput: nil, dWeight: dW16b.pointer, dBias: dB16b.pointer, dOut: dOutValues, input: x.bf16.pointer,
                                weight: w.bf16.pointer, rows: rows, inputs: inputs, outputs: outputs,
                                dOutScratch: BFloat16Buffer(count: rows * outputs))
                #expect(dW16b.array == dW16.array && dB16b.array == dB16.array, "dInput nil changes the other gradients")
            }
        }
    }
}

/// The bf16-output kernels the model uses for values that only feed products (q, k, v, the attention
/// output, dq/dk/dv, the FFN hidden layer) and the fused mask/round/bias-sum pass of output gradients.
/// A bf16 output is oneDNN's fp32 result rounded as stored, so against the fp32-output kernel on the same
/// inputs: |widen(bf16) − fp32| ≤ u·|fp32| + 2(K+4)·e·Σ|terms| (two primitives may accumulate in another
/// order) + 2⁻¹²⁶ (oneDNN flushes subnormal results to zero).
@Suite(.enabled(if: MatMul.bf16ProductsAvailable, Comment(rawValue: MatMul.bf16UnavailableReason))) struct BFloat16OutputKernelTests {
    static let u16 = 0x1p-8, u32 = 0x1p-24, flushed = 0x1p-126

    static func outputBounds(_ reference: UnsafePointer<Float>, magnitudes: [Double], k: Int) -> [Double] {
        (0..<magnitudes.count).map { u16 * abs(Double(reference[$0])) + 2 * Double(k + 4) * u32 * (1 + u16) * 1.01 * magnitudes[$0] + flushed }
    }

    @Test(arguments: [BFloat16AttentionTests.shapes[0], BFloat16AttentionTests.shapes[3]], [false, true])
    func attentionWithBF16OutputsIsTheRoundedFP32OutputKernel(shape: AttentionShape, causal: Bool) {
        let nb = shape.blockLength, heads = shape.heads, dh = shape.headSize, groups = shape.groups
        let width = heads * dh, rows = groups * nb, probCount = groups * heads * nb * nb
        var random = TestRandom(UInt64(200 + nb + (causal ? 1 : 0)))
        let q = bf16Rounded(random.normals(rows * width, scale: 1.5)), k = bf16Rounded(random.normals(rows * width, scale: 1.5))
        let v = bf16Rounded(random.normals(rows * width)), dOut = bf16Rounded(random.normals(rows * width))
        let bias = random.normals(heads * nb * nb, scale: 0.5), dBias0 = random.normals(heads * nb * nb, scale: 0.1)
        let forwardWorkspace = BFloat16Buffer(count: StoredProbabilityAttention.forwardWorkspaceCountBF16(kernelShape(groups, nb, heads, dh, false)))

        let out32 = FloatBuffer(count: rows * width), probsA = FloatBuffer(count: probCount)
        StoredProbabilityAttention.forward(out: out32.pointer, probs: probsA.pointer, q: q.bf16.pointer, k: k.bf16.pointer, v: v.bf16.pointer,
                               bias: bias, shape: kernelShape(groups, nb, heads, dh, causal),
                               workspace: forwardWorkspace)
        let out16 = BFloat16Buffer(count: rows * width), probsB = FloatBuffer(count: probCount)
        for i in 0..<out16.count { out16.pointer[i] = BFloat16(bitPattern: 0x7fc1) }
        StoredProbabilityAttention.forward(out: out16.pointer, probs: probsB.pointer, q: q.bf16.pointer, k: k.bf16.pointer, v: v.bf16.pointer,
                               bias: bias, shape: kernelShape(groups, nb, heads, dh, causal),
                               workspace: forwardWorkspace)
        #expect(probsA.array.map(\.bitPattern) == probsB.array.map(\.bitPattern), "\(shape): the saved probabilities depend on the output type")

        let workspace = FloatBuffer(count: StoredProbabilityAttention.backwardWorkspaceCount(kernelShape(groups, nb, heads, dh, false)))
        let workspace16 = BFloat16Buffer(count: StoredProbabilityAttention.backwardWorkspaceCountBF16(kernelShape(groups, nb, heads, dh, false)))
        let dq32 = FloatBuffer(count: rows * width), dk32 = FloatBuffer(count: rows * width), dv32 = FloatBuffer(count: rows * width)
        let dBiasA = FloatBuffer(dBias0)
        StoredProbabilityAttention.backward(dq: dq32.pointer, dk: dk32.pointer, dv: dv32.pointer, dBias: dBiasA.pointer, dOut: dOut.bf16.pointer,
                                q: q.bf16.pointer, k: k.bf16.pointer, v: v.bf16.pointer, probs: probsA.pointer, shape: kernelShape(groups, nb, heads, dh, false), workspace: workspace, workspace16: workspace16)
        let dq16 = BFloat16Buffer(count: rows * width), dk16 = BFloat16Buffer(count: rows * width), dv16 = BFloat16Buffer(count: rows * width)
        for buffer in [dq16, dk16, dv16] { for i in 0..<buffer.count { buffer.pointer[i] = BFloat16(bitPattern: 0x7fc1) } }
        let dBiasB = FloatBuffer(dBias0)
        StoredProbabilityAttention.backward(dq: dq16.pointer, dk: dk16.pointer, dv: dv16.pointer, dBias: dBiasB.pointer, dOut: dOut.bf16.pointer,
                                q: q.bf16.pointer, k: k.bf16.pointer, v: v.bf16.pointer, probs: probsA.pointer, shape: kernelShape(groups, nb, heads, dh, false), workspace: workspace, workspace16: workspace16)
        #expect(dBiasA.array.map(\.bitPattern) == dBiasB.array.map(\.bitPattern), "\(shape): dBias depends on the output type")

        let magnitudes = BFloat16AttentionTests.attentionBounds(q: q.floats, k: k.floats, v: v.floats, dOut: dOut.floats,
                                                                probs: probsA.array, dBias0: dBias0, shape: shape)
        let pairs: [(String, BFloat16Buffer, FloatBuffer, [Double])] = [
            ("out", out16, out32, magnitudes.outMagnitude), ("dq", dq16, dq32, magnitudes.dqMagnitude),
            ("dk", dk16, dk32, magnitudes.dkMagnitude), ("dv", dv16, dv32, magnitudes.dvMagnitude),
        ]
        var summary: [String] = []
        for (name, bf16, fp32, magnitude) in pairs {
            let widened = FloatBuffer(bf16.floats)
            let check = BoundCheck(got: widened.pointer, expected: fp32.pointer,
                                   bounds: Self.outputBounds(fp32.pointer, magnitudes: magnitude, k: nb))
            #expect(check.worstRatio <= 1, "\(shape) causal=\(causal) bf16 \(name): \(check)")
            summary.append("\(name) " + String(format: "%.3f", check.worstRatio))
        }
        print("bf16-output attention \(shape) causal=\(causal): worst |Δ|/bound \(summary.joined(separator: ", "))")
    }

    /// Linear.forward into bf16 (bias and optional ReLU in oneDNN's epilogue) against the fp32-output bf16
    /// product, then max(0, ·): within a rounding; with ReLU no value is negative.
    @Test(arguments: [(37, 130, 65), (2048, 64, 96)])
    func linearForwardIntoBF16IsTheRoundedFP32Output(rows: Int, inputs: Int, outputs: Int) {
        var random = TestRandom(UInt64(300 + rows))
        let x = bf16Rounded(random.normals(rows * inputs)), w = bf16Rounded(random.normals(inputs * outputs, scale: 0.3))
        let bias = random.normals(outputs)
        var magnitudes = [Double](repeating: 0, count: rows * outputs)
        for r in 0..<rows {
            for o in 0..<outputs {
                var magnitude = abs(Double(bias[o]))
                for i in 0..<inputs { magnitude += abs(Double(x.floats[r * inputs + i]) * Double(w.floats[i * outputs + o])) }
                magnitudes[r * outputs + o] = magnitude
            }
        }
        let reference = FloatBuffer(count: rows * outputs)
        Linear.forward(out: reference.pointer, input: x.bf16.pointer, weight: w.bf16.pointer, bias: bias, rows: rows,
                       inputs: inputs, outputs: outputs)
        for relu in [false, true] {
            let expected = FloatBuffer(reference.array.map { relu ? max(0, $0) : $0 })
            let out16 = BFloat16Buffer(count: rows * outputs)
            Linear.forward(out: out16.pointer, input: x.bf16.pointer, weight: w.bf16.pointer, bias: bias, relu: relu, rows: rows,
                           inputs: inputs, outputs: outputs)
            let widened = out16.floats
            let check = BoundCheck(got: widened, expected: expected.pointer,
                                   bounds: Self.outputBounds(expected.pointer, magnitudes: magnitudes, k: inputs))
            #expect(check.worstRatio <= 1, "\(rows)×\(inputs)→\(outputs) relu=\(relu): \(check)")
            if relu {
                let negative = widened.filter { $0 < 0 || $0.isNaN }.count
                #expect(negative == 0, "\(negative) negative or NaN values after the ReLU epilogue")
                #expect(widened.contains { $0 > 0 } && widened.contains { $0 == 0 }, "the ReLU should both pass and cut values here")
            }
        }
    }

    /// The bias-free backward whose output gradient arrives in bf16 (attention's dq, dk, dv) against the fp32
    /// Linear backward on the same values.
    @Test func linearBackwardFromABF16OutputGradient() {
        let rows = 300, inputs = 48, outputs = 40
        var random = TestRandom(310)
        let x = bf16Rounded(random.normals(rows * inputs)), w = bf16Rounded(random.normals(inputs * outputs, scale: 0.3))
        let dOut = bf16Rounded(random.normals(rows * outputs))
        let dW0 = random.normals(inputs * outputs)
        for accumulateInput in [false, true] {
            let dX0 = random.normals(rows * inputs)
            let dX32 = FloatBuffer(dX0), dW32 = FloatBuffer(dW0), dX16 = FloatBuffer(dX0), dW16 = FloatBuffer(dW0)
            Linear.backward(dInput: dX32.pointer, dWeight: dW32.pointer, dBias: nil, dOut: dOut.floats, input: x.floats,
                            weight: w.floats, rows: rows, inputs: inputs, outputs: outputs, accumulateInput: accumulateInput)
            Linear.backward(dInput: dX16.pointer, dWeight: dW16.pointer, dOut: dOut.bf16.pointer, input: x.bf16.pointer,
                            weight: w.bf16.pointer, rows: rows, inputs: inputs, outputs: outputs, accumulateInput: accumulateInput)
            var dWBounds = [Double](repeating: 0, count: inputs * outputs), dXBounds = [Double](repeating: 0, count: rows * inputs)
            for i in 0..<inputs {
                for o in 0..<outputs {
                    var magnitude = abs(Double(dW0[i * outputs + o]))
                    for r in 0..<rows { magnitude += abs(Double(x.floats[r * inputs + i]) * Double(dOut.floats[r * outputs + o])) }
                    dWBounds[i * outputs + o] = 2 * Double(rows + 4) * Self.u32 * magnitude
                }
            }
            for r in 0..<rows {
                for i in 0..<inputs {
                    var magnitude = accumulateInput ? abs(Double(dX0[r * inputs + i])) : 0
                    for o in 0..<outputs { magnitude += abs(Double(dOut.floats[r * outputs + o]) * Double(w.floats[i * outputs + o])) }
                    dXBounds[r * inputs + i] = 2 * Double(outputs + 4) * Self.u32 * magnitude
                }
            }
            let dW = BoundCheck(got: dW16.pointer, expected: dW32.pointer, bounds: dWBounds)
            let dX = BoundCheck(got: dX16.pointer, expected: dX32.pointer, bounds: dXBounds)
            #expect(dW.worstRatio <= 1, "accumulateInput=\(accumulateInput) dWeight: \(dW)")
            #expect(dX.worstRatio <= 1, "accumulateInput=\(accumulateInput) dInput: \(dX)")
        }
    }

    /// Linear.roundRows: target = bf16(dOut gated by the bf16 mask exactly as ReLU.backward gates), bitwise,
    /// for every mask pattern; bias gradient += the column sums of the gated fp32 values (fp32 bound); the
    /// same with no mask, with or without a preallocated workspace, and for fewer rows than chunks.
    @Test(arguments: [(2048, 96), (3, 17)])
    func roundRowsGatesRoundsAndSumsInOnePass(rows: Int, columns: Int) {
        let count = rows * columns
        var random = TestRandom(UInt64(320 + rows))
        let dOut = random.normals(count)
        let mask = BFloat16Buffer(count: count)
        for i in 0..<count { mask.pointer[i] = BFloat16(bitPattern: UInt16(truncatingIfNeeded: i &* 40_503)) }  // every pattern when count ≥ 65,536
        let bias0 = random.normals(columns)
        for masked in [true, false] {
            let gated = FloatBuffer(count: count)
            if masked { ReLU.backward(dInput: gated.pointer, dOut: dOut, input: mask.pointer, count: count) }
            else { gated.pointer.update(from: dOut, count: count) }
            let expected = BFloat16Buffer(count: count)
            gated.array.withUnsafeBufferPointer { BFloat16.convert($0.baseAddress!, to: expected.pointer, count: count) }
            var bounds = [Double](repeating: 0, count: columns), exactSums = bias0.map(Double.init)
            for c in 0..<columns {
                var magnitude = abs(Double(bias0[c]))
                for r in 0..<rows { magnitude += abs(Double(gated[r * columns + c])); exactSums[c] += Double(gated[r * columns + c]) }
                bounds[c] = 2 * Double(rows + 10) * Self.u32 * magnitude
            }
            let exact = FloatBuffer(exactSums.map { Float($0) })
            var results: [[UInt16]] = [], biases: [[Float]] = []
            for preallocated in [false, true] {
                let target = BFloat16Buffer(count: count), biasGradient = FloatBuffer(bias0)
                Linear.roundRows(dOut, mask: masked ? UnsafePointer(mask.pointer) : nil, into: target, biasGradient: biasGradient.pointer,
                                 rows: rows, columns: columns,
                                 sums: preallocated ? FloatBuffer(count: Linear.roundingWorkspaceCount(columns: columns)) : nil)
                let differing = (0..<count).filter { target.pointer[$0].bitPattern != expected.pointer[$0].bitPattern }
                let first = differing.prefix(4).map { "mask 0x\(String(mask.pointer[$0].bitPattern, radix: 16)), dOut \(dOut[$0]): 0x\(String(target.pointer[$0].bitPattern, radix: 16)) vs 0x\(String(expected.pointer[$0].bitPattern, radix: 16))" }
                #expect(differing.isEmpty, "masked=\(masked) \(rows)×\(columns): \(differing.count) rounded values differ; \(first)")
                let sums = BoundCheck(got: biasGradient.pointer, expected: exact.pointer, bounds: bounds)
                #expect(sums.worstRatio <= 1, "masked=\(masked) \(rows)×\(columns) bias gradient: \(sums)")
                results.append((0..<count).map { target.pointer[$0].bitPattern }); biases.append(biasGradient.array)
            }
            #expect(results[0] == results[1] && biases[0] == biases[1], "a preallocated workspace changes the result")
            // Without a bias gradient only the rounding happens.
            let target = BFloat16Buffer(count: count)
            Linear.roundRows(dOut, mask: masked ? UnsafePointer(mask.pointer) : nil, into: target, biasGradient: nil, rows: rows, columns: columns)
            #expect((0..<count).map { target.pointer[$0].bitPattern } == results[0])
        }
    }
}
