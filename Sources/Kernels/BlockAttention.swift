// BlockAttention: block-local multi-head self-attention over a 3-D grid with per-axis relative biases and an
// optional within-block causal mask (docs/design.md §2) — the kernel the model runs. Forward saves each row's
// softmax statistics (maximum and 1/Σexp, 2 floats per (row, head)) instead of the [G, H, Nb, Nb]
// probabilities (docs/design.md §9); backward recomputes a block's scores from q and k into per-chunk scratch,
// and from them and the statistics the probabilities — bitwise those forward used (one C loop,
// vt_softmax_tile, serves both).
//
//   q, k, v, out [G·Nb, H·Dh]  block order (BlockPartition), head-major columns; G = videos × blocks per video
//   bias [H, Nb, Nb]           the expanded relative bias (RelativeBias)
//   statistics [G, H, Nb, 2]   (max, 1/Σexp) of each row
//
// Causal (decoder) blocks are cut into row tiles of `causalTile` rows: row tile r only computes scores
// against keys 0 ..< end(r), so the masked upper triangle beyond the diagonal tiles is never computed, in
// forward or backward (dV and dK by column tiles over the rows that can see them). Unmasked blocks are one
// tile. Both precisions share the loop: fp32 inputs go to OpenBLAS, bf16 inputs (docs/design.md §8) to oneDNN
// with the probabilities and dS rounded to bf16 for the products that read them; statistics, scores,
// softmax, dS and dBias stay fp32 either way.
//
// Oracles (Reference/): StoredProbabilityAttention (the kernel that keeps probabilities) and NaiveAttention
// (Double arithmetic, coordinates). Leaves out: the projections (Linear) and LayerNorm.

import _KernelShims

public enum BlockAttention {
    /// Chunks of blocks whose dBias partials are summed in a fixed order (results independent of workers).
    static let reductionChunks = 8
    /// Row tile of causal blocks (a constant: results depend on the shape only).
    public static let causalTile = 64

    /// The shape of one attention call: `groups` blocks of `blockLength` (Nb) positions, `heads` heads of
    /// `headSize` (Dh), with or without the within-block causal mask.
    public struct Shape: Equatable, Sendable {
        public var groups: Int, blockLength: Int, heads: Int, headSize: Int, causal: Bool

        public init(groups: Int, blockLength: Int, heads: Int, headSize: Int, causal: Bool) {
            self.groups = groups; self.blockLength = blockLength; self.heads = heads; self.headSize = headSize
            self.causal = causal
        }

        /// Columns of q, k, v and out: heads · Dh.
        public var width: Int { heads * headSize }
        /// Rows of q, k, v and out: groups · Nb.
        public var rows: Int { groups * blockLength }
        var scale: Float { 1 / Float(headSize).squareRoot() }
        var chunks: Int { min(reductionChunks, groups) }
        /// Row tiles [start, end) of a block: one tile when unmasked.
        var tiles: [Range<Int>] { BlockAttention.tiles(blockLength, causal: causal) }
        /// The keys row tile `tile` can see: 0 ..< tile's end (causal) or the whole block.
        func keys(_ tile: Range<Int>) -> Int { causal ? tile.upperBound : blockLength }

        /// fp32 workspace of `forward`: one Nb×Nb score block per chunk.
        public var forwardWorkspaceCount: Int { chunks * blockLength * blockLength }
        /// fp32 workspace of `backward`: per chunk a dBias partial, a probability and a dS block.
        public var backwardWorkspaceCount: Int { chunks * (heads + 2) * blockLength * blockLength }
        /// bf16 workspace (bf16 inputs): per chunk the rounded probability and dS blocks and the block's kᵀ and
        /// vᵀ [Dh, Nb] (oneDNN's products with a transposed bf16 B are 20× slower than with a row-major one here).
        public var workspaceCountBF16: Int { chunks * (2 * blockLength * blockLength + 2 * headSize * blockLength) }
    }

    /// q, k, v of one attention layer in the precision of its products.
    public enum Inputs {
        case fp32(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>)
        case bf16(q: UnsafePointer<BFloat16>, k: UnsafePointer<BFloat16>, v: UnsafePointer<BFloat16>)
    }

    /// Scratch of one call: fp32 (`Shape.forwardWorkspaceCount` or `backwardWorkspaceCount` floats) and, for
    /// bf16 inputs, bf16 (`Shape.workspaceCountBF16` values). Preallocated: a training step allocates nothing.
    public struct Workspace {
        public var fp32: FloatBuffer
        public var bf16: BFloat16Buffer?
        public init(fp32: FloatBuffer, bf16: BFloat16Buffer?) { self.fp32 = fp32; self.bf16 = bf16 }
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

