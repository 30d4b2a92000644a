// MPICommunicator: `Communicator` over an Open MPI communicator. Counts above Int32.max are sent in
// chunks (MPI counts are `int`). `duplicate()` gives the communication thread and the heartbeat their own
// message space (MPI_Comm_dup). The segmented collectives of
// ZeRO stage 1 are single MPI calls (MPI_Reduce_scatter, MPI_Allgatherv, MPI_Gatherv), whose counts and
// displacements are `int`: a buffer of more than Int32.max floats is refused with a message.
// Left out: point-to-point, derived datatypes, MPI_Cart_shift neighbours.
#if canImport(Glibc)
import Glibc
#endif
import CMPI
import _MPIShims

public final class MPICommunicator: Communicator, @unchecked Sendable {
    /// The MPI handle; freed in deinit unless it is MPI_COMM_WORLD.
    let handle: MPI_Comm
    private let ownsHandle: Bool
    public let rank: Int
    public let size: Int

    /// MPI_COMM_WORLD (MPI must be initialised; see `MPIRuntime.world()`).
    convenience init(world: Void) throws {
        try self.init(handle: vt_mpi_comm_world(), owns: false)
    }

    init(handle: MPI_Comm, owns: Bool) throws {
        self.handle = handle
        ownsHandle = owns
        var value: Int32 = 0
        try MPIRuntime.call("MPI_Comm_rank") { MPI_Comm_rank(handle, &value) }
        rank = Int(value)
        try MPIRuntime.call("MPI_Comm_size") { MPI_Comm_size(handle, &value) }
        size = Int(value)
    }

    deinit {
        guard ownsHandle, !MPIRuntime.isFinalised else { return }
        var comm: MPI_Comm? = handle
        try? MPIRuntime.call("MPI_Comm_free") { MPI_Comm_free(&comm) }
    }

