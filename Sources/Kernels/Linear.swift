// Linear: y = x·W + b with W stored [in, out] (docs/design.md §2), forward and backward.
//
//   forward   out[N, O] (=|+=) in[N, I] · weight[I, O] (+ bias[O])
//   backward  dWeight[I, O] += inᵀ · dOut;  dBias[O] += Σ_rows dOut;  dIn[N, I] (=|+=) dOut · weightᵀ

public enum Linear {
    public static func forward(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               rows: Int, inputs: Int, outputs: Int, accumulate: Bool = false) {
        MatMul.gemm(m: rows, n: outputs, k: inputs, a: input, lda: inputs, b: weight, ldb: outputs,
                    beta: accumulate ? 1 : 0, c: out, ldc: outputs)
        if let bias { addRowVector(out, bias, rows: rows, columns: outputs) }
    }

    /// `dInput` may be nil when the input is not differentiable (e.g. a gathered embedding handled
    /// elsewhere). `accumulateInput` adds to dInput instead of overwriting it.
    public static func backward(dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>,
                                dBias: UnsafeMutablePointer<Float>?, dOut: UnsafePointer<Float>,
                                input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                rows: Int, inputs: Int, outputs: Int, accumulateInput: Bool = false) {
        MatMul.gemm(transA: true, m: inputs, n: outputs, k: rows, a: input, lda: inputs, b: dOut,
                    ldb: outputs, beta: 1, c: dWeight, ldc: outputs)
        if let dBias { columnSums(dOut, rows: rows, columns: outputs, into: dBias) }
        if let dInput {
            MatMul.gemm(transB: true, m: rows, n: inputs, k: outputs, a: dOut, lda: outputs, b: weight,
                        ldb: outputs, beta: accumulateInput ? 1 : 0, c: dInput, ldc: inputs)
        }
    }

    /// out[r, :] += vector for every row.
    public static func addRowVector(_ out: UnsafeMutablePointer<Float>, _ vector: UnsafePointer<Float>,
                                    rows: Int, columns: Int) {
        Parallel.rows(rows, grain: 256) { range in
            for r in range {
                let row = out + r * columns
                for c in 0..<columns { row[c] += vector[c] }
            }
        }
    }

    /// into[c] += Σ_r x[r, c], summed in row order for each column (deterministic; split by columns).
    public static func columnSums(_ x: UnsafePointer<Float>, rows: Int, columns: Int,
                                  into: UnsafeMutablePointer<Float>) {
        let grain = 64
        Parallel.rows((columns + grain - 1) / grain, grain: 1) { blocks in
            let start = blocks.lowerBound * grain, end = min(columns, blocks.upperBound * grain)
            for r in 0..<rows {
                let row = x + r * columns
                for c in start..<end { into[c] += row[c] }
            }
        }
    }
}
