// Trainer+OptimizerSharding: ZeRO stage 1 over the data axis (`distribution.shard_optimizer`, DESIGN.md §9).
//
//   ranges       `optimizerShards` cuts this model shard's flat buffer into D contiguous ranges, one per
//                data rank (FlatPartition: whole chunks of the gradient norm's fixed 64-chunk partition
//                when D divides 64, else balanced on 16 floats) — a pure function of (floats, D)
//   gradients    the bucketed communication thread reduce-scatters each bucket (its overlap with every
//                rank's range), still overlapped with backward: each rank ends up with the sum of its range
//   clipping     Σ g² over the rank's range as the unsharded run's partial sums (per norm chunk, or per
//                tensor with a model axis), all-reduced over the data axis, then summed in the unsharded
//                order: bitwise the same norm when no partial straddles two ranges (D dividing 64, no
//                model axis), the same up to rounding otherwise
//   update       the optimizer's slots cover the rank's range only; it updates those parameters, then the
//                fp32 parameters are all-gathered (MPI_Allgatherv) — the bf16 copy, under bf16, is remade
//                from them at the next forward (`parametersChanged()` at the start of every step)
//   checkpoints  full tensors under DESIGN names: `ShardedStateGather` gathers one tensor at a time onto
//                world rank 0 while the writer writes it (MPI_Gatherv over the data axis, then over the
//                model axis), so no rank ever holds the whole optimizer state; on resume rank 0 verifies
//                the file tensor by tensor, then reads it again, broadcasting one tensor at a time, and
//                every rank keeps its piece — a sharded checkpoint is an ordinary one (any mesh, sharded
//                or not, resumes it, and a sharded run resumes any checkpoint)
//
// Every rank still holds the full fp32 parameters (forward reads them) and the full gradient buffer
// (backward writes it); what shrinks to 1/D is the optimizer slots and the master weights each rank
// updates. Leaves out: ZeRO stages 2 and 3 (sharded gradients, sharded parameters).

import Foundation
import Checkpointing
import Distribution
import Kernels
import Optimization

/// What the training state of one rank occupies (DESIGN.md §9's `state_bytes` and its parts).
public struct StateMemory: Equatable, Sendable {
    /// fp32 parameters this rank holds (all of its model shard: forward reads them).
    public var parameterBytes: Int
    public var gradientBytes: Int
    public var optimizerSlotBytes: Int
    /// The bf16 copy of the weights (bf16 runs).
    public var lowPrecisionWeightBytes: Int
    /// fp32 master weights this rank updates: its range under ZeRO-1, else all of them.
    public var masterWeightBytes: Int

    /// Parameters, gradients, optimizer slots and bf16 weights held (`vt bench`'s `state_bytes`).
    public var stateBytes: Int { parameterBytes + gradientBytes + optimizerSlotBytes + lowPrecisionWeightBytes }
    /// Optimizer slots plus the master weights they update: what ZeRO-1 divides by D.
    public var optimizerStateBytes: Int { optimizerSlotBytes + masterWeightBytes }
}

extension Trainer {
    /// This rank's training state.
    public var stateMemory: StateMemory {
        StateMemory(parameterBytes: model.parameters.bytes, gradientBytes: model.gradients.bytes,
                    optimizerSlotBytes: optimizer.slots.reduce(0) { $0 + $1.bytes },
                    lowPrecisionWeightBytes: model.lowPrecisionWeightBytes,
                    masterWeightBytes: optimizer.range.count * MemoryLayout<Float>.stride)
    }

    /// One line for the log: what this rank holds, and what ZeRO-1 divided.
    public var stateMemorySummary: String {
        let memory = stateMemory
        func mb(_ bytes: Int) -> String { String(format: "%.2f MB", Double(bytes) / 1e6) }
        let held = "parameters \(mb(memory.parameterBytes)) and gradients \(mb(memory.gradientBytes)) in full"
            + (memory.lowPrecisionWeightBytes > 0 ? ", bf16 weights \(mb(memory.lowPrecisionWeightBytes))" : "")
        guard let optimizerShards else {
            return "state per rank: optimizer slots \(mb(memory.optimizerSlotBytes)) + master weights \(mb(memory.masterWeightBytes)) "
                + "= \(mb(memory.optimizerStateBytes)) (not sharded); \(held)"
        }
        let whole = (optimizer.slots.count + 1) * model.parameters.bytes
        return "state per rank: optimizer slots \(mb(memory.optimizerSlotBytes)) + master weights \(mb(memory.masterWeightBytes)) "
            + "= \(mb(memory.optimizerStateBytes)) (ZeRO-1 over data=\(optimizerShards.parts): "
            + String(format: "%.4f", Double(memory.optimizerStateBytes) / Double(whole)) + " of \(mb(whole))); \(held)"
    }

