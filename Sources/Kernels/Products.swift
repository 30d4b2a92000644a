// Products: the inputs and outputs of matrix products in either precision (docs/design.md §8), so code
// above Kernels names *what* a product reads and writes and Kernels decides *how* (OpenBLAS sgemm for fp32,
// oneDNN for bf16).
//
//   Operand            one input of a product: fp32 values, or bf16 values
//   Destination        where a product writes: fp32 values, or bf16 values (outputs that only feed products)
//   ProductWeights     the flat parameter buffer as product inputs: fp32, or the step's bf16 rounding of it
//   ProductActivation  a saved activation that only products read: an fp32 buffer, or a bf16 one
//   ProductScratch     what bf16 backward products need besides their operands (the rounded output
//                      gradient and the bias gradient's per-chunk partials); nothing in fp32 runs
//
// Leaves out: the products themselves (Linear, MatMul, BlockAttention).

/// One input of a matrix product in the run's precision: fp32 values for OpenBLAS, or bf16 values for oneDNN.
public enum Operand {
    case fp32(UnsafePointer<Float>)
    case bf16(UnsafePointer<BFloat16>)

    /// The operand `count` values further on.
    @inline(__always)
    public func advanced(by count: Int) -> Operand {
        switch self {
        case .fp32(let x): return .fp32(x + count)
        case .bf16(let x): return .bf16(x + count)
        }
    }

    public var precision: Precision {
        switch self {
        case .fp32: return .fp32
        case .bf16: return .bf16
        }
    }
}

/// Where a product writes: fp32 values, or (bf16 runs, when only products read the result) bf16 values.
public enum Destination {
    case fp32(UnsafeMutablePointer<Float>)
    case bf16(UnsafeMutablePointer<BFloat16>)
}

/// The parameters as product inputs: `values` (fp32, the master copy) and, in bf16 runs, `rounded` (their
/// bf16 rounding, remade once per optimizer step). `weight(offset)` is the tensor at `offset` in the run's
/// precision; everything that is not a product input (biases, norms, embeddings) reads `values`.
public struct ProductWeights {
    public let values: UnsafeMutablePointer<Float>
    public let rounded: UnsafeMutablePointer<BFloat16>?

    public init(values: UnsafeMutablePointer<Float>, rounded: UnsafeMutablePointer<BFloat16>?) {
        self.values = values
        self.rounded = rounded
    }

    @inline(__always)
    public func weight(_ offset: Int) -> Operand {
        if let rounded { return .bf16(UnsafePointer(rounded + offset)) }
        return .fp32(UnsafePointer(values + offset))
    }
}

/// A saved activation that only products read: an fp32 buffer, or (bf16) a bf16 one of half the bytes.
/// Producers write it either directly (`destination`, when a product computes it) or through fp32 staging
/// (`staged(in:)` then `commit`, when fp32 code computes it: LayerNorm, a ReLU, a reordering).
public final class ProductActivation {
    public let fp32: FloatBuffer?
    public let bf16: BFloat16Buffer?

    public init(count: Int, precision: Precision) {
        fp32 = precision == .fp32 ? FloatBuffer(count: count) : nil
        bf16 = precision == .bf16 ? BFloat16Buffer(count: count) : nil
    }

    /// An fp32 activation in a buffer allocated elsewhere.
    public init(fp32: FloatBuffer) { self.fp32 = fp32; bf16 = nil }
    /// A bf16 activation in a buffer allocated elsewhere.
    public init(bf16: BFloat16Buffer) { fp32 = nil; self.bf16 = bf16 }

    public var precision: Precision { fp32 == nil ? .bf16 : .fp32 }
    public var count: Int { fp32?.count ?? bf16!.count }
    public var bytes: Int { fp32?.bytes ?? bf16!.bytes }

    /// The values as a product input.
    public var operand: Operand { fp32.map { .fp32($0.pointer) } ?? .bf16(bf16!.pointer) }

    /// The buffer as a product's output.
    public var destination: Destination { fp32.map { .fp32($0.pointer) } ?? .bf16(bf16!.pointer) }

    /// Where fp32 code writes the values: the fp32 buffer itself, or (bf16) `staging`, then `commit`.
    public func staged(in staging: FloatBuffer) -> UnsafeMutablePointer<Float> { fp32?.pointer ?? staging.pointer }

    /// bf16: rounds the `count` staged values into the bf16 buffer. fp32: nothing (already in place).
    public func commit(_ staged: UnsafeMutablePointer<Float>, count: Int) {
        if let bf16 { BFloat16.convert(staged, to: bf16.pointer, count: count) }
    }
}

/// What bf16 backward products need besides their operands: `outputGradient16`, the bf16 rounding of a
/// product's fp32 output gradient (read by both backward products), and `biasPartials`, the per-chunk
/// column sums of `Linear.roundRows`. Empty in fp32 runs.
public final class ProductScratch {
    public let outputGradient16: BFloat16Buffer?
    public let biasPartials: FloatBuffer?

    /// `gradientCount`: values of the largest output gradient rounded at once; `biasColumns`: the widest
    /// bias whose gradient is summed while rounding.
    public init(precision: Precision, gradientCount: Int, biasColumns: Int) {
        outputGradient16 = precision == .bf16 ? BFloat16Buffer(count: gradientCount) : nil
        biasPartials = precision == .bf16 ? FloatBuffer(count: Linear.roundingWorkspaceCount(columns: biasColumns)) : nil
    }

    /// Buffers allocated elsewhere (an activation plan): both nil in fp32 runs.
    public init(outputGradient16: BFloat16Buffer?, biasPartials: FloatBuffer?) {
        self.outputGradient16 = outputGradient16
        self.biasPartials = biasPartials
    }

    public var bytes: Int { (outputGradient16?.bytes ?? 0) + (biasPartials?.bytes ?? 0) }

    /// An fp32 output gradient as the input of products of `precision`: itself (fp32), or its bf16 rounding
    /// in `outputGradient16` (valid until the next rounding).
    public func operand(_ values: UnsafePointer<Float>, count: Int, precision: Precision) -> Operand {
        guard precision == .bf16 else { return .fp32(values) }
        guard let outputGradient16 else { preconditionFailure("ProductScratch: bf16 products need bf16 scratch") }
        BFloat16.convert(values, to: outputGradient16.pointer, count: count)
        return .bf16(outputGradient16.pointer)
    }
}

/// An fp32 activation computed by fp32 code, with (bf16 runs) a bf16 rounding that products read instead.
public struct RoundedActivation {
    public let values: FloatBuffer
    public let rounded: BFloat16Buffer?

    public init(values: FloatBuffer, rounded: BFloat16Buffer?) { self.values = values; self.rounded = rounded }

    /// The product input after `values` changed: rounds the first `count` values (bf16); fp32 reads them as they are.
    @discardableResult
    public func round(count: Int) -> Operand {
        if let rounded { BFloat16.convert(values.pointer, to: rounded.pointer, count: count) }
        return operand
    }

    /// The product input (as last rounded).
    public var operand: Operand { rounded.map { .bf16($0.pointer) } ?? .fp32(values.pointer) }
}
