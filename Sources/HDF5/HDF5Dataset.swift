// HDF5Dataset: n-dimensional arrays of UInt8, Int32, Int64, Float32 or Float64 — create (optionally
// chunked, optionally growable along the first axis), query shape and element type, read and write whole
// or as rows `start..<end` of the first axis (video i of `videos` [N,T,H,W,3] is rows i..<i+1), extend
// the first axis, append rows. Sizes and types are checked in Swift before any C call; reads never
// convert between element types.
//
// Leaves out: compression, fill values, selections other than leading-axis rows, strided reads.

import CHDF5
import _HDF5Shims

/// The element types a dataset can hold.
public enum HDF5ElementType: String, Sendable, CaseIterable {
    case uint8, int32, int64, float32, float64

    public var byteCount: Int {
        switch self {
        case .uint8: 1
        case .int32, .float32: 4
        case .int64, .float64: 8
        }
    }

    /// The native HDF5 type id, used both in files and in memory.
    var typeID: hid_t {
        switch self {
        case .uint8: vt_h5t_native_uint8()
        case .int32: vt_h5t_native_int32()
        case .int64: vt_h5t_native_int64()
        case .float32: vt_h5t_native_float()
        case .float64: vt_h5t_native_double()
        }
    }

    /// The element type a stored HDF5 type corresponds to, or nil for any other type (e.g. Int16).
    init?(storedType type: hid_t) {
        let size = H5Tget_size(type)
        switch H5Tget_class(type) {
        case H5T_INTEGER:
            let signed = H5Tget_sign(type) == H5T_SGN_2
            switch (size, signed) {
            case (1, false): self = .uint8
            case (4, true): self = .int32
            case (8, true): self = .int64
            default: return nil
            }
        case H5T_FLOAT:
            switch size {
            case 4: self = .float32
            case 8: self = .float64
            default: return nil
            }
        default: return nil
        }
    }
}

/// A Swift type that can be read from and written to a dataset of the matching element type.
public protocol HDF5Scalar: BitwiseCopyable, Sendable {
    static var hdf5ElementType: HDF5ElementType { get }
}

extension UInt8: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .uint8 } }
extension Int32: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .int32 } }
extension Int64: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .int64 } }
extension Float: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .float32 } }
extension Double: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .float64 } }

// MARK: - Creating datasets

extension HDF5Group {
    /// Creates dataset `name` (and missing groups on the way). `shape` [] makes a scalar. `chunkShape`
    /// has one entry per dimension; `growable` lets the first dimension grow without bound (needs chunks:
    /// by default one row per chunk, e.g. one video of [N,T,H,W,3]).
    @discardableResult
    public func createDataset(_ name: String, elementType: HDF5ElementType, shape: [Int],
                              chunkShape: [Int]? = nil, growable: Bool = false) throws -> HDF5Dataset {
        let full = resolve(name)
        try file.withOpenFile(object: full) { id, site in
            let call = "HDF5Group.createDataset"
            guard shape.allSatisfy({ $0 >= 0 }) else { throw site.error(.shapeMismatch, call, "negative size in shape \(shape)") }
            guard !(growable && shape.isEmpty) else { throw site.error(.shapeMismatch, call, "a scalar cannot grow") }
            let chunks = chunkShape ?? (growable ? [1] + shape.dropFirst().map { max($0, 1) } : nil)
            if let chunks, chunks.count != shape.count || chunks.contains(where: { $0 < 1 }) {
                throw site.error(.shapeMismatch, call, "chunk shape \(chunks) does not fit shape \(shape)")
            }
            guard try objectKind(id, full) == nil else {
                throw site.error(.alreadyExists, "H5Dcreate2", "an object with this path already exists")
            }
            let dimensions = shape.map { hsize_t($0) }
            var maximum = dimensions
            if growable { maximum[0] = vt_h5s_unlimited() }
            let space = try site.check(shape.isEmpty ? H5Screate(H5S_SCALAR)
                                                     : H5Screate_simple(Int32(shape.count), dimensions, maximum),
                                       "H5Screate_simple")
            defer { H5Sclose(space) }
            let properties = try site.check(H5Pcreate(vt_h5p_dataset_create()), "H5Pcreate")
            defer { H5Pclose(properties) }
            if let chunks {
                try site.check(H5Pset_chunk(properties, Int32(chunks.count), chunks.map { hsize_t($0) }), "H5Pset_chunk")
            }
            let links = try linkCreationList(site)
            defer { H5Pclose(links) }
            let dataset = try site.check(H5Dcreate2(id, full, elementType.typeID, space, links, properties,
                                                    vt_h5p_default()), "H5Dcreate2")
            try site.check(H5Dclose(dataset), "H5Dclose")
        }
        return HDF5Dataset(file: file, path: full)
    }