    /// The checkpoint groups in file order: `params`, then `optimizer/<slot>` per slot.
    var stateGroupNames: [String] { ["params"] + optimizer.slotNames.map { "optimizer/\($0)" } }

    // MARK: One step

    /// The whole model's gradient norm from this rank's range of the reduced gradients (same on every rank).
    func shardedGradientNorm(_ shards: FlatPartition) throws -> Double {
        var partials = squaredNormPartials(shards)
        try communicator.allReduceSum(&partials)  // each partial is one rank's value plus zeros: exact
        return try gradientNorm(fromPartials: partials)
    }

    /// `lossSum` summed over the data ranks and the gradient norm, from one all-reduce (the norm's
    /// partials with the loss appended: one rendezvous fewer per step than two all-reduces).
    func shardedLossAndGradientNorm(lossSum: Double, _ shards: FlatPartition) throws -> (lossSum: Double, norm: Double) {
        var values = squaredNormPartials(shards) + [lossSum]
        try communicator.allReduceSum(&values)
        let loss = values.removeLast()
        return (loss, try gradientNorm(fromPartials: values))
    }

    /// This rank's partial sums of g² over its range, laid out as the unsharded norm's: per norm chunk
    /// (`Optimizer.squaredNormPartials`) or, with a model axis, per tensor (`squaredSums`).
    func squaredNormPartials(_ shards: FlatPartition) -> [Double] {
        let range = shards.range(communicator.rank)
        return modelAxis.size > 1
            ? Self.squaredSums(perEntryOf: model.gradients, table: model.layout.table, within: range)
            : Optimizer.squaredNormPartials(model.gradients, within: range)
    }

    /// The norm from the partials summed over the data axis, added in the unsharded run's order (with a
    /// model axis: replicated tensors once, the shards' sums over the model axis in rank order).
    func gradientNorm(fromPartials partials: [Double]) throws -> Double {
        guard modelAxis.size > 1 else { return partials.reduce(0, +).squareRoot() }
        var replicated = 0.0, sharded = 0.0
        for (sum, axis) in zip(partials, model.layout.splitAxes) {
            if axis == nil { replicated += sum } else { sharded += sum }
        }
        let shardSums = try modelAxis.allGather(sharded.bitPattern).map(Double.init(bitPattern:))
        return (replicated + shardSums.reduce(0, +)).squareRoot()
    }

    /// Σ x² of each table entry over its part inside `within` (0 outside), tensors in parallel, each in
    /// order: an entry wholly inside gets exactly the sum `squaredSums` adds for it.
    static func squaredSums(perEntryOf buffer: FloatBuffer, table: ParameterTable, within: Range<Int>) -> [Double] {
        let entries = table.entries
        var sums = [Double](repeating: 0, count: entries.count)
        sums.withUnsafeMutableBufferPointer { sums in
            let base = sums.baseAddress!
            Parallel.chunks(entries.count, chunks: entries.count) { index, _ in
                let entry = entries[index]
                let inside = (entry.offset..<(entry.offset + entry.count)).clamped(to: within)
                var sum = 0.0
                for i in inside { sum += Double(buffer.pointer[i]) * Double(buffer.pointer[i]) }
                base[index] = sum
            }
        }
        return sums
    }

    /// Every data rank's updated range of the parameters to every data rank (in place).
    func allGatherParameters() throws {
        guard let optimizerShards else { return }
        try communicator.allGather(UnsafeMutableBufferPointer(start: model.parameters.pointer, count: model.parameters.count),
                                   counts: optimizerShards.counts(of: 0..<optimizerShards.count))
    }

    // MARK: Resuming

    /// Reads every tensor of `file` once through one scratch tensor (so its names, shapes and checksums are
    /// checked, and a damaged file is found before anything is trusted) without keeping any.
    func verifyTensorByTensor(_ file: CheckpointFile) throws {
        let table = fullLayout.table
        let scratch = FloatBuffer(count: table.entries.map(\.count).max() ?? 1)
        for group in stateGroupNames {
            try file.checkTensorNames(group: group, table: table)
            for entry in table.entries {
                try file.readTensor(group: group, entry: entry, into: Self.bytes(scratch, entry.count))
            }
        }
    }