    public func barrier() throws {
        try MPIRuntime.call("MPI_Barrier") { MPI_Barrier(handle) }
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) throws {
        try allReduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, vt_mpi_float(), operation)
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation) throws {
        try allReduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, vt_mpi_double(), operation)
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation) throws {
        try allReduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, vt_mpi_int64(), operation)
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws {
        try broadcast(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, vt_mpi_float(), root: root)
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        try broadcast(bytes.baseAddress, bytes.count, vt_mpi_byte(), root: root)
    }

    public func allGather(_ value: UInt64) throws -> [UInt64] {
        var send = value
        var result = [UInt64](repeating: 0, count: size)
        try result.withUnsafeMutableBufferPointer { output in
            try MPIRuntime.call("MPI_Allgather") {
                MPI_Allgather(&send, 1, vt_mpi_uint64(), output.baseAddress, 1, vt_mpi_uint64(), handle)
            }
        }
        return result
    }

    public func split(color: Int, key: Int) throws -> any Communicator {
        guard color >= 0, color <= Int(Int32.max) else {
            throw DistributedError.invalidArgument("split color \(color) must be in 0...Int32.max")
        }
        var newHandle: MPI_Comm? = nil
        try MPIRuntime.call("MPI_Comm_split") { MPI_Comm_split(handle, Int32(color), Int32(clamping: key), &newHandle) }
        return try MPICommunicator(handle: newHandle!, owns: true)
    }

    // MARK: Segmented collectives (ZeRO stage 1)

    /// MPI_Reduce_scatter in place: MPI leaves this rank's sum at the start of `buffer`; it is moved to
    /// the segment's own place (memmove: the two may overlap).
    public func reduceScatterSum(_ buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws {
        let starts = try checkSegments(counts, total: buffer.count)
        var counts32 = try int32(counts, total: buffer.count, what: "reduce-scatter")
        guard buffer.count > 0 else { return }
        try MPIRuntime.call("MPI_Reduce_scatter") {
            MPI_Reduce_scatter(vt_mpi_in_place(), buffer.baseAddress, &counts32, vt_mpi_float(), vt_mpi_sum(), handle)
        }
        if starts[rank] > 0 && counts[rank] > 0 {
            memmove(buffer.baseAddress! + starts[rank], buffer.baseAddress!, counts[rank] * MemoryLayout<Float>.stride)
        }
    }

    public func allGather(_ buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws {
        let starts = try checkSegments(counts, total: buffer.count)
        var counts32 = try int32(counts, total: buffer.count, what: "all-gather")
        var displacements = starts.map { Int32($0) }
        guard buffer.count > 0 else { return }
        try MPIRuntime.call("MPI_Allgatherv") {
            MPI_Allgatherv(vt_mpi_in_place(), 0, vt_mpi_float(), buffer.baseAddress, &counts32, &displacements,
                           vt_mpi_float(), handle)
        }
    }

    public func gather(_ part: UnsafeBufferPointer<Float>, into whole: UnsafeMutableBufferPointer<Float>, counts: [Int], root: Int) throws {
        try checkRoot(root)
        let total = counts.reduce(0, +)
        let starts = try checkSegments(counts, total: total)
        try checkGather(part: part, whole: whole, counts: counts, root: root)
        var counts32 = try int32(counts, total: total, what: "gather")
        var displacements = starts.map { Int32($0) }
        guard total > 0 else { return }
        try MPIRuntime.call("MPI_Gatherv") {
            MPI_Gatherv(part.baseAddress, Int32(part.count), vt_mpi_float(), rank == root ? whole.baseAddress : nil,
                        &counts32, &displacements, vt_mpi_float(), Int32(root), handle)
        }
    }

    /// `counts` as MPI ints, when the whole buffer's offsets fit in one.
    private func int32(_ counts: [Int], total: Int, what: String) throws -> [Int32] {
        guard total <= Int(Int32.max) else {
            throw DistributedError.invalidArgument("a \(what) over \(total) floats exceeds MPI's int counts and displacements (at most \(Int32.max))")
        }
        return counts.map { Int32($0) }
    }

    // MARK: Pieces for the device mesh and the bucketed all-reduce

    /// A communicator with the same ranks but its own message space (MPI_Comm_dup), so collectives on
    /// it never interleave with collectives the caller issues on `self`.
    func duplicate() throws -> MPICommunicator {
        var newHandle: MPI_Comm? = nil
        try MPIRuntime.call("MPI_Comm_dup") { MPI_Comm_dup(handle, &newHandle) }
        return try MPICommunicator(handle: newHandle!, owns: true)
    }

    // MARK: Chunked blocking collectives

    private func allReduce(_ base: UnsafeMutableRawPointer?, _ count: Int, _ type: MPI_Datatype,
                           _ operation: ReductionOperation) throws {
        let op: MPI_Op
        switch operation {
        case .sum: op = vt_mpi_sum()
        case .max: op = vt_mpi_max()
        case .min: op = vt_mpi_min()
        }
        try forEachChunk(base, count, type) { chunk, chunkCount in
            try MPIRuntime.call("MPI_Allreduce") {
                MPI_Allreduce(vt_mpi_in_place(), chunk, chunkCount, type, op, handle)
            }
        }
    }

    private func broadcast(_ base: UnsafeMutableRawPointer?, _ count: Int, _ type: MPI_Datatype, root: Int) throws {
        try checkRoot(root)
        try forEachChunk(base, count, type) { chunk, chunkCount in
            try MPIRuntime.call("MPI_Bcast") { MPI_Bcast(chunk, chunkCount, type, Int32(root), handle) }
        }
    }

    private func forEachChunk(_ base: UnsafeMutableRawPointer?, _ count: Int, _ type: MPI_Datatype,
                              _ body: (UnsafeMutableRawPointer?, Int32) throws -> Void) throws {
        var elementSize: Int32 = 0
        try MPIRuntime.call("MPI_Type_size") { MPI_Type_size(type, &elementSize) }
        var start = 0
        repeat {
            let chunkCount = min(count - start, Int(Int32.max))
            try body(base.map { $0 + start * Int(elementSize) }, Int32(chunkCount))
            start += chunkCount
        } while start < count
    }
}
