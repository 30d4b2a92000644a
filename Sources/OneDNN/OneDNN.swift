// OneDNN: the one Swift module over oneDNN's C API (docs/design.md §8). It creates bf16 × bf16 → fp32 matmul
// primitives, once per shape and calling thread, and runs them on caller-owned memory. Every
// `dnnl_status_t` becomes a `OneDNNError` naming the call.
//
// Threads. Debian's oneDNN is an OpenMP build. Measured here: with 2 OpenMP threads a 256×64×256 bf16
// product ran at 1–2 GFLOP/s (the OpenMP team spins against vt's own workers), with 1 thread at
// 222 GFLOP/s. So every primitive is created and executed with OpenMP pinned to the calling thread
// (`omp_set_num_threads(1)` is a per-thread setting), and vt's `Parallel` loops spread large products
// over the cores, exactly as with OpenBLAS. Each thread keeps its own primitives, memory objects and
// stream (a dnnl_memory_t's data handle cannot be re-pointed by two threads at once), so concurrent
// products share nothing and a step creates and allocates nothing once every shape has been seen.
//
// Leaves out: every other oneDNN primitive (LayerNorm, softmax and the rest stay vt's fp32 kernels).

import CDNNL
import Foundation

/// A oneDNN call that did not return dnnl_success.
public struct OneDNNError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let status: String
    public var description: String { "oneDNN \(call) failed: \(status)" }
}

@inline(__always)
func check(_ status: dnnl_status_t, _ call: @autoclosure () -> String) throws {
    if status != dnnl_success {
        throw OneDNNError(call: call(), status: String(cString: dnnl_status2str(status)))
    }
}

/// The shape of one row-major product C (+)= alpha·op(A)·op(B) (+ bias, then ReLU): op(A) m×k, op(B) k×n,
/// C m×n, fp32 — or bf16 when C only feeds other products (oneDNN rounds its fp32 result as it stores it).
public struct MatmulShape: Hashable, Sendable {
    public var m, n, k: Int
    public var transA, transB: Bool
    public var lda, ldb, ldc: Int
    public var alpha: Float
    /// C += product (a oneDNN sum post-op) instead of C = product.
    public var accumulate: Bool
    /// OpenMP threads the primitive is created and run with: 1 inside vt (see "Threads"); more only to
    /// measure oneDNN's own threading (`vt bench`'s peak).
    public var threads: Int
    /// Epilogue: + an fp32 bias row [n] (after alpha), then max(0, ·); C stored as bf16.
    public var bias, relu, outputBF16: Bool

    public init(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, lda: Int, ldb: Int, ldc: Int,
                alpha: Float, accumulate: Bool, threads: Int = 1, bias: Bool = false, relu: Bool = false,
                outputBF16: Bool = false) {
        self.m = m; self.n = n; self.k = k; self.transA = transA; self.transB = transB
        self.lda = lda; self.ldb = ldb; self.ldc = ldc; self.alpha = alpha; self.accumulate = accumulate
        self.threads = threads; self.bias = bias; self.relu = relu; self.outputBF16 = outputBF16
    }
}

public enum OneDNN {
    /// oneDNN's version, e.g. "2.6.3".
    public static var version: String {
        let v = dnnl_version()!.pointee
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    /// The instruction set oneDNN dispatches to on this CPU, by oneDNN's name (e.g. "avx512_core_bf16").
    public static var isa: String {
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_sse41: return "sse41"
        case dnnl_cpu_isa_avx: return "avx"
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_avx512_mic: return "avx512_mic"
        case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        default: return "unknown"
        }
    }

    /// Whether the CPU has native bf16 dot products (AVX512_BF16 or AMX) that oneDNN uses.
    public static var hasNativeBF16: Bool {
        let isa = dnnl_get_effective_cpu_isa()
        return isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx
    }

    /// One line for a CPU without native bf16, nil where bf16 is native.
    public static var emulationWarning: String? {
        hasNativeBF16 ? nil
            : "warning: this CPU has no native bf16 (no avx512_bf16; oneDNN ISA \(isa)): oneDNN emulates bf16 "
            + "products in fp32, slower than --precision fp32 — use --precision fp32 here"
    }

    /// Creates (or finds) the primitive for `shape` on the calling thread and reports its implementation
    /// name (e.g. "brg:avx512_core_bf16"). Throws when oneDNN cannot build it.
    public static func implementation(of shape: MatmulShape) throws -> String {
        try ThreadContext.current(threads: shape.threads).primitive(for: shape).implementation
    }

    /// C (+)= alpha·op(A)·op(B) (+ bias, ReLU) with bf16 A, B (16-bit patterns) and C fp32 or bf16 as
    /// `shape` says, on the calling thread only. `bias` (fp32 [n]) is required when `shape.bias`.
    @inline(__always)
    public static func gemm(_ shape: MatmulShape, a: UnsafeRawPointer, b: UnsafeRawPointer,
                            c: UnsafeMutableRawPointer, bias: UnsafePointer<Float>? = nil) throws {
        if shape.m == 0 || shape.n == 0 { return }
        let context = try ThreadContext.current(threads: shape.threads)
        try context.primitive(for: shape).execute(a: a, b: b, c: c, bias: bias, stream: context.stream)
    }

}

