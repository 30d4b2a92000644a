// SingleRank: the GradientSynchronization of a data axis of one rank — the whole global batch is this
// rank's (in accumulation micro-batches), so its gradients and loss are already the batch's and there is
// nothing to send. A model axis may still split the model: the gradient norm and the replicated tensors'
// check then go over the model group (ModelGroup.swift).
// Leaves out: everything of several data ranks (ReplicatedAllReduce.swift, ShardedOptimizer.swift).

import Kernels
import VideoModel

final class SingleRank: GradientSynchronization {
    private let parameters: FloatBuffer, gradients: FloatBuffer
    private let modelGroup: ModelGroup

    init(model: VideoTransformer, modelGroup: ModelGroup) {
        parameters = model.parameters
        gradients = model.gradients
        self.modelGroup = modelGroup
    }

    func backward(_ model: VideoTransformer) throws { model.backward() }

    func synchronize(lossSum: Double, trace: inout StepTrace) throws -> Double { lossSum }

    func gradientNorm() throws -> Double { try modelGroup.gradientNorm(of: gradients) }

    func parametersUpdated(trace: inout StepTrace) throws {}

    func broadcastParameters() throws {}

    func verifyParameters(step: Int) throws -> UInt64 {
        let checksum = ParameterChecksum.of(parameters)
        try modelGroup.verifyReplicatedTensors(parameters, step: step)
        return checksum
    }
}
