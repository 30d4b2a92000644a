// BlockAttention: block-local multi-head self-attention over a 3-D grid with per-axis relative biases
// and an optional within-block causal mask (DESIGN.md §2), as named helpers in the tensor2tensor style:
//
//   BlockPartition        raster ⇄ block order (blocks in raster order over the block grid, positions in
//                         raster order inside a block)
//   RelativeBias          Rt, Rh, Rw [H, 2b−1]  ⇄  bias[H, Nb, Nb] (i = query, j = key)
//   BlockAttention        q, k, v [G·Nb, H·Dh] (block order, head-major columns) → out, probs[G, H, Nb, Nb]
//
// G = videos × blocks per video. Leaves out: the projections (Linear) and LayerNorm (LayerNorm).

import Foundation

public struct BlockPartition: Equatable, Sendable {
    public let grid: (t: Int, h: Int, w: Int)
    public let block: (t: Int, h: Int, w: Int)
    /// rasterIndex[r] = raster index (within one video) of the r-th position in block order.
    public let rasterIndex: [Int32]

    public var positions: Int { grid.t * grid.h * grid.w }
    public var blockLength: Int { block.t * block.h * block.w }
    public var blocksPerVideo: Int { positions / blockLength }

    public static func == (a: BlockPartition, b: BlockPartition) -> Bool {
        a.grid == b.grid && a.block == b.block
    }

    public init(grid: (t: Int, h: Int, w: Int), block: (t: Int, h: Int, w: Int)) {
        precondition(grid.t % block.t == 0 && grid.h % block.h == 0 && grid.w % block.w == 0,
                     "BlockPartition: block \(block) does not divide grid \(grid)")
        self.grid = grid; self.block = block
        var order: [Int32] = []
        order.reserveCapacity(grid.t * grid.h * grid.w)
        for bt in 0..<(grid.t / block.t) { for bh in 0..<(grid.h / block.h) { for bw in 0..<(grid.w / block.w) {
            for ti in 0..<block.t { for hi in 0..<block.h { for wi in 0..<block.w {
                let t = bt * block.t + ti, h = bh * block.h + hi, w = bw * block.w + wi
                order.append(Int32((t * grid.h + h) * grid.w + w))
            } } }
        } } }
        rasterIndex = order
    }

    /// blocked[v, r, :] = raster[v, rasterIndex[r], :] for every video.
    public func toBlockOrder(_ raster: UnsafePointer<Float>, _ blocked: UnsafeMutablePointer<Float>,
                             videos: Int, width: Int) {
        let n = positions
        rasterIndex.withUnsafeBufferPointer { index in
            Parallel.rows(videos * n, grain: 256) { rows in
                for row in rows {
                    let v = row / n, r = row % n
                    (blocked + row * width).update(from: raster + (v * n + Int(index[r])) * width, count: width)
                }
            }
        }
    }

    /// raster[v, rasterIndex[r], :] (+)= blocked[v, r, :] for every video.
    public func toRasterOrder(_ blocked: UnsafePointer<Float>, _ raster: UnsafeMutablePointer<Float>,
                              videos: Int, width: Int, accumulate: Bool) {
        let n = positions
        rasterIndex.withUnsafeBufferPointer { index in
            Parallel.rows(videos * n, grain: 256) { rows in
                for row in rows {
                    let v = row / n, r = row % n
                    let source = blocked + row * width, target = raster + (v * n + Int(index[r])) * width
                    if accumulate { for c in 0..<width { target[c] += source[c] } }
                    else { target.update(from: source, count: width) }
                }
            }
        }
    }
}

public enum RelativeBias {
    /// bias[h, i, j] = Rt[h, ti−tj+bt−1] + Rh[h, hi−hj+bh−1] + Rw[h, wi−wj+bw−1].
    public static func expand(rt: UnsafePointer<Float>, rh: UnsafePointer<Float>, rw: UnsafePointer<Float>,
                              heads: Int, block: (t: Int, h: Int, w: Int), into bias: UnsafeMutablePointer<Float>) {
        let nb = block.t * block.h * block.w
        let lt = 2 * block.t - 1, lh = 2 * block.h - 1, lw = 2 * block.w - 1
        for head in 0..<heads {
            for i in 0..<nb {
                let (ti, hi, wi) = (i / (block.h * block.w), (i / block.w) % block.h, i % block.w)
                let row = bias + (head * nb + i) * nb
                for j in 0..<nb {
                    let (tj, hj, wj) = (j / (block.h * block.w), (j / block.w) % block.h, j % block.w)
                    row[j] = rt[head * lt + ti - tj + block.t - 1] + rh[head * lh + hi - hj + block.h - 1]
                        + rw[head * lw + wi - wj + block.w - 1]
                }
            }
        }
    }