// MARK: - Engine, per-thread state

/// The process's CPU engine, created once.
final class Engine: @unchecked Sendable {
    static let shared: Result<Engine, OneDNNError> = {
        do { return .success(try Engine()) } catch let error as OneDNNError { return .failure(error) }
        catch { return .failure(OneDNNError(call: "dnnl_engine_create", status: "\(error)")) }
    }()
    let handle: dnnl_engine_t
    private init() throws {
        var engine: dnnl_engine_t?
        try check(dnnl_engine_create(&engine, dnnl_cpu, 0), "dnnl_engine_create(cpu, 0)")
        handle = engine!
    }
}

/// One thread's stream and primitives. Lives in a pthread key; released when the thread exits.
final class ThreadContext {
    nonisolated(unsafe) static var key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            if let pointer { Unmanaged<ThreadContext>.fromOpaque(pointer).release() }
        }
        return key
    }()

    let engine: dnnl_engine_t
    let stream: dnnl_stream_t
    var primitives: [MatmulShape: MatmulPrimitive] = [:]

    @inline(__always)
    static func current(threads: Int = 1) throws -> ThreadContext {
        // OpenMP's thread count is per thread: pin oneDNN to this one before creating or running anything.
        omp_set_num_threads(Int32(threads))
        if let pointer = pthread_getspecific(key) { return Unmanaged<ThreadContext>.fromOpaque(pointer).takeUnretainedValue() }
        let context = try ThreadContext(engine: try Engine.shared.get().handle)
        pthread_setspecific(key, Unmanaged.passRetained(context).toOpaque())
        return context
    }

    init(engine: dnnl_engine_t) throws {
        self.engine = engine
        var stream: dnnl_stream_t?
        try check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
        self.stream = stream!
    }

    deinit { primitives.removeAll(); dnnl_stream_destroy(stream) }

    @inline(__always)
    func primitive(for shape: MatmulShape) throws -> MatmulPrimitive {
        if let found = primitives[shape] { return found }
        let made = try MatmulPrimitive(shape: shape, engine: engine)
        primitives[shape] = made
        return made
    }
}

// MARK: - Matmul primitive

/// A bf16 × bf16 → fp32 matmul primitive with its three memory objects (data handles re-pointed per call).
final class MatmulPrimitive {
    let primitive: dnnl_primitive_t
    let source, weights, destination: dnnl_memory_t
    let biasMemory: dnnl_memory_t?
    let implementation: String
    var arguments: [dnnl_exec_arg_t]

