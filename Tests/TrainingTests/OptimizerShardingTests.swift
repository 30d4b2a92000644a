// ZeRO stage 1 (`distribution.shard_optimizer`, docs/design.md §9) in one process, one thread per rank
// (ThreadCommunicator: sums in rank order, so sharded and unsharded runs see bitwise the same sums):
// a sharded run is bitwise the unsharded run on the same ranks (losses, gradient norms, parameters and the
// full optimizer slots its checkpoint gathers); each rank keeps 1/D of the slots and master weights; a run
// resumes sharded → unsharded → sharded as one run, and across meshes; a failed sharded save stops every
// rank without hanging and keeps the previous checkpoint. The same under mpirun: OptimizerShardingMPITests.

import Foundation
import VTTestSupport
import Testing
import Checkpointing
import Distribution
import HDF5
import Kernels
import Optimization
import VideoModel
@testable import Training

/// modelAxisConfig (4 heads, so model axes of 2 divide it; global batch 4) with or without sharding.
private func shardingConfig(_ optimizer: OptimizerKind, sharded: Bool, every: Int = 0) -> RunConfig {
    var config = modelAxisConfig(optimizer)
    config.distribution.shardOptimizer = sharded
    config.checkpoint = CheckpointSettings(every: every, keepLast: 100)
    return config
}

/// Trains on a data × model mesh of threads from the latest checkpoint in `directory` (if any) until
/// `steps`, saving on the config's schedule and at the end; returns rank 0's metrics of the steps trained.
@discardableResult
private func trainSegment(_ config: RunConfig, data: Int, model: Int, until steps: Int, directory: URL,
                          hooks: CheckpointWriteHooks = CheckpointWriteHooks(),
                          log: @escaping @Sendable (String) -> Void = { _ in }) throws -> [StepMetrics] {
    let mesh = ThreadMesh(data: data, model: model)
    let results: [[StepMetrics]] = try onEveryRank(mesh.size) { (rank: Int) throws -> [StepMetrics] in
        let trainer = try mesh.trainer(config, rank: rank)
        #expect((trainer.optimizerShards != nil) == (config.distribution.shardOptimizer && data > 1))
        let lines: (String) -> Void = { line in if rank == 0 { log(line) } }
        let checkpoints = try RunCheckpoints(trainer: trainer, settings: config.checkpoint, directory: directory, hooks: hooks, log: lines)
        let resumed = try checkpoints.resume(.latest, configName: "test.yaml")
        let run = try TrainingRun(trainer: trainer, runDirectory: directory, checkpoints: checkpoints, resumedFrom: resumed, log: { _ in })
        return try run.run(until: steps)
    }
    return results[0]
}

private func checkpointPath(_ directory: URL, _ step: Int) -> String {
    directory.appendingPathComponent(CheckpointFormat.fileName(step: step)).path
}

/// Names of the tensors whose values differ bit for bit between two checkpoints (and missing ones).
private func differingTensors(_ a: [String: [Float]], _ b: [String: [Float]]) -> [String] {
    Set(a.keys).union(b.keys).sorted().filter { a[$0]?.map(\.bitPattern) != b[$0]?.map(\.bitPattern) }
}

private func largestDifference(_ a: [String: [Float]], _ b: [String: [Float]], prefix: String) -> Float {
    a.keys.filter { $0.hasPrefix(prefix) }.map { name in zip(a[name]!, b[name] ?? []).map { abs($0 - $1) }.max() ?? .infinity }.max() ?? .infinity
}