    // MARK: - Forward

    /// out[g·Nb + i, h·Dh ..< (h+1)·Dh] = Σ_j softmax_j(q_i·k_j/√Dh + bias[h,i,j] (−∞ for j > i if causal)) v_j;
    /// statistics[(g·H + h)·Nb + i] = (max, 1/Σexp) of that row.
    public static func forward(out: Destination, statistics: UnsafeMutablePointer<Float>, inputs: Inputs,
                               bias: UnsafePointer<Float>, shape: Shape, workspace: Workspace) {
        checkWorkspace(inputs, workspace, fp32: shape.forwardWorkspaceCount, shape: shape)
        Parallel.chunks(shape.groups, chunks: shape.chunks) { chunk, range in
            let scratch = ChunkScratch(forward: workspace, chunk: chunk, shape: shape)
            for group in range {
                for head in 0..<shape.heads {
                    let block = BlockHead(group: group, head: head, shape: shape, bias: bias, statistics: statistics)
                    if case let .bf16(_, k, _) = inputs { block.transpose(k, into: scratch.kT!) }
                    for tile in shape.tiles {
                        block.scores(inputs, tile, scratch)
                        block.normalize(tile, scratch)
                        block.output(into: out, tile, scratch, inputs: inputs)
                    }
                }
            }
        }
    }

    // MARK: - Backward

