// Linear with bf16 product inputs (docs/design.md §8): the same y = x·W + b as `Linear`, with x and W given as
// bf16 (a saved bf16 activation and the step's bf16 weight copy) and every output, bias and gradient fp32.
//
//   forward   out[N, O] (=|+=) in16[N, I] · weight16[I, O] (+ bias[O], added by oneDNN); or out16 (+ ReLU)
//   backward  dOut16 = bf16(dOut);  dWeight += in16ᵀ · dOut16;  dBias += Σ_rows dOut (fp32);
//             dIn (=|+=) dOut16 · weight16ᵀ

import _KernelShims

extension Linear {
    static let roundingChunks = 8

    /// Floats of workspace `roundRows` needs for its per-chunk column sums.
    public static func roundingWorkspaceCount(columns: Int) -> Int { roundingChunks * columns }

    /// One pass over a product's fp32 output gradient [rows, columns]: `target` = its bf16 rounding (zeroed
    /// where `mask`, a bf16 ReLU output, is not positive) and, if `biasGradient` is given, += its column sums,
    /// summed per fixed row chunk and then chunk by chunk (deterministic on any worker count). `sums` holds
    /// `roundingWorkspaceCount(columns:)` floats (preallocated by the caller; allocated here when nil).
    public static func roundRows(_ dOut: UnsafePointer<Float>, mask: UnsafePointer<BFloat16>?, into target: BFloat16Buffer,
                                 biasGradient: UnsafeMutablePointer<Float>?, rows: Int, columns: Int,
                                 sums: FloatBuffer? = nil) {
        precondition(target.count >= rows * columns, "Linear.roundRows: bf16 scratch too small")
        let chunks = min(roundingChunks, max(1, rows))
        let workspace = biasGradient == nil ? nil : (sums ?? FloatBuffer(count: roundingWorkspaceCount(columns: columns)))
        precondition(workspace.map { $0.count >= chunks * columns } ?? true, "Linear.roundRows: sums workspace too small")
        let partials = workspace?.pointer
        partials?.update(repeating: 0, count: chunks * columns)
        let maskBits = mask.map { UnsafeRawPointer($0).assumingMemoryBound(to: UInt16.self) }
        let out = UnsafeMutableRawPointer(target.pointer).assumingMemoryBound(to: UInt16.self)
        Parallel.chunks(rows, chunks: chunks) { chunk, range in
            vt_round_rows_with_column_sums(dOut + range.lowerBound * columns, maskBits.map { $0 + range.lowerBound * columns },
                                           out + range.lowerBound * columns, partials.map { $0 + chunk * columns },
                                           range.count, columns)
        }
        if let biasGradient, let partials {
            for chunk in 0..<chunks {
                let partial = partials + chunk * columns
                for c in 0..<columns { biasGradient[c] += partial[c] }
            }
        }
    }
    public static func forward(out: UnsafeMutablePointer<Float>, input: UnsafePointer<BFloat16>,
                               weight: UnsafePointer<BFloat16>, bias: UnsafePointer<Float>?,
                               rows: Int, inputs: Int, outputs: Int, accumulate: Bool = false) {
        MatMul.gemmBF16(m: rows, n: outputs, k: inputs, a: input, lda: inputs, b: weight, ldb: outputs,
                        accumulate: accumulate, bias: bias, c: out, ldc: outputs)
    }

    /// out16[N, O] = bf16(in16·weight16 (+ bias) (then ReLU)), for outputs that only feed products.
    public static func forward(out: UnsafeMutablePointer<BFloat16>, input: UnsafePointer<BFloat16>,
                               weight: UnsafePointer<BFloat16>, bias: UnsafePointer<Float>?, relu: Bool = false,
                               rows: Int, inputs: Int, outputs: Int) {
        MatMul.gemmBF16(m: rows, n: outputs, k: inputs, a: input, lda: inputs, b: weight, ldb: outputs,
                        bias: bias, relu: relu, c: out, ldc: outputs)
    }

    /// Backward of a bias-free product whose output gradient is already bf16 (dq, dk, dv of attention):
    /// dWeight += in16ᵀ·dOut16;  dIn (=|+=) dOut16·weight16ᵀ.
    public static func backward(dInput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
                                dOut: UnsafePointer<BFloat16>, input: UnsafePointer<BFloat16>,
                                weight: UnsafePointer<BFloat16>, rows: Int, inputs: Int, outputs: Int,
                                accumulateInput: Bool = false) {
        MatMul.gemmBF16(transA: true, m: inputs, n: outputs, k: rows, a: input, lda: inputs, b: dOut,
                        ldb: outputs, accumulate: true, c: dWeight, ldc: outputs)
        MatMul.gemmBF16(transB: true, m: rows, n: inputs, k: outputs, a: dOut, lda: outputs, b: weight,
                        ldb: outputs, accumulate: accumulateInput, c: dInput, ldc: inputs)
    }

    /// `dOutScratch` holds at least rows·outputs bf16 values: the rounded output gradient both products read;
    /// `sums`, the bias gradient's partials (`roundingWorkspaceCount`).
    public static func backward(dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>,
                                dBias: UnsafeMutablePointer<Float>?, dOut: UnsafePointer<Float>,
                                input: UnsafePointer<BFloat16>, weight: UnsafePointer<BFloat16>,
                                rows: Int, inputs: Int, outputs: Int, accumulateInput: Bool = false,
                                dOutScratch: BFloat16Buffer, sums: FloatBuffer? = nil) {
        let dOut16 = dOutScratch.pointer
        roundRows(dOut, mask: nil, into: dOutScratch, biasGradient: dBias, rows: rows, columns: outputs, sums: sums)
        MatMul.gemmBF16(transA: true, m: inputs, n: outputs, k: rows, a: input, lda: inputs, b: dOut16,
                        ldb: outputs, accumulate: true, c: dWeight, ldc: outputs)
        if let dInput {
            MatMul.gemmBF16(transB: true, m: rows, n: inputs, k: outputs, a: dOut16, lda: outputs, b: weight,
                            ldb: outputs, accumulate: accumulateInput, c: dInput, ldc: inputs)
        }
    }
}
