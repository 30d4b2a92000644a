// TrainerCheckpoint: a trainer's state as checkpoint contents, and back.
//
// What "continue exactly" needs (everything else is a pure function of the config):
//   step                 global steps completed → the learning-rate schedule position and the data cursor
//   params               the parameters
//   optimizer/<slot>     the optimizer's slots (RMSProp: rms, momentum; Adam: m, v)
//   optimizer_step       updates applied (Adam's bias correction)
// Data order, temporal crops and slice choices are functions of (seed, stream position) (ExampleSchedule.swift)
// and nothing else draws random numbers during training, so there is no generator state to save; the
// seed and the data cursor (epoch, offset, position) are stored anyway, for people and for checks.
//
// Tensors are always the whole model's under docs/design.md names, whatever the mesh — so a run saved on one mesh
// continues on any other, sharded or not:
//   one model, replicated optimizer   the trainer's own buffers, written and read in place
//   a model axis (docs/design.md §4)       world rank 0 gathers its model group's shards into full buffers; on
//                                     resume it reads full tensors and broadcasts them a tensor at a time,
//                                     and every rank keeps its shard
//   ZeRO-1 (docs/design.md §9)             gathered one tensor at a time while the writer writes it (Distribution's
//                                     ShardedStateGather), so no rank holds the whole optimizer state; on
//                                     resume rank 0 reads (and so verifies) the file tensor by tensor, then
//                                     reads it again, broadcasting one tensor at a time, and every rank keeps
//                                     its model shard's part of the parameters and its range of each slot
//
// Leaves out: files and directories (Checkpointing), when to save and which file to resume from
// (RunCheckpoints.swift), comparing the stored config (RunConfig+Comparison.swift).

import Foundation
import Checkpointing
import Distribution
import HDF5
import Kernels
import Optimization
import VideoModel

public struct TrainerCheckpoint {
    public let trainer: Trainer

    public init(_ trainer: Trainer) { self.trainer = trainer }

    private var model: VideoTransformer { trainer.model }
    private var optimizer: Optimizer { trainer.optimizer }
    private var config: RunConfig { trainer.config }
    /// The layout of the whole model (the checkpoint's).
    private var fullLayout: ModelParameters { ModelParameters(config: config.model) }
    /// The checkpoint groups in file order: `params`, then `optimizer/<slot>` per slot.
    private var groupNames: [String] { ["params"] + optimizer.slotNames.map { "optimizer/\($0)" } }

    // MARK: Saving

    /// The state of one save, gathered (collectively) for world rank 0's writer.
    public struct Gathered {
        /// Full tensors (parameters, then slots) on world rank 0; nil elsewhere and when streamed.
        let full: [FloatBuffer]?
        /// Sharded optimizer state: gathered a tensor at a time as the writer asks for it.
        let streaming: ShardedStateGather?

        /// Takes part in every gather the writer did not ask for (all of them on ranks other than 0).
        public func finish() throws { try streaming?.finish() }
    }

    /// Collective: full tensors on rank 0 — all at once, or (sharded optimizer state) one at a time while
    /// the writer writes them (then `finish()` after the write, on every rank).
    public func gather() throws -> Gathered {
        guard let shards = trainer.optimizerShards else { return Gathered(full: try gatherFullState(), streaming: nil) }
        let watchdog = trainer.watchdog
        let streaming = try ShardedStateGather(
            dataAxis: trainer.communicator, modelAxis: trainer.modelAxis, isRoot: trainer.isLeader, partition: shards,
            full: fullLayout.table, shardTable: model.layout.table, splitAxes: model.layout.splitAxes,
            parameters: model.parameters, slots: optimizer.slots, groups: groupNames) { group, tensor in
            watchdog.beat("saving the checkpoint (\(group)/\(tensor))")
        }
        return Gathered(full: nil, streaming: streaming)
    }

    /// Everything a checkpoint of the current step holds, from `gather()`'s result (on world rank 0).
    /// `mesh` describes the device mesh (default `data=<D>,model=<M>`).
    public func contents(mesh: String? = nil, gathered: Gathered) -> CheckpointContents {
        let step = trainer.step
        let cursor = trainer.data.schedule.cursor(step: step)
        let attributes: [(name: String, value: HDF5AttributeValue)] = [
            ("config", .string(config.resolvedJSON())),
            ("mesh", .string(mesh ?? "data=\(trainer.communicator.size),model=\(trainer.modelAxis.size)")),
            ("world_size", .int64(Int64(trainer.world.size))),
            ("parameter_count", .int64(Int64(fullLayout.table.parameterCount))),  // the whole model's, on any mesh
            ("optimizer", .string(config.optimizer.name.rawValue)),
            ("optimizer_slots", .strings(optimizer.slotNames)),
            ("optimizer_step", .int64(Int64(optimizer.step))),
            ("learning_rate", .double(trainer.schedule.learningRate(atStep: step))),
            ("seed", .int64(Int64(bitPattern: config.training.seed))),
            ("global_batch", .int64(Int64(config.training.batchSize))),
            ("data_epoch", .int64(Int64(cursor.epoch))),
            ("data_offset", .int64(Int64(cursor.offset))),
            ("data_position", .int64(Int64(step * config.training.batchSize))),
            ("data_videos", .int64(Int64(trainer.data.schedule.videoCount))),
            ("rng", .string("stateless: video order, crops and slices are functions of (seed, data_position); parameters initialised from seed")),
        ]
        if let streaming = gathered.streaming {
            let table = streaming.full
            let streamed = streaming.groups.enumerated().map { group, name in
                StreamedTensors(group: name, table: table) { entry in try streaming.tensor(group: group, entry: entry) }
            }
            return CheckpointContents(step: step, attributes: attributes, tensors: [], streamed: streamed)
        }
        return CheckpointContents(step: step, attributes: attributes, tensors: tensors(gathered.full ?? [model.parameters] + optimizer.slots))
    }

