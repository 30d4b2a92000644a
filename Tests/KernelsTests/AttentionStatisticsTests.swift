// The attention kernel the model runs (BlockAttention.swift, statistics instead of probabilities) against the
// stored-probability kernel (Reference/StoredProbabilityAttention.swift), the naive Double oracle and central finite differences:
//
//   fp32   the exponentials come from glibc's vectorised libmvec (≤ 4 ulp) instead of scalar expf, and causal
//          blocks run products of other shapes (row tiles of 64 skip the masked upper triangle): the results
//          differ by fp32 rounding only — within 8(Nb+2)·2⁻²⁴ of each output's scale;
//   bf16   the same, and a probability or dS may round to the neighbouring bf16 value: within a few bf16 units
//          (2⁻⁸) of each output's scale;
//   every block shape of the shipped configs (Nb 128 and 256, head sizes 16 and 64) and small odd ones
//   (Nb 8, Nb 80: a partial last tile).

import Foundation
import Testing
import Kernels

/// Outputs of one attention forward + backward.
struct AttentionResult {
    var out: [Float], dq: [Float], dk: [Float], dv: [Float], dBias: [Float]
}

enum AttentionRun {
    /// Today's kernel: stored probabilities.
    static func stored(q: [Float], k: [Float], v: [Float], dOut: [Float], bias: [Float], dBias0: [Float],
                       shape: AttentionShape, causal: Bool) -> AttentionResult {
        let (nb, heads, dh, groups) = (shape.blockLength, shape.heads, shape.headSize, shape.groups)
        let rows = groups * nb, width = heads * dh
        let out = FloatBuffer(count: rows * width), probs = FloatBuffer(count: groups * heads * nb * nb)
        StoredProbabilityAttention.forward(out: out.pointer, probs: probs.pointer, q: q, k: k, v: v, bias: bias, shape: kernelShape(groups, nb, heads, dh, causal))
        let dq = FloatBuffer(count: rows * width), dk = FloatBuffer(count: rows * width), dv = FloatBuffer(count: rows * width)
        let dBias = FloatBuffer(dBias0)
        StoredProbabilityAttention.backward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dBias: dBias.pointer, dOut: dOut, q: q, k: k,
                                v: v, probs: probs.pointer, shape: kernelShape(groups, nb, heads, dh, false),
                                workspace: FloatBuffer(count: StoredProbabilityAttention.backwardWorkspaceCount(kernelShape(groups, nb, heads, dh, false))))
        return AttentionResult(out: out.array, dq: dq.array, dk: dk.array, dv: dv.array, dBias: dBias.array)
    }

    /// Today's bf16 kernel (stored fp32 probabilities) on bf16-rounded inputs.
    static func storedBF16(q: BFloat16Buffer, k: BFloat16Buffer, v: BFloat16Buffer, dOut: BFloat16Buffer, bias: [Float],
                           dBias0: [Float], shape: AttentionShape, causal: Bool) -> AttentionResult {
        let (nb, heads, dh, groups) = (shape.blockLength, shape.heads, shape.headSize, shape.groups)
        let rows = groups * nb, width = heads * dh
        let out = FloatBuffer(count: rows * width), probs = FloatBuffer(count: groups * heads * nb * nb)
        StoredProbabilityAttention.forward(out: out.pointer, probs: probs.pointer, q: q.pointer, k: k.pointer, v: v.pointer, bias: bias,
                               shape: kernelShape(groups, nb, heads, dh, causal),
                               workspace: BFloat16Buffer(count: StoredProbabilityAttention.forwardWorkspaceCountBF16(kernelShape(groups, nb, heads, dh, false))))
        let dq = FloatBuffer(count: rows * width), dk = FloatBuffer(count: rows * width), dv = FloatBuffer(count: rows * width)
        let dBias = FloatBuffer(dBias0)
        StoredProbabilityAttention.backward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dBias: dBias.pointer, dOut: dOut.pointer,
                                q: q.pointer, k: k.pointer, v: v.pointer, probs: probs.pointer, shape: kernelShape(groups, nb, heads, dh, false),
                                workspace: FloatBuffer(count: StoredProbabilityAttention.backwardWorkspaceCount(kernelShape(groups, nb, heads, dh, false))),
                                workspace16: BFloat16Buffer(count: StoredProbabilityAttention.backwardWorkspaceCountBF16(kernelShape(groups, nb, heads, dh, false))))
        return AttentionResult(out: out.array, dq: dq.array, dk: dk.array, dv: dv.array, dBias: dBias.array)
    }

    /// The new kernel in fp32: statistics only.
    static func statistics(q: [Float], k: [Float], v: [Float], dOut: [Float], bias: [Float], dBias0: [Float],
                           shape: AttentionShape, causal: Bool) -> AttentionResult {
        let qb = FloatBuffer(q), kb = FloatBuffer(k), vb = FloatBuffer(v), gb = FloatBuffer(dOut)
        return statistics(.fp32(q: qb.pointer, k: kb.pointer, v: vb.pointer), dOut: .fp32(gb.pointer), bias: bias,
                          dBias0: dBias0, shape: shape, causal: causal)
    }

    /// The new kernel with bf16 inputs (fp32 outputs).
    static func statisticsBF16(q: BFloat16Buffer, k: BFloat16Buffer, v: BFloat16Buffer, dOut: BFloat16Buffer, bias: [Float],
                               dBias0: [Float], shape: AttentionShape, causal: Bool) -> AttentionResult {
        statistics(.bf16(q: q.pointer, k: k.pointer, v: v.pointer), dOut: .bf16(dOut.pointer), bias: bias, dBias0: dBias0,
                   shape: shape, causal: causal)
    }

    /// Forward and backward of the new kernel; outputs start as NaN so an element never written shows up.
    static func statistics(_ inputs: BlockAttention.Inputs, dOut: Operand, bias: [Float], dBias0: [Float],
                           shape: AttentionShape, causal: Bool) -> AttentionResult {
        let (nb, heads, dh, groups) = (shape.blockLength, shape.heads, shape.headSize, shape.groups)
        let rows = groups * nb, width = heads * dh
        let nan = [Float](repeating: .nan, count: rows * width)
        let out = FloatBuffer(nan), stats = FloatBuffer(count: BlockAttention.statisticsCount(rows: rows, heads: heads))
        let biasb = FloatBuffer(bias)
        let kernel = kernelShape(groups, nb, heads, dh, causal)
        let workspace = BlockAttention.Workspace(fp32: FloatBuffer(count: kernel.forwardWorkspaceCount),
                                                 bf16: BFloat16Buffer(count: kernel.workspaceCountBF16))
        BlockAttention.forward(out: .fp32(out.pointer), statistics: stats.pointer, inputs: inputs, bias: biasb.pointer,
                               shape: kernel, workspace: workspace)
        let dq = FloatBuffer(nan), dk = FloatBuffer(nan), dv = FloatBuffer(nan), dBias = FloatBuffer(dBias0)
        BlockAttention.backward(dq: .fp32(dq.pointer), dk: .fp32(dk.pointer), dv: .fp32(dv.pointer), dBias: dBias.pointer,
                                dOut: dOut, inputs: inputs, statistics: stats.pointer, bias: biasb.pointer, shape: kernel,
                                workspace: BlockAttention.Workspace(fp32: FloatBuffer(count: kernel.backwardWorkspaceCount),
                                                                    bf16: workspace.bf16))
        return AttentionResult(out: out.array, dq: dq.array, dk: dk.array, dv: dv.array, dBias: dBias.array)
    }
}

