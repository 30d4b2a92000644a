// MatMul: C = alpha·op(A)·op(B) + beta·C on OpenBLAS sgemm, split across cores by output rows or
// columns (OpenBLAS itself runs single-threaded so that kernels may call it from worker threads).
// Leaves out: batched/strided variants (attention calls `gemm` per block from its own workers).

import CBLAS

public enum MatMul {
    /// Makes OpenBLAS single-threaded; all parallelism comes from `Parallel`. Called once at start.
    public static func configureThreads() {
        openblas_set_num_threads(1)
    }

    /// Row-major sgemm on the calling thread. `op(A)` is m×k, `op(B)` is k×n, C is m×n.
    @inline(__always)
    public static func gemmSerial(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                  b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
                                  c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Row-major sgemm spread over the workers: large problems are cut along the larger of m and n into
    /// `bf16Pieces` pieces, a partition fixed by the shape alone. It must not depend on the worker count:
    /// BLAS kernels compute a call's edge rows (past its last full register tile) with other code than the
    /// rest, so moving a cut moves which rows round differently (OpenBLAS 0.3.21 here: every row past the
    /// last 12-row tile). With a fixed cut a product is bitwise the same on 1, 2 or 64 threads.
    public static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
                            c: UnsafeMutablePointer<Float>, ldc: Int) {
        let pieces = bf16Pieces(m: m, n: n, k: k)
        if pieces == 1 {
            gemmSerial(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                       b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        } else if m >= n {
            Parallel.chunks(m, chunks: pieces) { _, rows in
                let aPart = transA ? a + rows.lowerBound : a + rows.lowerBound * lda
                gemmSerial(transA: transA, transB: transB, m: rows.count, n: n, k: k, alpha: alpha,
                           a: aPart, lda: lda, b: b, ldb: ldb, beta: beta,
                           c: c + rows.lowerBound * ldc, ldc: ldc)
            }
        } else {
            Parallel.chunks(n, chunks: pieces) { _, columns in
                let bPart = transB ? b + columns.lowerBound * ldb : b + columns.lowerBound
                gemmSerial(transA: transA, transB: transB, m: m, n: columns.count, k: k, alpha: alpha,
                           a: a, lda: lda, b: bPart, ldb: ldb, beta: beta,
                           c: c + columns.lowerBound, ldc: ldc)
            }
        }
    }

    /// The naive oracle for `gemm` (Double accumulation).
    public static func naiveGemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                 alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                 b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
                                 c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let x = transA ? a[p * lda + i] : a[i * lda + p]
                    let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += Double(x) * Double(y)
                }
                let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
                c[i * ldc + j] = Float(Double(alpha) * sum + old)
            }
        }
    }
}