    /// The tensor groups of a checkpoint: `params` and one `optimizer/<slot>` per slot, laid out by the
    /// whole model's parameter table; `state` holds the full buffers (parameters, then slots).
    func tensors(_ state: [FloatBuffer]) -> [CheckpointTensors] {
        let table = fullLayout.table
        return zip(groupNames, state).map { CheckpointTensors(group: $0, table: table, buffer: $1) }
    }

    /// The tensor groups of the trainer's own buffers (a trainer without a model axis or sharded slots).
    public var tensors: [CheckpointTensors] {
        precondition(trainer.modelAxis.size == 1, "a model shard's checkpoint tensors are gathered with gatherFullState()")
        precondition(trainer.optimizerShards == nil, "sharded optimizer slots are gathered a tensor at a time (ShardedStateGather)")
        return tensors([model.parameters] + optimizer.slots)
    }

    /// Parameters followed by the optimizer slots, as full tensors, on world rank 0 (nil elsewhere).
    /// Collective: every rank calls it. Without a model axis these are the trainer's own buffers.
    func gatherFullState() throws -> [FloatBuffer]? {
        precondition(trainer.optimizerShards == nil, "sharded optimizer state is gathered a tensor at a time (ShardedStateGather)")
        let modelAxis = trainer.modelAxis, isLeader = trainer.isLeader
        let local = [model.parameters] + optimizer.slots
        guard modelAxis.size > 1 else { return isLeader ? local : nil }
        // Only the model group holding world rank 0 gathers; every rank of it takes part.
        var inGroup = [Int64(isLeader ? 1 : 0)]
        try inGroup.withUnsafeMutableBufferPointer { try modelAxis.allReduce($0, .max) }
        guard inGroup[0] == 1 else { return nil }
        let full = fullLayout
        let layouts = (0..<modelAxis.size).map {
            ShardLayout(shard: ModelParameters(config: config.model, sharding: ModelSharding(index: $0, count: modelAxis.size)), full: full)
        }
        let received = FloatBuffer(count: model.parameters.count)
        var result: [FloatBuffer] = []
        for buffer in local {
            let whole = modelAxis.rank == 0 ? FloatBuffer(count: full.table.totalCount) : nil
            whole?.zero()  // alignment padding
            for shard in 0..<modelAxis.size {
                // Shard `shard` is broadcast over the group; only model rank 0 keeps what it receives.
                let source = shard == modelAxis.rank ? buffer : received
                try modelAxis.broadcast(UnsafeMutableBufferPointer(start: source.pointer, count: source.count), root: shard)
                if let whole { layouts[shard].insert(source.pointer, into: whole.pointer) }
            }
            if let whole { result.append(whole) }
        }
        return isLeader ? result : nil
    }

    // MARK: Resuming

    /// What rank 0 restored, until `distribute(_:)` hands every rank its part.
    public enum Restored {
        /// Read into the trainer's own buffers (no model axis, optimizer state not sharded).
        case inPlace
        /// Full tensors (parameters, then slots), to be cut into the model group's shards.
        case fullTensors([FloatBuffer])
        /// Sharded optimizer state: the verified file, read again a tensor at a time while distributing.
        case verifiedFile(String)
    }

    /// Loads `file` into the trainer (parameters, optimizer slots and step, global step) after checking
    /// that it was written for the same model and optimizer. Returns notes on settings that differ but do
    /// not prevent continuing (learning rate, batch, seed, data...) and what to `distribute`. Call on the
    /// rank that reads the file, then `distribute(_:)` on every rank.
    public func restore(from file: CheckpointFile, configName: String) throws -> (notes: [String], restored: Restored) {
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
        let restored: Restored
        if trainer.optimizerShards != nil {
            // Sharded: no rank may hold the whole optimizer state, so read (and so verify) every tensor
            // through one scratch tensor now; distribute() reads them again and hands out the pieces.
            try verifyTensorByTensor(file)
            restored = .verifiedFile(file.path)
        } else {
            let state = fullStateBuffers()
            for tensors in tensors(state) { try file.read(into: tensors) }
            restored = trainer.modelAxis.size > 1 ? .fullTensors(state) : .inPlace
        }
        trainer.step = file.step
        optimizer.step = optimizerStep
        if let batch = file.int("global_batch"), let position = file.int("data_position"), position != batch * file.step {
            notes.append("data_position \(position) ≠ step × global_batch (\(file.step) × \(batch)); continuing from step \(file.step)")
        }
        return (notes, restored)
    }

