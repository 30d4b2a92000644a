// The model axis of the device mesh (docs/design.md §4): heads and d_ff split over M ranks. Checked in one
// process with one thread per rank (ThreadCommunicator): shards map to full tensors and back exactly; a
// sharded forward/backward gives the whole model's loss and gradients; data×model meshes train like one
// rank (losses 1e-4 relative over 10 steps, parameters 1e-5); checkpoints hold full tensors and a run
// saved on data=2,model=2 continues on data=4,model=1 and on one rank. The same runs under mpirun are in
// ModelAxisMPITests.

import Foundation
import VTTestSupport
import Testing
import Checkpointing
import Datasets
import Distribution
import Kernels
import Optimization
import VideoModel
@testable import Training

/// smallRunConfig with 4 heads of 4 (so model axes of 2 and 4 divide it) and d_ff 32.
func modelAxisConfig(_ optimizer: OptimizerKind = .rmsprop, steps: Int = 10) -> RunConfig {
    var config = smallRunConfig(batch: 4, steps: steps, optimizer: optimizer == .adam
        ? OptimizerConfig(name: .adam, learningRate: 3e-3, warmupSteps: 2, clipNorm: 1)
        : OptimizerConfig(name: .rmsprop, learningRate: 1e-3, warmupSteps: 1, clipNorm: 1))
    config.model.heads = 4
    config.model.headSize = 4
    config.model.decoderLayers = 2
    config.checkpoint = CheckpointSettings(every: 0, keepLast: 100)
    return config
}


/// Per-rank communicators of a data × model mesh of threads (rank = data·M + model, as DeviceMesh).
struct ThreadMesh {
    let world: [ThreadCommunicator], data: [ThreadCommunicator], model: [ThreadCommunicator]

    init(data d: Int, model m: Int) {
        world = ThreadCommunicator.group(size: d * m)
        let dataGroups = (0..<m).map { _ in ThreadCommunicator.group(size: d) }
        let modelGroups = (0..<d).map { _ in ThreadCommunicator.group(size: m) }
        data = (0..<(d * m)).map { dataGroups[$0 % m][$0 / m] }
        model = (0..<(d * m)).map { modelGroups[$0 / m][$0 % m] }
    }

    var size: Int { world.count }

    func trainer(_ config: RunConfig, rank: Int) throws -> Trainer {
        try Trainer(config: config, source: syntheticSource(config), communicator: data[rank], modelAxis: model[rank], world: world[rank])
    }
}

