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
//   checkpoints  full tensors under DESIGN names, gathered and scattered one tensor at a time
//                (TrainerCheckpoint.swift, Distribution's ShardedStateGather): a sharded checkpoint is an
//                ordinary one (any mesh, sharded or not, resumes it, and a sharded run resumes any checkpoint)
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
}
