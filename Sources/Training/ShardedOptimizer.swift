// ShardedOptimizer: the GradientSynchronization of ZeRO stage 1 over the data axis
// (`distribution.shard_optimizer`, docs/design.md §9).
//
//   ranges       `optimizerShards` cuts this model shard's flat buffer into D contiguous ranges, one per
//                data rank (FlatPartition: whole chunks of the gradient norm's fixed 64-chunk partition
//                when D divides 64, else balanced on 16 floats) — a pure function of (floats, D)
//   gradients    the bucketed communication thread reduce-scatters each bucket (its overlap with every
//                rank's range), still overlapped with backward: each rank ends up with the sum of its range
//   clipping     Σ g² over the rank's range as the unsharded run's partial sums (per norm chunk, or per
//                tensor with a model axis: ModelGroup.swift), all-reduced over the data axis with the loss
//                in one message, then summed in the unsharded order: bitwise the same norm when no partial
//                straddles two ranges (D dividing 64, no model axis), the same up to rounding otherwise
//   update       the optimizer's slots cover the rank's range only (Trainer builds it with this rank's
//                range); it updates those parameters, then the fp32 parameters are all-gathered
//                (MPI_Allgatherv) — the bf16 copy, under bf16, is remade from them at the next forward
//                (`parametersChanged()` at the start of every step)
//   checkpoints  full tensors under docs/design.md names, gathered and scattered one tensor at a time
//                (TrainerCheckpoint.swift, Distribution's ShardedStateGather): a sharded checkpoint is an
//                ordinary one (any mesh, sharded or not, resumes it, and a sharded run resumes any checkpoint)
//
// Every rank still holds the full fp32 parameters (forward reads them) and the full gradient buffer
// (backward writes it); what shrinks to 1/D is the optimizer slots and the master weights each rank
// updates (StateMemory.swift). Leaves out: ZeRO stages 2 and 3 (sharded gradients, sharded parameters).

import Common
import Distribution
import Kernels
import Optimization
import VideoModel

final class ShardedOptimizer: DataParallelSynchronization {
    private let shards: FlatPartition
    let dataAxis: any Communicator
    private let reducer: BucketedAllReducer
    let modelGroup: ModelGroup
    let parameters: FloatBuffer
    private let gradients: FloatBuffer
    /// This step's gradient norm: found by `synchronize` (its partials travel with the loss), handed out
    /// once by `gradientNorm()`.
    private var norm: Double?

    /// Collective over `dataAxis` (the reducer duplicates it). `bucketBytes`: `distribution.bucket_megabytes`.
    init(model: VideoTransformer, dataAxis: any Communicator, modelGroup: ModelGroup, bucketBytes: Int) throws {
        guard model.parameters.count <= Int(Int32.max) else {
            throw TrainingError("distribution.shard_optimizer: a flat buffer of \(model.parameters.count) floats exceeds MPI's int counts (\(Int32.max)); add a model axis or turn sharding off")
        }
        shards = try FlatPartition(count: model.parameters.count, parts: dataAxis.size, chunks: Optimizer.normChunks)
        self.dataAxis = dataAxis
        self.modelGroup = modelGroup
        parameters = model.parameters
        gradients = model.gradients
        reducer = try BucketedAllReducer(communicator: dataAxis, plan: BucketPlan(table: model.layout.table, bucketBytes: bucketBytes),
                                         partition: shards)
    }

    var optimizerShards: FlatPartition? { shards }

    func backward(_ model: VideoTransformer) throws { try reducer.backward(model) }

    func synchronize(lossSum: Double, trace: inout StepTrace) throws -> Double {
        let start = monotonicSeconds()
        let timings = try reducer.finish()
        // This rank's squared-norm partials with the loss appended: one all-reduce, one rendezvous fewer per
        // step than two. Each partial is one rank's value plus zeros: exact.
        var values = modelGroup.squaredNormPartials(gradients, within: shards.range(dataAxis.rank)) + [lossSum]
        try dataAxis.allReduceSum(&values)
        let loss = values.removeLast()
        norm = try modelGroup.gradientNorm(fromPartials: values)
        trace.recordWait(from: start, to: monotonicSeconds())
        trace.record(timings, reduceScatter: true)
        return loss
    }

    func gradientNorm() throws -> Double {
        guard let norm else { throw TrainingError("internal: the sharded gradient norm is found by synchronize(lossSum:), which this step did not call") }
        self.norm = nil
        return norm
    }

    /// Every data rank's updated range of the parameters to every data rank (in place).
    func parametersUpdated(trace: inout StepTrace) throws {
        let start = monotonicSeconds()
        try dataAxis.allGather(UnsafeMutableBufferPointer(start: parameters.pointer, count: parameters.count),
                               counts: shards.counts(of: 0..<shards.count))
        let end = monotonicSeconds()
        trace.communicationSeconds += end - start
        trace.record(.allGatherParameters, from: start, to: end)
    }

}
