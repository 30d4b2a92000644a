// HDF5File: one open HDF5 file — create (truncating or exclusive), open read-only or read-write, flush,
// close. Groups, datasets and attributes are reached through `root` (see HDF5Group.swift).
//
// Leaves out: file-access tuning (caches, drivers, SWMR), in-memory files, and fsync — `flush()` hands the
// data to the operating system; a checkpoint writer that needs durability fsyncs after `close()`.

import CHDF5
import Foundation
import _HDF5Shims

public final class HDF5File: @unchecked Sendable {  // all mutable state is touched only under the lock
    public enum AccessMode: Sendable { case readOnly, readWrite }

    /// The path the file was created or opened with.
    public let path: String
    private var id: hid_t  // -1 once closed

    init(path: String, id: hid_t) {  // internal: HDF5File+Layout.swift creates files too
        self.path = path
        self.id = id
    }

    /// Creates a file at `path`. An existing file is truncated, unless `exclusive`, when it is an error.
    public static func create(_ path: String, exclusive: Bool = false) throws -> HDF5File {
        try withLibrary {
            let site = Site(file: path, object: "/")
            if exclusive && FileManager.default.fileExists(atPath: path) {
                throw site.error(.alreadyExists, "H5Fcreate", "the file already exists (exclusive create)")
            }
            let access = try fileAccess(site, forWriting: true)
            defer { H5Pclose(access) }
            let flags = exclusive ? vt_h5f_acc_excl() : vt_h5f_acc_trunc()
            let id = try site.check(H5Fcreate(path, flags, vt_h5p_default(), access), "H5Fcreate")
            return HDF5File(path: path, id: id)
        }
    }

    /// Opens an existing HDF5 file.
    public static func open(_ path: String, mode: AccessMode = .readOnly) throws -> HDF5File {
        try withLibrary {
            let site = Site(file: path, object: "/")
            guard FileManager.default.fileExists(atPath: path) else {
                throw site.error(.notFound, "H5Fopen", "no such file")
            }
            guard H5Fis_hdf5(path) > 0 else {
                throw site.error(.notHDF5File, "H5Fis_hdf5", "not an HDF5 file (no HDF5 signature found)")
            }
            let flags = mode == .readOnly ? vt_h5f_acc_rdonly() : vt_h5f_acc_rdwr()
            let access = try fileAccess(site, forWriting: false)
            defer { H5Pclose(access) }
            let id = try site.check(H5Fopen(path, flags, access), "H5Fopen")
            return HDF5File(path: path, id: id)
        }
    }

    deinit { try? close() }

    /// File-access properties for every file this module opens or creates.
    /// - HDF5's advisory file locks are off: vt never shares an open file between processes (every file is
    ///   written under a private name and renamed), the locks fail outright on NFS and Lustre, and they made
    ///   a file re-opened right after closing fail now and then with "unable to lock the file".
    /// - New files use the HDF5 1.8 format (readable by any HDF5 since 2008, h5py included), which stores
    ///   attributes over 64 kB densely; the original format refuses them.
    static func fileAccess(_ site: Site, forWriting: Bool) throws -> hid_t {
        let access = try site.check(H5Pcreate(vt_h5p_file_access()), "H5Pcreate")
        do {
            try site.check(H5Pset_file_locking(access, false, true), "H5Pset_file_locking")
            if forWriting { try site.check(H5Pset_libver_bounds(access, H5F_LIBVER_V18, H5F_LIBVER_V18), "H5Pset_libver_bounds") }
        } catch {
            H5Pclose(access)
            throw error
        }
        return access
    }

    /// The root group `/`: the way to every group, dataset and root attribute.
    public var root: HDF5Group { HDF5Group(file: self, path: "/") }

    public var isOpen: Bool { withLibrary { id >= 0 } }

    /// Writes buffered data and metadata to the operating system.
    public func flush() throws {
        try withOpenFile(object: "/") { id, site in
            _ = try site.check(H5Fflush(id, H5F_SCOPE_GLOBAL), "H5Fflush")
        }
    }

    /// Closes the file; later calls on it (or on its groups and datasets) throw `.closed`. Closing twice is
    /// harmless. The wrapper keeps no objects open between calls, so the file is fully closed on return.
    public func close() throws {
        try withLibrary {
            guard id >= 0 else { return }
            let closing = id
            id = -1
            try Site(file: path, object: "/").check(H5Fclose(closing), "H5Fclose")
        }
    }

    /// Runs `body` under the library lock with the open file's id and a site naming `object`.
    func withOpenFile<Result>(object: String, _ body: (hid_t, Site) throws -> Result) throws -> Result {
        try withLibrary {
            let site = Site(file: path, object: object)
            guard id >= 0 else { throw site.error(.closed, "HDF5File", "the file has been closed") }
            return try body(id, site)
        }
    }
}
