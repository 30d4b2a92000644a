// ReplicatedAllReduce: the GradientSynchronization of plain data parallelism (docs/design.md §4) — every data
// rank holds every parameter and optimizer slot and sums every gradient:
//
//   gradients   the last micro-batch's backward hands each finished gradient to the bucketed reducer,
//               whose communication thread all-reduces bucket after bucket (in the same order on every
//               rank) while backward goes on; after backward the step waits for the last buckets and
//               sums the loss (one scalar all-reduce)
//   norm        from the summed gradients, identical on every rank (over the model group when the model
//               is split, ModelGroup.swift)
//   update      the same clipped update of the same sums on every rank: the parameters stay bitwise equal
//               with nothing sent after it (checked every `distribution.checksum_every` steps)
//
// Leaves out: sharded optimizer state (ShardedOptimizer.swift), gradient compression, averaging (the loss
// is normalised by the global batch inside the model, so sums are what the update needs).

import Common
import Distribution
import Kernels
import VideoModel

final class ReplicatedAllReduce: DataParallelSynchronization {
    let dataAxis: any Communicator
    private let reducer: BucketedAllReducer
    let modelGroup: ModelGroup
    let parameters: FloatBuffer
    private let gradients: FloatBuffer

    /// Collective over `dataAxis` (the reducer duplicates it). `bucketBytes`: `distribution.bucket_megabytes`.
    init(model: VideoTransformer, dataAxis: any Communicator, modelGroup: ModelGroup, bucketBytes: Int) throws {
        self.dataAxis = dataAxis
        self.modelGroup = modelGroup
        parameters = model.parameters
        gradients = model.gradients
        reducer = try BucketedAllReducer(communicator: dataAxis, plan: BucketPlan(table: model.layout.table, bucketBytes: bucketBytes))
    }

    func backward(_ model: VideoTransformer) throws { try reducer.backward(model) }

    func synchronize(lossSum: Double, trace: inout StepTrace) throws -> Double {
        let start = monotonicSeconds()
        let timings = try reducer.finish()
        let loss = try dataAxis.allReduceSum(lossSum)
        trace.recordWait(from: start, to: monotonicSeconds())
        trace.record(timings, reduceScatter: false)
        return loss
    }

    func gradientNorm() throws -> Double { try modelGroup.gradientNorm(of: gradients) }

    func parametersUpdated(trace: inout StepTrace) throws {}

}
