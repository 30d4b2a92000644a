// BlockAttention without stored probabilities (DESIGN.md §9): forward saves each row's softmax statistics
// (maximum and 1/Σexp, 2 floats per (row, head)) instead of the [G, H, Nb, Nb] probabilities; backward
// recomputes a block's scores from q and k into per-chunk scratch, and from them and the statistics the
// probabilities — bitwise those forward used (one C loop, vt_softmax_tile, serves both).
//
// Causal (decoder) blocks are cut into row tiles of `causalTile` rows: row tile r only computes scores
// against keys 0 ..< end(r), so the masked upper triangle beyond the diagonal tiles is never computed,
// in forward or backward (dV and dK by column tiles over the rows that can see them). Unmasked blocks are
// one tile: the same products, shapes and order as the stored-probability kernel (BlockAttention.swift),
// which stays as this kernel's test oracle with the naive twin there.
//
// Both precisions share the loop: fp32 inputs go to OpenBLAS, bf16 inputs (DESIGN.md §8) to oneDNN with the
// probabilities and dS rounded to bf16 for the products that read them; statistics, scores, softmax, dS and
// dBias stay fp32 either way.

import _KernelShims

extension BlockAttention {
    /// Row tile of causal blocks (a constant: results depend on the shape only).
    public static let causalTile = 64

    /// q, k, v of one attention layer in the precision of its products.
    public enum Inputs {
        case fp32(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>)
        case bf16(q: UnsafePointer<BFloat16>, k: UnsafePointer<BFloat16>, v: UnsafePointer<BFloat16>)
    }

    /// A product's destination: fp32 values, or (bf16 runs, when only products read it) bf16 values.
    public enum Output {
        case fp32(UnsafeMutablePointer<Float>)
        case bf16(UnsafeMutablePointer<BFloat16>)
    }

    /// Floats of saved statistics: 2 per (row, head).
    public static func statisticsCount(rows: Int, heads: Int) -> Int { 2 * rows * heads }

    /// Row tiles [start, end) of a block: one tile when unmasked.
    static func tiles(_ nb: Int, causal: Bool) -> [Range<Int>] {
        let size = causal ? causalTile : nb
        return stride(from: 0, to: nb, by: size).map { $0..<min(nb, $0 + size) }
    }

    /// Fraction of the q·kᵀ and p·v work an Nb-block computes (1 unmasked; causal: the diagonal and lower tiles).
    public static func computedFraction(blockLength nb: Int, causal: Bool) -> Double {
        let done = tiles(nb, causal: causal).reduce(0) { $0 + $1.count * (causal ? $1.upperBound : nb) }
        return Double(done) / Double(nb * nb)
    }

    /// fp32 workspace of the forward: one Nb×Nb score block per chunk.
    public static func statisticsForwardWorkspaceCount(groups: Int, blockLength nb: Int) -> Int {
        min(reductionChunks, groups) * nb * nb
    }

    /// fp32 workspace of the backward: per chunk a probability and a dS block and a dBias partial.
    public static func statisticsBackwardWorkspaceCount(groups: Int, blockLength nb: Int, heads: Int) -> Int {
        min(reductionChunks, groups) * (heads + 2) * nb * nb
    }

    /// bf16 workspace (bf16 runs): per chunk the rounded probability and dS blocks and the block's kᵀ and vᵀ
    /// [Dh, Nb] (oneDNN's products with a transposed bf16 B are 20× slower than with a row-major one here).
    public static func statisticsWorkspaceCountBF16(groups: Int, blockLength nb: Int, headSize dh: Int) -> Int {
        min(reductionChunks, groups) * (2 * nb * nb + 2 * dh * nb)
    }

    /// target[c·rows + r] = source[r·ld + c]: a rows × columns block of bf16 values, transposed.
    @inline(__always)
    static func transpose(_ source: UnsafePointer<BFloat16>, ld: Int, rows: Int, columns: Int,
                          into target: UnsafeMutablePointer<BFloat16>) {
        for r in 0..<rows {
            let row = source + r * ld
            for c in 0..<columns { target[c * rows + r] = row[c] }
        }
    }

