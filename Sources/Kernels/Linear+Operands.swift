// Linear in the run's precision: the same y = x·W + b whether the operands are fp32 (OpenBLAS, Linear.swift)
// or bf16 (oneDNN, Linear+BFloat16.swift). The model calls these; the precision-specific functions stay as
// what they dispatch to (and as what the kernel tests hold against each other).
//
//   forward   out[N, O] (=|+=) input[N, I] · weight[I, O] (+ bias[O])            into fp32
//             out[N, O]  =     input[N, I] · weight[I, O] (+ bias[O]) (then ReLU) into a ProductActivation
//   backward  dWeight += inputᵀ·dOut;  dBias += Σ_rows dOut;  dInput (=|+=) dOut·weightᵀ
//             (bf16: dOut rounded once into `scratch`, read by both products; the bias gradient from fp32 dOut)
//
// Operands of one call share a precision; mixing them is a programming error (precondition).

extension Linear {
    /// out (=|+=) input·weight (+ bias), fp32 output.
    public static func forward(out: UnsafeMutablePointer<Float>, input: Operand, weight: Operand, bias: UnsafePointer<Float>?,
                               rows: Int, inputs: Int, outputs: Int, accumulate: Bool = false) {
        switch (input, weight) {
        case let (.fp32(x), .fp32(w)):
            forward(out: out, input: x, weight: w, bias: bias, rows: rows, inputs: inputs, outputs: outputs, accumulate: accumulate)
        case let (.bf16(x), .bf16(w)):
            forward(out: out, input: x, weight: w, bias: bias, rows: rows, inputs: inputs, outputs: outputs, accumulate: accumulate)
        default: preconditionFailure("Linear.forward: operands of mixed precision")
        }
    }

    /// target = input·weight (+ bias) (then ReLU if `relu`): an activation only products read. fp32: sgemm,
    /// the bias, then the ReLU in place; bf16: one oneDNN product with bias and ReLU in its epilogue, stored
    /// as bf16.
    public static func forward(into target: ProductActivation, input: Operand, weight: Operand, bias: UnsafePointer<Float>?,
                               relu: Bool = false, rows: Int, inputs: Int, outputs: Int) {
        switch (input, weight, target.destination) {
        case let (.fp32(x), .fp32(w), .fp32(out)):
            forward(out: out, input: x, weight: w, bias: bias, rows: rows, inputs: inputs, outputs: outputs)
            if relu { ReLU.forwardInPlace(out, count: rows * outputs) }
        case let (.bf16(x), .bf16(w), .bf16(out)):
            forward(out: out, input: x, weight: w, bias: bias, relu: relu, rows: rows, inputs: inputs, outputs: outputs)
        default: preconditionFailure("Linear.forward: operands of mixed precision")
        }
    }

    /// dWeight += inputᵀ·dOut, dBias += Σ dOut, dInput (=|+=) dOut·weightᵀ (`dInput` nil: not wanted).
    /// Returns the output gradient as the products read it: `dOut` itself (fp32), or its bf16 rounding in
    /// `scratch.outputGradient16` (valid until the next bf16 backward), for a caller that forms dInput itself.
    @discardableResult
    public static func backward(dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>,
                                dBias: UnsafeMutablePointer<Float>?, dOut: UnsafePointer<Float>, input: Operand, weight: Operand,
                                rows: Int, inputs: Int, outputs: Int, accumulateInput: Bool = false,
                                scratch: ProductScratch) -> Operand {
        switch (input, weight) {
        case let (.fp32(x), .fp32(w)):
            backward(dInput: dInput, dWeight: dWeight, dBias: dBias, dOut: dOut, input: x, weight: w, rows: rows,
                     inputs: inputs, outputs: outputs, accumulateInput: accumulateInput)
            return .fp32(dOut)
        case let (.bf16(x), .bf16(w)):
            guard let rounded = scratch.outputGradient16 else { preconditionFailure("Linear.backward: bf16 operands need bf16 scratch") }
            backward(dInput: dInput, dWeight: dWeight, dBias: dBias, dOut: dOut, input: x, weight: w, rows: rows,
                     inputs: inputs, outputs: outputs, accumulateInput: accumulateInput, dOutScratch: rounded,
                     sums: scratch.biasPartials)
            return .bf16(rounded.pointer)
        default: preconditionFailure("Linear.backward: operands of mixed precision")
        }
    }

    /// Backward of a bias-free product whose output gradient is already in the product's precision (attention's
    /// dq, dk, dv): dWeight += inputᵀ·dOut;  dInput (=|+=) dOut·weightᵀ.
    public static func backward(dInput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dOut: Operand,
                                input: Operand, weight: Operand, rows: Int, inputs: Int, outputs: Int,
                                accumulateInput: Bool = false) {
        switch (dOut, input, weight) {
        case let (.fp32(g), .fp32(x), .fp32(w)):
            backward(dInput: dInput, dWeight: dWeight, dBias: nil, dOut: g, input: x, weight: w, rows: rows, inputs: inputs,
                     outputs: outputs, accumulateInput: accumulateInput)
        case let (.bf16(g), .bf16(x), .bf16(w)):
            backward(dInput: dInput, dWeight: dWeight, dOut: g, input: x, weight: w, rows: rows, inputs: inputs,
                     outputs: outputs, accumulateInput: accumulateInput)
        default: preconditionFailure("Linear.backward: operands of mixed precision")
        }
    }
}

extension MatMul {
    /// C = op(A)·op(B) with A and B in one precision (C fp32): `gemm` or `gemmBF16`, cut by shape alone.
    public static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, a: Operand, lda: Int,
                            b: Operand, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        switch (a, b) {
        case let (.fp32(x), .fp32(y)):
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: x, lda: lda, b: y, ldb: ldb, c: c, ldc: ldc)
        case let (.bf16(x), .bf16(y)):
            gemmBF16(transA: transA, transB: transB, m: m, n: n, k: k, a: x, lda: lda, b: y, ldb: ldb, c: c, ldc: ldc)
        default: preconditionFailure("MatMul.gemm: operands of mixed precision")
        }
    }
}

extension ReLU {
    /// dInput = dOut·[x > 0] with x the saved ReLU output (relu(x) > 0 exactly where x > 0), in either precision.
    public static func backward(dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, output: Operand, count: Int) {
        switch output {
        case .fp32(let x): backward(dInput: dInput, dOut: dOut, input: x, count: count)
        case .bf16(let x): backward(dInput: dInput, dOut: dOut, input: x, count: count)
        }
    }
}
