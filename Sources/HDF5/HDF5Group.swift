// HDF5Group: groups addressed by path — create (with intermediate groups, `a/b/c`), look up, test for
// existence, list children, and walk every dataset below a group. `HDF5Object` is what groups and
// datasets share: a file and an absolute path, and (in HDF5Attributes.swift) attributes.
//
// Groups and datasets are values (file + path), not open handles: each operation opens what it needs and
// closes it before returning, so nothing stays open behind the caller's back and `HDF5File.close()` is
// final. Names are relative to the group unless they start with `/`.
//
// Leaves out: deleting, moving and linking objects; creation-order indexes (children list by name).

import CHDF5
import _HDF5Shims

/// A group or dataset in an open file.
public protocol HDF5Object: Sendable {
    var file: HDF5File { get }
    /// The absolute path, e.g. `/params/encoder/attention_0/query`.
    var path: String { get }
}

public enum HDF5ObjectKind: Sendable { case group, dataset }

extension HDF5Object {
    /// The absolute, normalised path of `name` taken relative to this object.
    func resolve(_ name: String) -> String {
        let base = name.hasPrefix("/") ? [] : path.split(separator: "/")
        return "/" + (base + name.split(separator: "/")).joined(separator: "/")
    }
}

public struct HDF5Group: HDF5Object {
    public let file: HDF5File
    public let path: String

    /// Creates the group `name`, and any missing groups on the way to it.
    @discardableResult
    public func createGroup(_ name: String) throws -> HDF5Group {
        let full = resolve(name)
        try file.withOpenFile(object: full) { id, site in
            guard try objectKind(id, full) == nil else {
                throw site.error(.alreadyExists, "H5Gcreate2", "an object with this path already exists")
            }
            let links = try linkCreationList(site)
            defer { H5Pclose(links) }
            let group = try site.check(H5Gcreate2(id, full, links, vt_h5p_default(), vt_h5p_default()), "H5Gcreate2")
            try site.check(H5Gclose(group), "H5Gclose")
        }
        return HDF5Group(file: file, path: full)
    }

    /// The existing group `name`.
    public func group(_ name: String) throws -> HDF5Group {
        HDF5Group(file: file, path: try require(name, .group))
    }

    /// The existing dataset `name`.
    public func dataset(_ name: String) throws -> HDF5Dataset {
        HDF5Dataset(file: file, path: try require(name, .dataset))
    }

    /// Whether `name` (any depth) is a group or dataset; nil if nothing is there.
    public func kind(of name: String) throws -> HDF5ObjectKind? {
        let full = resolve(name)
        return try file.withOpenFile(object: full) { id, _ in try objectKind(id, full) }
    }

    public func contains(_ name: String) throws -> Bool { try kind(of: name) != nil }

    /// The names of the group's direct children, sorted by name.
    public func children() throws -> [String] {
        try file.withOpenFile(object: path) { id, site in try childNames(id, path, site) }
    }

    /// The absolute paths of every dataset below this group, at any depth, sorted.
    public func datasetPaths() throws -> [String] {
        try file.withOpenFile(object: path) { id, site in
            var found: [String] = []
            func walk(_ group: String) throws {
                for name in try childNames(id, group, site) {
                    let child = group == "/" ? "/" + name : group + "/" + name
                    switch try objectKind(id, child) {
                    case .dataset?: found.append(child)
                    case .group?: try walk(child)
                    case nil: break  // a dangling link or a committed datatype
                    }
                }
            }
            try walk(path)
            return found.sorted()
        }
    }

    // MARK: Helpers (called under the lock)

    private func require(_ name: String, _ expected: HDF5ObjectKind) throws -> String {
        let full = resolve(name)
        try file.withOpenFile(object: full) { id, site in
            let call = expected == .group ? "HDF5Group.group" : "HDF5Group.dataset"
            switch try objectKind(id, full) {
            case expected?: return
            case nil: throw site.error(.notFound, call, "no \(expected) at this path")
            case let other?: throw site.error(.typeMismatch, call, "this is a \(other), not a \(expected)")
            }
        }
        return full
    }

    private func childNames(_ id: hid_t, _ group: String, _ site: Site) throws -> [String] {
        let handle = try site.check(H5Gopen2(id, group, vt_h5p_default()), "H5Gopen2")
        defer { H5Gclose(handle) }
        var info = H5G_info_t()
        try site.check(H5Gget_info(handle, &info), "H5Gget_info")
        return try (0..<info.nlinks).map { index in
            try readCString { buffer, size in
                Int(try site.check(H5Lget_name_by_idx(handle, ".", H5_INDEX_NAME, H5_ITER_INC, index,
                                                      buffer, size, vt_h5p_default()), "H5Lget_name_by_idx"))
            }
        }
    }
}

/// The kind of object at an absolute path, or nil if some link on the way is missing. A path through a
/// dataset (`/videos/x`) is reported missing, not as an error.
func objectKind(_ id: hid_t, _ path: String) throws -> HDF5ObjectKind? {
    var prefix = ""
    for component in path.split(separator: "/") {
        prefix += "/" + component
        guard H5Lexists(id, prefix, vt_h5p_default()) > 0 else {
            H5Eclear2(hid_t(H5E_DEFAULT))
            return nil
        }
    }
    let object = H5Oopen(id, path, vt_h5p_default())
    guard object >= 0 else {
        H5Eclear2(hid_t(H5E_DEFAULT))
        return nil
    }
    defer { H5Oclose(object) }
    switch H5Iget_type(object) {
    case H5I_GROUP: return .group
    case H5I_DATASET: return .dataset
    default: return nil
    }
}

/// A link-creation property list that creates missing intermediate groups. The caller closes it.
func linkCreationList(_ site: Site) throws -> hid_t {
    let list = try site.check(H5Pcreate(vt_h5p_link_create()), "H5Pcreate")
    do {
        try site.check(H5Pset_create_intermediate_group(list, 1), "H5Pset_create_intermediate_group")
    } catch {
        H5Pclose(list)
        throw error
    }
    return list
}