    /// Collective: world rank 0 reads the checkpoint at `path` (verified by `restore`) one tensor at a
    /// time and broadcasts it; every rank keeps its model shard's part of the parameters and its range of
    /// each optimizer slot. Nothing larger than one tensor is held beyond the rank's own state.
    func scatterShardedState(from path: String?) throws {
        guard let shards = optimizerShards else { return }
        let full = fullLayout.table, local = model.layout.table
        var file: CheckpointFile? = nil
        var failure: Error? = nil
        if isLeader {
            do {
                guard let path else { throw TrainingError("internal: no verified checkpoint to distribute") }
                file = try CheckpointFile(path: path)
                for group in stateGroupNames { try file!.checkTensorNames(group: group, table: full) }
            } catch { failure = error }
        }
        defer { file?.close() }
        let tensor = FloatBuffer(count: full.entries.map(\.count).max() ?? 1)
        let piece = FloatBuffer(count: local.entries.map(\.count).max() ?? 1)
        let range = shards.range(communicator.rank)
        for (group, name) in stateGroupNames.enumerated() {
            for (index, entry) in full.entries.enumerated() {
                if let file, failure == nil {
                    do { try file.readTensor(group: name, entry: entry, into: Self.bytes(tensor, entry.count)) } catch { failure = error }
                }
                try world.broadcast(UnsafeMutableBufferPointer(start: tensor.pointer, count: entry.count), root: 0)
                heartbeat("reading the checkpoint (\(name)/\(entry.name))")
                let shardEntry = local.entries[index]
                var values = UnsafePointer(tensor.pointer)
                if modelAxis.size > 1 {
                    ModelShardPieces.extract(from: tensor.pointer, into: piece.pointer, shape: entry.shape,
                                             axis: model.layout.splitAxes[index], shard: modelAxis.rank, of: modelAxis.size)
                    values = UnsafePointer(piece.pointer)
                }
                if group == 0 {
                    (model.parameters.pointer + shardEntry.offset).update(from: values, count: shardEntry.count)
                } else {
                    let span = shardEntry.offset..<(shardEntry.offset + shardEntry.count)
                    let mine = shards.overlap(of: span, part: communicator.rank)
                    if !mine.isEmpty {
                        (optimizer.slots[group - 1].pointer + (mine.lowerBound - range.lowerBound))
                            .update(from: values + (mine.lowerBound - span.lowerBound), count: mine.count)
                    }
                }
            }
        }
        if try world.allReduceMax(failure == nil ? 0 : 1) != 0 {
            throw failure ?? TrainingError("rank 0 failed while reading the checkpoint for the sharded optimizer state (its message says why)")
        }
    }

    static func bytes(_ buffer: FloatBuffer, _ count: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: buffer.pointer, count: count * MemoryLayout<Float>.stride)
    }
}

// MARK: - Saving

/// The sharded training state as full tensors on world rank 0, one tensor at a time, for the checkpoint
/// writer (`StreamedTensors`): parameters, then each optimizer slot, each in table order. For tensor i,
/// every model column gathers its shard's piece onto data rank 0 (MPI_Gatherv over the data axis; the
/// parameters are already whole there), then data row 0 gathers the M shards onto world rank 0 (over the
/// model axis) and assembles the full tensor. Collective: every rank must pass through every tensor in
/// the same order — rank 0 does from inside the writer, the others (and rank 0 after a failed write)
/// in `finish()`. Holds one tensor (and its M pieces), never a whole group.
public final class ShardedStateGather {
    let trainer: Trainer
    let shards: FlatPartition
    let full: ParameterTable
    let groups: [String]
    /// The next tensor to gather, counted over (group, entry).
    private var next = 0
    private let piece: FloatBuffer, stack: FloatBuffer, assembled: FloatBuffer

    /// Collective only in that every rank must build one before a save.
    public init(trainer: Trainer) throws {
        guard let shards = trainer.optimizerShards else { throw TrainingError("internal: the optimizer state is not sharded") }
        if trainer.isLeader && (trainer.communicator.rank != 0 || trainer.modelAxis.rank != 0) {
            throw TrainingError("internal: world rank 0 must be data rank 0 and model rank 0 to gather the checkpoint")
        }
        self.trainer = trainer
        self.shards = shards
        full = trainer.fullLayout.table
        groups = trainer.stateGroupNames
        let largestPiece = trainer.model.layout.table.entries.map(\.count).max() ?? 1
        let modelAxis = trainer.modelAxis.size
        piece = FloatBuffer(count: largestPiece)
        stack = FloatBuffer(count: modelAxis > 1 && trainer.communicator.rank == 0 ? modelAxis * largestPiece : 0)
        assembled = FloatBuffer(count: modelAxis > 1 && trainer.isLeader ? full.entries.map(\.count).max() ?? 1 : 0)
    }

