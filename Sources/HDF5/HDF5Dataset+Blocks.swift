// HDF5Dataset+Blocks: reading one rectangular block (a hyperslab: `start` and `count` per dimension) of a
// numeric dataset, e.g. frames s..<s+n of video i of `videos` [N,T,H,W,3] is start [i,s,0,0,0], count
// [1,n,H,W,3]: the loader's temporal crops read only the frames they need.
//
// Leaves out: strided or unions of blocks, writing blocks (rows cover what the writers need).

import CHDF5
import _HDF5Shims

extension HDF5Dataset {
    /// Reads the block `start[d] ..< start[d] + count[d]` of every dimension `d` into `buffer` (raw bytes of
    /// the dataset's element type, row-major over the block), after checking the block and the buffer size.
    public func readBlock(start: [Int], count: [Int], into buffer: UnsafeMutableRawBufferPointer) throws {
        try file.withOpenFile(object: path) { id, site in
            let call = "HDF5Dataset.readBlock"
            let dataset = try site.check(H5Dopen2(id, path, vt_h5p_default()), "H5Dopen2")
            defer { H5Dclose(dataset) }
            let type = try site.check(H5Dget_type(dataset), "H5Dget_type")
            defer { H5Tclose(type) }
            guard let element = HDF5ElementType(storedType: type) else {
                throw site.error(.typeMismatch, "H5Dget_type", "unsupported element type for a block read")
            }
            let fileSpace = try site.check(H5Dget_space(dataset), "H5Dget_space")
            defer { H5Sclose(fileSpace) }
            let rank = Int(try site.check(H5Sget_simple_extent_ndims(fileSpace), "H5Sget_simple_extent_ndims"))
            var dimensions = [hsize_t](repeating: 0, count: rank)
            try site.check(H5Sget_simple_extent_dims(fileSpace, &dimensions, nil), "H5Sget_simple_extent_dims")
            let shape = dimensions.map { Int($0) }
            guard start.count == rank, count.count == rank,
                  zip(zip(start, count), shape).allSatisfy({ $0.0 >= 0 && $0.1 >= 0 && $0.0 + $0.1 <= $1 }) else {
                throw site.error(.shapeMismatch, call, "block start \(start) count \(count) is outside shape \(shape)")
            }
            let elements = count.reduce(1, *)
            guard buffer.count == elements * element.byteCount else {
                throw site.error(.shapeMismatch, call, "the buffer has \(buffer.count) bytes, but block \(count) "
                                 + "needs \(elements * element.byteCount) bytes of \(element)")
            }
            guard elements > 0 else { return }
            try site.check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, start.map { hsize_t($0) }, nil,
                                               count.map { hsize_t($0) }, nil), "H5Sselect_hyperslab")
            let memorySpace = try site.check(H5Screate_simple(Int32(rank), count.map { hsize_t($0) }, nil), "H5Screate_simple")
            defer { H5Sclose(memorySpace) }
            try site.check(H5Dread(dataset, element.typeID, memorySpace, fileSpace, vt_h5p_default(), buffer.baseAddress),
                           "H5Dread")
        }
    }
}
