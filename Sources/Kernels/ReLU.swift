// ReLU: out = max(0, x); backward dx (+)= dOut where x > 0.

import _KernelShims

public enum ReLU {
    public static func forward(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int) {
        Parallel.rows(count, grain: 1 << 14) { range in
            for i in range { out[i] = max(0, input[i]) }
        }
    }

    /// In place: x = max(0, x).
    public static func forwardInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
        forward(out: x, input: x, count: count)
    }

    /// dInput = dOut·[x > 0] (overwrites; dInput may alias dOut).
    public static func backward(dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                input: UnsafePointer<Float>, count: Int) {
        Parallel.rows(count, grain: 1 << 14) { range in
            for i in range { dInput[i] = input[i] > 0 ? dOut[i] : 0 }
        }
    }
}

extension ReLU {
    /// dInput = dOut·[x > 0] where x is the bf16-saved ReLU output (bf16 runs keep only that copy: rounding
    /// keeps the sign, and a positive fp32 value rounds to zero only below 2⁻¹³³, where its gradient is nil).
    public static func backward(dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                input: UnsafePointer<BFloat16>, count: Int) {
        let bits = UnsafeRawPointer(input).assumingMemoryBound(to: UInt16.self)
        Parallel.rows(count, grain: 1 << 14) { range in
            // Positive, +∞ included, NaN not (the C loop vectorises; Sources/_KernelShims).
            vt_relu_backward_bf16(dInput + range.lowerBound, dOut + range.lowerBound, bits + range.lowerBound, range.count)
        }
    }
}
