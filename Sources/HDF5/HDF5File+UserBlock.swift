// Files with a user block, and where a dataset's bytes are: what a writer needs to put its own index of
// the file in front of it (the checkpoint writer stores checksums there that are verified before HDF5
// parses anything). HDF5 leaves the first `userBlockSize` bytes of such a file alone; every HDF5 tool,
// h5py included, opens it as usual.
//
// Leaves out: reading or writing the user block itself (plain file I/O), offsets of chunked datasets.

import CHDF5
import Foundation
import _HDF5Shims

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
            let access = try site.check(H5Pcreate(vt_h5p_file_access()), "H5Pcreate")
            defer { H5Pclose(access) }
            try site.check(H5Pset_libver_bounds(access, H5F_LIBVER_V18, H5F_LIBVER_V18), "H5Pset_libver_bounds")
            let id = try site.check(H5Fcreate(path, vt_h5f_acc_trunc(), creation, access), "H5Fcreate")
            return HDF5File(path: path, id: id)
        }
    }
}

extension HDF5Dataset {
    /// The byte offset in the file (from its first byte, user block included) of a contiguous dataset's
    /// raw data; nil when no storage is allocated yet or the dataset is chunked.
    public func storageOffset() throws -> Int? {
        try file.withOpenFile(object: path) { id, site in
            let dataset = try site.check(H5Dopen2(id, path, vt_h5p_default()), "H5Dopen2")
            defer { H5Dclose(dataset) }
            let offset = H5Dget_offset(dataset)
            H5Eclear2(hid_t(H5E_DEFAULT))
            return offset == haddr_t.max ? nil : Int(offset)
        }
    }
}