@Suite struct OptimizerShardingTests {
    /// Sharded and unsharded runs on the same data ranks: the reduced gradients are the same sums, the
    /// norm is built from the same per-chunk partials, and the update is element-wise — so everything is
    /// bitwise equal, including the full optimizer slots the sharded checkpoint gathers from the ranks.
    @Test(arguments: [(2, OptimizerKind.rmsprop, 1), (2, .adam, 1), (4, .rmsprop, 1), (4, .adam, 1), (2, .adam, 2)])
    func aShardedRunIsBitwiseTheUnshardedRunOnTheSameRanks(data: Int, optimizer: OptimizerKind, accumulation: Int) throws {
        let sharded = try temporaryDirectory(), unsharded = try temporaryDirectory()
        defer { for url in [sharded, unsharded] { try? FileManager.default.removeItem(at: url) } }
        var (on, off) = (shardingConfig(optimizer, sharded: true), shardingConfig(optimizer, sharded: false))
        on.training.accumulationSteps = accumulation
        off.training.accumulationSteps = accumulation
        let a = try trainSegment(on, data: data, model: 1, until: 6, directory: sharded)
        let b = try trainSegment(off, data: data, model: 1, until: 6, directory: unsharded)
        #expect(a.map(\.loss) == b.map(\.loss), "per-step losses")
        #expect(a.map(\.gradientNorm) == b.map(\.gradientNorm), "gradient norms (and so clip factors)")
        #expect(a.contains { $0.gradientNorm > 1 }, "clipping (clip_norm 1) was exercised")
        let (x, y) = (try allTensors(ofCheckpoint: checkpointPath(sharded, 6)), try allTensors(ofCheckpoint: checkpointPath(unsharded, 6)))
        #expect(x.count == 3 * ModelParameters(config: modelAxisConfig().model).table.entries.count)
        let differing = differingTensors(x, y)
        #expect(differing.isEmpty, "tensors differ: \(differing.prefix(5))")
    }

    /// data=2,model=2: each model shard's flat buffer is split over its data axis. Against the unsharded
    /// mesh only tensors that straddle two ranges sum their g² in another order, so the runs agree to rounding.
    @Test func dataAndModelAxesTogether() throws {
        let sharded = try temporaryDirectory(), unsharded = try temporaryDirectory()
        defer { for url in [sharded, unsharded] { try? FileManager.default.removeItem(at: url) } }
        let a = try trainSegment(shardingConfig(.rmsprop, sharded: true), data: 2, model: 2, until: 6, directory: sharded)
        let b = try trainSegment(shardingConfig(.rmsprop, sharded: false), data: 2, model: 2, until: 6, directory: unsharded)
        for (step, (x, y)) in zip(a, b).enumerated() {
            #expect(abs(x.loss - y.loss) <= 1e-9 * y.loss, "step \(step + 1): \(x.loss) vs \(y.loss)")
            #expect(abs(x.gradientNorm - y.gradientNorm) <= 1e-12 * y.gradientNorm, "step \(step + 1): norm \(x.gradientNorm) vs \(y.gradientNorm)")
        }
        let (x, y) = (try allTensors(ofCheckpoint: checkpointPath(sharded, 6)), try allTensors(ofCheckpoint: checkpointPath(unsharded, 6)))
        #expect(Set(x.keys) == Set(y.keys) && x.keys.allSatisfy { x[$0]!.count == y[$0]!.count }, "full tensors under docs/design.md names")
        #expect(largestDifference(x, y, prefix: "/params/") <= 1e-6)
        #expect(largestDifference(x, y, prefix: "/optimizer/") <= 1e-6)
    }

    /// Each data rank holds 1/D of the optimizer slots and updates 1/D of the master weights (±1%); the
    /// parameters and gradients stay whole.
    @Test(arguments: [2, 4]) func eachRankKeepsOneDthOfTheOptimizerState(data: Int) throws {
        let mesh = ThreadMesh(data: data, model: 1)
        let memories = try onEveryRank(data) { rank -> (StateMemory, String) in
            let trainer = try mesh.trainer(shardingConfig(.adam, sharded: true), rank: rank)
            return (trainer.stateMemory, trainer.stateMemorySummary)
        }
        let whole = try Trainer(config: shardingConfig(.adam, sharded: false), source: syntheticSource(modelAxisConfig())).stateMemory
        for (rank, (memory, summary)) in memories.enumerated() {
            let slots = Double(memory.optimizerSlotBytes) / Double(whole.optimizerSlotBytes)
            let master = Double(memory.masterWeightBytes) / Double(whole.masterWeightBytes)
            #expect(abs(slots * Double(data) - 1) <= 0.01 && abs(master * Double(data) - 1) <= 0.01, "rank \(rank): \(slots), \(master)")
            #expect(memory.parameterBytes == whole.parameterBytes && memory.gradientBytes == whole.gradientBytes)
            #expect(summary.contains("ZeRO-1 over data=\(data)"), "\(summary)")
        }
        #expect(memories.map(\.0.optimizerSlotBytes).reduce(0, +) == whole.optimizerSlotBytes, "the slots are split, not copied")
    }