    /// out[g·Nb + i, h·Dh ..< (h+1)·Dh] = Σ_j softmax_j(q_i·k_j/√Dh + bias[h,i,j] (−∞ for j > i if causal)) v_j;
    /// statistics[(g·H + h)·Nb + i] = (max, 1/Σexp) of that row. q, k, v, out: [groups·Nb, heads·Dh].
    public static func forward(out: Output, statistics: UnsafeMutablePointer<Float>, inputs: Inputs,
                               bias: UnsafePointer<Float>, groups: Int, blockLength nb: Int, heads: Int,
                               headSize dh: Int, causal: Bool, workspace: FloatBuffer, workspace16: BFloat16Buffer?) {
        let width = heads * dh, scale = 1 / Float(dh).squareRoot()
        let chunks = min(reductionChunks, groups), tiles = tiles(nb, causal: causal)
        checkWorkspace(inputs, workspace.count >= statisticsForwardWorkspaceCount(groups: groups, blockLength: nb),
                       workspace16, groups: groups, nb: nb, dh: dh)
        Parallel.chunks(groups, chunks: chunks) { chunk, range in
            let p = workspace.pointer + chunk * nb * nb
            let p16 = workspace16.map { $0.pointer + chunk * (2 * nb * nb + 2 * dh * nb) }
            let kT = p16.map { $0 + 2 * nb * nb }
            for g in range {
                for h in 0..<heads {
                    let offset = g * nb * width + h * dh
                    let stats = statistics + (g * heads + h) * nb * 2
                    if case let .bf16(_, k, _) = inputs { transpose(k + offset, ld: width, rows: nb, columns: dh, into: kT!) }
                    for tile in tiles {
                        let end = causal ? tile.upperBound : nb
                        scores(inputs, tile, end: end, offset: offset, width: width, dh: dh, into: p, nb: nb, kT: kT)
                        softmax(p, bias: bias + h * nb * nb, statistics: stats, p16: p16, tile: tile, end: end, nb: nb,
                                scale: scale, causal: causal, recompute: false)
                        // out[tile] = P[tile, 0 ..< end] · v[0 ..< end]
                        switch (inputs, out) {
                        case let (.fp32(_, _, v), .fp32(o)):
                            MatMul.gemmSerial(m: tile.count, n: dh, k: end, a: p + tile.lowerBound * nb, lda: nb,
                                              b: v + offset, ldb: width, c: o + offset + tile.lowerBound * width, ldc: width)
                        case let (.bf16(_, _, v), .fp32(o)):
                            MatMul.gemmBF16Serial(m: tile.count, n: dh, k: end, a: p16! + tile.lowerBound * nb, lda: nb,
                                                  b: v + offset, ldb: width, c: o + offset + tile.lowerBound * width, ldc: width)
                        case let (.bf16(_, _, v), .bf16(o)):
                            MatMul.gemmBF16Serial(m: tile.count, n: dh, k: end, a: p16! + tile.lowerBound * nb, lda: nb,
                                                  b: v + offset, ldb: width, c: o + offset + tile.lowerBound * width, ldc: width)
                        case (.fp32, .bf16): preconditionFailure("BlockAttention: fp32 inputs with a bf16 output")
                        }
                    }
                }
            }
        }
    }

