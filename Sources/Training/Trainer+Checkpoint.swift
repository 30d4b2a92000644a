// Trainer+Checkpoint: the trainer's state as checkpoint contents, and back.
//
// What "continue exactly" needs (everything else is a pure function of the config):
//   step                 global steps completed → the learning-rate schedule position and the data cursor
//   params               the parameters
//   optimizer/<slot>     the optimizer's slots (RMSProp: rms, momentum; Adam: m, v)
//   optimizer_step       updates applied (Adam's bias correction)
// Tensors are always the whole model's under DESIGN names, whatever the mesh (Trainer+ModelAxis.swift) and
// whether the optimizer state is sharded (Trainer+OptimizerSharding.swift: gathered a tensor at a time).
// Data order, temporal crops and slice choices are functions of (seed, stream position) (Sampler.swift)
// and nothing else draws random numbers during training, so there is no generator state to save; the
// seed and the data cursor (epoch, offset, position) are stored anyway, for people and for checks.
//
// Leaves out: files and directories (Checkpointing), when to save and which file to resume from
// (RunCheckpoints.swift).

import Foundation
import Checkpointing
import Distribution
import HDF5
import Kernels
import Optimization
import VideoModel

extension Trainer {
    /// The tensor groups of a checkpoint: `params` and one `optimizer/<slot>` per slot, laid out by the
    /// whole model's parameter table; `state` holds the full buffers (parameters, then slots).
    func checkpointTensors(_ state: [FloatBuffer]) -> [CheckpointTensors] {
        let table = fullLayout.table
        return [CheckpointTensors(group: "params", table: table, buffer: state[0])]
            + zip(optimizer.slotNames, state.dropFirst()).map { CheckpointTensors(group: "optimizer/\($0)", table: table, buffer: $1) }
    }

    /// The tensor groups of this trainer's own buffers (a trainer without a model axis).
    public var checkpointTensors: [CheckpointTensors] {
        precondition(modelAxis.size == 1, "a model shard's checkpoint tensors are gathered with gatherFullState()")
        precondition(optimizerShards == nil, "sharded optimizer slots are gathered a tensor at a time (ShardedStateGather)")
        return checkpointTensors([model.parameters] + optimizer.slots)
    }

    /// Everything a checkpoint of the current step holds; `state` is `gatherFullState()`'s result (needed
    /// with a model axis). `mesh` describes the device mesh (default `data=<D>,model=<M>`).
    /// With sharded optimizer state pass `streaming` instead (every tensor is gathered as it is written).
    public func checkpointContents(mesh: String? = nil, state: [FloatBuffer]? = nil, streaming: ShardedStateGather? = nil) -> CheckpointContents {
        let cursor = sampler.cursor(step: step)
        let attributes: [(name: String, value: HDF5AttributeValue)] = [
            ("config", .string(config.resolvedJSON())),
            ("mesh", .string(mesh ?? "data=\(communicator.size),model=\(modelAxis.size)")),
            ("world_size", .int64(Int64(world.size))),
            ("parameter_count", .int64(Int64(fullLayout.table.parameterCount))),  // the whole model's, on any mesh
            ("optimizer", .string(config.optimizer.name.rawValue)),
            ("optimizer_slots", .strings(optimizer.slotNames)),
            ("optimizer_step", .int64(Int64(optimizer.step))),
            ("learning_rate", .double(schedule.learningRate(atStep: step))),
            ("seed", .int64(Int64(bitPattern: config.training.seed))),
            ("global_batch", .int64(Int64(config.training.batchSize))),
            ("data_epoch", .int64(Int64(cursor.epoch))),
            ("data_offset", .int64(Int64(cursor.offset))),
            ("data_position", .int64(Int64(step * config.training.batchSize))),
            ("data_videos", .int64(Int64(sampler.videoCount))),
            ("rng", .string("stateless: video order, crops and slices are functions of (seed, data_position); parameters initialised from seed")),
        ]
        if let streaming {
            return CheckpointContents(step: step, attributes: attributes, tensors: [], streamed: streaming.streamedTensors)
        }
        return CheckpointContents(step: step, attributes: attributes,
                                  tensors: checkpointTensors(state ?? [model.parameters] + optimizer.slots))
    }

    /// Loads `file` into this trainer (parameters, optimizer slots and step, global step) after checking
    /// that it was written for the same model and optimizer. Returns notes on settings that differ but
    /// do not prevent continuing (learning rate, batch, seed, data...). Call on the rank that reads the
    /// file, then `broadcastState()` on every rank.
    public func restore(from file: CheckpointFile, configName: String) throws -> [String] {
        var notes: [String] = []
        if let text = file.string("config") {
            if let stored = RunConfig.decodeStored(text) {
                notes = try RunConfig.compare(stored: stored, current: config, file: file.path, configName: configName)
            } else {
                notes.append("the checkpoint's stored config could not be decoded; checked tensor names and shapes only")
            }
        }
        if let slots = file.strings("optimizer_slots"), slots != optimizer.slotNames {
            throw CheckpointError(.mismatch, file: file.path, object: "optimizer",
                                  "holds slots \(slots) but \(config.optimizer.name.rawValue) uses \(optimizer.slotNames)")
        }
        guard let optimizerStep = file.int("optimizer_step"), optimizerStep >= 0 else {
            throw CheckpointError(.notACheckpoint, file: file.path, "root attribute optimizer_step is missing")
        }
        if optimizerShards != nil {
            // Sharded: no rank may hold the whole optimizer state, so read (and so verify) every tensor
            // through one scratch tensor now; broadcastState() reads them again and hands out the pieces.
            try verifyTensorByTensor(file)
            restoredFile = file.path
        } else {
            let state = fullStateBuffers()
            for tensors in checkpointTensors(state) { try file.read(into: tensors) }
            if modelAxis.size > 1 { restoredState = state }
        }
        step = file.step
        optimizer.step = optimizerStep
        if let batch = file.int("global_batch"), let position = file.int("data_position"), position != batch * file.step {
            notes.append("data_position \(position) ≠ step × global_batch (\(file.step) × \(batch)); continuing from step \(file.step)")
        }
        return notes
    }

    /// Copies rank 0's optimizer slots, steps and parameters to every rank (after rank 0 restored them;
    /// each rank keeps its shard), and verifies the cross-rank parameter checksums.
    public func broadcastState() throws {
        defer { restoredState = nil; restoredFile = nil }
        guard world.size > 1 else { return }
        if optimizerShards != nil {
            try scatterShardedState(from: restoredFile)
        } else {
            try scatterFullState(restoredState)
        }
        var steps = [Int64(step), Int64(optimizer.step)]
        try steps.withUnsafeMutableBytes { try world.broadcast($0, root: 0) }
        step = Int(steps[0])
        optimizer.step = Int(steps[1])
        try synchronizeParameters()
    }
}
