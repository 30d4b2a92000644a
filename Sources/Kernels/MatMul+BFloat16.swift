// MatMul with bf16 inputs: C (+)= alpha·op(A)·op(B), A and B bf16, accumulated in fp32 on oneDNN's AVX512_BF16
// matmul (docs/design.md §8); C fp32, or bf16 (rounded as oneDNN stores it) for products whose output only feeds
// other products. Same argument order as `MatMul.gemm`, with `accumulate` for beta = 1.
//
// Large products are cut into pieces by a rule of the shape alone (never of the worker count), so every
// element is computed by a primitive of the same shape on any machine and any VT_THREADS: bf16 results
// are as reproducible as fp32 ones. Leaves out: accumulating into a bf16 C (nothing needs it).

import OneDNN

extension MatMul {
    /// bf16 product on the calling thread (per-block attention products inside vt's parallel loops).
    /// Epilogue, in oneDNN: C = alpha·op(A)·op(B) (+ C if `accumulate`) (+ bias[n]) (then max(0, ·)).
    @inline(__always)
    public static func gemmBF16Serial(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                      alpha: Float = 1, a: UnsafePointer<BFloat16>, lda: Int,
                                      b: UnsafePointer<BFloat16>, ldb: Int, accumulate: Bool = false,
                                      bias: UnsafePointer<Float>? = nil, relu: Bool = false,
                                      c: UnsafeMutablePointer<Float>, ldc: Int) {
        product(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                accumulate: accumulate, bias: bias, relu: relu, c: UnsafeMutableRawPointer(c), outputBF16: false, ldc: ldc)
    }

    /// The same with a bf16 C, for products whose output only feeds other products: oneDNN rounds the fp32
    /// result to nearest-even as it stores it (its conversion flushes subnormal results, below 1.2e-38, to 0).
    @inline(__always)
    public static func gemmBF16Serial(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                      alpha: Float = 1, a: UnsafePointer<BFloat16>, lda: Int,
                                      b: UnsafePointer<BFloat16>, ldb: Int, bias: UnsafePointer<Float>? = nil,
                                      relu: Bool = false, c: UnsafeMutablePointer<BFloat16>, ldc: Int) {
        product(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                accumulate: false, bias: bias, relu: relu, c: UnsafeMutableRawPointer(c), outputBF16: true, ldc: ldc)
    }

    @inline(__always)
    static func product(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<BFloat16>,
                        lda: Int, b: UnsafePointer<BFloat16>, ldb: Int, accumulate: Bool, bias: UnsafePointer<Float>?,
                        relu: Bool, c: UnsafeMutableRawPointer, outputBF16: Bool, ldc: Int) {
        if m == 0 || n == 0 { return }
        let shape = MatmulShape(m: m, n: n, k: k, transA: transA, transB: transB, lda: lda, ldb: ldb, ldc: ldc,
                                alpha: alpha, accumulate: accumulate, bias: bias != nil, relu: relu, outputBF16: outputBF16)
        do {
            try OneDNN.gemm(shape, a: UnsafeRawPointer(a), b: UnsafeRawPointer(b), c: c, bias: bias)
        } catch {
            // Shapes come from a validated config and `vt` checks oneDNN before any step, so this is a
            // library or resource failure, not bad input.
            fatalError("bf16 product \(m)×\(n)×\(k): \(error)")
        }
    }

    /// Pieces a product of this shape is cut into along its larger output side (1 = uncut): at most 8,
    /// at least 64 columns or rows each, none for products under 4 MFLOP. Fixed by the shape, never by the
    /// worker count (fp32 `gemm` cuts the same way).
    public static func bf16Pieces(m: Int, n: Int, k: Int) -> Int {
        let work = m * n * k
        if work < 1 << 21 { return 1 }
        return max(1, min(8, work >> 21, max(m, n) / 64))
    }

    /// bf16 product spread over the workers: pieces along the larger of m and n (`bf16Pieces`).
    public static func gemmBF16(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                alpha: Float = 1, a: UnsafePointer<BFloat16>, lda: Int,
                                b: UnsafePointer<BFloat16>, ldb: Int, accumulate: Bool = false,
                                bias: UnsafePointer<Float>? = nil, relu: Bool = false,
                                c: UnsafeMutablePointer<Float>, ldc: Int) {
        split(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
              accumulate: accumulate, bias: bias, relu: relu, c: UnsafeMutableRawPointer(c), outputBF16: false, ldc: ldc)
    }

