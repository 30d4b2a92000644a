// Linear with bf16 product inputs (DESIGN.md §8): the same y = x·W + b as `Linear`, with x and W given as
// bf16 (a saved bf16 activation and the step's bf16 weight copy) and every output, bias and gradient fp32.
//
//   forward   out[N, O] (=|+=) in16[N, I] · weight16[I, O] (+ bias[O])
//   backward  dOut16 = bf16(dOut);  dWeight += in16ᵀ · dOut16;  dBias += Σ_rows dOut (fp32);
//             dIn (=|+=) dOut16 · weight16ᵀ

extension Linear {
    public static func forward(out: UnsafeMutablePointer<Float>, input: UnsafePointer<BFloat16>,
                               weight: UnsafePointer<BFloat16>, bias: UnsafePointer<Float>?,
                               rows: Int, inputs: Int, outputs: Int, accumulate: Bool = false) {
        MatMul.gemmBF16(m: rows, n: outputs, k: inputs, a: input, lda: inputs, b: weight, ldb: outputs,
                        accumulate: accumulate, c: out, ldc: outputs)
        if let bias { addRowVector(out, bias, rows: rows, columns: outputs) }
    }

    /// `dOutScratch` holds at least rows·outputs bf16 values: the rounded output gradient both products read.
    public static func backward(dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>,
                                dBias: UnsafeMutablePointer<Float>?, dOut: UnsafePointer<Float>,
                                input: UnsafePointer<BFloat16>, weight: UnsafePointer<BFloat16>,
                                rows: Int, inputs: Int, outputs: Int, accumulateInput: Bool = false,
                                dOutScratch: BFloat16Buffer) {
        precondition(dOutScratch.count >= rows * outputs, "Linear.backward: bf16 scratch too small")
        let dOut16 = dOutScratch.pointer
        BFloat16.convert(dOut, to: dOut16, count: rows * outputs)
        MatMul.gemmBF16(transA: true, m: inputs, n: outputs, k: rows, a: input, lda: inputs, b: dOut16,
                        ldb: outputs, accumulate: true, c: dWeight, ldc: outputs)
        if let dBias { columnSums(dOut, rows: rows, columns: outputs, into: dBias) }
        if let dInput {
            MatMul.gemmBF16(transB: true, m: rows, n: inputs, k: outputs, a: dOut16, lda: outputs, b: weight,
                            ldb: outputs, accumulate: accumulateInput, c: dInput, ldc: inputs)
        }
    }
}
