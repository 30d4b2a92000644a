// HDF5Dataset+Strings: datasets of variable-length UTF-8 strings (what h5py writes for a list of `str`
// with `h5py.string_dtype()`), e.g. the `youtube_ids` of a Kinetics shard. One-dimensional or
// n-dimensional, created and written whole, read whole; h5py reads them as `bytes` objects
// (`.asstr()` gives `str`), and fixed-length string datasets written by other tools read back too.
//
// Leaves out: growable string datasets, row reads of strings, other character sets than UTF-8/ASCII.

import CHDF5
import Foundation
import _HDF5Shims

extension HDF5Group {
    /// Creates dataset `name` of variable-length UTF-8 strings with `shape` (default: one-dimensional,
    /// `[strings.count]`) and writes `strings` (row-major) into it.
    @discardableResult
    public func createDataset(_ name: String, strings: [String], shape: [Int]? = nil) throws -> HDF5Dataset {
        let full = resolve(name)
        let shape = shape ?? [strings.count]
        try file.withOpenFile(object: full) { id, site in
            let call = "HDF5Group.createDataset"
            guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == strings.count else {
                throw site.error(.shapeMismatch, call, "\(strings.count) strings do not fill shape \(shape)")
            }
            guard try objectKind(id, full) == nil else {
                throw site.error(.alreadyExists, "H5Dcreate2", "an object with this path already exists")
            }
            let type = try variableLengthStringType(site)
            defer { H5Tclose(type) }
            let space = try site.check(shape.isEmpty ? H5Screate(H5S_SCALAR)
                                                     : H5Screate_simple(Int32(shape.count), shape.map { hsize_t($0) }, nil),
                                       "H5Screate_simple")
            defer { H5Sclose(space) }
            let links = try linkCreationList(site)
            defer { H5Pclose(links) }
            let dataset = try site.check(H5Dcreate2(id, full, type, space, links, vt_h5p_default(), vt_h5p_default()),
                                         "H5Dcreate2")
            defer { H5Dclose(dataset) }
            guard !strings.isEmpty else { return }
            let pointers = strings.map { strdup($0) }
            defer { pointers.forEach { free($0) } }
            try pointers.withUnsafeBufferPointer { buffer in
                _ = try site.check(H5Dwrite(dataset, type, vt_h5s_all(), vt_h5s_all(), vt_h5p_default(), buffer.baseAddress),
                                   "H5Dwrite")
            }
        }
        return HDF5Dataset(file: file, path: full)
    }
}

extension HDF5Dataset {
    /// Whether the dataset holds strings (variable- or fixed-length) rather than numbers.
    public func holdsStrings() throws -> Bool {
        try file.withOpenFile(object: path) { id, site in
            let dataset = try site.check(H5Dopen2(id, path, vt_h5p_default()), "H5Dopen2")
            defer { H5Dclose(dataset) }
            let type = try site.check(H5Dget_type(dataset), "H5Dget_type")
            defer { H5Tclose(type) }
            return H5Tget_class(type) == H5T_STRING
        }
    }

    /// Every string of the dataset, row-major. Throws `.typeMismatch` for a numeric dataset.
    public func readStrings() throws -> [String] {
        try file.withOpenFile(object: path) { id, site in
            let dataset = try site.check(H5Dopen2(id, path, vt_h5p_default()), "H5Dopen2")
            defer { H5Dclose(dataset) }
            let type = try site.check(H5Dget_type(dataset), "H5Dget_type")
            defer { H5Tclose(type) }
            guard H5Tget_class(type) == H5T_STRING else {
                throw site.error(.typeMismatch, "HDF5Dataset.readStrings", "the dataset holds numbers, not strings")
            }
            let space = try site.check(H5Dget_space(dataset), "H5Dget_space")
            defer { H5Sclose(space) }
            let count = Int(try site.check(H5Sget_simple_extent_npoints(space), "H5Sget_simple_extent_npoints"))
            guard count > 0 else { return [] }
            if H5Tis_variable_str(type) > 0 {
                let memoryType = try variableLengthStringType(site, characterSet: H5Tget_cset(type))
                defer { H5Tclose(memoryType) }
                var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
                try pointers.withUnsafeMutableBufferPointer { buffer in
                    _ = try site.check(H5Dread(dataset, memoryType, vt_h5s_all(), vt_h5s_all(), vt_h5p_default(),
                                               buffer.baseAddress), "H5Dread")
                }
                defer { pointers.forEach { H5free_memory($0) } }
                return pointers.map { $0.map { String(cString: $0) } ?? "" }
            }
            // Fixed length: `size` bytes per string, NUL-padded.
            let size = H5Tget_size(type)
            var buffer = [UInt8](repeating: 0, count: count * size)
            try site.check(H5Dread(dataset, type, vt_h5s_all(), vt_h5s_all(), vt_h5p_default(), &buffer), "H5Dread")
            return (0..<count).map { index in
                String(decoding: buffer[index * size..<(index + 1) * size].prefix { $0 != 0 }, as: UTF8.self)
            }
        }
    }
}

/// A variable-length string type with `characterSet` (UTF-8 by default). The caller closes it.
func variableLengthStringType(_ site: Site, characterSet: H5T_cset_t = H5T_CSET_UTF8) throws -> hid_t {
    let type = try site.check(H5Tcopy(vt_h5t_c_s1()), "H5Tcopy")
    do {
        try site.check(H5Tset_size(type, vt_h5t_variable()), "H5Tset_size")
        try site.check(H5Tset_cset(type, characterSet), "H5Tset_cset")
    } catch {
        H5Tclose(type)
        throw error
    }
    return type
}