    /// Creates dataset `name` of `T`'s element type and writes `values` (row-major) into it.
    @discardableResult
    public func createDataset<T: HDF5Scalar>(_ name: String, shape: [Int], values: [T],
                                             chunkShape: [Int]? = nil) throws -> HDF5Dataset {
        guard values.count == shape.reduce(1, *) else {
            throw Site(file: file.path, object: resolve(name)).error(
                .shapeMismatch, "HDF5Group.createDataset", "\(values.count) values do not fill shape \(shape)")
        }
        let dataset = try createDataset(name, elementType: T.hdf5ElementType, shape: shape, chunkShape: chunkShape)
        try dataset.write(values)
        return dataset
    }
}

// MARK: - Reading and writing

public struct HDF5Dataset: HDF5Object {
    public let file: HDF5File
    public let path: String

    public func shape() throws -> [Int] {
        try withDataset { dataset, site in try extent(dataset, site).shape }
    }

    public func elementType() throws -> HDF5ElementType {
        try withDataset { dataset, site in try storedElementType(dataset, site) }
    }

    /// Writes the whole dataset from row-major bytes of its element type.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try transfer(.write(bytes.baseAddress), byteCount: bytes.count, rows: nil, expecting: nil, call: "HDF5Dataset.write")
    }

    public func write<T: HDF5Scalar>(_ values: [T]) throws {
        try values.withUnsafeBytes {
            try transfer(.write($0.baseAddress), byteCount: $0.count, rows: nil, expecting: T.hdf5ElementType,
                         call: "HDF5Dataset.write")
        }
    }

    /// Reads the whole dataset into `buffer`, which must hold exactly its bytes.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws {
        try transfer(.read(buffer.baseAddress), byteCount: buffer.count, rows: nil, expecting: nil, call: "HDF5Dataset.read")
    }

    public func read<T: HDF5Scalar>(as type: T.Type = T.self) throws -> [T] {
        try readArray(rows: nil, call: "HDF5Dataset.read")
    }

    /// Reads rows `rows` of the first axis into `buffer` (raw bytes of the dataset's element type).
    public func readRows(_ rows: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws {
        try transfer(.read(buffer.baseAddress), byteCount: buffer.count, rows: rows, expecting: nil,
                     call: "HDF5Dataset.readRows")
    }

    /// Reads rows `rows` into a typed buffer; the element type must match the dataset's.
    public func readRows<T: HDF5Scalar>(_ rows: Range<Int>, into buffer: UnsafeMutableBufferPointer<T>) throws {
        try transfer(.read(buffer.baseAddress), byteCount: buffer.count * MemoryLayout<T>.stride, rows: rows,
                     expecting: T.hdf5ElementType, call: "HDF5Dataset.readRows")
    }

    public func readRows<T: HDF5Scalar>(_ rows: Range<Int>, as type: T.Type = T.self) throws -> [T] {
        try readArray(rows: rows, call: "HDF5Dataset.readRows")
    }

    /// Writes `bytes` (whole rows, the dataset's element type) starting at row `start` of the first axis.
    public func writeRows(startingAt start: Int, from bytes: UnsafeRawBufferPointer) throws {
        try writeRows(start, bytes, expecting: nil)
    }

    public func writeRows<T: HDF5Scalar>(startingAt start: Int, _ values: [T]) throws {
        try values.withUnsafeBytes { try writeRows(start, $0, expecting: T.hdf5ElementType) }
    }

    /// Sets the size of the first dimension to `rows` (the dataset must have been created growable, or
    /// `rows` must be within its fixed size).
    public func extend(toRows rows: Int) throws {
        try withDataset { dataset, site in
            var (shape, maximum) = try extent(dataset, site)
            guard !shape.isEmpty, rows >= 0, maximum[0] == nil || rows <= maximum[0]! else {
                throw site.error(.shapeMismatch, "HDF5Dataset.extend",
                                 "cannot resize the first dimension of shape \(shape) to \(rows) (create it growable)")
            }
            shape[0] = rows
            try site.check(H5Dset_extent(dataset, shape.map { hsize_t($0) }), "H5Dset_extent")
        }
    }

    /// Grows the first axis by the rows in `values` and writes them there; returns the rows written.
    @discardableResult
    public func appendRows<T: HDF5Scalar>(_ values: [T]) throws -> Range<Int> {
        try withDataset { dataset, site in
            let stored = try storedElementType(dataset, site)
            guard stored == T.hdf5ElementType else {
                throw site.error(.typeMismatch, "HDF5Dataset.appendRows", "the dataset holds \(stored), not \(T.hdf5ElementType)")
            }
            let shape = try extent(dataset, site).shape
            let rowSize = shape.dropFirst().reduce(1, *)
            guard !shape.isEmpty, rowSize > 0, values.count % rowSize == 0 else {
                throw site.error(.shapeMismatch, "HDF5Dataset.appendRows",
                                 "\(values.count) values are not whole rows of shape \(shape)")
            }
            let rows = shape[0]..<shape[0] + values.count / rowSize
            try extend(toRows: rows.upperBound)
            try writeRows(startingAt: rows.lowerBound, values)
            return rows
        }
    }

    // MARK: Helpers (called under the lock)

    private enum Transfer {
        case read(UnsafeMutableRawPointer?)
        case write(UnsafeRawPointer?)
    }

    /// Opens the dataset for the duration of `body`.
    private func withDataset<Result>(_ body: (hid_t, Site) throws -> Result) throws -> Result {
        try file.withOpenFile(object: path) { id, site in
            let dataset = try site.check(H5Dopen2(id, path, vt_h5p_default()), "H5Dopen2")
            defer { H5Dclose(dataset) }
            return try body(dataset, site)
        }
    }

    private func writeRows(_ start: Int, _ bytes: UnsafeRawBufferPointer, expecting: HDF5ElementType?) throws {
        try withDataset { dataset, site in
            let rowBytes = try extent(dataset, site).shape.dropFirst().reduce(1, *) * storedElementType(dataset, site).byteCount
            let rows = start..<start + (rowBytes == 0 ? 0 : bytes.count / rowBytes)
            try transfer(.write(bytes.baseAddress), byteCount: bytes.count, rows: rows, expecting: expecting,
                         call: "HDF5Dataset.writeRows")
        }
    }

    /// Sizes the array from the shape, then reads; the lock is held throughout so the shape cannot change.
    private func readArray<T: HDF5Scalar>(rows: Range<Int>?, call: String) throws -> [T] {
        try file.withOpenFile(object: path) { _, _ in
            let shape = try self.shape()
            var count = shape.reduce(1, *)
            if let rows, !shape.isEmpty { count = rows.count * shape.dropFirst().reduce(1, *) }
            return try [T](unsafeUninitializedCapacity: count) { buffer, initialised in
                try transfer(.read(buffer.baseAddress), byteCount: count * MemoryLayout<T>.stride, rows: rows,
                             expecting: T.hdf5ElementType, call: call)
                initialised = count
            }
        }
    }

    private func storedElementType(_ dataset: hid_t, _ site: Site) throws -> HDF5ElementType {
        let type = try site.check(H5Dget_type(dataset), "H5Dget_type")
        defer { H5Tclose(type) }
        guard let element = HDF5ElementType(storedType: type) else {
            throw site.error(.typeMismatch, "H5Dget_type",
                             "unsupported element type (class \(H5Tget_class(type).rawValue), \(H5Tget_size(type)) bytes)")
        }
        return element
    }

    /// The current shape, and the maximum size of each dimension (nil = unlimited).
    private func extent(_ dataset: hid_t, _ site: Site) throws -> (shape: [Int], maximum: [Int?]) {
        let space = try site.check(H5Dget_space(dataset), "H5Dget_space")
        defer { H5Sclose(space) }
        let rank = Int(try site.check(H5Sget_simple_extent_ndims(space), "H5Sget_simple_extent_ndims"))
        var dimensions = [hsize_t](repeating: 0, count: rank), maximum = dimensions
        try site.check(H5Sget_simple_extent_dims(space, &dimensions, &maximum), "H5Sget_simple_extent_dims")
        return (dimensions.map { Int($0) }, maximum.map { $0 == vt_h5s_unlimited() ? nil : Int($0) })
    }

    /// Reads or writes the whole dataset (`rows` nil) or rows `rows` of its first axis, after checking in
    /// Swift that the element type (if `expecting`) and the byte count match.
    private func transfer(_ direction: Transfer, byteCount: Int, rows: Range<Int>?,
                          expecting: HDF5ElementType?, call: String) throws {
        try withDataset { dataset, site in
            let stored = try storedElementType(dataset, site)
            if let expecting, expecting != stored {
                throw site.error(.typeMismatch, call, "the dataset holds \(stored), not \(expecting)")
            }
            let shape = try extent(dataset, site).shape
            var selected = shape
            if let rows {
                guard let first = shape.first, rows.lowerBound >= 0, rows.upperBound <= first else {
                    throw site.error(.shapeMismatch, call, "rows \(rows) are outside shape \(shape)")
                }
                selected[0] = rows.count
            }
            let elements = selected.reduce(1, *)
            guard byteCount == elements * stored.byteCount else {
                let part = rows.map { "rows \($0) of " } ?? ""
                throw site.error(.shapeMismatch, call, "the buffer has \(byteCount) bytes, but \(part)shape \(shape) "
                                 + "needs \(elements) \(stored) values (\(elements * stored.byteCount) bytes)")
            }
            guard elements > 0 else { return }
            func move(_ memorySpace: hid_t, _ fileSpace: hid_t) throws {
                switch direction {
                case .read(let buffer):
                    try site.check(H5Dread(dataset, stored.typeID, memorySpace, fileSpace, vt_h5p_default(), buffer), "H5Dread")
                case .write(let buffer):
                    try site.check(H5Dwrite(dataset, stored.typeID, memorySpace, fileSpace, vt_h5p_default(), buffer), "H5Dwrite")
                }
            }
            guard let rows else { return try move(vt_h5s_all(), vt_h5s_all()) }
            let fileSpace = try site.check(H5Dget_space(dataset), "H5Dget_space")
            defer { H5Sclose(fileSpace) }
            var start = [hsize_t](repeating: 0, count: shape.count)
            start[0] = hsize_t(rows.lowerBound)
            let count = selected.map { hsize_t($0) }
            try site.check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, start, nil, count, nil), "H5Sselect_hyperslab")
            let memorySpace = try site.check(H5Screate_simple(Int32(count.count), count, nil), "H5Screate_simple")
            defer { H5Sclose(memorySpace) }
            try move(memorySpace, fileSpace)
        }
    }
}
