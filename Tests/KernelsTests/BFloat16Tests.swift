// bf16 (docs/design.md §8): the fp32 → bf16 conversion on hand-picked bit patterns and random values against
// its naive twin, and every bf16 product shape against the exact product of the same bf16 inputs, with a
// tolerance derived from K and fp32 accumulation (never bitwise: oneDNN's summation order is its own).

import Foundation
import Testing
import Kernels
import OneDNN

@Suite struct BFloat16Tests {
    /// (fp32 pattern, expected bf16 pattern) pairs whose answer can be checked by eye.
    static let handPicked: [(UInt32, UInt16, String)] = [
        (0x3f80_0000, 0x3f80, "1.0 exactly"),
        (0x3f80_8000, 0x3f80, "tie between 0x3f80 (even) and 0x3f81: down to even"),
        (0x3f81_8000, 0x3f82, "tie between 0x3f81 and 0x3f82 (even): up to even"),
        (0x3f80_8001, 0x3f81, "just above the tie: up"),
        (0x3f80_7fff, 0x3f80, "just below the tie: down"),
        (0xbf80_8000, 0xbf80, "negative tie: to even (magnitude down)"),
        (0xbf81_8000, 0xbf82, "negative tie: to even (magnitude up)"),
        (0x7f7f_ffff, 0x7f80, "largest finite fp32 rounds to +∞"),
        (0xff7f_ffff, 0xff80, "most negative finite fp32 rounds to −∞"),
        (0x7f7f_7fff, 0x7f7f, "just under the overflow tie: largest finite bf16"),
        (0x7f7f_8000, 0x7f80, "overflow tie: to even, which is +∞"),
        (0x7f80_0000, 0x7f80, "+∞ stays +∞"),
        (0xff80_0000, 0xff80, "−∞ stays −∞"),
        (0x7fc0_0000, 0x7fc0, "quiet NaN stays"),
        (0x7f80_0001, 0x7fc0, "signalling NaN with a low payload becomes quiet, not ∞"),
        (0xffa0_0000, 0xffe0, "negative signalling NaN becomes quiet, sign kept"),
        (0x7fff_ffff, 0x7fff, "NaN with all payload bits does not overflow into the sign"),
        (0x8000_0000, 0x8000, "−0 stays −0"),
        (0x0000_0000, 0x0000, "+0"),
        (0x0000_0001, 0x0000, "smallest subnormal rounds to +0"),
        (0x0000_8000, 0x0000, "subnormal tie: to even (0)"),
        (0x0001_8000, 0x0002, "subnormal tie: to even (2)"),
        (0x0000_8001, 0x0001, "subnormal above the tie: smallest bf16 subnormal"),
        (0x007f_ffff, 0x0080, "largest subnormal rounds up to the smallest normal"),
        (0x8000_ffff, 0x8001, "negative subnormal rounds in magnitude"),
    ]

    @Test func handPickedConversions() {
        for (input, expected, why) in Self.handPicked {
            let value = Float(bitPattern: input)
            let fast = BFloat16(value).bitPattern
            let naive = BFloat16.naive(value).bitPattern
            var vectorised: BFloat16 = BFloat16(bitPattern: 0)
            withUnsafePointer(to: value) { BFloat16.convertSerial($0, to: &vectorised, count: 1) }
            #expect(fast == expected, "\(why): 0x\(String(input, radix: 16)) → 0x\(String(fast, radix: 16)), expected 0x\(String(expected, radix: 16))")
            #expect(naive == expected, "naive twin, \(why): got 0x\(String(naive, radix: 16))")
            #expect(vectorised.bitPattern == expected, "buffer conversion, \(why)")
        }
        #expect(BFloat16(Float.nan).float.isNaN)
        #expect(BFloat16(-Float.infinity).float == -Float.infinity)
    }