    /// Overwrites dq, dk, dv [groups·Nb, heads·Dh]; accumulates dBias [heads, Nb, Nb]. Recomputes each block's
    /// probabilities from q, k, `bias` (the forward's expanded relative bias) and `statistics`.
    /// `dOut`: the output gradient in the precision of the products (bf16: rounded by the caller).
    public static func backward(dq: Output, dk: Output, dv: Output, dBias: UnsafeMutablePointer<Float>, dOut: Operand,
                                inputs: Inputs, statistics: UnsafePointer<Float>, bias: UnsafePointer<Float>, groups: Int,
                                blockLength nb: Int, heads: Int, headSize dh: Int, causal: Bool, workspace: FloatBuffer,
                                workspace16: BFloat16Buffer?) {
        let width = heads * dh, scale = 1 / Float(dh).squareRoot()
        let chunks = min(reductionChunks, groups), tiles = tiles(nb, causal: causal)
        let biasCount = heads * nb * nb
        checkWorkspace(inputs, workspace.count >= statisticsBackwardWorkspaceCount(groups: groups, blockLength: nb, heads: heads),
                       workspace16, groups: groups, nb: nb, dh: dh)
        let partials = workspace.pointer
        partials.update(repeating: 0, count: chunks * biasCount)
        Parallel.chunks(groups, chunks: chunks) { chunk, range in
            let partial = partials + chunk * biasCount
            let p = partials + chunks * biasCount + 2 * chunk * nb * nb, dS = p + nb * nb
            let p16 = workspace16.map { $0.pointer + chunk * (2 * nb * nb + 2 * dh * nb) }, dS16 = p16.map { $0 + nb * nb }
            let kT = p16.map { $0 + 2 * nb * nb }, vT = kT.map { $0 + dh * nb }
            for g in range {
                for h in 0..<heads {
                    let offset = g * nb * width + h * dh
                    let stats = UnsafeMutablePointer(mutating: statistics + (g * heads + h) * nb * 2)
                    if case let .bf16(_, k, v) = inputs {
                        transpose(k + offset, ld: width, rows: nb, columns: dh, into: kT!)
                        transpose(v + offset, ld: width, rows: nb, columns: dh, into: vT!)
                    }
                    for tile in tiles {
                        let end = causal ? tile.upperBound : nb, first = tile.lowerBound
                        scores(inputs, tile, end: end, offset: offset, width: width, dh: dh, into: p, nb: nb, kT: kT)
                        softmax(p, bias: bias + h * nb * nb, statistics: stats, p16: nil, tile: tile, end: end, nb: nb,
                                scale: scale, causal: causal, recompute: true)
                        // dP[tile, 0 ..< end] = dO[tile]·v[0 ..< end]ᵀ, then dS = P ⊙ (dP − Σ dP·P) in place
                        switch (inputs, dOut) {
                        case let (.fp32(_, _, v), .fp32(gradient)):
                            MatMul.gemmSerial(transB: true, m: tile.count, n: end, k: dh, a: gradient + offset + first * width,
                                              lda: width, b: v + offset, ldb: width, c: dS + first * nb, ldc: nb)
                        case (.bf16, .bf16(let gradient)):   // with vᵀ row-major
                            MatMul.gemmBF16Serial(m: tile.count, n: end, k: dh, a: gradient + offset + first * width,
                                                  lda: width, b: vT!, ldb: nb, c: dS + first * nb, ldc: nb)
                        default: preconditionFailure("BlockAttention.backward: inputs and output gradient of mixed precision")
                        }
                        let bits16 = p16.map { UnsafeMutableRawPointer($0 + first * nb).assumingMemoryBound(to: UInt16.self) }
                        let dBits16 = dS16.map { UnsafeMutableRawPointer($0 + first * nb).assumingMemoryBound(to: UInt16.self) }
                        vt_softmax_backward_tile(p + first * nb, dS + first * nb, bits16, dBits16,
                                                 partial + h * nb * nb + first * nb, tile.count, end, nb, scale)
                    }
                    // By column tiles c: the rows that see keys c are c.lowerBound ..< Nb (causal) or all.
                    for tile in tiles {
                        let from = causal ? tile.lowerBound : 0, rows = nb - from
                        // dV[c] = P[from ..< Nb, c]ᵀ·dO[from ..< Nb];  dK[c] = scale·dS[from ..< Nb, c]ᵀ·q[from ..< Nb]
                        columnProduct(inputs, dOut: dOut, target: dv, probabilities: true, p: p, dS: dS, p16: p16, dS16: dS16,
                                      tile: tile, from: from, rows: rows, offset: offset, width: width, dh: dh, nb: nb, alpha: 1)
                        columnProduct(inputs, dOut: dOut, target: dk, probabilities: false, p: p, dS: dS, p16: p16, dS16: dS16,
                                      tile: tile, from: from, rows: rows, offset: offset, width: width, dh: dh, nb: nb, alpha: scale)
                    }
                    // dQ[tile] = scale·dS[tile, 0 ..< end]·k[0 ..< end]
                    for tile in tiles {
                        let end = causal ? tile.upperBound : nb, first = tile.lowerBound
                        switch (inputs, dq) {
                        case let (.fp32(_, k, _), .fp32(target)):
                            MatMul.gemmSerial(m: tile.count, n: dh, k: end, alpha: scale, a: dS + first * nb, lda: nb,
                                              b: k + offset, ldb: width, c: target + offset + first * width, ldc: width)
                        case let (.bf16(_, k, _), .fp32(target)):   // dS16 holds scale·dS
                            MatMul.gemmBF16Serial(m: tile.count, n: dh, k: end, a: dS16! + first * nb, lda: nb,
                                                  b: k + offset, ldb: width, c: target + offset + first * width, ldc: width)
                        case let (.bf16(_, k, _), .bf16(target)):
                            MatMul.gemmBF16Serial(m: tile.count, n: dh, k: end, a: dS16! + first * nb, lda: nb,
                                                  b: k + offset, ldb: width, c: target + offset + first * width, ldc: width)
                        case (.fp32, .bf16): preconditionFailure("BlockAttention: fp32 inputs with a bf16 output")
                        }
                    }
                }
            }
        }
        addPartials(partials, chunks: chunks, count: biasCount, into: dBias)
    }