    /// Copies rank 0's optimizer slots, steps and parameters to every rank (`restored`: what rank 0's
    /// `restore` returned, nil on the other ranks; each rank keeps its shard), and verifies the cross-rank
    /// parameter checksums. Collective.
    public func distribute(_ restored: Restored?) throws {
        let world = trainer.world
        guard world.size > 1 else { return }
        if trainer.optimizerShards != nil {
            try scatterShardedState(from: restored?.file)
        } else {
            try scatterFullState(restored?.fullTensors)
        }
        var steps = [Int64(trainer.step), Int64(optimizer.step)]
        try steps.withUnsafeMutableBytes { try world.broadcast($0, root: 0) }
        trainer.step = Int(steps[0])
        optimizer.step = Int(steps[1])
        try trainer.synchronizeParameters()
    }

    /// Buffers laid out like the whole model, for reading a checkpoint on world rank 0 (the trainer's own
    /// buffers without a model axis).
    func fullStateBuffers() -> [FloatBuffer] {
        guard trainer.modelAxis.size > 1 else { return [model.parameters] + optimizer.slots }
        let count = fullLayout.table.totalCount
        return (0...optimizer.slots.count).map { _ in FloatBuffer(count: count) }
    }

    /// Sends world rank 0's full tensors (`full`, from `fullStateBuffers`) to every rank, one tensor at a
    /// time (other ranks need room for the largest tensor only), and every rank keeps its shard of
    /// parameters and slots. Collective; `full` is ignored on other ranks.
    func scatterFullState(_ full: [FloatBuffer]?) throws {
        let local = [model.parameters] + optimizer.slots
        guard trainer.modelAxis.size > 1 else {
            if trainer.communicator.size > 1 {
                for buffer in optimizer.slots {
                    try trainer.communicator.broadcast(UnsafeMutableBufferPointer(start: buffer.pointer, count: buffer.count), root: 0)
                }
            }
            return  // parameters follow in synchronizeParameters
        }
        let layout = ShardLayout(shard: model.layout, full: fullLayout)
        let entries = layout.full.table.entries
        let scratch = FloatBuffer(count: entries.map(\.count).max() ?? 1)
        for (index, target) in local.enumerated() {
            for (position, entry) in entries.enumerated() {
                let tensor = trainer.isLeader ? full![index].pointer + entry.offset : scratch.pointer
                try trainer.world.broadcast(UnsafeMutableBufferPointer(start: tensor, count: entry.count), root: 0)
                layout.extract(entry: position, from: tensor, into: target.pointer)
            }
        }
    }

    /// Reads every tensor of `file` once through one scratch tensor (so its names, shapes and checksums are
    /// checked, and a damaged file is found before anything is trusted) without keeping any.
    func verifyTensorByTensor(_ file: CheckpointFile) throws {
        let table = fullLayout.table
        let scratch = FloatBuffer(count: table.entries.map(\.count).max() ?? 1)
        for group in groupNames {
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
        guard let shards = trainer.optimizerShards else { return }
        let data = trainer.communicator, modelAxis = trainer.modelAxis, world = trainer.world
        let full = fullLayout.table, local = model.layout.table
        var file: CheckpointFile? = nil
        var failure: Error? = nil
        if trainer.isLeader {
            do {
                guard let path else { throw TrainingError("internal: no verified checkpoint to distribute") }
                file = try CheckpointFile(path: path)
                for group in groupNames { try file!.checkTensorNames(group: group, table: full) }
            } catch { failure = error }
        }
        defer { file?.close() }
        let tensor = FloatBuffer(count: full.entries.map(\.count).max() ?? 1)
        let piece = FloatBuffer(count: local.entries.map(\.count).max() ?? 1)
        let range = shards.range(data.rank)
        for (group, name) in groupNames.enumerated() {
            for (index, entry) in full.entries.enumerated() {
                if let file, failure == nil {
                    do { try file.readTensor(group: name, entry: entry, into: Self.bytes(tensor, entry.count)) } catch { failure = error }
                }
                try world.broadcast(UnsafeMutableBufferPointer(start: tensor.pointer, count: entry.count), root: 0)
                trainer.watchdog.beat("reading the checkpoint (\(name)/\(entry.name))")
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
                    let mine = shards.overlap(of: span, part: data.rank)
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

    private static func bytes(_ buffer: FloatBuffer, _ count: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: buffer.pointer, count: count * MemoryLayout<Float>.stride)
    }
}

extension TrainerCheckpoint.Restored {
    var file: String? { if case .verifiedFile(let path) = self { path } else { nil } }
    var fullTensors: [FloatBuffer]? { if case .fullTensors(let buffers) = self { buffers } else { nil } }
}