/// Trains `config` for `steps` on a data × model mesh of threads; returns rank 0's losses and its full
/// parameters (gathered from the shards).
private func trainOnMesh(_ config: RunConfig, data: Int, model: Int, steps: Int) throws -> (losses: [Double], parameters: [Float]) {
    let mesh = ThreadMesh(data: data, model: model)
    let results = try onEveryRank(mesh.size) { rank -> ([Double], [Float]?) in
        let trainer = try mesh.trainer(config, rank: rank)
        var losses: [Double] = []
        for _ in 0..<steps { losses.append(try trainer.trainStep().loss) }
        let state = try TrainerCheckpoint(trainer).gatherFullState()
        return (losses, state?[0].array)
    }
    for result in results.dropFirst() { #expect(result.0 == results[0].0, "every rank reports the same losses") }
    return (results[0].0, results[0].1!)
}

@Suite struct ModelAxisTests {
    @Test func shardsCoverEveryTensorExactlyOnce() throws {
        let config = modelAxisConfig().model
        let full = ModelParameters(config: config)
        let whole = FloatBuffer(count: full.table.totalCount)
        full.initialize(whole, seed: 9)
        for m in [2, 4] {
            let rebuilt = FloatBuffer(count: full.table.totalCount)
            rebuilt.zero()
            for index in 0..<m {
                let layout = ModelParameters(config: config, sharding: ModelSharding(index: index, count: m))
                #expect(layout.table.entries.map(\.name) == full.table.entries.map(\.name), "design.md names on every shard")
                let shard = FloatBuffer(count: layout.table.totalCount)
                layout.initialize(shard, seed: 9)  // a shard initialises as its part of the whole model
                let extracted = FloatBuffer(count: layout.table.totalCount)
                extracted.zero()
                ShardLayout(shard: layout, full: full).extract(from: whole.pointer, into: extracted.pointer)
                #expect(shard.array == extracted.array)
                ShardLayout(shard: layout, full: full).insert(shard.pointer, into: rebuilt.pointer)
                // Spot-check the layout by hand: query columns of head `index`…, output rows, W1 columns.
                let q = full.table["encoder/layer_0/attention/query"]!, localQ = layout.table["encoder/layer_0/attention/query"]!
                let width = q.shape[1] / m
                #expect(localQ.shape == [q.shape[0], width])
                #expect(shard[localQ.offset + 1 * width + 2] == whole[q.offset + 1 * q.shape[1] + index * width + 2])
                let o = full.table["decoder/layer_1/attention/output"]!, localO = layout.table["decoder/layer_1/attention/output"]!
                #expect(shard[localO.offset + 3] == whole[o.offset + index * localO.count + 3])
                let b1 = full.table["decoder/layer_0/ffn/hidden/bias"]!, localB1 = layout.table["decoder/layer_0/ffn/hidden/bias"]!
                #expect(localB1.shape == [32 / m])
                let r = full.table["decoder/layer_0/attention/relative_w"]!, localR = layout.table["decoder/layer_0/attention/relative_w"]!
                #expect(localR.shape == [4 / m, r.shape[1]])
                _ = b1
                let norm = full.table["decoder/layer_0/ffn_norm/scale"]!, localNorm = layout.table["decoder/layer_0/ffn_norm/scale"]!
                #expect(localNorm.shape == norm.shape)
            }
            #expect(rebuilt.array == whole.array, "model axis \(m): the shards put together are the whole model")
        }
    }

    @Test func aModelAxisThatDoesNotDivideHeadsOrFFNIsRefused() throws {
        let config = modelAxisConfig()
        #expect(ModelSharding.problem(config: config.model, count: 3) != nil)
        #expect(ModelSharding.problem(config: config.model, count: 2) == nil)
        let mesh = ThreadMesh(data: 1, model: 3)
        let errors = try onEveryRank(3) { rank -> String in
            do { _ = try mesh.trainer(config, rank: rank); return "" } catch { return "\(error)" }
        }
        #expect(errors.allSatisfy { $0.contains("model.heads 4") && $0.contains("model.ffn_size 32") }, "\(errors)")
    }

    /// One sharded forward/backward against the whole model: the same loss, and gradients that put
    /// together are the whole model's.
    @Test(arguments: [2, 4]) func aShardedStepComputesTheWholeModelsLossAndGradients(m: Int) throws {
        let config = modelAxisConfig().model
        let videos = InMemoryVideoSource.synthetic(count: 3, frames: config.frames, height: config.height, width: config.width, seed: 5)
        let clip = config.frames * config.height * config.width * 3
        var batch = [UInt8](repeating: 0, count: 3 * clip)
        for video in 0..<3 { try batch.withUnsafeMutableBufferPointer { try videos.read(index: video, startFrame: 0, frameCount: config.frames, into: $0.baseAddress! + video * clip) } }
        let bytes = batch
        let slices = [1, 5, 7]
        let whole = try VideoTransformer(config: config, maxBatch: 3)
        whole.layout.initialize(whole.parameters, seed: 4)
        let expected = whole.forward(videos: bytes, slices: slices, mode: .training)
        whole.gradients.zero()
        whole.backward()
        let group = ThreadCommunicator.group(size: m)
        let shards = try onEveryRank(m) { index -> (Double, [Float]) in
            let model = try VideoTransformer(config: config, maxBatch: 3, sharding: ModelSharding(index: index, count: m),
                                             modelAxisReduce: ModelGroup.activationReduce(over: group[index]))
            model.layout.initialize(model.parameters, seed: 4)
            let result = model.forward(videos: bytes, slices: slices, mode: .training)
            model.gradients.zero()
            model.backward()
            let full = FloatBuffer(count: whole.layout.table.totalCount)
            full.zero()
            ShardLayout(shard: model.layout, full: whole.layout).insert(model.gradients.pointer, into: full.pointer)
            return (result.loss, full.array)
        }
        for (index, shard) in shards.enumerated() {
            #expect(abs(shard.0 - expected.loss) <= 1e-6 * expected.loss, "shard \(index): loss \(shard.0) vs \(expected.loss)")
        }
        // Each tensor's gradient: replicated ones from shard 0, split ones put together from all shards.
        let wholeLayout = whole.layout
        // Relative to the tensor's largest gradient, floored at 1e-3 of the model's: a relative bias over a
        // block axis of length 1 has gradient Σ_j dlogit_ij = 0 (softmax rows), i.e. pure rounding noise.
        let overall = whole.gradients.array.map(abs).max()!
        var worst = (difference: Float(0), name: "")
        for index in 0..<m {
            let layout = ModelParameters(config: config, sharding: ModelSharding(index: index, count: m))
            for (entry, axis) in zip(wholeLayout.table.entries, layout.splitAxes) where axis != nil || index == 0 {
                let scale = max((0..<entry.count).map { abs(whole.gradients[entry.offset + $0]) }.max()!, 1e-3 * overall)
                var mask = [Bool](repeating: axis == nil, count: wholeLayout.table.totalCount)
                if axis != nil {
                    // Positions of this shard inside the full tensor.
                    let probe = FloatBuffer(count: layout.table.totalCount)
                    probe.pointer.update(repeating: 1, count: probe.count)
                    let placed = FloatBuffer(count: wholeLayout.table.totalCount)
                    placed.zero()
                    ShardLayout(shard: layout, full: wholeLayout).insert(probe.pointer, into: placed.pointer)
                    for i in 0..<placed.count { mask[i] = placed[i] == 1 }
                }
                for i in entry.offset..<(entry.offset + entry.count) where mask[i] {
                    let difference = abs(shards[index].1[i] - whole.gradients[i]) / scale
                    if difference > worst.difference { worst = (difference, entry.name) }
                }
            }
        }
        #expect(worst.difference <= 1e-5, "largest gradient difference \(worst.difference) (relative to the tensor's largest) in \(worst.name)")
        // The replicated tensors' gradients are bitwise equal on every shard (they stay identical).
        for index in 1..<m {
            let layout = ModelParameters(config: config, sharding: ModelSharding(index: index, count: m))
            for (entry, axis) in zip(wholeLayout.table.entries, layout.splitAxes) where axis == nil {
                #expect(Array(shards[index].1[entry.offset..<(entry.offset + entry.count)])
                        == Array(shards[0].1[entry.offset..<(entry.offset + entry.count)]), "\(entry.name) on shard \(index)")
            }
        }
    }

    /// data=1,model=2 and data=2,model=2 against one rank, same global batch: per-step losses within 1e-4
    /// relative over 10 steps, parameters within 1e-5 (RMSProp; see DataParallelTests for why Adam's
    /// parameters only agree to about the learning rate near zero gradients).
    @Test(arguments: [(1, 2, 1), (2, 2, 1), (1, 4, 1), (2, 2, 2)])
    func aMeshWithAModelAxisTrainsLikeOneRank(data: Int, model: Int, accumulation: Int) throws {
        let config = modelAxisConfig(.rmsprop)  // one rank, the whole batch of 4 at once
        let single = try Trainer(config: config, source: syntheticSource(config))
        var expected: [Double] = []
        for _ in 0..<10 { expected.append(try single.trainStep().loss) }
        var mesh = config
        mesh.training.accumulationSteps = accumulation  // same global batch in micro-batches of 4 / (data × accumulation)
        let (losses, parameters) = try trainOnMesh(mesh, data: data, model: model, steps: 10)
        for (step, (a, b)) in zip(losses, expected).enumerated() {
            #expect(abs(a - b) <= 1e-4 * b, "data=\(data),model=\(model) step \(step + 1): \(a) vs \(b)")
        }
        let difference = zip(parameters, single.model.parameters.array).map { abs($0 - $1) }.max()!
        #expect(difference <= 1e-5, "data=\(data),model=\(model): parameters differ by \(difference)")
    }

    /// bf16 with a model axis: each shard rounds its own activations and weights, so the mesh agrees with
    /// one bf16 rank to bf16 tolerance (1e-3 relative per step), not to fp32's 1e-4.
    @Test(.enabled(if: MatMul.bf16ProductsAvailable, Comment(rawValue: MatMul.bf16UnavailableReason)), arguments: [(1, 2), (2, 2)])
    func aBF16MeshWithAModelAxisTrainsLikeOneBF16Rank(data: Int, model: Int) throws {
        var config = modelAxisConfig(.rmsprop)
        config.training.precision = .bf16
        let single = try Trainer(config: config, source: syntheticSource(config))
        var expected: [Double] = []
        for _ in 0..<10 { expected.append(try single.trainStep().loss) }
        let (losses, parameters) = try trainOnMesh(config, data: data, model: model, steps: 10)
        var worst = 0.0
        for (step, (a, b)) in zip(losses, expected).enumerated() {
            worst = max(worst, abs(a - b) / b)
            #expect(abs(a - b) <= 1e-3 * b, "bf16 data=\(data),model=\(model) step \(step + 1): \(a) vs \(b)")
        }
        let difference = zip(parameters, single.model.parameters.array).map { abs($0 - $1) }.max()!
        #expect(difference <= 1e-3, "bf16 data=\(data),model=\(model): parameters differ by \(difference)")
        print("bf16 data=\(data),model=\(model): worst loss difference \(worst) relative, parameters \(difference)")
    }

    /// A stop request seen by one rank of a model group stops every rank of the mesh at the same step
    /// (agreed over the world, not over one axis), and the checkpoint is written.
    @Test func aStopSignalOnOneModelRankStopsTheWholeMesh() throws {
        let config = modelAxisConfig(.adam)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let mesh = ThreadMesh(data: 2, model: 2)
        let stops = try onEveryRank(mesh.size) { rank -> (Int, Int32?) in
            let trainer = try mesh.trainer(config, rank: rank)
            let checkpoints = try RunCheckpoints(trainer: trainer, settings: config.checkpoint, directory: directory,
                                                 hooks: CheckpointWriteHooks(), log: { _ in })
            let run = try TrainingRun(trainer: trainer, runDirectory: directory, checkpoints: checkpoints, log: { _ in })
            let signals = StopSignals(install: false)
            run.stopSignals = signals
            if rank == 3 { Thread { Thread.sleep(forTimeInterval: 0.3); signals.request(SIGTERM) }.start() }
            try run.run(until: 100_000)
            return (trainer.step, run.stoppedBySignal)
        }
        #expect(Set(stops.map(\.0)).count == 1 && stops[0].0 < 100_000, "\(stops)")
        #expect(stops.allSatisfy { $0.1 == SIGTERM })
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(CheckpointFormat.fileName(step: stops[0].0)).path))
    }

    /// A checkpoint written on data=2,model=2 holds the full tensors under docs/design.md names, and the run
    /// continues on data=4,model=1 and on one rank (and a data=1,model=1 checkpoint continues on
    /// data=1,model=2) as the same run.
    @Test func checkpointsAreMeshIndependent() throws {
        let config = modelAxisConfig(.adam)
        let single = try Trainer(config: config, source: syntheticSource(config))
        var expected: [Double] = []
        for _ in 0..<6 { expected.append(try single.trainStep().loss) }
        for (first, second) in [((2, 2), (4, 1)), ((2, 2), (1, 1)), ((1, 1), (1, 2))] {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            var losses: [Double] = []
            var final: [Float] = []
            for ((data, model), (from, to)) in [(first, (0, 3)), (second, (3, 6))] {
                let mesh = ThreadMesh(data: data, model: model)
                let results = try onEveryRank(mesh.size) { rank -> ([Double], [Float]?) in
                    let trainer = try mesh.trainer(config, rank: rank)
                    let checkpoints = try RunCheckpoints(trainer: trainer, settings: config.checkpoint, directory: directory,
                                                         hooks: CheckpointWriteHooks(), log: { _ in })
                    let resumed = try checkpoints.resume(.latest, configName: "test.yaml")
                    #expect(resumed == (from == 0 ? nil : from))
                    let run = try TrainingRun(trainer: trainer, runDirectory: directory, checkpoints: checkpoints, resumedFrom: resumed, log: { _ in })
                    let losses = try run.run(until: to).map(\.loss)
                    return (losses, try TrainerCheckpoint(trainer).gatherFullState()?[0].array)
                }
                losses += results[0].0
                final = results[0].1!
            }
            let label = "data=\(first.0),model=\(first.1) → data=\(second.0),model=\(second.1)"
            #expect(losses.count == 6)
            for (step, (a, b)) in zip(losses, expected).enumerated() {
                #expect(abs(a - b) <= 1e-4 * b, "\(label) step \(step + 1): \(a) vs \(b)")
            }
            // Adam moves parameters by about lr·sign(g) where g ≈ 0, so compare to a few learning rates.
            let difference = zip(final, single.model.parameters.array).map { abs($0 - $1) }.max()!
            #expect(difference <= 1e-2, "\(label): parameters differ by \(difference)")
            let file = try CheckpointFile(path: directory.appendingPathComponent("step_00000003.h5").path)
            defer { file.close() }
            #expect(file.string("mesh") == "data=\(first.0),model=\(first.1)")
            #expect(file.int("world_size") == first.0 * first.1)
            let full = ModelParameters(config: config.model)
            #expect(file.int("parameter_count") == full.table.parameterCount)
            let buffer = FloatBuffer(count: full.table.totalCount)
            try file.read(into: CheckpointTensors(group: "params", table: full.table, buffer: buffer))
            let shape = try #require(full.table["decoder/layer_1/attention/query"]).shape
            #expect(shape == [config.model.hiddenSize, 16])
        }
    }
}
