// HDF5: a thin, safe Swift wrapper over the serial HDF5 C library, for video shards and checkpoints
// (docs/design.md §3 and §5).
//
// What it does: files (create, open, flush, close); groups addressed by path; n-dimensional datasets of
// five element types, read and written whole or as a range of rows along the first axis, with an
// optionally growable first axis for appending; attributes (String, Int64, Double and arrays of them) on
// the root, groups and datasets. No C type appears in the public API, and every failing call becomes an
// `HDF5Error` naming the call, the file and the object. Every call into the library goes through one
// global lock, so a background loader thread and the main thread can share files.
//
// What it leaves out: compression and other filters, other element types (Int16, compounds; strings only as
// whole variable-length datasets, see HDF5Dataset+Strings.swift), selections other than leading-axis rows and
// single blocks, soft/external links, deleting objects, parallel
// (MPI-IO) HDF5. Datasets are stored in the machine's native (little-endian) types.
//
// This file: the error type, the global lock, and the helpers that turn C status codes into errors.

import CHDF5
import Foundation
import _HDF5Shims

/// A failed HDF5 operation: which call, on which file and object, and why.
public struct HDF5Error: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        case libraryCall    // the C library returned a failing status
        case notFound       // missing file, group, dataset or attribute
        case alreadyExists  // exclusive create of something that exists
        case notHDF5File    // the file exists but has no HDF5 signature
        case shapeMismatch  // buffer size, row range or chunk shape disagrees with the dataset
        case typeMismatch   // element type or attribute kind differs from the one asked for
        case closed         // the file was closed
    }

    public let kind: Kind
    /// The C function (`H5Dread`) or Swift operation (`HDF5Dataset.write`) that failed.
    public let call: String
    public let file: String
    /// The object path (`/videos`), or `attribute 'name' of '/path'`.
    public let object: String
    public let reason: String

    public var description: String {
        "\(call) failed for \(object) in file '\(file)': \(reason)"
    }
}

// MARK: - The global lock

/// HDF5 serial keeps global state; every entry into the library holds this lock. It is recursive so that
/// public operations may call one another (e.g. `appendRows` = `extend` + `writeRows`, atomically).
private let libraryLock = NSRecursiveLock()

/// Runs `body` holding the library lock, with HDF5's own error printing turned off. Debian builds HDF5
/// thread-safe, which makes the automatic-printing setting per thread, so it is switched off on every entry
/// (a cheap call) rather than once per process.
func withLibrary<Result>(_ body: () throws -> Result) rethrows -> Result {
    libraryLock.lock()
    defer { libraryLock.unlock() }
    vt_h5_silence_errors()
    return try body()
}

// MARK: - Status codes to errors

/// Where an operation happens (file and object), so that every error it throws can name both.
struct Site {
    let file: String
    let object: String

    func error(_ kind: HDF5Error.Kind, _ call: String, _ reason: String) -> HDF5Error {
        HDF5Error(kind: kind, call: call, file: file, object: object, reason: reason)
    }

    /// Returns `result` (an id, size or status) if it is non-negative; otherwise throws, with the reason
    /// taken from HDF5's error stack.
    @discardableResult
    func check<Code: BinaryInteger>(_ result: Code, _ call: String) throws -> Code {
        guard result < 0 else { return result }
        throw error(.libraryCall, call, libraryErrorMessage())
    }
}

/// The descriptions on HDF5's error stack, outermost first, without repeats; the stack is then cleared.
private func libraryErrorMessage() -> String {
    var descriptions: [String] = []
    withUnsafeMutablePointer(to: &descriptions) { descriptions in
        _ = H5Ewalk2(hid_t(H5E_DEFAULT), H5E_WALK_DOWNWARD, { _, entry, context in
            if let text = entry?.pointee.desc, let context {
                context.assumingMemoryBound(to: [String].self).pointee.append(String(cString: text))
            }
            return 0
        }, descriptions)
    }
    H5Eclear2(hid_t(H5E_DEFAULT))
    var unique: [String] = []
    for text in descriptions where !unique.contains(text) { unique.append(text) }
    return unique.isEmpty ? "the HDF5 library reported no detail" : unique.joined(separator: ": ")
}

/// Reads a C string whose length a first call reports: `fill(nil, 0)` returns the length, then
/// `fill(buffer, length + 1)` writes it.
func readCString(_ fill: (UnsafeMutablePointer<CChar>?, Int) throws -> Int) throws -> String {
    let length = try fill(nil, 0)
    var buffer = [CChar](repeating: 0, count: length + 1)
    _ = try buffer.withUnsafeMutableBufferPointer { try fill($0.baseAddress, length + 1) }
    return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
