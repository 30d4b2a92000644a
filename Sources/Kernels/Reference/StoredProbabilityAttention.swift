// StoredProbabilityAttention: block-local attention that saves the [G, H, Nb, Nb] probabilities for backward —
// the first kernel vt trained with, now the test oracle of BlockAttention (which saves per-row statistics
// instead, docs/design.md §9) and the baseline of `vt bench --attention`. fp32 on OpenBLAS; the bf16 variant
// runs q·kᵀ, p·v and the four backward products on oneDNN with bf16 inputs and fp32 outputs, rounding a
// block's probabilities and dS to bf16 just before the product that reads them.
//
//   q, k, v, out [G·Nb, H·Dh] (block order, head-major columns), bias [H, Nb, Nb], probs [G, H, Nb, Nb]
//
// Leaves out: anything the model runs (BlockAttention.swift is that kernel).

import Foundation
import _KernelShims

public enum StoredProbabilityAttention {
    static let reductionChunks = BlockAttention.reductionChunks

    /// out[g·Nb + i, h·Dh ..< (h+1)·Dh] = Σ_j softmax_j(q_i·k_j/√Dh + bias[h,i,j] (−∞ for j > i if causal)) v_j.
    /// q, k, v, out: [groups·Nb, heads·Dh]; bias: [heads, Nb, Nb]; probs (saved): [groups, heads, Nb, Nb].
    public static func forward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                               q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>, shape: BlockAttention.Shape) {
        let (groups, nb, heads, dh, causal) = (shape.groups, shape.blockLength, shape.heads, shape.headSize, shape.causal)
        let width = heads * dh
        let scale = 1 / Float(dh).squareRoot()
        Parallel.rows(groups, grain: 1) { range in
            for g in range {
                for h in 0..<heads {
                    let qh = q + g * nb * width + h * dh, kh = k + g * nb * width + h * dh
                    let vh = v + g * nb * width + h * dh, oh = out + g * nb * width + h * dh
                    let p = probs + (g * heads + h) * nb * nb
                    MatMul.gemmSerial(transB: true, m: nb, n: nb, k: dh, alpha: scale, a: qh, lda: width,
                                      b: kh, ldb: width, c: p, ldc: nb)
                    let b = bias + h * nb * nb
                    for i in 0..<nb {
                        softmaxRow(p + i * nb, bias: b + i * nb, count: nb, valid: causal ? i + 1 : nb)
                    }
                    MatMul.gemmSerial(m: nb, n: dh, k: nb, a: p, lda: nb, b: vh, ldb: width, c: oh, ldc: width)
                }
            }
        }
    }

    /// row[j] = softmax over j < valid of (row[j] + bias[j]); entries j ≥ valid become exactly 0.
    @inline(__always)
    static func softmaxRow(_ row: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, count: Int, valid: Int) {
        var maximum = -Float.infinity
        for j in 0..<valid { row[j] += bias[j]; maximum = max(maximum, row[j]) }
        var total: Float = 0
        for j in 0..<valid { let e = expf(row[j] - maximum); row[j] = e; total += e }
        let inverse = 1 / total
        for j in 0..<valid { row[j] *= inverse }
        for j in valid..<count { row[j] = 0 }
    }

    /// Floats of workspace `backward` needs: per reduction chunk, a dBias partial and a dS scratch block.
    public static func backwardWorkspaceCount(_ shape: BlockAttention.Shape) -> Int {
        min(reductionChunks, shape.groups) * (shape.heads + 1) * shape.blockLength * shape.blockLength
    }

    /// Overwrites dq, dk, dv [groups·Nb, heads·Dh]; accumulates dBias [heads, Nb, Nb]. `workspace` holds
    /// at least `backwardWorkspaceCount` floats (preallocated, so a training step allocates nothing).
    public static func backward(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                dv: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
                                dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                v: UnsafePointer<Float>, probs: UnsafePointer<Float>, shape: BlockAttention.Shape,
                                workspace: FloatBuffer) {
        let (groups, nb, heads, dh) = (shape.groups, shape.blockLength, shape.heads, shape.headSize)
        let width = heads * dh
        let scale = 1 / Float(dh).squareRoot()
        let chunks = min(reductionChunks, groups)
        let biasCount = heads * nb * nb
        precondition(workspace.count >= backwardWorkspaceCount(shape),
                     "BlockAttention.backward: workspace too small")
        let partials = workspace.pointer
        partials.update(repeating: 0, count: chunks * biasCount)
        Parallel.chunks(groups, chunks: chunks) { chunk, range in
            let dS = partials + chunks * biasCount + chunk * nb * nb
            let partial = partials + chunk * biasCount
            for g in range {
                for h in 0..<heads {
                    let offset = g * nb * width + h * dh
                    let p = probs + (g * heads + h) * nb * nb
                    // dV = Pᵀ·dO;  dP = dO·Vᵀ
                    MatMul.gemmSerial(transA: true, m: nb, n: dh, k: nb, a: p, lda: nb, b: dOut + offset,
                                      ldb: width, c: dv + offset, ldc: width)
                    MatMul.gemmSerial(transB: true, m: nb, n: nb, k: dh, a: dOut + offset, lda: width,
                                      b: v + offset, ldb: width, c: dS, ldc: nb)
                    // dS = P ⊙ (dP − Σ_j dP·P)
                    let pb = partial + h * nb * nb
                    for i in 0..<nb {
                        let pr = p + i * nb, dr = dS + i * nb
                        var dot: Float = 0
                        for j in 0..<nb { dot += pr[j] * dr[j] }
                        for j in 0..<nb { let value = pr[j] * (dr[j] - dot); dr[j] = value; pb[i * nb + j] += value }
                    }
                    // dQ = scale·dS·K;  dK = scale·dSᵀ·Q
                    MatMul.gemmSerial(m: nb, n: dh, k: nb, alpha: scale, a: dS, lda: nb, b: k + offset,
                                      ldb: width, c: dq + offset, ldc: width)
                    MatMul.gemmSerial(transA: true, m: nb, n: dh, k: nb, alpha: scale, a: dS, lda: nb,
                                      b: q + offset, ldb: width, c: dk + offset, ldc: width)
                }
            }
        }
        BlockAttention.addPartials(partials, chunks: chunks, count: biasCount, into: dBias)
    }
}

