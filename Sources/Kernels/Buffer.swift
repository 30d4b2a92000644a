// Buffer: an owned, 64-byte-aligned Float32 array with a raw pointer for kernels.
// Leaves out: shapes (kernels take explicit sizes) and copy-on-write (buffers are shared by reference).

import Foundation

/// An owned, aligned block of Float32 values. Kernels take its `pointer`; nothing here is bounds-checked
/// beyond `count`, which every kernel validates on entry.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer: negative count")
        self.count = count
        pointer = allocateAligned(Float.self, count: count, zero: 0, owner: "FloatBuffer")
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { free(pointer) }

    public subscript(index: Int) -> Float {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public func copy(from other: FloatBuffer) {
        precondition(other.count == count, "FloatBuffer.copy: \(other.count) values into \(count)")
        pointer.update(from: other.pointer, count: count)
    }

    public var bytes: Int { count * MemoryLayout<Float>.stride }
}

/// `count` values of `Element` (at least one slot), 64-byte aligned, set to `zero`; freed with `free`.
func allocateAligned<Element>(_ type: Element.Type, count: Int, zero: Element, owner: String) -> UnsafeMutablePointer<Element> {
    var raw: UnsafeMutableRawPointer?
    let status = posix_memalign(&raw, 64, max(1, count) * MemoryLayout<Element>.stride)
    precondition(status == 0 && raw != nil, "\(owner): out of memory allocating \(count) values")
    let pointer = raw!.bindMemory(to: Element.self, capacity: max(1, count))
    pointer.initialize(repeating: zero, count: count)
    return pointer
}
