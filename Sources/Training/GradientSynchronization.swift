// GradientSynchronization: how one step's gradients become the global batch's and how every rank's
// parameters stay the same — one interface, one type per way (each in its own file):
//
//   SingleRank            one data rank: nothing to sum
//   ReplicatedAllReduce   every data rank sums every gradient (bucket by bucket while backward runs,
//                         docs/design.md §4), clips by the whole norm and applies the same update
//   ShardedOptimizer      ZeRO-1 (`distribution.shard_optimizer`, docs/design.md §9): each data rank reduces,
//                         clips and updates its range of the flat buffer, then the parameters are all-gathered
//
// The model axis is not a fourth way but part of each: a ModelGroup (ModelGroup.swift) composes the gradient
// norm over replicated and split tensors and checks the replicated tensors across the group.
//
// The step's side of the contract, in order:
//   backward(model)            the last micro-batch's backward (gradients may start moving as it finishes them)
//   synchronize(lossSum:)      after backward: gradients and loss summed as far as the update needs
//   gradientNorm()             the whole model's norm, the same on every rank (what the update clips by)
//   … the optimizer updates this rank's parameters (its `optimizerShards` range, if any) …
//   parametersUpdated()        every rank's parameters equal again
// Communication spans and times go into the step's trace. Leaves out: the update itself (Optimization), the
// model axis's activation all-reduces (inside the model's forward and backward), checkpoints.

import Distribution
import Kernels
import VideoModel

protocol GradientSynchronization: AnyObject {
    /// ZeRO-1's ranges of the flat buffer, range r what data rank r reduces, updates and keeps optimizer
    /// slots for (nil: every rank updates all of it).
    var optimizerShards: FlatPartition? { get }
    /// Runs `model`'s backward of the step's last micro-batch.
    func backward(_ model: VideoTransformer) throws
    /// After backward: sums the gradients over the data axis (as far as this way needs before the update)
    /// and `lossSum`; returns the summed loss.
    func synchronize(lossSum: Double, trace: inout StepTrace) throws -> Double
    /// The whole model's gradient norm, the same on every rank.
    func gradientNorm() throws -> Double
    /// After the optimizer's update: makes every data rank's parameters whole and equal again.
    func parametersUpdated(trace: inout StepTrace) throws
    /// Data rank 0's parameters to every data rank (at start and after a resume).
    func broadcastParameters() throws
    /// Checks that every data rank holds the same parameters and every model shard the same replicated
    /// tensors (throws naming the ranks that differ); returns this rank's checksum. `step` is for messages.
    @discardableResult
    func verifyParameters(step: Int) throws -> UInt64
}

extension GradientSynchronization {
    var optimizerShards: FlatPartition? { nil }
}

/// A way with several data ranks: they start from data rank 0's parameters and check, by checksum, that
/// they still hold the same ones (and every model shard the same replicated tensors).
protocol DataParallelSynchronization: GradientSynchronization {
    var dataAxis: any Communicator { get }
    var modelGroup: ModelGroup { get }
    var parameters: FloatBuffer { get }
}

extension DataParallelSynchronization {
    func broadcastParameters() throws {
        try dataAxis.broadcast(UnsafeMutableBufferPointer(start: parameters.pointer, count: parameters.count), root: 0)
    }

    func verifyParameters(step: Int) throws -> UInt64 {
        let checksum = try ParameterChecksum.verify(parameters, communicator: dataAxis, step: step, axis: "data")
        try modelGroup.verifyReplicatedTensors(parameters, step: step)
        return checksum
    }
}

/// The way for this mesh and config: one data rank (whatever the model axis), ZeRO-1 when
/// `distribution.shard_optimizer` is on, else the replicated all-reduce. Collective over the data axis
/// (the bucketed reducer duplicates its communicator).
func makeGradientSynchronization(config: RunConfig, model: VideoTransformer, dataAxis: any Communicator,
                                 modelAxis: any Communicator) throws -> any GradientSynchronization {
    let group = ModelGroup(communicator: modelAxis, layout: model.layout)
    guard dataAxis.size > 1 else { return SingleRank(model: model, modelGroup: group) }
    let bucketBytes = Int(config.distribution.bucketMegabytes * 1_000_000)
    if config.distribution.shardOptimizer {
        return try ShardedOptimizer(model: model, dataAxis: dataAxis, modelGroup: group, bucketBytes: bucketBytes)
    }
    return try ReplicatedAllReduce(model: model, dataAxis: dataAxis, modelGroup: group, bucketBytes: bucketBytes)
}

extension BucketedAllReducer {
    /// `model.backward()` with every gradient handed to the reducer the moment backward finishes it, so its
    /// bucket is reduced while backward goes on. Backward cannot throw, so the first readiness error is kept
    /// and thrown afterwards.
    func backward(_ model: VideoTransformer) throws {
        try begin(gradients: UnsafeMutableBufferPointer(start: model.gradients.pointer, count: model.gradients.count))
        var readinessError: Error? = nil
        model.onGradientsReady = { indices in
            do { for index in indices { try self.markReady(index) } } catch { readinessError = readinessError ?? error }
        }
        model.backward()
        model.onGradientsReady = nil
        if let readinessError { throw readinessError }
    }
}