extension StoredProbabilityAttention {
    /// bf16 values of workspace `forward(…bf16…)` needs: one Nb×Nb probability block per chunk.
    public static func forwardWorkspaceCountBF16(_ shape: BlockAttention.Shape) -> Int {
        min(reductionChunks, shape.groups) * shape.blockLength * shape.blockLength
    }

    /// bf16 values of workspace `backward(…bf16…)` needs: a probability and a dS block per chunk.
    public static func backwardWorkspaceCountBF16(_ shape: BlockAttention.Shape) -> Int {
        2 * min(reductionChunks, shape.groups) * shape.blockLength * shape.blockLength
    }

    /// As the fp32 `forward`, with q, k, v in bf16 [groups·Nb, heads·Dh]; out and probs fp32.
    public static func forward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                               q: UnsafePointer<BFloat16>, k: UnsafePointer<BFloat16>, v: UnsafePointer<BFloat16>,
                               bias: UnsafePointer<Float>, shape: BlockAttention.Shape, workspace: BFloat16Buffer) {
        forward(out: UnsafeMutableRawPointer(out), outputBF16: false, probs: probs, q: q, k: k, v: v, bias: bias,
                shape: shape, workspace: workspace)
    }

    /// The same with a bf16 output (it only feeds the output projection): p·v rounded as oneDNN stores it.
    public static func forward(out: UnsafeMutablePointer<BFloat16>, probs: UnsafeMutablePointer<Float>,
                               q: UnsafePointer<BFloat16>, k: UnsafePointer<BFloat16>, v: UnsafePointer<BFloat16>,
                               bias: UnsafePointer<Float>, shape: BlockAttention.Shape, workspace: BFloat16Buffer) {
        forward(out: UnsafeMutableRawPointer(out), outputBF16: true, probs: probs, q: q, k: k, v: v, bias: bias,
                shape: shape, workspace: workspace)
    }

    static func forward(out: UnsafeMutableRawPointer, outputBF16: Bool, probs: UnsafeMutablePointer<Float>,
                        q: UnsafePointer<BFloat16>, k: UnsafePointer<BFloat16>, v: UnsafePointer<BFloat16>,
                        bias: UnsafePointer<Float>, shape: BlockAttention.Shape, workspace: BFloat16Buffer) {
        let (groups, nb, heads, dh, causal) = (shape.groups, shape.blockLength, shape.heads, shape.headSize, shape.causal)
        let width = heads * dh
        let element = outputBF16 ? MemoryLayout<BFloat16>.stride : MemoryLayout<Float>.stride
        let scale = 1 / Float(dh).squareRoot()
        let chunks = min(reductionChunks, groups)
        precondition(workspace.count >= forwardWorkspaceCountBF16(shape),
                     "BlockAttention.forward: bf16 workspace too small")
        Parallel.chunks(groups, chunks: chunks) { chunk, range in
            let p16 = workspace.pointer + chunk * nb * nb
            for g in range {
                for h in 0..<heads {
                    let offset = g * nb * width + h * dh
                    let p = probs + (g * heads + h) * nb * nb
                    MatMul.gemmBF16Serial(transB: true, m: nb, n: nb, k: dh, alpha: scale, a: q + offset, lda: width,
                                          b: k + offset, ldb: width, c: p, ldc: nb)
                    // Softmax in fp32 (saved for backward) and its bf16 rounding for p·v, in one pass.
                    p16.withMemoryRebound(to: UInt16.self, capacity: nb * nb) {
                        vt_softmax_rows_bf16(p, bias + h * nb * nb, $0, nb, causal ? 1 : 0)
                    }
                    MatMul.product(transA: false, transB: false, m: nb, n: dh, k: nb, alpha: 1, a: p16, lda: nb,
                                   b: v + offset, ldb: width, accumulate: false, bias: nil, relu: false,
                                   c: out + offset * element, outputBF16: outputBF16, ldc: width)
                }
            }
        }
    }

    /// As the fp32 `backward`, with q, k, v and the output gradient `dOut` in bf16; dq, dk, dv (overwritten),
    /// dBias (accumulated) and the saved probabilities fp32. `workspace` as for the fp32 kernel.
    public static func backward(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                dv: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
                                dOut: UnsafePointer<BFloat16>, q: UnsafePointer<BFloat16>, k: UnsafePointer<BFloat16>,
                                v: UnsafePointer<BFloat16>, probs: UnsafePointer<Float>, shape: BlockAttention.Shape, workspace: FloatBuffer,
                                workspace16: BFloat16Buffer) {
        backward(dq: UnsafeMutableRawPointer(dq), dk: UnsafeMutableRawPointer(dk), dv: UnsafeMutableRawPointer(dv),
                 outputBF16: false, dBias: dBias, dOut: dOut, q: q, k: k, v: v, probs: probs, shape: shape, workspace: workspace, workspace16: workspace16)
    }

    /// The same with bf16 dq, dk, dv (they only feed the projections' backward products).
    public static func backward(dq: UnsafeMutablePointer<BFloat16>, dk: UnsafeMutablePointer<BFloat16>,
                                dv: UnsafeMutablePointer<BFloat16>, dBias: UnsafeMutablePointer<Float>,
                                dOut: UnsafePointer<BFloat16>, q: UnsafePointer<BFloat16>, k: UnsafePointer<BFloat16>,
                                v: UnsafePointer<BFloat16>, probs: UnsafePointer<Float>, shape: BlockAttention.Shape, workspace: FloatBuffer,
                                workspace16: BFloat16Buffer) {
        backward(dq: UnsafeMutableRawPointer(dq), dk: UnsafeMutableRawPointer(dk), dv: UnsafeMutableRawPointer(dv),
                 outputBF16: true, dBias: dBias, dOut: dOut, q: q, k: k, v: v, probs: probs, shape: shape, workspace: workspace, workspace16: workspace16)
    }

    static func backward(dq: UnsafeMutableRawPointer, dk: UnsafeMutableRawPointer, dv: UnsafeMutableRawPointer,
                         outputBF16: Bool, dBias: UnsafeMutablePointer<Float>,
                         dOut: UnsafePointer<BFloat16>, q: UnsafePointer<BFloat16>, k: UnsafePointer<BFloat16>,
                         v: UnsafePointer<BFloat16>, probs: UnsafePointer<Float>, shape: BlockAttention.Shape, workspace: FloatBuffer,
                         workspace16: BFloat16Buffer) {
        let (groups, nb, heads, dh) = (shape.groups, shape.blockLength, shape.heads, shape.headSize)
        let width = heads * dh
        let element = outputBF16 ? MemoryLayout<BFloat16>.stride : MemoryLayout<Float>.stride
        /// One per-block product into dq, dk or dv (fp32 or bf16 as the caller chose).
        @inline(__always) func product(transA: Bool, alpha: Float, a: UnsafePointer<BFloat16>, lda: Int,
                                       b: UnsafePointer<BFloat16>, into target: UnsafeMutableRawPointer, offset: Int) {
            MatMul.product(transA: transA, transB: false, m: nb, n: dh, k: nb, alpha: alpha, a: a, lda: lda, b: b,
                           ldb: width, accumulate: false, bias: nil, relu: false, c: target + offset * element,
                           outputBF16: outputBF16, ldc: width)
        }
        let scale = 1 / Float(dh).squareRoot()
        let chunks = min(reductionChunks, groups)
        let biasCount = heads * nb * nb
        precondition(workspace.count >= backwardWorkspaceCount(shape)
                     && workspace16.count >= backwardWorkspaceCountBF16(shape),
                     "BlockAttention.backward: workspace too small")
        let partials = workspace.pointer
        partials.update(repeating: 0, count: chunks * biasCount)
        Parallel.chunks(groups, chunks: chunks) { chunk, range in
            let dS = partials + chunks * biasCount + chunk * nb * nb
            let partial = partials + chunk * biasCount
            let p16 = workspace16.pointer + 2 * chunk * nb * nb, dS16 = p16 + nb * nb
            for g in range {
                for h in 0..<heads {
                    let offset = g * nb * width + h * dh
                    let p = probs + (g * heads + h) * nb * nb
                    // dP = dO·Vᵀ;  dS = P ⊙ (dP − Σ_j dP·P) in fp32 with bf16(P) and bf16(dS) in the same pass
                    MatMul.gemmBF16Serial(transB: true, m: nb, n: nb, k: dh, a: dOut + offset, lda: width,
                                          b: v + offset, ldb: width, c: dS, ldc: nb)
                    p16.withMemoryRebound(to: UInt16.self, capacity: nb * nb) { p16Bits in
                        dS16.withMemoryRebound(to: UInt16.self, capacity: nb * nb) { dS16Bits in
                            vt_softmax_backward_bf16(p, dS, p16Bits, dS16Bits, partial + h * nb * nb, nb)
                        }
                    }
                    // dV = Pᵀ·dO
                    product(transA: true, alpha: 1, a: p16, lda: nb, b: dOut + offset, into: dv, offset: offset)
                    // dQ = scale·dS·K;  dK = scale·dSᵀ·Q
                    product(transA: false, alpha: scale, a: dS16, lda: nb, b: k + offset, into: dq, offset: offset)
                    product(transA: true, alpha: scale, a: dS16, lda: nb, b: q + offset, into: dk, offset: offset)
                }
            }
        }
        BlockAttention.addPartials(partials, chunks: chunks, count: biasCount, into: dBias)
    }
}