@Suite struct AttentionStatisticsTests {
    /// Shipped configs' block lengths (128, 256) with their head sizes (64, 16), and small odd blocks.
    static let shapes = [
        AttentionShape(blockLength: 8, heads: 2, headSize: 16, groups: 19),
        AttentionShape(blockLength: 80, heads: 3, headSize: 16, groups: 3),
        AttentionShape(blockLength: 128, heads: 2, headSize: 64, groups: 3),
        AttentionShape(blockLength: 256, heads: 2, headSize: 64, groups: 2),
        AttentionShape(blockLength: 256, heads: 4, headSize: 16, groups: 2),
    ]

    struct Inputs {
        var q: [Float], k: [Float], v: [Float], dOut: [Float], bias: [Float], dBias0: [Float]
        init(_ shape: AttentionShape, seed: UInt64) {
            var random = TestRandom(seed)
            let count = shape.groups * shape.blockLength * shape.heads * shape.headSize
            let biasCount = shape.heads * shape.blockLength * shape.blockLength
            q = random.normals(count, scale: 1.5); k = random.normals(count, scale: 1.5)
            v = random.normals(count); dOut = random.normals(count)
            bias = random.normals(biasCount, scale: 0.5); dBias0 = random.normals(biasCount, scale: 0.1)
        }
    }