    /// Sharded (steps 1–2) → unsharded (3–4) → sharded (5–6) on two ranks is the uninterrupted sharded run
    /// bit for bit; and sharded on data=2 → one rank → sharded data=2,model=2 is the one-rank run.
    @Test func shardedAndUnshardedRunsResumeEachOther() throws {
        let whole = try temporaryDirectory(), parts = try temporaryDirectory()
        defer { for url in [whole, parts] { try? FileManager.default.removeItem(at: url) } }
        let expected = try trainSegment(shardingConfig(.adam, sharded: true), data: 2, model: 1, until: 6, directory: whole)
        var losses: [Double] = []
        for (sharded, end) in [(true, 2), (false, 4), (true, 6)] {
            losses += try trainSegment(shardingConfig(.adam, sharded: sharded), data: 2, model: 1, until: end, directory: parts).map(\.loss)
        }
        #expect(losses == expected.map(\.loss))
        let differing = differingTensors(try allTensors(ofCheckpoint: checkpointPath(whole, 6)), try allTensors(ofCheckpoint: checkpointPath(parts, 6)))
        #expect(differing.isEmpty, "tensors differ after resuming: \(differing.prefix(5))")

        let single = try temporaryDirectory(), moved = try temporaryDirectory()
        defer { for url in [single, moved] { try? FileManager.default.removeItem(at: url) } }
        let reference = try trainSegment(shardingConfig(.rmsprop, sharded: false), data: 1, model: 1, until: 6, directory: single)
        losses = []
        for ((data, model), end) in [((2, 1), 2), ((1, 1), 4), ((2, 2), 6)] {
            losses += try trainSegment(shardingConfig(.rmsprop, sharded: true), data: data, model: model, until: end, directory: moved).map(\.loss)
        }
        for (step, (a, b)) in zip(losses, reference.map(\.loss)).enumerated() {
            #expect(abs(a - b) <= 1e-6 * b, "step \(step + 1): \(a) vs \(b)")
        }
        let (x, y) = (try allTensors(ofCheckpoint: checkpointPath(single, 6)), try allTensors(ofCheckpoint: checkpointPath(moved, 6)))
        #expect(largestDifference(x, y, prefix: "/params/") <= 1e-5)
        let file = try CheckpointFile(path: checkpointPath(moved, 4))
        #expect(file.string("mesh") == "data=1,model=1")
        file.close()
    }