    /// The same with a bf16 C (see the serial bf16-output product).
    public static func gemmBF16(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                alpha: Float = 1, a: UnsafePointer<BFloat16>, lda: Int,
                                b: UnsafePointer<BFloat16>, ldb: Int, bias: UnsafePointer<Float>? = nil,
                                relu: Bool = false, c: UnsafeMutablePointer<BFloat16>, ldc: Int) {
        split(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
              accumulate: false, bias: bias, relu: relu, c: UnsafeMutableRawPointer(c), outputBF16: true, ldc: ldc)
    }

    static func split(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<BFloat16>,
                      lda: Int, b: UnsafePointer<BFloat16>, ldb: Int, accumulate: Bool, bias: UnsafePointer<Float>?,
                      relu: Bool, c: UnsafeMutableRawPointer, outputBF16: Bool, ldc: Int) {
        let pieces = bf16Pieces(m: m, n: n, k: k)
        let element = outputBF16 ? MemoryLayout<BFloat16>.stride : MemoryLayout<Float>.stride
        if pieces == 1 {
            product(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                    accumulate: accumulate, bias: bias, relu: relu, c: c, outputBF16: outputBF16, ldc: ldc)
        } else if m >= n {
            Parallel.chunks(m, chunks: pieces) { _, rows in
                let aPart = transA ? a + rows.lowerBound : a + rows.lowerBound * lda
                product(transA: transA, transB: transB, m: rows.count, n: n, k: k, alpha: alpha, a: aPart, lda: lda,
                        b: b, ldb: ldb, accumulate: accumulate, bias: bias, relu: relu,
                        c: c + rows.lowerBound * ldc * element, outputBF16: outputBF16, ldc: ldc)
            }
        } else {
            Parallel.chunks(n, chunks: pieces) { _, columns in
                let bPart = transB ? b + columns.lowerBound * ldb : b + columns.lowerBound
                product(transA: transA, transB: transB, m: m, n: columns.count, k: k, alpha: alpha, a: a, lda: lda,
                        b: bPart, ldb: ldb, accumulate: accumulate, bias: bias.map { $0 + columns.lowerBound }, relu: relu,
                        c: c + columns.lowerBound * element, outputBF16: outputBF16, ldc: ldc)
            }
        }
    }

    /// The naive oracle for bf16 products: the exact bf16 values widened to fp32 (exact), then `naiveGemm`
    /// (Double accumulation), with beta = 1 for `accumulate`.
    public static func naiveGemmBF16(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                     alpha: Float = 1, a: UnsafePointer<BFloat16>, lda: Int,
                                     b: UnsafePointer<BFloat16>, ldb: Int, accumulate: Bool = false,
                                     c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 || k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        /// The floats a row-major rows × columns operand with leading dimension `ld` spans.
        func widened(_ x: UnsafePointer<BFloat16>, rows: Int, columns: Int, ld: Int) -> [Float] {
            (0..<((rows - 1) * ld + columns)).map { x[$0].float }
        }
        let aFloats = widened(a, rows: transA ? k : m, columns: transA ? m : k, ld: lda)
        let bFloats = widened(b, rows: transB ? n : k, columns: transB ? k : n, ld: ldb)
        naiveGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: aFloats, lda: lda, b: bFloats,
                  ldb: ldb, beta: accumulate ? 1 : 0, c: c, ldc: ldc)
    }
}

extension MatMul {
    /// Whether oneDNN builds bf16 products on this CPU (oneDNN 2.x needs at least AVX-512: on an AVX2-only
    /// CPU it answers "unimplemented", and `vt` refuses bf16 in one line, PrecisionCheck.swift). Tests of
    /// the bf16 products are skipped, with that reason, where it is false.
    public static let bf16ProductsAvailable: Bool =
        (try? OneDNN.implementation(of: MatmulShape(m: 64, n: 64, k: 64, transA: false, transB: false,
                                                    lda: 64, ldb: 64, ldc: 64, alpha: 1, accumulate: false))) != nil

    /// The skip reason for those tests.
    public static let bf16UnavailableReason = "oneDNN builds no bf16 products on this CPU (ISA \(OneDNN.isa); needs AVX-512): vt refuses bf16 here"
}