    @Test func bufferConversionMatchesNaiveOnRandomPatterns() {
        var generator = SplitMix(seed: 11)
        let count = 200_003  // large enough to take the parallel path, odd so pieces are unequal
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count {
            // Every exponent, sign and payload: NaNs, infinities, subnormals and normals all occur.
            values[i] = Float(bitPattern: UInt32(truncatingIfNeeded: generator.next()))
        }
        let converted = BFloat16Buffer(count: count)
        values.withUnsafeBufferPointer { converted.round(from: $0.baseAddress!) }
        var mismatches = 0, first = ""
        for i in 0..<count where converted.pointer[i].bitPattern != BFloat16.naive(values[i]).bitPattern {
            if mismatches == 0 { first = "0x\(String(values[i].bitPattern, radix: 16)) → 0x\(String(converted.pointer[i].bitPattern, radix: 16))" }
            mismatches += 1
        }
        #expect(mismatches == 0, "\(mismatches) of \(count) conversions differ from the naive twin; first \(first)")
        // Widening is exact and inverts rounding on bf16 values.
        let widened = FloatBuffer(count: count)
        BFloat16.widen(converted.pointer, to: widened.pointer, count: count)
        for i in stride(from: 0, to: count, by: 997) {
            #expect(BFloat16(widened[i]).bitPattern == converted.pointer[i].bitPattern
                    || widened[i].isNaN, "round(widen(x)) == x at \(i)")
        }
    }

    /// |fast − exact| ≤ (k + 2)·2⁻²⁴·(|alpha|·Σ_p |a_ip·b_pj| + |c_ij|): fp32 accumulation of k exact
    /// bf16·bf16 products, one rounding for alpha and one for the sum with C.
    static func checkProduct(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, accumulate: Bool,
                             serial: Bool, seed: UInt64) -> (worst: Double, message: String) {
        var random = TestRandom(seed)
        let lda = transA ? m + 3 : k + 5, ldb = transB ? k + 2 : n + 1, ldc = n + 4  // padded leading dimensions
        let aRows = transA ? k : m, bRows = transB ? n : k
        let a = BFloat16Buffer(count: aRows * lda), b = BFloat16Buffer(count: bRows * ldb)
        let aValues = random.normals(a.count), bValues = random.normals(b.count)
        aValues.withUnsafeBufferPointer { a.round(from: $0.baseAddress!) }
        bValues.withUnsafeBufferPointer { b.round(from: $0.baseAddress!) }
        let c0 = random.normals(m * ldc)
        let fast = FloatBuffer(c0), exact = FloatBuffer(c0)
        if serial {
            MatMul.gemmBF16Serial(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.pointer, lda: lda,
                                  b: b.pointer, ldb: ldb, accumulate: accumulate, c: fast.pointer, ldc: ldc)
        } else {
            MatMul.gemmBF16(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.pointer, lda: lda,
                            b: b.pointer, ldb: ldb, accumulate: accumulate, c: fast.pointer, ldc: ldc)
        }
        MatMul.naiveGemmBF16(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.pointer, lda: lda,
                             b: b.pointer, ldb: ldb, accumulate: accumulate, c: exact.pointer, ldc: ldc)
        var worst = 0.0, message = ""
        for i in 0..<m {
            for j in 0..<ldc {
                let index = i * ldc + j
                if j >= n {  // padding columns of C are never written
                    if fast[index] != c0[index] { return (.infinity, "wrote padding C[\(i), \(j)]") }
                    continue
                }
                var magnitude = 0.0
                for p in 0..<k {
                    let x = transA ? a.pointer[p * lda + i] : a.pointer[i * lda + p]
                    let y = transB ? b.pointer[j * ldb + p] : b.pointer[p * ldb + j]
                    magnitude += abs(Double(x.float) * Double(y.float))
                }
                let bound = Double(k + 2) * 0x1p-24 * (Double(abs(alpha)) * magnitude + (accumulate ? Double(abs(c0[index])) : 0))
                let ratio = abs(Double(fast[index]) - Double(exact[index])) / max(bound, 1e-30)
                if ratio > worst { worst = ratio; message = "C[\(i), \(j)] = \(fast[index]), exact \(exact[index]), bound \(bound)" }
            }
        }
        return (worst, message)
    }

    @Test(.enabled(if: MatMul.bf16ProductsAvailable, Comment(rawValue: MatMul.bf16UnavailableReason)), arguments: [(false, false), (true, false), (false, true), (true, true)])
    func productsMatchExactProductOfBF16Inputs(transA: Bool, transB: Bool) {
        // Small, odd, block-sized (128, 256 × 64) and cut-into-pieces (large) shapes; alpha and accumulation.
        let shapes: [(Int, Int, Int, Float, Bool, Bool)] = [
            (3, 5, 7, 1, false, true), (17, 33, 65, 0.125, true, true), (128, 128, 64, 0.125, false, true),
            (256, 64, 256, 1, true, true), (640, 96, 200, 1, false, false), (96, 700, 130, 0.7, true, false),
        ]
        for (index, (m, n, k, alpha, accumulate, serial)) in shapes.enumerated() {
            let check = Self.checkProduct(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                                          accumulate: accumulate, serial: serial, seed: UInt64(20 + index))
            #expect(check.worst <= 1, "\(transA ? "Aᵀ" : "A")·\(transB ? "Bᵀ" : "B") \(m)×\(n)×\(k): \(check.message)")
        }
    }

    @Test(.enabled(if: MatMul.bf16ProductsAvailable, Comment(rawValue: MatMul.bf16UnavailableReason))) func piecesDependOnTheShapeOnly() {
        #expect(MatMul.bf16Pieces(m: 16384, n: 256, k: 256) == 8)
        #expect(MatMul.bf16Pieces(m: 256, n: 256, k: 16384) == 4)
        #expect(MatMul.bf16Pieces(m: 128, n: 128, k: 64) == 1)
        // The cut result equals the uncut one bitwise only if oneDNN sums each element alike; what must
        // hold is that the pieces, and so the result, do not change with the worker count.
        let saved = Parallel.workers
        defer { Parallel.workers = saved }
        var results: [[Float]] = []
        for workers in [1, 2, 3] {
            Parallel.workers = workers
            var random = TestRandom(5)
            let m = 1024, n = 256, k = 192
            let a = BFloat16Buffer(count: m * k), b = BFloat16Buffer(count: k * n), c = FloatBuffer(count: m * n)
            random.normals(a.count).withUnsafeBufferPointer { a.round(from: $0.baseAddress!) }
            random.normals(b.count).withUnsafeBufferPointer { b.round(from: $0.baseAddress!) }
            MatMul.gemmBF16(m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
            results.append(c.array)
        }
        #expect(results[0] == results[1] && results[1] == results[2], "bf16 products depend on the worker count")
    }

    @Test(.enabled(if: MatMul.bf16ProductsAvailable, Comment(rawValue: MatMul.bf16UnavailableReason))) func oneDNNReportsItsChoices() throws {
        let implementation = try OneDNN.implementation(of: MatmulShape(m: 64, n: 64, k: 64, transA: false, transB: false,
                                                                       lda: 64, ldb: 64, ldc: 64, alpha: 1, accumulate: false))
        #expect(!implementation.isEmpty && implementation != "unknown")
        #expect(OneDNN.version.hasPrefix("2.") || OneDNN.version.hasPrefix("3."))
        if OneDNN.hasNativeBF16 {
            #expect(OneDNN.emulationWarning == nil)
            #expect(implementation.contains("bf16") || implementation.contains("amx"), "native bf16 CPU but oneDNN chose \(implementation)")
        } else {
            #expect(OneDNN.emulationWarning?.contains("--precision fp32") == true)
        }
    }
}

/// SplitMix64: a tiny reproducible generator of bit patterns.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
