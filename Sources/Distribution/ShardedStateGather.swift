// ShardedStateGather: training state sharded over a data × model mesh, as full tensors on world rank 0,
// one tensor at a time — the save side of ZeRO stage 1 (docs/design.md §9), so that no rank ever holds the
// whole optimizer state.
//
// The state is groups of tensors laid out by one parameter table: group 0 is the parameters (every data
// rank holds all of its model shard's), groups 1… are optimizer slots (data rank r holds range r of its
// model shard's flat buffer, `FlatPartition`). Tensor i of a group is gathered in two hops:
//   1. data axis    every model column gathers its shard's piece onto data rank 0 (MPI_Gatherv over the
//                   ranks' overlaps with the tensor; parameters are already whole there)
//   2. model axis   data row 0 gathers the M shards onto world rank 0 (MPI_Gatherv), which assembles the
//                   full tensor (`ModelShardPieces`; the tensor's split axis from `splitAxes`)
// Collective: every rank must pass through every tensor in the same order — world rank 0 as the checkpoint
// writer asks for them (`tensor(group:entry:)`), the others (and rank 0 after a failed write) in
// `finish()`. Holds one tensor and its M pieces, never a whole group.
//
// Leaves out: files (the caller hands the tensors to its writer), the way back (resuming reads a tensor
// at a time and broadcasts it: Training), which tensors split along which axis (the caller's layout).
import Kernels

public final class ShardedStateGather {
    /// The checkpoint groups in order: the parameters' name, then one per optimizer slot.
    public let groups: [String]
    /// The whole model's table (the full tensors' shapes and names).
    public let full: ParameterTable
    private let dataAxis: any Communicator, modelAxis: any Communicator
    private let isRoot: Bool
    private let partition: FlatPartition
    private let shardTable: ParameterTable
    private let splitAxes: [Int?]
    private let parameters: FloatBuffer, slots: [FloatBuffer]
    private let progress: (_ group: String, _ tensor: String) -> Void
    /// The next tensor to gather, counted over (group, entry).
    private var next = 0
    private let piece: FloatBuffer, stack: FloatBuffer, assembled: FloatBuffer

    /// `isRoot`: this is world rank 0 (which must be data rank 0 and model rank 0). `shardTable` and
    /// `splitAxes` (per entry: the axis split over the model axis, nil when replicated) describe this
    /// rank's model shard; `parameters` is laid out by it, `slots` hold this data rank's `partition`
    /// range of it. `groups` names the parameters and then each slot. `progress(group, tensor)` is
    /// called before each tensor's gather (a watchdog's heartbeat). Collective only in that every rank
    /// must build one before a save.
    public init(dataAxis: any Communicator, modelAxis: any Communicator, isRoot: Bool, partition: FlatPartition,
                full: ParameterTable, shardTable: ParameterTable, splitAxes: [Int?], parameters: FloatBuffer, slots: [FloatBuffer],
                groups: [String], progress: @escaping (_ group: String, _ tensor: String) -> Void = { _, _ in }) throws {
        precondition(groups.count == slots.count + 1 && shardTable.entries.count == full.entries.count && splitAxes.count == full.entries.count,
                     "ShardedStateGather: one group per buffer, one split axis per tensor")
        if isRoot && (dataAxis.rank != 0 || modelAxis.rank != 0) {
            throw DistributedError.internalError("world rank 0 must be data rank 0 and model rank 0 to gather the checkpoint")
        }
        self.dataAxis = dataAxis; self.modelAxis = modelAxis; self.isRoot = isRoot
        self.partition = partition; self.full = full; self.shardTable = shardTable; self.splitAxes = splitAxes
        self.parameters = parameters; self.slots = slots; self.groups = groups; self.progress = progress
        let largestPiece = shardTable.entries.map(\.count).max() ?? 1
        let m = modelAxis.size
        piece = FloatBuffer(count: largestPiece)
        stack = FloatBuffer(count: m > 1 && dataAxis.rank == 0 ? m * largestPiece : 0)
        assembled = FloatBuffer(count: m > 1 && isRoot ? full.entries.map(\.count).max() ?? 1 : 0)
    }

    /// Tensors in all groups.
    public var total: Int { groups.count * full.entries.count }

    /// Tensor `entry` of group `group`, which must be the next one (on world rank 0); valid until the next call.
    public func tensor(group: Int, entry: Int) throws -> UnsafeBufferPointer<Float> {
        guard group * full.entries.count + entry == next else {
            throw DistributedError.internalError("checkpoint tensor \(groups[group])/\(full.entries[entry].name) requested out of order")
        }
        guard let values = try gatherNext() else { throw DistributedError.internalError("only world rank 0 receives checkpoint tensors") }
        return values
    }

    /// Takes part in every gather not done yet.
    public func finish() throws {
        while next < total { _ = try gatherNext() }
    }

    /// Gathers tensor `next`; returns it on world rank 0, nil elsewhere.
    private func gatherNext() throws -> UnsafeBufferPointer<Float>? {
        let (group, index) = next.quotientAndRemainder(dividingBy: full.entries.count)
        next += 1
        let data = dataAxis
        let shardEntry = shardTable.entries[index]
        progress(groups[group], shardEntry.name)
        // 1. This model shard's tensor on data rank 0.
        var part = UnsafeBufferPointer(start: parameters.pointer + shardEntry.offset, count: shardEntry.count)
        if group > 0 {
            let slot = slots[group - 1]
            let span = shardEntry.offset..<(shardEntry.offset + shardEntry.count)
            let mine = partition.overlap(of: span, part: data.rank)
            let local = UnsafeBufferPointer(start: mine.isEmpty ? slot.pointer : slot.pointer + (mine.lowerBound - partition.range(data.rank).lowerBound),
                                            count: mine.count)
            try data.gather(local, into: UnsafeMutableBufferPointer(start: piece.pointer, count: data.rank == 0 ? shardEntry.count : 0),
                            counts: partition.counts(of: span), root: 0)
            part = UnsafeBufferPointer(start: piece.pointer, count: shardEntry.count)
        }
        if modelAxis.size == 1 { return isRoot ? part : nil }
        // 2. The M shards of data row 0 on world rank 0, assembled into the full tensor.
        guard data.rank == 0 else { return nil }
        let m = modelAxis.size
        try modelAxis.gather(part, into: UnsafeMutableBufferPointer(start: stack.pointer, count: modelAxis.rank == 0 ? m * shardEntry.count : 0),
                             counts: Array(repeating: shardEntry.count, count: m), root: 0)
        guard isRoot else { return nil }
        let entry = full.entries[index]
        for shard in 0..<m {
            ModelShardPieces.insert(UnsafePointer(stack.pointer + shard * shardEntry.count), into: assembled.pointer, shape: entry.shape,
                                    axis: splitAxes[index], shard: shard, of: m)
        }
        return UnsafeBufferPointer(start: assembled.pointer, count: entry.count)
    }
}