    static func checkWorkspace(_ inputs: Inputs, _ enough: Bool, _ workspace16: BFloat16Buffer?, groups: Int, nb: Int, dh: Int) {
        precondition(enough, "BlockAttention: workspace too small")
        if case .bf16 = inputs {
            precondition((workspace16?.count ?? 0) >= statisticsWorkspaceCountBF16(groups: groups, blockLength: nb, headSize: dh),
                         "BlockAttention: bf16 workspace too small")
        }
    }

    /// S[tile, 0 ..< end] = q[tile]·k[0 ..< end]ᵀ into rows `tile` of the Nb×Nb block `s` (bf16: from the block's
    /// kᵀ [Dh, Nb]); the softmax applies 1/√Dh (oneDNN runs these products 20× slower with alpha ≠ 1 and a
    /// strided A here).
    @inline(__always)
    static func scores(_ inputs: Inputs, _ tile: Range<Int>, end: Int, offset: Int, width: Int, dh: Int,
                       into s: UnsafeMutablePointer<Float>, nb: Int, kT: UnsafeMutablePointer<BFloat16>?) {
        let first = tile.lowerBound
        switch inputs {
        case let .fp32(q, k, _):
            MatMul.gemmSerial(transB: true, m: tile.count, n: end, k: dh, a: q + offset + first * width,
                              lda: width, b: k + offset, ldb: width, c: s + first * nb, ldc: nb)
        case let .bf16(q, _, _):
            MatMul.gemmBF16Serial(m: tile.count, n: end, k: dh, a: q + offset + first * width,
                                  lda: width, b: kT!, ldb: nb, c: s + first * nb, ldc: nb)
        }
    }

    @inline(__always)
    static func softmax(_ s: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, statistics: UnsafeMutablePointer<Float>,
                        p16: UnsafeMutablePointer<BFloat16>?, tile: Range<Int>, end: Int, nb: Int, scale: Float, causal: Bool,
                        recompute: Bool) {
        let first = tile.lowerBound
        let bits16 = p16.map { UnsafeMutableRawPointer($0 + first * nb).assumingMemoryBound(to: UInt16.self) }
        vt_softmax_tile(s + first * nb, bias + first * nb, statistics + 2 * first, bits16, first, tile.count, end, nb,
                        scale, causal ? 1 : 0, recompute ? 1 : 0)
    }

    /// target[c] = alpha·M[from ..< Nb, c]ᵀ·B[from ..< Nb] with M = P and B = dO (dV), or M = dS and B = q (dK).
    @inline(__always)
    static func columnProduct(_ inputs: Inputs, dOut: Operand, target: Output, probabilities: Bool,
                              p: UnsafeMutablePointer<Float>, dS: UnsafeMutablePointer<Float>,
                              p16: UnsafeMutablePointer<BFloat16>?, dS16: UnsafeMutablePointer<BFloat16>?,
                              tile: Range<Int>, from: Int, rows: Int, offset: Int, width: Int, dh: Int, nb: Int, alpha: Float) {
        let c = tile.lowerBound
        switch (inputs, dOut) {
        case let (.fp32(q, _, _), .fp32(g)):
            guard case .fp32(let out) = target else { preconditionFailure("BlockAttention: fp32 inputs with a bf16 output") }
            let a = (probabilities ? p : dS) + from * nb + c, b = probabilities ? g : q
            MatMul.gemmSerial(transA: true, m: tile.count, n: dh, k: rows, alpha: alpha, a: a, lda: nb,
                              b: b + offset + from * width, ldb: width, c: out + offset + c * width, ldc: width)
        case let (.bf16(q, _, _), .bf16(g)):   // alpha 1: dS16 holds scale·dS
            let a = (probabilities ? p16! : dS16!) + from * nb + c, b = probabilities ? g : q
            switch target {
            case .fp32(let out):
                MatMul.gemmBF16Serial(transA: true, m: tile.count, n: dh, k: rows, a: a, lda: nb,
                                      b: b + offset + from * width, ldb: width, c: out + offset + c * width, ldc: width)
            case .bf16(let out):
                MatMul.gemmBF16Serial(transA: true, m: tile.count, n: dh, k: rows, a: a, lda: nb,
                                      b: b + offset + from * width, ldb: width, c: out + offset + c * width, ldc: width)
            }
        default: preconditionFailure("BlockAttention.backward: inputs and output gradient of mixed precision")
        }
    }
}