    /// dRt, dRh, dRw += the sums of dBias over the entries each table element feeds.
    public static func backward(dBias: UnsafePointer<Float>, heads: Int, block: (t: Int, h: Int, w: Int),
                                dRt: UnsafeMutablePointer<Float>, dRh: UnsafeMutablePointer<Float>,
                                dRw: UnsafeMutablePointer<Float>) {
        let nb = block.t * block.h * block.w
        let lt = 2 * block.t - 1, lh = 2 * block.h - 1, lw = 2 * block.w - 1
        for head in 0..<heads {
            for i in 0..<nb {
                let (ti, hi, wi) = (i / (block.h * block.w), (i / block.w) % block.h, i % block.w)
                let row = dBias + (head * nb + i) * nb
                for j in 0..<nb {
                    let (tj, hj, wj) = (j / (block.h * block.w), (j / block.w) % block.h, j % block.w)
                    let g = row[j]
                    dRt[head * lt + ti - tj + block.t - 1] += g
                    dRh[head * lh + hi - hj + block.h - 1] += g
                    dRw[head * lw + wi - wj + block.w - 1] += g
                }
            }
        }
    }
}

public enum BlockAttention {
    static let reductionChunks = 8

    /// out[g·Nb + i, h·Dh ..< (h+1)·Dh] = Σ_j softmax_j(q_i·k_j/√Dh + bias[h,i,j] (−∞ for j > i if causal)) v_j.
    /// q, k, v, out: [groups·Nb, heads·Dh]; bias: [heads, Nb, Nb]; probs (saved): [groups, heads, Nb, Nb].
    public static func forward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                               q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>, groups: Int, blockLength nb: Int, heads: Int,
                               headSize dh: Int, causal: Bool) {
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
    public static func backwardWorkspaceCount(groups: Int, blockLength nb: Int, heads: Int) -> Int {
        min(reductionChunks, groups) * (heads + 1) * nb * nb
    }

    /// Overwrites dq, dk, dv [groups·Nb, heads·Dh]; accumulates dBias [heads, Nb, Nb]. `workspace` holds
    /// at least `backwardWorkspaceCount` floats (preallocated, so a training step allocates nothing).
    public static func backward(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                dv: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
                                dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                v: UnsafePointer<Float>, probs: UnsafePointer<Float>, groups: Int,
                                blockLength nb: Int, heads: Int, headSize dh: Int, workspace: FloatBuffer) {
        let width = heads * dh
        let scale = 1 / Float(dh).squareRoot()
        let chunks = min(reductionChunks, groups)
        let biasCount = heads * nb * nb
        precondition(workspace.count >= backwardWorkspaceCount(groups: groups, blockLength: nb, heads: heads),
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
        addPartials(partials, chunks: chunks, count: biasCount, into: dBias)
    }

    /// dBias[i] += Σ_chunk partials[chunk·count + i], chunk by chunk (the fixed order of every backward).
    static func addPartials(_ partials: UnsafePointer<Float>, chunks: Int, count: Int, into dBias: UnsafeMutablePointer<Float>) {
        for chunk in 0..<chunks {
            let partial = partials + chunk * count
            for i in 0..<count { dBias[i] += partial[i] }
        }
    }

    /// The naive oracle: raster-order q, k, v [videos·N, H·Dh] and relative tables, explicit block
    /// membership by coordinates, true −∞ mask, Double arithmetic. Returns raster-order output.
    public static func naiveForward(q: [Float], k: [Float], v: [Float], videos: Int,
                                    grid: (t: Int, h: Int, w: Int), block: (t: Int, h: Int, w: Int),
                                    heads: Int, headSize dh: Int, rt: [Float], rh: [Float], rw: [Float],
                                    causal: Bool) -> [Float] {
        let n = grid.t * grid.h * grid.w, width = heads * dh
        var out = [Float](repeating: 0, count: videos * n * width)
        for video in 0..<videos {
            for i in 0..<n {
                let (ti, hi, wi) = rasterCoordinates(i, in: grid)
                let blockOf = { (t: Int, h: Int, w: Int) in (t / block.t, h / block.h, w / block.w) }
                let mine = blockOf(ti, hi, wi)
                // within-block raster rank, for the causal mask
                let rankI = ((ti % block.t) * block.h + hi % block.h) * block.w + wi % block.w
                for head in 0..<heads {
                    var logits: [Double] = [], values: [Int] = []
                    for j in 0..<n {
                        let (tj, hj, wj) = rasterCoordinates(j, in: grid)
                        guard blockOf(tj, hj, wj) == mine else { continue }
                        let rankJ = ((tj % block.t) * block.h + hj % block.h) * block.w + wj % block.w
                        var logit = 0.0
                        for c in 0..<dh {
                            logit += Double(q[(video * n + i) * width + head * dh + c]) * Double(k[(video * n + j) * width + head * dh + c])
                        }
                        logit /= Double(dh).squareRoot()
                        logit += Double(rt[head * (2 * block.t - 1) + (ti % block.t) - (tj % block.t) + block.t - 1])
                        logit += Double(rh[head * (2 * block.h - 1) + (hi % block.h) - (hj % block.h) + block.h - 1])
                        logit += Double(rw[head * (2 * block.w - 1) + (wi % block.w) - (wj % block.w) + block.w - 1])
                        if causal && rankJ > rankI { logit = -Double.infinity }
                        logits.append(logit); values.append(j)
                    }
                    let m = logits.max()!
                    let e = logits.map { Foundation.exp($0 - m) }
                    let total = e.reduce(0, +)
                    for c in 0..<dh {
                        var acc = 0.0
                        for (index, j) in values.enumerated() { acc += e[index] / total * Double(v[(video * n + j) * width + head * dh + c]) }
                        out[(video * n + i) * width + head * dh + c] = Float(acc)
                    }
                }
            }
        }
        return out
    }
}
