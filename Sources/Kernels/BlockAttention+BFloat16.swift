// BlockAttention with bf16 product inputs (DESIGN.md §8): q·kᵀ, p·v and the four backward products run on
// oneDNN with bf16 inputs and fp32 outputs; scores, softmax, the saved probabilities, dS and dBias stay fp32.
// A block's probabilities and dS are rounded to bf16 into per-chunk scratch just before the product that
// reads them. Same shapes and block order as `BlockAttention` (BlockAttention.swift), its fp32 twin.

import _KernelShims

extension BlockAttention {
    /// bf16 values of workspace `forward(…bf16…)` needs: one Nb×Nb probability block per chunk.
    public static func forwardWorkspaceCountBF16(groups: Int, blockLength nb: Int) -> Int {
        min(reductionChunks, groups) * nb * nb
    }

    /// bf16 values of workspace `backward(…bf16…)` needs: a probability and a dS block per chunk.
    public static func backwardWorkspaceCountBF16(groups: Int, blockLength nb: Int) -> Int {
        2 * min(reductionChunks, groups) * nb * nb
    }

    /// As the fp32 `forward`, with q, k, v in bf16 [groups·Nb, heads·Dh]; out and probs fp32.
    public static func forward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                               q: UnsafePointer<BFloat16>, k: UnsafePointer<BFloat16>, v: UnsafePointer<BFloat16>,
                               bias: UnsafePointer<Float>, groups: Int, blockLength nb: Int, heads: Int,
                               headSize dh: Int, causal: Bool, workspace: BFloat16Buffer) {
        forward(out: UnsafeMutableRawPointer(out), outputBF16: false, probs: probs, q: q, k: k, v: v, bias: bias,
                groups: groups, blockLength: nb, heads: heads, headSize: dh, causal: causal, workspace: workspace)
    }

    /// The same with a bf16 output (it only feeds the output projection): p·v rounded as oneDNN stores it.
    public static func forward(out: UnsafeMutablePointer<BFloat16>, probs: UnsafeMutablePointer<Float>,
                               q: UnsafePointer<BFloat16>, k: UnsafePointer<BFloat16>, v: UnsafePointer<BFloat16>,
                               bias: UnsafePointer<Float>, groups: Int, blockLength nb: Int, heads: Int,
                               headSize dh: Int, causal: Bool, workspace: BFloat16Buffer) {
        forward(out: UnsafeMutableRawPointer(out), outputBF16: true, probs: probs, q: q, k: k, v: v, bias: bias,
                groups: groups, blockLength: nb, heads: heads, headSize: dh, causal: causal, workspace: workspace)
    }

    static func forward(out: UnsafeMutableRawPointer, outputBF16: Bool, probs: UnsafeMutablePointer<Float>,
                        q: UnsafePointer<BFloat16>, k: UnsafePointer<BFloat16>, v: UnsafePointer<BFloat16>,
                        bias: UnsafePointer<Float>, groups: Int, blockLength nb: Int, heads: Int,
                        headSize dh: Int, causal: Bool, workspace: BFloat16Buffer) {
        let width = heads * dh
        let element = outputBF16 ? MemoryLayout<BFloat16>.stride : MemoryLayout<Float>.stride
        let scale = 1 / Float(dh).squareRoot()
        let chunks = min(reductionChunks, groups)
        precondition(workspace.count >= forwardWorkspaceCountBF16(groups: groups, blockLength: nb),
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
                                v: UnsafePointer<BFloat16>, probs: UnsafePointer<Float>, groups: Int,
                                blockLength nb: Int, heads: Int, headSize dh: Int, workspace: FloatBuffer,
                                workspace16: BFloat16Buffer) {
        backward(dq: UnsafeMutableRawPointer(dq), dk: UnsafeMutableRawPointer(dk), dv: UnsafeMutableRawPointer(dv),
                 outputBF16: false, dBias: dBias, dOut: dOut, q: q, k: k, v: v, probs: probs, groups: groups,
                 blockLength: nb, heads: heads, headSize: dh, workspace: workspace, workspace16: workspace16)
    }

    /// The same with bf16 dq, dk, dv (they only feed the projections' backward products).
    public static func backward(dq: UnsafeMutablePointer<BFloat16>, dk: UnsafeMutablePointer<BFloat16>,
                                dv: UnsafeMutablePointer<BFloat16>, dBias: UnsafeMutablePointer<Float>,
                                dOut: UnsafePointer<BFloat16>, q: UnsafePointer<BFloat16>, k: UnsafePointer<BFloat16>,
                                v: UnsafePointer<BFloat16>, probs: UnsafePointer<Float>, groups: Int,
                                blockLength nb: Int, heads: Int, headSize dh: Int, workspace: FloatBuffer,
                                workspace16: BFloat16Buffer) {
        backward(dq: UnsafeMutableRawPointer(dq), dk: UnsafeMutableRawPointer(dk), dv: UnsafeMutableRawPointer(dv),
                 outputBF16: true, dBias: dBias, dOut: dOut, q: q, k: k, v: v, probs: probs, groups: groups,
                 blockLength: nb, heads: heads, headSize: dh, workspace: workspace, workspace16: workspace16)
    }

    static func backward(dq: UnsafeMutableRawPointer, dk: UnsafeMutableRawPointer, dv: UnsafeMutableRawPointer,
                         outputBF16: Bool, dBias: UnsafeMutablePointer<Float>,
                         dOut: UnsafePointer<BFloat16>, q: UnsafePointer<BFloat16>, k: UnsafePointer<BFloat16>,
                         v: UnsafePointer<BFloat16>, probs: UnsafePointer<Float>, groups: Int,
                         blockLength nb: Int, heads: Int, headSize dh: Int, workspace: FloatBuffer,
                         workspace16: BFloat16Buffer) {
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
        precondition(workspace.count >= backwardWorkspaceCount(groups: groups, blockLength: nb, heads: heads)
                     && workspace16.count >= backwardWorkspaceCountBF16(groups: groups, blockLength: nb),
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
        addPartials(partials, chunks: chunks, count: biasCount, into: dBias)
    }
}
