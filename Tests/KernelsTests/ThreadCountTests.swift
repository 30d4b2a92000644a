// Products are bitwise the same for any worker count: the cut into pieces is fixed by the shape, because
// BLAS rounds a call's edge rows differently from its full tiles (so a cut that moved with the thread
// count would move which rows round differently).

import Testing
@testable import Kernels

@Suite(.serialized) struct ThreadCountTests {
    func values(_ count: Int, seed: UInt64) -> [Float] {
        var generator = Xoshiro256(seed: seed)
        return (0..<count).map { _ in Float(generator.nextUniform() * 2 - 1) }
    }

    func withWorkers<T>(_ workers: Int, _ body: () -> T) -> T {
        let saved = Parallel.workers
        Parallel.workers = workers
        defer { Parallel.workers = saved }
        return body()
    }

    @Test(.enabled(if: MatMul.bf16ProductsAvailable, Comment(rawValue: MatMul.bf16UnavailableReason)), arguments: [(1000, 256, 256), (100, 700, 300), (4099, 64, 96)])
    func gemmIsTheSameOnOneTwoAndThreeWorkers(m: Int, n: Int, k: Int) {
        #expect(MatMul.bf16Pieces(m: m, n: n, k: k) > 1, "the shape must be large enough to be cut")
        let a = values(m * k, seed: 1), b = values(k * n, seed: 2)
        func product(_ workers: Int) -> [Float] {
            withWorkers(workers) {
                var c = [Float](repeating: 0, count: m * n)
                MatMul.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n)
                return c
            }
        }
        let one = product(1)
        #expect(product(2) == one)
        #expect(product(3) == one)
        let a16 = a.map(BFloat16.init), b16 = b.map(BFloat16.init)
        func product16(_ workers: Int) -> [Float] {
            withWorkers(workers) {
                var c = [Float](repeating: 0, count: m * n)
                MatMul.gemmBF16(m: m, n: n, k: k, a: a16, lda: k, b: b16, ldb: n, c: &c, ldc: n)
                return c
            }
        }
        #expect(product16(2) == product16(1))
    }
}
