// Where bytes go in a file, for writers that index it themselves (the checkpoint writer keeps checksums in
// the user block and verifies them before HDF5 parses anything):
//   - files with a user block: HDF5 leaves their first `userBlockSize` bytes alone; every HDF5 tool,
//     h5py included, opens them as usual;
//   - a contiguous dataset created, written and given Int64 attributes through one open handle (one call
//     instead of four, which matters for hundreds of tensors), returning the offset of its data;
//   - abandoning a file whose writes failed (full disk): HDF5 cannot close a file it cannot flush, and
//     then crashes at exit when it tries again, so the file's descriptor is first pointed at a scratch
//     file in memory, where the last flush succeeds and goes nowhere.
//
// Leaves out: reading or writing the user block itself (plain file I/O), offsets of chunked datasets.

import CHDF5
import Foundation
import _HDF5Shims
#if canImport(Glibc)
import Glibc
#endif

extension HDF5File {
    /// Creates (truncating) a file whose first `userBlockSize` bytes are reserved for the caller;
    /// `userBlockSize` is 0 or a power of two of at least 512 (HDF5's rule).
    public static func create(_ path: String, userBlockSize: Int) throws -> HDF5File {
        try withLibrary {
            let site = Site(file: path, object: "/")
            guard userBlockSize == 0 || (userBlockSize >= 512 && userBlockSize & (userBlockSize - 1) == 0) else {
                throw site.error(.shapeMismatch, "H5Pset_userblock", "user block size \(userBlockSize) is not 0 or a power of two ≥ 512")
            }
            let creation = try site.check(H5Pcreate(vt_h5p_file_create()), "H5Pcreate")
            defer { H5Pclose(creation) }
            try site.check(H5Pset_userblock(creation, hsize_t(userBlockSize)), "H5Pset_userblock")
            let access = try fileAccess(site, forWriting: true)
            defer { H5Pclose(access) }
            let id = try site.check(H5Fcreate(path, vt_h5f_acc_trunc(), creation, access), "H5Fcreate")
            return HDF5File(path: path, id: id)
        }
    }
}

extension HDF5File {
    /// Closes a file whose writes failed, discarding whatever HDF5 still held for it; the caller deletes
    /// the file. Afterwards HDF5 holds nothing of it (a plain `close()` of such a file fails and leaves
    /// the library to crash at exit). Harmless on a closed file.
    public func abandon() {
        _ = try? withOpenFile(object: "/") { id, _ in
            let access = H5Fget_access_plist(id)
            defer { if access >= 0 { H5Pclose(access) } }
            var handle: UnsafeMutableRawPointer?
            guard access >= 0, H5Fget_vfd_handle(id, access, &handle) >= 0, let handle else {
                H5Eclear2(hid_t(H5E_DEFAULT))
                return
            }
            // The default (sec2) driver's handle is its file descriptor. Point it at an unlinked scratch file
            // in memory (/dev/shm), or at /dev/null where there is none.
            let descriptor = handle.load(as: Int32.self)
            var template = Array("/dev/shm/vt-hdf5-abandoned-XXXXXX".utf8CString)
            var scratch = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            if scratch >= 0 {
                template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
            } else {
                scratch = Glibc.open("/dev/null", O_WRONLY)
            }
            if scratch >= 0 {
                _ = dup2(scratch, descriptor)
                _ = Glibc.close(scratch)
            }
        }
        try? close()
        withLibrary { H5Eclear2(hid_t(H5E_DEFAULT)) }
    }
}

extension HDF5Group {
    /// Creates the contiguous dataset `name` (and missing groups on the way), writes `bytes` (row-major,
    /// `elementType`) into it and sets `attributes`, all through one open handle. Returns the byte offset
    /// of its data in the file (user block included).
    @discardableResult
    public func createContiguousDataset(_ name: String, elementType: HDF5ElementType, shape: [Int], bytes: UnsafeRawBufferPointer,
                                        attributes: [(name: String, value: Int64)] = []) throws -> Int {
        let full = resolve(name)
        return try file.withOpenFile(object: full) { id, site in
            let call = "HDF5Group.createContiguousDataset"
            let count = shape.reduce(1, *)
            guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else {
                throw site.error(.shapeMismatch, call, "shape \(shape) must have at least one axis and no empty one")
            }
            guard bytes.count == count * elementType.byteCount else {
                throw site.error(.shapeMismatch, call, "the buffer has \(bytes.count) bytes, but shape \(shape) needs \(count) \(elementType) values")
            }
            let space = try site.check(H5Screate_simple(Int32(shape.count), shape.map { hsize_t($0) }, nil), "H5Screate_simple")
            defer { H5Sclose(space) }
            let links = try linkCreationList(site)
            defer { H5Pclose(links) }
            let dataset = try site.check(H5Dcreate2(id, full, elementType.typeID, space, links, vt_h5p_default(), vt_h5p_default()),
                                         "H5Dcreate2")
            defer { H5Dclose(dataset) }
            try site.check(H5Dwrite(dataset, elementType.typeID, vt_h5s_all(), vt_h5s_all(), vt_h5p_default(), bytes.baseAddress), "H5Dwrite")
            for (attributeName, value) in attributes {
                let scalar = try site.check(H5Screate(H5S_SCALAR), "H5Screate")
                defer { H5Sclose(scalar) }
                let attribute = try site.check(H5Acreate2(dataset, attributeName, vt_h5t_native_int64(), scalar, vt_h5p_default(), vt_h5p_default()),
                                               "H5Acreate2")
                defer { H5Aclose(attribute) }
                var stored = value
                try site.check(H5Awrite(attribute, vt_h5t_native_int64(), &stored), "H5Awrite")
            }
            let offset = H5Dget_offset(dataset)
            guard offset != haddr_t.max else {
                H5Eclear2(hid_t(H5E_DEFAULT))
                throw site.error(.libraryCall, "H5Dget_offset", "no contiguous storage was allocated")
            }
            return Int(offset)
        }
    }
}
