// RowProduct: out (+)= x·W + b computed row by row in a fixed order (C: vt_rows_product_*), so each row's
// result is bitwise the same whatever the number of rows, the row's place among them, or the number of
// workers. The cached sampler's per-position products use it: BLAS kernels handle a product's edge rows
// with other code than full tiles (OpenBLAS 0.3.21 here: rows past the last full 12-row tile differ in the
// last bits), so with them a sample would depend, rarely but really, on the batch it was drawn in.
// Workers split the output columns in 64-column tiles, which does not change any element's sum.
// `naive` (Double accumulation) is the test oracle.

import _KernelShims

public enum RowProduct {
    /// fp32: x [rows, inputs] with row stride `ldx`, W [inputs, outputs], out [rows, outputs].
    public static func forward(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, ldx: Int? = nil,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, rows: Int, inputs: Int, outputs: Int,
                               accumulate: Bool = false) {
        split(outputs: outputs, rows: rows, inputs: inputs) { columns in
            vt_rows_product_f32(out + columns.lowerBound, input, ldx ?? inputs, weight + columns.lowerBound,
                                bias.map { $0 + columns.lowerBound }, rows, inputs, columns.count, outputs, accumulate ? 1 : 0)
        }
    }

    /// bf16 input and weights (fp32 sums), as the bf16 sampler's products.
    public static func forward(out: UnsafeMutablePointer<Float>, input: UnsafePointer<BFloat16>, ldx: Int? = nil,
                               weight: UnsafePointer<BFloat16>, bias: UnsafePointer<Float>?, rows: Int, inputs: Int, outputs: Int,
                               accumulate: Bool = false) {
        split(outputs: outputs, rows: rows, inputs: inputs) { columns in
            input.withMemoryRebound(to: UInt16.self, capacity: 1) { x in
                weight.withMemoryRebound(to: UInt16.self, capacity: 1) { w in
                    vt_rows_product_bf16(out + columns.lowerBound, x, ldx ?? inputs, w + columns.lowerBound,
                                         bias.map { $0 + columns.lowerBound }, rows, inputs, columns.count, outputs, accumulate ? 1 : 0)
                }
            }
        }
    }

    /// Column ranges (whole 64-column tiles) for the workers when the product is worth splitting.
    static func split(outputs: Int, rows: Int, inputs: Int, _ body: (Range<Int>) -> Void) {
        let tiles = (outputs + 63) / 64
        guard Parallel.workers > 1, tiles > 1, rows * inputs * outputs >= 1 << 18 else { body(0..<outputs); return }
        Parallel.rows(tiles) { range in body((range.lowerBound * 64)..<min(outputs, range.upperBound * 64)) }
    }

    /// The oracle (Double sums).
    public static func naive(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, ldx: Int, weight: UnsafePointer<Float>,
                             bias: UnsafePointer<Float>?, rows: Int, inputs: Int, outputs: Int, accumulate: Bool) {
        for r in 0..<rows {
            for j in 0..<outputs {
                var sum = Double(bias?[j] ?? 0)
                for p in 0..<inputs { sum += Double(input[r * ldx + p]) * Double(weight[p * outputs + j]) }
                out[r * outputs + j] = Float((accumulate ? Double(out[r * outputs + j]) : 0) + sum)
            }
        }
    }
}
