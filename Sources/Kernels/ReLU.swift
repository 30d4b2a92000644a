// ReLU: out = max(0, x); backward dx (+)= dOut where x > 0.

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