    init(shape s: MatmulShape, engine: dnnl_engine_t) throws {
        let name = "matmul \(s.m)×\(s.n)×\(s.k)\(s.transA ? " Aᵀ" : "")\(s.transB ? " Bᵀ" : "")"
        var sourceDescriptor = dnnl_memory_desc_t(), weightsDescriptor = dnnl_memory_desc_t()
        var destinationDescriptor = dnnl_memory_desc_t()
        var sourceDims: [dnnl_dim_t] = [dnnl_dim_t(s.m), dnnl_dim_t(s.k)]
        var sourceStrides: [dnnl_dim_t] = s.transA ? [1, dnnl_dim_t(s.lda)] : [dnnl_dim_t(s.lda), 1]
        var weightDims: [dnnl_dim_t] = [dnnl_dim_t(s.k), dnnl_dim_t(s.n)]
        var weightStrides: [dnnl_dim_t] = s.transB ? [1, dnnl_dim_t(s.ldb)] : [dnnl_dim_t(s.ldb), 1]
        var outputDims: [dnnl_dim_t] = [dnnl_dim_t(s.m), dnnl_dim_t(s.n)]
        var outputStrides: [dnnl_dim_t] = [dnnl_dim_t(s.ldc), 1]
        try check(dnnl_memory_desc_init_by_strides(&sourceDescriptor, 2, &sourceDims, dnnl_bf16, &sourceStrides),
                  "dnnl_memory_desc_init_by_strides(source, \(name))")
        try check(dnnl_memory_desc_init_by_strides(&weightsDescriptor, 2, &weightDims, dnnl_bf16, &weightStrides),
                  "dnnl_memory_desc_init_by_strides(weights, \(name))")
        try check(dnnl_memory_desc_init_by_strides(&destinationDescriptor, 2, &outputDims, s.outputBF16 ? dnnl_bf16 : dnnl_f32,
                                                   &outputStrides),
                  "dnnl_memory_desc_init_by_strides(destination, \(name))")
        var biasDescriptor = dnnl_memory_desc_t()
        if s.bias {
            var biasDims: [dnnl_dim_t] = [1, dnnl_dim_t(s.n)], biasStrides: [dnnl_dim_t] = [dnnl_dim_t(s.n), 1]
            try check(dnnl_memory_desc_init_by_strides(&biasDescriptor, 2, &biasDims, dnnl_f32, &biasStrides),
                      "dnnl_memory_desc_init_by_strides(bias, \(name))")
        }
        var descriptor = dnnl_matmul_desc_t()
        let status = s.bias
            ? dnnl_matmul_desc_init(&descriptor, &sourceDescriptor, &weightsDescriptor, &biasDescriptor, &destinationDescriptor)
            : dnnl_matmul_desc_init(&descriptor, &sourceDescriptor, &weightsDescriptor, nil, &destinationDescriptor)
        try check(status, "dnnl_matmul_desc_init(\(name))")

        var attributes: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attributes), "dnnl_primitive_attr_create")
        defer { dnnl_primitive_attr_destroy(attributes) }
        if s.alpha != 1 {
            var scale = s.alpha
            try check(dnnl_primitive_attr_set_output_scales(attributes, 1, 0, &scale),
                      "dnnl_primitive_attr_set_output_scales(\(s.alpha), \(name))")
        }
        if s.accumulate || s.relu {
            var postOps: dnnl_post_ops_t?
            try check(dnnl_post_ops_create(&postOps), "dnnl_post_ops_create")
            defer { dnnl_post_ops_destroy(postOps) }
            if s.accumulate { try check(dnnl_post_ops_append_sum(postOps, 1), "dnnl_post_ops_append_sum(\(name))") }
            if s.relu {
                try check(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_relu, 0, 0), "dnnl_post_ops_append_eltwise(relu, \(name))")
            }
            try check(dnnl_primitive_attr_set_post_ops(attributes, postOps), "dnnl_primitive_attr_set_post_ops(\(name))")
        }
        var primitiveDescriptor: dnnl_primitive_desc_t?
        try withUnsafePointer(to: &descriptor) { pointer in
            try check(dnnl_primitive_desc_create(&primitiveDescriptor, UnsafeRawPointer(pointer), attributes, engine, nil),
                      "dnnl_primitive_desc_create(\(name))")
        }
        defer { dnnl_primitive_desc_destroy(primitiveDescriptor) }
        var info: UnsafePointer<CChar>?
        try check(dnnl_primitive_desc_query(primitiveDescriptor, dnnl_query_impl_info_str, 0, &info),
                  "dnnl_primitive_desc_query(impl_info_str, \(name))")
        implementation = info.map { String(cString: $0) } ?? "unknown"
        var made: dnnl_primitive_t?
        try check(dnnl_primitive_create(&made, primitiveDescriptor), "dnnl_primitive_create(\(name))")
        primitive = made!

        func memory(_ descriptor: inout dnnl_memory_desc_t, _ role: String) throws -> dnnl_memory_t {
            var memory: dnnl_memory_t?
            try check(dnnl_memory_create(&memory, &descriptor, engine, nil), "dnnl_memory_create(\(role), \(name))")
            return memory!
        }
        source = try memory(&sourceDescriptor, "source")
        weights = try memory(&weightsDescriptor, "weights")
        destination = try memory(&destinationDescriptor, "destination")
        biasMemory = s.bias ? try memory(&biasDescriptor, "bias") : nil
        arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: source),
                     dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: weights),
                     dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: destination)]
        if let biasMemory { arguments.append(dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: biasMemory)) }
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_memory_destroy(source); dnnl_memory_destroy(weights); dnnl_memory_destroy(destination)
        if let biasMemory { dnnl_memory_destroy(biasMemory) }
    }

    @inline(__always)
    func execute(a: UnsafeRawPointer, b: UnsafeRawPointer, c: UnsafeMutableRawPointer, bias: UnsafePointer<Float>?,
                 stream: dnnl_stream_t) throws {
        try check(dnnl_memory_set_data_handle(source, UnsafeMutableRawPointer(mutating: a)), "dnnl_memory_set_data_handle(source)")
        try check(dnnl_memory_set_data_handle(weights, UnsafeMutableRawPointer(mutating: b)), "dnnl_memory_set_data_handle(weights)")
        try check(dnnl_memory_set_data_handle(destination, c), "dnnl_memory_set_data_handle(destination)")
        if let biasMemory {
            guard let bias else { throw OneDNNError(call: "dnnl_primitive_execute(matmul)", status: "a bias product was given no bias") }
            try check(dnnl_memory_set_data_handle(biasMemory, UnsafeMutableRawPointer(mutating: bias)), "dnnl_memory_set_data_handle(bias)")
        }
        let count = Int32(arguments.count)
        try arguments.withUnsafeBufferPointer { args in
            try check(dnnl_primitive_execute(primitive, stream, count, args.baseAddress), "dnnl_primitive_execute(matmul)")
        }
        try check(dnnl_stream_wait(stream), "dnnl_stream_wait")
    }
}
