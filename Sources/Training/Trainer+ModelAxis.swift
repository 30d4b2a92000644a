// Trainer+ModelAxis: what a model shard changes outside the model itself (DESIGN.md §4).
//
//   activations      the model sums row-split products and column-split input gradients over the
//                    model axis (`modelAxisReduce`, a blocking all-reduce on the main thread)
//   gradient norm    Σ g² over replicated tensors (equal on every shard) + Σ over ranks of Σ g² of the
//                    sharded ones, added in rank order so every shard clips by the same factor
//   consistency      each shard is checked across its data axis; the replicated tensors across the
//                    model axis
//   checkpoints      always full tensors (TrainerCheckpoint.swift)
//
// Leaves out: pipeline stages, sequence sharding. (Sharded optimizer state across the data axis, ZeRO-1,
// is Trainer+OptimizerSharding.swift.)

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

extension Trainer {
    /// The model's activation sum over `axis`, its time added to `timer`. A failure inside a layer cannot
    /// be unwound, so it ends the job with a message.
    static func modelAxisReduce(_ axis: any Communicator, timer: ModelAxisTimer = ModelAxisTimer()) -> ModelAxisReduce {
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

    /// Whole-model gradient norm (the same value on every rank).
    func gradientNorm() throws -> Double {
        if let optimizerShards { return try shardedGradientNorm(optimizerShards) }  // ZeRO-1: this rank's range only
        guard modelAxis.size > 1 else { return Optimizer.globalNorm(model.gradients) }
        let (replicated, sharded) = Self.squaredSums(model.gradients, layout: model.layout)
        let shards = try modelAxis.allGather(sharded.bitPattern).map(Double.init(bitPattern:))
        return (replicated + shards.reduce(0, +)).squareRoot()
    }

    /// Σ x² over the replicated and over the sharded tensors of `buffer`: one sum per tensor (tensors in
    /// parallel), added in table order, so the result does not depend on the core count.
    static func squaredSums(_ buffer: FloatBuffer, layout: ModelParameters) -> (replicated: Double, sharded: Double) {
        let entries = layout.table.entries
        var sums = [Double](repeating: 0, count: entries.count)
        sums.withUnsafeMutableBufferPointer { sums in
            let base = sums.baseAddress!
            Parallel.chunks(entries.count, chunks: entries.count) { index, _ in
                let values = buffer.pointer + entries[index].offset
                var sum = 0.0
                for i in 0..<entries[index].count { sum += Double(values[i]) * Double(values[i]) }
                base[index] = sum
            }
        }
        var replicated = 0.0, sharded = 0.0
        for (sum, axis) in zip(sums, layout.splitAxes) {
            if axis == nil { replicated += sum } else { sharded += sum }
        }
        return (replicated, sharded)
    }

    /// Checks that every rank of each data axis holds the same shard and that every shard holds the same
    /// replicated tensors; returns the checksum of this rank's parameters.
    @discardableResult
    func verifyParameters() throws -> UInt64 {
        let checksum = communicator.size > 1
            ? try ParameterChecksum.verify(model.parameters, communicator: communicator, step: step, axis: "data")
            : ParameterChecksum.of(model.parameters)
        if modelAxis.size > 1 {
            let table = model.layout.table
            let replicated = zip(table.entries, model.layout.splitAxes).filter { $0.1 == nil }.map(\.0)
            try ParameterChecksum.verify(model.parameters, entries: replicated, communicator: modelAxis, step: step,
                                         axis: "model (replicated tensors)")
        }
        return checksum
    }
}