    /// Overwrites dq, dk, dv [groups·Nb, heads·Dh]; accumulates dBias [heads, Nb, Nb]. Recomputes each block's
    /// probabilities from q, k, `bias` (the forward's expanded relative bias) and `statistics`.
    /// `dOut`: the output gradient in the precision of the products (bf16: rounded by the caller).
    public static func backward(dq: Destination, dk: Destination, dv: Destination, dBias: UnsafeMutablePointer<Float>,
                                dOut: Operand, inputs: Inputs, statistics: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                shape: Shape, workspace: Workspace) {
        checkWorkspace(inputs, workspace, fp32: shape.backwardWorkspaceCount, shape: shape)
        let biasCount = shape.heads * shape.blockLength * shape.blockLength, chunks = shape.chunks
        let partials = workspace.fp32.pointer
        partials.update(repeating: 0, count: chunks * biasCount)
        Parallel.chunks(shape.groups, chunks: chunks) { chunk, range in
            let scratch = ChunkScratch(backward: workspace, chunk: chunk, shape: shape)
            for group in range {
                for head in 0..<shape.heads {
                    let block = BlockHead(group: group, head: head, shape: shape, bias: bias,
                                          statistics: UnsafeMutablePointer(mutating: statistics))
                    let dBiasPartial = partials + chunk * biasCount + head * shape.blockLength * shape.blockLength
                    if case let .bf16(_, k, v) = inputs {
                        block.transpose(k, into: scratch.kT!)
                        block.transpose(v, into: scratch.vT!)
                    }
                    for tile in shape.tiles {
                        block.scores(inputs, tile, scratch)
                        block.recomputeProbabilities(tile, scratch)
                        block.scoreGradient(tile, scratch, inputs: inputs, dOut: dOut, dBias: dBiasPartial)
                    }
                    for tile in shape.tiles {
                        block.valueGradient(into: dv, keys: tile, scratch, inputs: inputs, dOut: dOut)
                        block.keyGradient(into: dk, keys: tile, scratch, inputs: inputs, dOut: dOut)
                    }
                    for tile in shape.tiles { block.queryGradient(into: dq, tile, scratch, inputs: inputs) }
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

    static func checkWorkspace(_ inputs: Inputs, _ workspace: Workspace, fp32: Int, shape: Shape) {
        precondition(workspace.fp32.count >= fp32, "BlockAttention: workspace too small")
        if case .bf16 = inputs {
            precondition((workspace.bf16?.count ?? 0) >= shape.workspaceCountBF16, "BlockAttention: bf16 workspace too small")
        }
    }
}

// MARK: - One (block, head)

/// One chunk's scratch: `p` and (backward) `dS`, Nb×Nb fp32 blocks; with bf16 inputs their bf16 roundings `p16`
/// and `dS16` and the block's kᵀ and vᵀ [Dh, Nb].
struct ChunkScratch {
    let p: UnsafeMutablePointer<Float>, dS: UnsafeMutablePointer<Float>
    let p16, dS16, kT, vT: UnsafeMutablePointer<BFloat16>?

    init(forward workspace: BlockAttention.Workspace, chunk: Int, shape: BlockAttention.Shape) {
        let nb = shape.blockLength
        p = workspace.fp32.pointer + chunk * nb * nb
        dS = p  // unused: forward has no dS
        (p16, dS16, kT, vT) = Self.bf16(workspace, chunk: chunk, shape: shape)
    }

    init(backward workspace: BlockAttention.Workspace, chunk: Int, shape: BlockAttention.Shape) {
        let nb = shape.blockLength
        p = workspace.fp32.pointer + shape.chunks * shape.heads * nb * nb + 2 * chunk * nb * nb  // after the dBias partials
        dS = p + nb * nb
        (p16, dS16, kT, vT) = Self.bf16(workspace, chunk: chunk, shape: shape)
    }

    typealias Halves = (UnsafeMutablePointer<BFloat16>?, UnsafeMutablePointer<BFloat16>?, UnsafeMutablePointer<BFloat16>?,
                        UnsafeMutablePointer<BFloat16>?)

    static func bf16(_ workspace: BlockAttention.Workspace, chunk: Int, shape: BlockAttention.Shape) -> Halves {
        let nb = shape.blockLength, dh = shape.headSize
        guard let base = workspace.bf16.map({ $0.pointer + chunk * (2 * nb * nb + 2 * dh * nb) }) else { return (nil, nil, nil, nil) }
        let kT = base + 2 * nb * nb
        return (base, base + nb * nb, kT, kT + dh * nb)
    }
}

/// Head `head` of block `group`: where it starts in q, k, v, out and their gradients (`offset`), its bias
/// [Nb, Nb] and its statistics [Nb, 2]; the steps of forward and backward on one row tile at a time.
struct BlockHead {
    let shape: BlockAttention.Shape
    let offset: Int
    let bias: UnsafePointer<Float>
    let statistics: UnsafeMutablePointer<Float>
    var nb: Int { shape.blockLength }
    var dh: Int { shape.headSize }
    var width: Int { shape.width }

    init(group: Int, head: Int, shape: BlockAttention.Shape, bias: UnsafePointer<Float>, statistics: UnsafeMutablePointer<Float>) {
        self.shape = shape
        offset = group * shape.blockLength * shape.width + head * shape.headSize
        self.bias = bias + head * shape.blockLength * shape.blockLength
        self.statistics = statistics + (group * shape.heads + head) * shape.blockLength * 2
    }

    /// target[c·Nb + r] = this head's rows of `source` [Nb, Dh] transposed: kᵀ or vᵀ [Dh, Nb].
    @inline(__always)
    func transpose(_ source: UnsafePointer<BFloat16>, into target: UnsafeMutablePointer<BFloat16>) {
        for r in 0..<nb {
            let row = source + offset + r * width
            for c in 0..<dh { target[c * nb + r] = row[c] }
        }
    }

    /// S[tile, keys] = q[tile]·k[keys]ᵀ into rows `tile` of `p` (bf16: from the block's kᵀ); the softmax applies
    /// 1/√Dh (oneDNN runs these products 20× slower with alpha ≠ 1 and a strided A here).
    @inline(__always)
    func scores(_ inputs: BlockAttention.Inputs, _ tile: Range<Int>, _ scratch: ChunkScratch) {
        let first = tile.lowerBound, keys = shape.keys(tile)
        switch inputs {
        case let .fp32(q, k, _):
            MatMul.gemmSerial(transB: true, m: tile.count, n: keys, k: dh, a: q + offset + first * width, lda: width,
                              b: k + offset, ldb: width, c: scratch.p + first * nb, ldc: nb)
        case let .bf16(q, _, _):
            MatMul.gemmBF16Serial(m: tile.count, n: keys, k: dh, a: q + offset + first * width, lda: width,
                                  b: scratch.kT!, ldb: nb, c: scratch.p + first * nb, ldc: nb)
        }
    }

    /// Forward: P[tile] = softmax(S/√Dh + bias) (masked entries exactly 0), its row statistics saved; with bf16
    /// inputs also p16 = bf16(P) for the p·v product.
    @inline(__always)
    func normalize(_ tile: Range<Int>, _ scratch: ChunkScratch) {
        softmaxTile(tile, scratch, p16: scratch.p16, recompute: false)
    }

    /// Backward: P[tile] again from S and the saved statistics — bitwise forward's P.
    @inline(__always)
    func recomputeProbabilities(_ tile: Range<Int>, _ scratch: ChunkScratch) {
        softmaxTile(tile, scratch, p16: nil, recompute: true)
    }

    @inline(__always)
    private func softmaxTile(_ tile: Range<Int>, _ scratch: ChunkScratch, p16: UnsafeMutablePointer<BFloat16>?, recompute: Bool) {
        let first = tile.lowerBound
        let bits16 = p16.map { UnsafeMutableRawPointer($0 + first * nb).assumingMemoryBound(to: UInt16.self) }
        vt_softmax_tile(scratch.p + first * nb, bias + first * nb, statistics + 2 * first, bits16, first, tile.count,
                        shape.keys(tile), nb, shape.scale, shape.causal ? 1 : 0, recompute ? 1 : 0)
    }

    /// out[tile] = P[tile, keys]·v[keys].
    @inline(__always)
    func output(into out: Destination, _ tile: Range<Int>, _ scratch: ChunkScratch, inputs: BlockAttention.Inputs) {
        let first = tile.lowerBound, keys = shape.keys(tile), target = offset + first * width
        switch (inputs, out) {
        case let (.fp32(_, _, v), .fp32(o)):
            MatMul.gemmSerial(m: tile.count, n: dh, k: keys, a: scratch.p + first * nb, lda: nb, b: v + offset, ldb: width,
                              c: o + target, ldc: width)
        case let (.bf16(_, _, v), .fp32(o)):
            MatMul.gemmBF16Serial(m: tile.count, n: dh, k: keys, a: scratch.p16! + first * nb, lda: nb, b: v + offset,
                                  ldb: width, c: o + target, ldc: width)
        case let (.bf16(_, _, v), .bf16(o)):
            MatMul.gemmBF16Serial(m: tile.count, n: dh, k: keys, a: scratch.p16! + first * nb, lda: nb, b: v + offset,
                                  ldb: width, c: o + target, ldc: width)
        case (.fp32, .bf16): preconditionFailure("BlockAttention: fp32 inputs with a bf16 output")
        }
    }

    /// dP[tile, keys] = dO[tile]·v[keys]ᵀ, then dS = P ⊙ (dP − Σ dP·P) in place and dBias += dS; with bf16 inputs
    /// also p16 = bf16(P) and dS16 = bf16(dS/√Dh) for the products that read them.
    @inline(__always)
    func scoreGradient(_ tile: Range<Int>, _ scratch: ChunkScratch, inputs: BlockAttention.Inputs, dOut: Operand,
                       dBias: UnsafeMutablePointer<Float>) {
        let first = tile.lowerBound, keys = shape.keys(tile)
        switch (inputs, dOut) {
        case let (.fp32(_, _, v), .fp32(gradient)):
            MatMul.gemmSerial(transB: true, m: tile.count, n: keys, k: dh, a: gradient + offset + first * width, lda: width,
                              b: v + offset, ldb: width, c: scratch.dS + first * nb, ldc: nb)
        case (.bf16, .bf16(let gradient)):   // with vᵀ row-major
            MatMul.gemmBF16Serial(m: tile.count, n: keys, k: dh, a: gradient + offset + first * width, lda: width,
                                  b: scratch.vT!, ldb: nb, c: scratch.dS + first * nb, ldc: nb)
        default: preconditionFailure("BlockAttention.backward: inputs and output gradient of mixed precision")
        }
        let bits16 = scratch.p16.map { UnsafeMutableRawPointer($0 + first * nb).assumingMemoryBound(to: UInt16.self) }
        let dBits16 = scratch.dS16.map { UnsafeMutableRawPointer($0 + first * nb).assumingMemoryBound(to: UInt16.self) }
        vt_softmax_backward_tile(scratch.p + first * nb, scratch.dS + first * nb, bits16, dBits16, dBias + first * nb,
                                 tile.count, keys, nb, shape.scale)
    }

    /// The rows that see keys `keys`: keys.lowerBound ..< Nb (causal) or all of them.
    @inline(__always)
    func rowsSeeing(_ keys: Range<Int>) -> Int { shape.causal ? keys.lowerBound : 0 }

    /// dV[keys] = P[rows, keys]ᵀ·dO[rows] over the rows that see those keys.
    @inline(__always)
    func valueGradient(into dv: Destination, keys: Range<Int>, _ scratch: ChunkScratch, inputs: BlockAttention.Inputs,
                       dOut: Operand) {
        switch (inputs, dOut) {
        case (.fp32, .fp32(let gradient)):
            transposedProduct(into: dv, keys: keys, a: scratch.p, b: gradient, alpha: 1)
        case (.bf16, .bf16(let gradient)):
            transposedProduct(into: dv, keys: keys, a: scratch.p16!, b: gradient)
        default: preconditionFailure("BlockAttention.backward: inputs and output gradient of mixed precision")
        }
    }

    /// dK[keys] = dS[rows, keys]ᵀ·q[rows]/√Dh over the rows that see those keys (bf16: dS16 holds dS/√Dh).
    @inline(__always)
    func keyGradient(into dk: Destination, keys: Range<Int>, _ scratch: ChunkScratch, inputs: BlockAttention.Inputs,
                     dOut: Operand) {
        switch (inputs, dOut) {
        case (.fp32(let q, _, _), .fp32):
            transposedProduct(into: dk, keys: keys, a: scratch.dS, b: q, alpha: shape.scale)
        case (.bf16(let q, _, _), .bf16):
            transposedProduct(into: dk, keys: keys, a: scratch.dS16!, b: q)
        default: preconditionFailure("BlockAttention.backward: inputs and output gradient of mixed precision")
        }
    }

    /// target[keys] = alpha·A[rows, keys]ᵀ·B[rows] (fp32): A an Nb×Nb block, B this head's rows of q or dO.
    @inline(__always)
    private func transposedProduct(into target: Destination, keys: Range<Int>, a: UnsafeMutablePointer<Float>,
                                   b: UnsafePointer<Float>, alpha: Float) {
        guard case .fp32(let out) = target else { preconditionFailure("BlockAttention: fp32 inputs with a bf16 output") }
        let from = rowsSeeing(keys), c = keys.lowerBound
        MatMul.gemmSerial(transA: true, m: keys.count, n: dh, k: nb - from, alpha: alpha, a: a + from * nb + c, lda: nb,
                          b: b + offset + from * width, ldb: width, c: out + offset + c * width, ldc: width)
    }

    /// The same with bf16 A and B (alpha 1) into an fp32 or a bf16 target.
    @inline(__always)
    private func transposedProduct(into target: Destination, keys: Range<Int>, a: UnsafeMutablePointer<BFloat16>,
                                   b: UnsafePointer<BFloat16>) {
        let from = rowsSeeing(keys), c = keys.lowerBound
        switch target {
        case .fp32(let out):
            MatMul.gemmBF16Serial(transA: true, m: keys.count, n: dh, k: nb - from, a: a + from * nb + c, lda: nb,
                                  b: b + offset + from * width, ldb: width, c: out + offset + c * width, ldc: width)
        case .bf16(let out):
            MatMul.gemmBF16Serial(transA: true, m: keys.count, n: dh, k: nb - from, a: a + from * nb + c, lda: nb,
                                  b: b + offset + from * width, ldb: width, c: out + offset + c * width, ldc: width)
        }
    }

    /// dQ[tile] = dS[tile, keys]·k[keys]/√Dh (bf16: dS16 holds dS/√Dh).
    @inline(__always)
    func queryGradient(into dq: Destination, _ tile: Range<Int>, _ scratch: ChunkScratch, inputs: BlockAttention.Inputs) {
        let first = tile.lowerBound, keys = shape.keys(tile), target = offset + first * width
        switch (inputs, dq) {
        case let (.fp32(_, k, _), .fp32(out)):
            MatMul.gemmSerial(m: tile.count, n: dh, k: keys, alpha: shape.scale, a: scratch.dS + first * nb, lda: nb,
                              b: k + offset, ldb: width, c: out + target, ldc: width)
        case let (.bf16(_, k, _), .fp32(out)):
            MatMul.gemmBF16Serial(m: tile.count, n: dh, k: keys, a: scratch.dS16! + first * nb, lda: nb, b: k + offset,
                                  ldb: width, c: out + target, ldc: width)
        case let (.bf16(_, k, _), .bf16(out)):
            MatMul.gemmBF16Serial(m: tile.count, n: dh, k: keys, a: scratch.dS16! + first * nb, lda: nb, b: k + offset,
                                  ldb: width, c: out + target, ldc: width)
        case (.fp32, .bf16): preconditionFailure("BlockAttention: fp32 inputs with a bf16 output")
        }
    }
}