    /// The writer failing halfway through a sharded save (while the other ranks wait in their gathers)
    /// fails the save on every rank — none is left waiting — and leaves the previous checkpoint as latest.
    @Test(.timeLimit(.minutes(1))) func aFailedShardedSaveStopsEveryRankAndKeepsThePreviousCheckpoint() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        final class Countdown: @unchecked Sendable { let lock = NSLock(); var saves = 0 }
        let countdown = Countdown()
        let hooks = CheckpointWriteHooks { index, _, path in
            countdown.lock.lock(); defer { countdown.lock.unlock() }
            if index == 0 { countdown.saves += 1 }
            // The second save fails at the first momentum tensor: rank 1 is then waiting in its gather.
            if countdown.saves == 2 && path.hasPrefix("/optimizer/momentum/") {
                countdown.saves += 1
                throw CheckpointError(.saveFailed, file: "test", object: path, "disk full (injected)")
            }
        }
        let mesh = ThreadMesh(data: 2, model: 1)
        let config = shardingConfig(.rmsprop, sharded: true, every: 2)
        let outcomes = try onEveryRank(2) { rank -> String in
            let trainer = try mesh.trainer(config, rank: rank)
            let checkpoints = try RunCheckpoints(trainer: trainer, settings: config.checkpoint, directory: directory, hooks: hooks, log: { _ in })
            let run = try TrainingRun(trainer: trainer, runDirectory: directory, checkpoints: checkpoints, log: { _ in })
            do { try run.run(until: 6); return "finished" } catch { return "\(error)" }
        }
        // Every rank carries rank 0's message (only rank 0 prints it), naming what failed.
        for outcome in outcomes {
            #expect(outcome.contains("rank 0 of 2 (saving the checkpoint of step 4)") && outcome.contains("disk full (injected)")
                    && outcome.contains("earlier checkpoints are intact"), "\(outcome)")
        }
        let store = CheckpointDirectory(url: directory)
        #expect(try store.checkpoints().map(\.step) == [2] && store.latestPointer()?.lastPathComponent == "step_00000002.h5")
        #expect(try CheckpointFile(path: checkpointPath(directory, 2)).verify().allSatisfy(\.isIntact))
        // …and the run continues from it.
        try trainSegment(config, data: 2, model: 1, until: 6, directory: directory)
        #expect(try store.checkpoints().map(\.step) == [2, 4, 6])
    }

    /// A sharded resume reads (and so verifies) every tensor before trusting a file: a flipped bit in an
    /// optimizer slot of the newest checkpoint is reported and the previous checkpoint used, and the run
    /// still ends bitwise where the uninterrupted one does.
    @Test func aDamagedSlotInTheNewestCheckpointFallsBackToThePreviousOne() throws {
        let config = shardingConfig(.adam, sharded: true, every: 2)
        let reference = try temporaryDirectory(), directory = try temporaryDirectory()
        defer { for url in [reference, directory] { try? FileManager.default.removeItem(at: url) } }
        try trainSegment(config, data: 2, model: 1, until: 6, directory: reference)
        try trainSegment(config, data: 2, model: 1, until: 4, directory: directory)
        let newest = checkpointPath(directory, 4)
        let slot = try #require(try allTensors(ofCheckpoint: newest)["/optimizer/v/decoder/condition"])
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: newest)))
        let needle = slot.prefix(16).withUnsafeBytes { Array($0) }
        let at = try #require((0...(bytes.count - needle.count)).first { bytes[$0..<$0 + needle.count].elementsEqual(needle) })
        bytes[at + 5] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: newest))
        final class Lines: @unchecked Sendable { let lock = NSLock(); var lines: [String] = [] }
        let lines = Lines()
        let resumed = try trainSegment(config, data: 2, model: 1, until: 6, directory: directory) { line in
            lines.lock.lock(); lines.lines.append(line); lines.lock.unlock()
        }
        #expect(resumed.map(\.step) == [3, 4, 5, 6], "resumed from step 2")
        #expect(lines.lines.contains { $0.hasPrefix("warning: skipping damaged checkpoint \(newest)") && $0.contains("/optimizer/v/decoder/condition") },
                "\(lines.lines)")
        let differing = differingTensors(try allTensors(ofCheckpoint: checkpointPath(reference, 6)), try allTensors(ofCheckpoint: checkpointPath(directory, 6)))
        #expect(differing.isEmpty, "\(differing.prefix(5))")
    }

    /// The per-tensor pieces a sharded save and resume use agree with ShardLayout's whole-buffer mapping.
    @Test(arguments: [2, 4]) func modelShardPiecesMatchTheShardLayout(m: Int) throws {
        let config = modelAxisConfig().model
        let full = ModelParameters(config: config)
        let whole = FloatBuffer(count: full.table.totalCount)
        full.initialize(whole, seed: 2)
        for index in 0..<m {
            let layout = ModelParameters(config: config, sharding: ModelSharding(index: index, count: m))
            let shard = FloatBuffer(count: layout.table.totalCount)
            ShardLayout(shard: layout, full: full).extract(from: whole.pointer, into: shard.pointer)
            for (position, (entry, local)) in zip(full.table.entries, layout.table.entries).enumerated() {
                let piece = FloatBuffer(count: local.count)
                ModelShardPieces.extract(from: whole.pointer + entry.offset, into: piece.pointer, shape: entry.shape,
                                         axis: layout.splitAxes[position], shard: index, of: m)
                #expect(piece.array == Array(shard.array[local.offset..<(local.offset + local.count)]), "\(entry.name), shard \(index)")
                let rebuilt = FloatBuffer(count: entry.count)
                ModelShardPieces.insert(piece.pointer, into: rebuilt.pointer, shape: entry.shape, axis: layout.splitAxes[position], shard: index, of: m)
                let placed = rebuilt.array.enumerated().filter { $0.element != 0 }.map { whole[entry.offset + $0.offset] == $0.element }
                #expect(!placed.contains(false), "\(entry.name), shard \(index): inserted values land where they came from")
            }
        }
    }
}
