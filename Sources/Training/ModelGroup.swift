// ModelGroup: the ranks that hold the other shards of this rank's model — its row of the model axis
// (docs/design.md §4: heads and d_ff split over M ranks) — and what a model shard changes outside the model:
//
//   activations     the model sums row-split products and column-split input gradients over the group
//                   (`activationReduce`: a blocking all-reduce on the main thread, timed by ModelAxisTimer)
//   gradient norm   Σ g² over the replicated tensors (equal on every shard) + Σ over ranks of Σ g² of the
//                   split ones, added in rank order, so every shard clips by the same factor
//   consistency     the replicated tensors must be bitwise equal across the group
//
// Every GradientSynchronization composes one in: the norm is always asked of the group, from partial sums
// of g² laid out as the group adds them — per tensor for a shard, per fixed norm chunk of the flat buffer
// for a whole model (a group of one, where the norm is Optimizer.globalNorm's and nothing is checked).
// A sharded optimizer (ZeRO-1) hands in partials over its range only, summed over the data axis first.
//
// Leaves out: checkpoints (TrainerCheckpoint.swift: always full tensors), pipeline stages, sequence sharding.

import Common
import Foundation
import Distribution
import Kernels
import Optimization
import VideoModel

/// Time spent in the model axis's activation all-reduces (they block the main thread: all of it is exposed).
public final class ModelAxisTimer: @unchecked Sendable {  // touched by the main thread only
    public var seconds = 0.0
    /// Each all-reduce's (start, end) in monotonic seconds, for the step's trace (`--timeline`).
    public var intervals: [(start: Double, end: Double)] = []
    public init() {}

    /// Starts a new step.
    public func reset() { seconds = 0; intervals.removeAll(keepingCapacity: true) }
}

struct ModelGroup {
    /// The model axis of this rank (size 1: a whole model).
    let communicator: any Communicator
    /// This shard's parameter table, and per tensor the axis split over the group (nil: replicated).
    let table: ParameterTable
    let splitAxes: [Int?]

    init(communicator: any Communicator, layout: ModelParameters) {
        self.communicator = communicator
        table = layout.table
        splitAxes = layout.splitAxes
    }

    /// The model's activation sum over `axis`, its time added to `timer`. A failure inside a layer cannot
    /// be unwound, so it ends the job with a message.
    static func activationReduce(over axis: any Communicator, timer: ModelAxisTimer = ModelAxisTimer()) -> ModelAxisReduce {
        { pointer, count in
            do {
                let start = monotonicSeconds()
                try axis.allReduceSum(UnsafeMutableBufferPointer(start: pointer, count: count))
                let end = monotonicSeconds()
                timer.seconds += end - start
                timer.intervals.append((start, end))
            } catch {
                FileHandle.standardError.write(Data("error: rank \(axis.rank) of the model axis: activation all-reduce failed: \(error)\n".utf8))
                MPIRuntime.abort(code: 3)
            }
        }
    }

    // MARK: Gradient norm

    /// Partial sums of g² over the part of `gradients` inside `range`, laid out as the norm adds them: per
    /// norm chunk of a whole model (`Optimizer.squaredNormPartials`), per tensor of a shard. A chunk or
    /// tensor wholly inside `range` gets exactly the sum the whole buffer's norm adds for it, so adding the
    /// data ranks' partials (each one rank's value plus zeros: exact) gives the unsharded partials.
    func squaredNormPartials(_ gradients: FloatBuffer, within range: Range<Int>) -> [Double] {
        communicator.size > 1
            ? Self.squaredSums(perEntryOf: gradients, table: table, within: range)
            : Optimizer.squaredNormPartials(gradients, within: range)
    }

    /// The whole model's gradient norm (the same on every rank) from partials that cover this shard's
    /// whole flat buffer: a whole model's are summed in chunk order; a shard's replicated tensors count
    /// once and its split ones are summed over the group in rank order.
    func gradientNorm(fromPartials partials: [Double]) throws -> Double {
        guard communicator.size > 1 else { return partials.reduce(0, +).squareRoot() }
        var replicated = 0.0, sharded = 0.0
        for (sum, axis) in zip(partials, splitAxes) {
            if axis == nil { replicated += sum } else { sharded += sum }
        }
        let shardSums = try communicator.allGather(sharded.bitPattern).map(Double.init(bitPattern:))
        return (replicated + shardSums.reduce(0, +)).squareRoot()
    }

    /// The whole model's gradient norm from this rank's (data-axis summed) gradients.
    func gradientNorm(of gradients: FloatBuffer) throws -> Double {
        try gradientNorm(fromPartials: squaredNormPartials(gradients, within: 0..<gradients.count))
    }

    /// Σ x² of each table entry over its part inside `within` (0 outside), tensors in parallel, each in
    /// order, so the result does not depend on the core count.
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

    // MARK: Consistency

    /// Checks that every shard of the group holds the same replicated tensors (nothing to check for a whole
    /// model). Each shard against its data axis is the GradientSynchronization's check.
    func verifyReplicatedTensors(_ parameters: FloatBuffer, step: Int) throws {
        guard communicator.size > 1 else { return }
        let replicated = zip(table.entries, splitAxes).filter { $0.1 == nil }.map(\.0)
        try ParameterChecksum.verify(parameters, entries: replicated, communicator: communicator, step: step,
                                     axis: "model (replicated tensors)")
    }
}