    var total: Int { groups.count * full.entries.count }

    /// The writer's view: one streamed group per checkpoint group.
    public var streamedTensors: [StreamedTensors] {
        groups.enumerated().map { group, name in
            StreamedTensors(group: name, table: full) { [unowned self] entry in try self.tensor(group: group, entry: entry) }
        }
    }

    /// Tensor `entry` of group `group`, which must be the next one (on world rank 0).
    func tensor(group: Int, entry: Int) throws -> UnsafeBufferPointer<Float> {
        guard group * full.entries.count + entry == next else {
            throw TrainingError("internal: checkpoint tensor \(groups[group])/\(full.entries[entry].name) requested out of order")
        }
        guard let values = try gatherNext() else { throw TrainingError("internal: only world rank 0 receives checkpoint tensors") }
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
        let data = trainer.communicator, modelAxis = trainer.modelAxis
        let shardEntry = trainer.model.layout.table.entries[index]
        trainer.heartbeat("saving the checkpoint (\(groups[group])/\(shardEntry.name))")
        // 1. This model shard's tensor on data rank 0.
        var part = UnsafeBufferPointer(start: trainer.model.parameters.pointer + shardEntry.offset, count: shardEntry.count)
        if group > 0 {
            let slot = trainer.optimizer.slots[group - 1]
            let span = shardEntry.offset..<(shardEntry.offset + shardEntry.count)
            let mine = shards.overlap(of: span, part: data.rank)
            let local = UnsafeBufferPointer(start: mine.isEmpty ? slot.pointer : slot.pointer + (mine.lowerBound - shards.range(data.rank).lowerBound),
                                            count: mine.count)
            try data.gather(local, into: UnsafeMutableBufferPointer(start: piece.pointer, count: data.rank == 0 ? shardEntry.count : 0),
                            counts: shards.counts(of: span), root: 0)
            part = UnsafeBufferPointer(start: piece.pointer, count: shardEntry.count)
        }
        if modelAxis.size == 1 { return trainer.isLeader ? part : nil }
        // 2. The M shards of data row 0 on world rank 0, assembled into the full tensor.
        guard data.rank == 0 else { return nil }
        let m = modelAxis.size
        try modelAxis.gather(part, into: UnsafeMutableBufferPointer(start: stack.pointer, count: modelAxis.rank == 0 ? m * shardEntry.count : 0),
                             counts: Array(repeating: shardEntry.count, count: m), root: 0)
        guard trainer.isLeader else { return nil }
        let entry = full.entries[index]
        for shard in 0..<m {
            ModelShardPieces.insert(UnsafePointer(stack.pointer + shard * shardEntry.count), into: assembled.pointer, shape: entry.shape,
                                    axis: trainer.model.layout.splitAxes[index], shard: shard, of: m)
        }
        return UnsafeBufferPointer(start: assembled.pointer, count: entry.count)
    }
}

// MARK: - Model shards inside one tensor

/// Where model shard `shard` of `count` sits inside one full tensor of `shape` split along `axis` (nil:
/// replicated, the shard is the whole tensor) — `ShardLayout`'s pieces, for a tensor on its own (a
/// message) rather than a whole flat buffer: one run per index of the axes before `axis`, each
/// `shape[axis]/count × (product of the axes after axis)` long.
enum ModelShardPieces {
    /// Calls `body(offset in the full tensor, offset in the shard's tensor, length)` for every run.
    static func forEach(shape: [Int], axis: Int?, shard: Int, of count: Int, _ body: (Int, Int, Int) -> Void) {
        guard let axis, count > 1 else { body(0, 0, shape.reduce(1, *)); return }
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        let length = shape[axis], part = length / count
        for o in 0..<outer { body((o * length + shard * part) * inner, o * part * inner, part * inner) }
    }

    static func extract(from tensor: UnsafePointer<Float>, into piece: UnsafeMutablePointer<Float>, shape: [Int], axis: Int?,
                        shard: Int, of count: Int) {
        forEach(shape: shape, axis: axis, shard: shard, of: count) { fullOffset, shardOffset, length in
            (piece + shardOffset).update(from: tensor + fullOffset, count: length)
        }
    }

    static func insert(_ piece: UnsafePointer<Float>, into tensor: UnsafeMutablePointer<Float>, shape: [Int], axis: Int?,
                       shard: Int, of count: Int) {
        forEach(shape: shape, axis: axis, shard: shard, of: count) { fullOffset, shardOffset, length in
            (tensor + fullOffset).update(from: piece + shardOffset, count: length)
        }
    }
}