    /// Per-output bound 2(K+2)·2⁻²⁴·Σ|terms| with the terms' scale taken normwise: a reordered fp32 sum of
    /// K = Nb terms differs by at most that; the score differences it causes propagate with the same factor.
    static func fp32Bound(_ reference: [Float], nb: Int) -> Double {
        let scale = reference.map { abs(Double($0)) }.max() ?? 0
        return 8 * Double(nb + 2) * 0x1p-24 * max(scale, 1e-6)
    }

    @Test(arguments: shapes, [false, true])
    func fp32MatchesTheStoredProbabilityKernel(shape: AttentionShape, causal: Bool) {
        let x = Inputs(shape, seed: UInt64(200 + shape.blockLength + shape.headSize + (causal ? 1 : 0)))
        let stored = AttentionRun.stored(q: x.q, k: x.k, v: x.v, dOut: x.dOut, bias: x.bias, dBias0: x.dBias0, shape: shape, causal: causal)
        let new = AttentionRun.statistics(q: x.q, k: x.k, v: x.v, dOut: x.dOut, bias: x.bias, dBias0: x.dBias0, shape: shape, causal: causal)
        let pairs = [("out", new.out, stored.out), ("dq", new.dq, stored.dq), ("dk", new.dk, stored.dk),
                     ("dv", new.dv, stored.dv), ("dBias", new.dBias, stored.dBias)]
        for (name, got, expected) in pairs {
            let written = !got.contains { $0.isNaN }
            #expect(written, "\(shape) causal=\(causal) \(name): an element was not written")
            let bound = Self.fp32Bound(expected, nb: shape.blockLength)
            #expect(Double(maxAbsDifference(got, expected)) <= bound,
                    "\(shape) causal=\(causal) \(name): max |Δ| \(maxAbsDifference(got, expected)) > \(bound)")
        }
    }

    @Test(.enabled(if: MatMul.bf16ProductsAvailable, Comment(rawValue: MatMul.bf16UnavailableReason)), arguments: shapes, [false, true])
    func bf16MatchesTheStoredProbabilityKernel(shape: AttentionShape, causal: Bool) {
        let x = Inputs(shape, seed: UInt64(300 + shape.blockLength + shape.headSize + (causal ? 1 : 0)))
        let q = bf16Rounded(x.q), k = bf16Rounded(x.k), v = bf16Rounded(x.v), dOut = bf16Rounded(x.dOut)
        let stored = AttentionRun.storedBF16(q: q.bf16, k: k.bf16, v: v.bf16, dOut: dOut.bf16, bias: x.bias, dBias0: x.dBias0,
                                             shape: shape, causal: causal)
        let new = AttentionRun.statisticsBF16(q: q.bf16, k: k.bf16, v: v.bf16, dOut: dOut.bf16, bias: x.bias, dBias0: x.dBias0,
                                              shape: shape, causal: causal)
        let pairs = [("out", new.out, stored.out), ("dq", new.dq, stored.dq), ("dk", new.dk, stored.dk),
                     ("dv", new.dv, stored.dv), ("dBias", new.dBias, stored.dBias)]
        for (name, got, expected) in pairs {
            let written = !got.contains { $0.isNaN }
            #expect(written, "\(shape) causal=\(causal) \(name): an element was not written")
            // fp32 rounding of the scores and exponentials can move a probability (or dS) to the neighbouring bf16
            // value (2⁻⁸ relative): a few bf16 units of the output's scale at most.
            let scale = Double(expected.map { abs($0) }.max() ?? 0)
            let difference = Double(maxAbsDifference(got, expected))
            #expect(difference <= 4 * 0x1p-8 * scale, "\(shape) causal=\(causal) \(name): max |Δ| \(difference) of scale \(scale)")
        }
    }

    @Test func causalTilesSkipTheMaskedTriangle() {
        #expect(BlockAttention.computedFraction(blockLength: 256, causal: false) == 1)
        #expect(BlockAttention.computedFraction(blockLength: 64, causal: true) == 1)
        // Nb 256 in tiles of 64: rows see 64, 128, 192, 256 keys → 640/1024 of the block.
        #expect(BlockAttention.computedFraction(blockLength: 256, causal: true) == 0.625)
        #expect(BlockAttention.computedFraction(blockLength: 128, causal: true) == 0.75)
    }

    /// Raster-order forward of the new kernel (through BlockPartition and RelativeBias) against the naive
    /// Double oracle, and its backward against central finite differences — with Nb 80, so causal blocks have
    /// a full and a partial tile.
    @Test(arguments: [false, true])
    func matchesNaiveAndFiniteDifferences(causal: Bool) {
        var random = TestRandom(causal ? 18 : 19)
        let videos = 1, grid = (t: 2, h: 4, w: 20), block = (t: 2, h: 4, w: 10), heads = 2, dh = 3
        let partition = BlockPartition(grid: grid, block: block)
        let n = partition.positions, width = heads * dh, nb = partition.blockLength, groups = videos * n / nb
        let shape = AttentionShape(blockLength: nb, heads: heads, headSize: dh, groups: groups)
        var q = random.normals(n * width), k = random.normals(n * width), v = random.normals(n * width)
        var rt = random.normals(heads * 3), rh = random.normals(heads * 7), rw = random.normals(heads * 19)
        let r = random.normals(n * width)
        func blocked(_ x: [Float]) -> [Float] {
            var out = x
            out.withUnsafeMutableBufferPointer { partition.toBlockOrder(x, $0.baseAddress!, videos: videos, width: width) }
            return out
        }
        func raster(_ x: [Float]) -> [Float] {
            var out = x
            out.withUnsafeMutableBufferPointer { partition.toRasterOrder(x, $0.baseAddress!, videos: videos, width: width, accumulate: false) }
            return out
        }
        func expanded(_ rt: [Float], _ rh: [Float], _ rw: [Float]) -> [Float] {
            var bias = [Float](repeating: 0, count: heads * nb * nb)
            bias.withUnsafeMutableBufferPointer { RelativeBias.expand(rt: rt, rh: rh, rw: rw, heads: heads, block: block, into: $0.baseAddress!) }
            return bias
        }
        let zeros = [Float](repeating: 0, count: heads * nb * nb)
        func forward(_ q: [Float], _ k: [Float], _ v: [Float], _ rt: [Float], _ rh: [Float], _ rw: [Float]) -> [Float] {
            raster(AttentionRun.statistics(q: blocked(q), k: blocked(k), v: blocked(v), dOut: blocked(r), bias: expanded(rt, rh, rw),
                                           dBias0: zeros, shape: shape, causal: causal).out)
        }
        let naive = NaiveAttention.forward(q: q, k: k, v: v, videos: videos, grid: grid, block: block, heads: heads,
                                                headSize: dh, rt: rt, rh: rh, rw: rw, causal: causal)
        #expect(maxAbsDifference(forward(q, k, v, rt, rh, rw), naive) < 1e-5)

        let result = AttentionRun.statistics(q: blocked(q), k: blocked(k), v: blocked(v), dOut: blocked(r),
                                             bias: expanded(rt, rh, rw), dBias0: zeros, shape: shape, causal: causal)
        var drt = [Float](repeating: 0, count: rt.count), drh = [Float](repeating: 0, count: rh.count), drw = [Float](repeating: 0, count: rw.count)
        drt.withUnsafeMutableBufferPointer { a in drh.withUnsafeMutableBufferPointer { b in drw.withUnsafeMutableBufferPointer { c in
            RelativeBias.backward(dBias: result.dBias, heads: heads, block: block, dRt: a.baseAddress!, dRh: b.baseAddress!, dRw: c.baseAddress!)
        } } }
        let (q0, k0, v0, rt0, rh0, rw0) = (q, k, v, rt, rh, rw)
        let checks = [
            ("dq", finiteDifferenceCheck(&q, analytic: raster(result.dq)) { dot(forward($0, k0, v0, rt0, rh0, rw0), r) }),
            ("dk", finiteDifferenceCheck(&k, analytic: raster(result.dk)) { dot(forward(q0, $0, v0, rt0, rh0, rw0), r) }),
            ("dv", finiteDifferenceCheck(&v, analytic: raster(result.dv)) { dot(forward(q0, k0, $0, rt0, rh0, rw0), r) }),
            ("dRt", finiteDifferenceCheck(&rt, analytic: drt) { dot(forward(q0, k0, v0, $0, rh0, rw0), r) }),
            ("dRh", finiteDifferenceCheck(&rh, analytic: drh) { dot(forward(q0, k0, v0, rt0, $0, rw0), r) }),
            ("dRw", finiteDifferenceCheck(&rw, analytic: drw) { dot(forward(q0, k0, v0, rt0, rh0, $0), r) }),
        ]
        for (name, check) in checks { #expect(check.worst < 2e-3, "\(name) causal=\(causal): \(check.message)") }
    }
}
