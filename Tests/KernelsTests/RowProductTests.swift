// RowProduct: equal to the Double oracle within fp32 rounding, and every row bitwise independent of how many
// rows share the call and where it sits among them (the property the sampler relies on), in fp32 and bf16.

import Testing
@testable import Kernels

@Suite struct RowProductTests {
    func values(_ count: Int, seed: UInt64) -> [Float] {
        var generator = Xoshiro256(seed: seed)
        return (0..<count).map { _ in Float(generator.nextUniform() * 2 - 1) }
    }

    @Test(.enabled(if: MatMul.bf16ProductsAvailable, Comment(rawValue: MatMul.bf16UnavailableReason)), arguments: [(8, 8), (72, 64), (512, 512), (24, 256), (96, 100)])
    func matchesTheOracleAndEveryRowIsBatchIndependent(inputs: Int, outputs: Int) {
        let rows = 13
        let x = values(rows * inputs, seed: 1), w = values(inputs * outputs, seed: 2), b = values(outputs, seed: 3)
        let start = values(rows * outputs, seed: 4)
        var all = start, oracle = start
        RowProduct.forward(out: &all, input: x, weight: w, bias: b, rows: rows, inputs: inputs, outputs: outputs, accumulate: true)
        RowProduct.naive(out: &oracle, input: x, ldx: inputs, weight: w, bias: b, rows: rows, inputs: inputs, outputs: outputs, accumulate: true)
        for i in all.indices { #expect(abs(all[i] - oracle[i]) <= Float(inputs + 2) * 1.2e-7 * (abs(oracle[i]) + Float(inputs).squareRoot())) }
        // Row r alone, and rows r..<r+3 as a group, give the same bits as row r of the 13-row call.
        for r in 0..<rows {
            var one = Array(start[(r * outputs)..<((r + 1) * outputs)])
            x.withUnsafeBufferPointer { x in
                RowProduct.forward(out: &one, input: x.baseAddress! + r * inputs, weight: w, bias: b, rows: 1, inputs: inputs, outputs: outputs, accumulate: true)
            }
            #expect(one == Array(all[(r * outputs)..<((r + 1) * outputs)]), "row \(r) alone differs")
        }
        let x16 = x.map(BFloat16.init), w16 = w.map(BFloat16.init)
        var many = [Float](repeating: 0, count: rows * outputs), single = [Float](repeating: 0, count: outputs)
        RowProduct.forward(out: &many, input: x16, weight: w16, bias: nil, rows: rows, inputs: inputs, outputs: outputs)
        x16.withUnsafeBufferPointer { x16 in
            RowProduct.forward(out: &single, input: x16.baseAddress! + 5 * inputs, weight: w16, bias: nil, rows: 1, inputs: inputs, outputs: outputs)
        }
        #expect(single == Array(many[(5 * outputs)..<(6 * outputs)]), "bf16 row 5 alone differs")
        // bf16 products are exact in fp32: the oracle on the rounded values bounds the sums' rounding alone.
        var oracle16 = [Float](repeating: 0, count: rows * outputs)
        RowProduct.naive(out: &oracle16, input: x16.map(\.float), ldx: inputs, weight: w16.map(\.float), bias: nil, rows: rows,
                         inputs: inputs, outputs: outputs, accumulate: false)
        for i in many.indices { #expect(abs(many[i] - oracle16[i]) <= Float(inputs + 2) * 1.2e-7 * Float(inputs).squareRoot()) }
    }
}
