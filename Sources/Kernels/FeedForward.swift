// FeedForward: the backward of a layer's feed-forward block, output = input' + relu(x·W1 + b1)·W2 + b2
// (docs/design.md §2), from d(output) to d(x), in either precision. (Forward is two `Linear` calls in the
// model, because a model-axis shard sums the row-split W2 product across ranks between them.)
//
//   x [N, D] (the FFN's LayerNorm output), hidden = relu(x·W1 + b1) [N, F] (saved), W1 [D, F], W2 [F, D]
//   fp32  dHidden = dOutput·W2ᵀ ⊙ [hidden > 0];  dW2 += hiddenᵀ·dOutput;  db2 += Σ dOutput;
//         dW1 += xᵀ·dHidden;  db1 += Σ dHidden;  dX = dHidden·W1ᵀ
//   bf16  the same without an [N, F] fp32 gradient: dW2 and db2 from bf16(dOutput), then per block of
//         `blockRows` rows dHidden (fp32), its mask, bf16 rounding and b1's sums in one pass, dW1 and dX
//
// Leaves out: LayerNorm and the residual (the model), the model axis's sum of dX (the model).

public enum FeedForward {
    /// Rows per block of the bf16 backward (a fixed number: results do not depend on the machine).
    public static let blockRows = 2048

    /// W1 and W2 as product inputs, and the four gradients backward accumulates into.
    public struct Parameters {
        public var hiddenWeight: Operand, outputWeight: Operand
        public var hiddenWeightGradient, hiddenBiasGradient, outputWeightGradient, outputBiasGradient: UnsafeMutablePointer<Float>

        public init(hiddenWeight: Operand, outputWeight: Operand, hiddenWeightGradient: UnsafeMutablePointer<Float>,
                    hiddenBiasGradient: UnsafeMutablePointer<Float>, outputWeightGradient: UnsafeMutablePointer<Float>,
                    outputBiasGradient: UnsafeMutablePointer<Float>) {
            self.hiddenWeight = hiddenWeight; self.outputWeight = outputWeight
            self.hiddenWeightGradient = hiddenWeightGradient; self.hiddenBiasGradient = hiddenBiasGradient
            self.outputWeightGradient = outputWeightGradient; self.outputBiasGradient = outputBiasGradient
        }
    }

    /// Scratch: `hiddenGradient` holds dHidden ([N, F] fp32; bf16: one block of `blockRows` rows),
    /// `hiddenGradient16` one block of its bf16 rounding (bf16 only), `products` the bf16 products' scratch.
    public struct Workspace {
        public var hiddenGradient: FloatBuffer
        public var hiddenGradient16: BFloat16Buffer?
        public var products: ProductScratch

        public init(hiddenGradient: FloatBuffer, hiddenGradient16: BFloat16Buffer?, products: ProductScratch) {
            self.hiddenGradient = hiddenGradient; self.hiddenGradient16 = hiddenGradient16; self.products = products
        }

        /// Floats of `hiddenGradient` for `rows` rows of width `hiddenWidth` (at least `minimumWidth`).
        public static func hiddenGradientCount(rows: Int, hiddenWidth: Int, precision: Precision) -> Int {
            (precision == .bf16 ? min(rows, blockRows) : rows) * hiddenWidth
        }
    }

    /// dInput [N, D] = d(x) (overwritten); accumulates the four parameter gradients. `dOutput` [N, D]: d(output).
    public static func backward(dInput: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>, hidden: Operand,
                                input: Operand, parameters w: Parameters, rows: Int, width d: Int, hiddenWidth f: Int,
                                workspace: Workspace) {
        switch (hidden, input) {
        case (.fp32(let saved), _):
            let dHidden = workspace.hiddenGradient.pointer
            Linear.backward(dInput: dHidden, dWeight: w.outputWeightGradient, dBias: w.outputBiasGradient, dOut: dOutput,
                            input: hidden, weight: w.outputWeight, rows: rows, inputs: f, outputs: d, scratch: workspace.products)
            ReLU.backward(dInput: dHidden, dOut: dHidden, input: saved, count: rows * f)
            Linear.backward(dInput: dInput, dWeight: w.hiddenWeightGradient, dBias: w.hiddenBiasGradient, dOut: dHidden,
                            input: input, weight: w.hiddenWeight, rows: rows, inputs: d, outputs: f, scratch: workspace.products)
        case let (.bf16(saved), .bf16(x)):
            guard case .bf16(let w2) = w.outputWeight, case .bf16(let w1) = w.hiddenWeight,
                  let dHidden16 = workspace.hiddenGradient16, let dOutput16 = workspace.products.outputGradient16 else {
                preconditionFailure("FeedForward.backward: bf16 activations need bf16 weights and scratch")
            }
            let dHidden = workspace.hiddenGradient.pointer, sums = workspace.products.biasPartials
            Linear.backward(dInput: nil, dWeight: w.outputWeightGradient, dBias: w.outputBiasGradient, dOut: dOutput, input: saved,
                            weight: w2, rows: rows, inputs: f, outputs: d, dOutScratch: dOutput16, sums: sums)
            for start in stride(from: 0, to: rows, by: blockRows) {
                let count = min(blockRows, rows - start)
                MatMul.gemmBF16(transB: true, m: count, n: f, k: d, a: dOutput16.pointer + start * d, lda: d, b: w2,
                                ldb: d, c: dHidden, ldc: f)
                Linear.roundRows(dHidden, mask: saved + start * f, into: dHidden16, biasGradient: w.hiddenBiasGradient,
                                 rows: count, columns: f, sums: sums)
                MatMul.gemmBF16(transA: true, m: d, n: f, k: count, a: x + start * d, lda: d, b: dHidden16.pointer, ldb: f,
                                accumulate: true, c: w.hiddenWeightGradient, ldc: f)
                MatMul.gemmBF16(transB: true, m: count, n: d, k: f, a: dHidden16.pointer, lda: f, b: w1, ldb: f,
                                c: dInput + start * d, ldc: d)
            }
        default: preconditionFailure("FeedForward.backward: activations of mixed precision")
        }
    }
}
