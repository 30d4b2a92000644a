// Exact resume: training in segments — stop, save, a fresh process-like trainer resumes from the
// checkpoint — gives bitwise the same per-step losses, parameters and optimizer state as one uninterrupted
// run; across epoch boundaries, with several resumes in one epoch, for both optimizers. Also: stop
// requests (SIGTERM/SIGINT) agreed across ranks, resuming on another number of ranks, architecture
// mismatches, damaged newest checkpoints and failed saves.
//
// The corpus has 12 videos and the global batch is 4, so an epoch is 3 steps.

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


private func resumeConfig(_ optimizer: OptimizerKind = .adam, every: Int = 0) -> RunConfig {
    var config = smallRunConfig(batch: 4, steps: 8, optimizer: optimizer == .adam
        ? OptimizerConfig(name: .adam, learningRate: 3e-3, warmupSteps: 2, schedule: .cosine, minimumLearningRate: 1e-4, clipNorm: 1)
        : OptimizerConfig(name: .rmsprop, learningRate: 1e-3, warmupSteps: 1, clipNorm: 1))
    config.checkpoint = CheckpointSettings(every: every, keepLast: 100)
    return config
}

/// Parameters and every optimizer slot, tensor by tensor, as bit patterns (alignment padding excluded).
private func stateBits(_ trainer: Trainer) -> [String: [UInt32]] {
    var result: [String: [UInt32]] = [:]
    for tensors in TrainerCheckpoint(trainer).tensors {
        for entry in tensors.table.entries {
            result[tensors.group + "/" + entry.name] = (0..<entry.count).map { tensors.buffer[entry.offset + $0].bitPattern }
        }
    }
    return result
}

private func maxDifference(_ a: Trainer, _ b: Trainer) -> Float {
    zip(a.model.parameters.array, b.model.parameters.array).map { abs($0 - $1) }.max() ?? 0
}

/// One uninterrupted run, no checkpoints involved.
private func reference(_ config: RunConfig, until steps: Int) throws -> (losses: [Double], trainer: Trainer) {
    let trainer = try Trainer(config: config, source: syntheticSource(config))
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let run = try TrainingRun(trainer: trainer, runDirectory: directory, log: { _ in })
    return (try run.run(until: steps).map(\.loss), trainer)
}

/// A run made of segments ending at `stops` and then `steps`, each in a fresh trainer that resumes from
/// the latest checkpoint in `directory`.
private func segmented(_ config: RunConfig, stops: [Int], until steps: Int, directory: URL,
                       log: @escaping (String) -> Void = { _ in }) throws -> (losses: [Double], trainer: Trainer) {
    var losses: [Double] = []
    var trainer: Trainer!
    for (index, end) in (stops + [steps]).enumerated() {
        trainer = try Trainer(config: config, source: syntheticSource(config))
        let checkpoints = try RunCheckpoints(trainer: trainer, settings: config.checkpoint, directory: directory.appendingPathComponent("checkpoints"),
                                             hooks: CheckpointWriteHooks(), log: log)
        let resumed = try checkpoints.resume(.latest, configName: "test.yaml")
        #expect(resumed == (index == 0 ? nil : stops[index - 1]))
        let run = try TrainingRun(trainer: trainer, runDirectory: directory, checkpoints: checkpoints, resumedFrom: resumed, log: log)
        losses += try run.run(until: end).map(\.loss)
    }
    return (losses, trainer)
}

@Suite struct ResumeTests {
    @Test(arguments: [
        ([4], 8),      // stop mid-epoch; the resumed part crosses the epoch boundary at step 6
        ([3], 6),      // stop exactly at an epoch boundary
        ([4, 5], 8),   // two resumes inside one epoch (steps 3..<6)
        ([1, 2, 6], 7) // three resumes, one of them at a boundary
    ], [OptimizerKind.adam, .rmsprop])
    func resumedRunsAreBitwiseIdenticalToUninterruptedOnes(_ plan: ([Int], Int), _ optimizer: OptimizerKind) throws {
        let (stops, steps) = plan
        let config = resumeConfig(optimizer)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let whole = try reference(config, until: steps)
        let parts = try segmented(config, stops: stops, until: steps, directory: directory)
        #expect(parts.losses.count == steps)
        #expect(parts.losses == whole.losses, "per-step losses differ")
        #expect(parts.trainer.step == whole.trainer.step && parts.trainer.optimizer.step == whole.trainer.optimizer.step)
        let (a, b) = (stateBits(whole.trainer), stateBits(parts.trainer))
        #expect(a.keys.sorted() == b.keys.sorted())
        let differing = a.keys.sorted().filter { a[$0] != b[$0] }
        #expect(differing.isEmpty, "tensors differ after resuming: \(differing.prefix(5))")
        // metrics.jsonl tells the story once: steps 1...steps, in order.
        let lines = try String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        let logged = lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["step"] as? Int }
        #expect(logged == Array(1...steps))
    }

    @Test func theCheckpointHoldsTheDesignLayoutAndTheDataCursor() throws {
        let config = resumeConfig(.rmsprop, every: 2)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let trainer = try Trainer(config: config, source: syntheticSource(config))
        let checkpoints = try RunCheckpoints(trainer: trainer, settings: config.checkpoint, directory: directory, hooks: CheckpointWriteHooks(), log: { _ in })
        try TrainingRun(trainer: trainer, runDirectory: directory, checkpoints: checkpoints, log: { _ in }).run(until: 5)
        #expect(try checkpoints.directory.checkpoints().map(\.step) == [2, 4, 5])
        let file = try CheckpointFile(path: directory.appendingPathComponent("step_00000005.h5").path)
        #expect(file.step == 5 && file.int("optimizer_step") == 5)
        #expect(file.int("data_epoch") == 1 && file.int("data_offset") == 8 && file.int("data_position") == 20)
        #expect(file.int("seed") == 3 && file.int("world_size") == 1 && file.string("mesh") == "data=1,model=1")
        #expect(file.strings("optimizer_slots") == ["rms", "momentum"])
        #expect(file.int("parameter_count") == trainer.model.layout.table.parameterCount)
        let stored = try #require(RunConfig.decodeStored(file.string("config") ?? ""))
        #expect(stored == config)
        let paths = try file.datasetPaths()
        #expect(paths.contains("/params/encoder/layer_0/attention/query"))
        #expect(paths.contains("/optimizer/momentum/head/channel_2/previous"))
        #expect(paths.count == 3 * trainer.model.layout.table.entries.count)
        #expect(try file.verify().allSatisfy(\.isIntact))
    }

    @Test func aStopRequestSavesAtTheNextStepBoundaryAndTheRunContinuesExactly() throws {
        let config = resumeConfig(.adam)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let trainer = try Trainer(config: config, source: syntheticSource(config))
        let checkpoints = try RunCheckpoints(trainer: trainer, settings: config.checkpoint, directory: directory.appendingPathComponent("c"),
                                             hooks: CheckpointWriteHooks(), log: { _ in })
        let run = try TrainingRun(trainer: trainer, runDirectory: directory, checkpoints: checkpoints, log: { _ in })
        let signals = StopSignals(install: false)
        run.stopSignals = signals
        // The request arrives while a step runs (from another thread, as a signal would).
        let requester = Thread { Thread.sleep(forTimeInterval: 0.3); signals.request(SIGTERM) }
        requester.start()
        try run.run(until: 100_000)
        let stopped = trainer.step
        #expect(run.stoppedBySignal == SIGTERM)
        #expect(stopped < 100_000)
        #expect(checkpoints.directory.latestPointer()?.lastPathComponent == CheckpointFormat.fileName(step: stopped))
        // Continue to two steps past the stop: identical to a run that was never stopped.
        let continued = try segmented(config, stops: [stopped], until: stopped + 2, directory: directory)
        let whole = try reference(config, until: stopped + 2)
        #expect(Array(continued.losses.suffix(2)) == Array(whole.losses.suffix(2)))
        #expect(stateBits(continued.trainer) == stateBits(whole.trainer))
    }

    @Test func everyRankStopsAtTheSameStepWhenOneRankIsSignalled() throws {
        let config = resumeConfig(.adam)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let communicators = ThreadCommunicator.group(size: 2)
        let steps = try onEveryRank(2) { rank -> (Int, Int32?) in
            let trainer = try Trainer(config: config, source: syntheticSource(config), communicator: communicators[rank])
            let checkpoints = try RunCheckpoints(trainer: trainer, settings: config.checkpoint, directory: directory,
                                                 hooks: CheckpointWriteHooks(), log: { _ in })
            let run = try TrainingRun(trainer: trainer, runDirectory: directory, checkpoints: checkpoints, log: { _ in })
            let signals = StopSignals(install: false)
            run.stopSignals = signals
            if rank == 1 {
                Thread { Thread.sleep(forTimeInterval: 0.3); signals.request(SIGINT) }.start()
            }
            try run.run(until: 100_000)
            return (trainer.step, run.stoppedBySignal)
        }
        #expect(steps[0].0 == steps[1].0 && steps[0].0 < 100_000)
        #expect(steps[0].1 == SIGINT && steps[1].1 == SIGINT)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(CheckpointFormat.fileName(step: steps[0].0)).path))
    }

    /// 2 ranks → 1 rank and 1 rank → 2 ranks with the same global batch: the same run, to float
    /// tolerance (summing gradients over ranks changes the rounding, nothing else); every rank holds
    /// rank 0's state bitwise after the resume.
    @Test func resumingOnAnotherNumberOfRanksContinuesTheRun() throws {
        let config = resumeConfig(.adam)
        let whole = try reference(config, until: 6)
        for (first, second) in [(2, 1), (1, 2)] {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            var losses: [Double] = []
            var finals: [Trainer] = []
            for (ranks, (from, to)) in [(first, (0, 3)), (second, (3, 6))] {
                let communicators = ThreadCommunicator.group(size: ranks)
                let results = try onEveryRank(ranks) { rank -> ([Double], Trainer) in
                    let communicator: any Communicator = ranks == 1 ? LocalCommunicator() : communicators[rank]
                    let trainer = try Trainer(config: config, source: syntheticSource(config), communicator: communicator)
                    let checkpoints = try RunCheckpoints(trainer: trainer, settings: config.checkpoint, directory: directory,
                                                         hooks: CheckpointWriteHooks(), log: { _ in })
                    let resumed = try checkpoints.resume(.latest, configName: "test.yaml")
                    #expect(resumed == (from == 0 ? nil : from))
                    let run = try TrainingRun(trainer: trainer, runDirectory: directory, checkpoints: checkpoints, resumedFrom: resumed, log: { _ in })
                    return (try run.run(until: to).map(\.loss), trainer)
                }
                losses += results[0].0
                for other in results.dropFirst() {
                    #expect(stateBits(other.1) == stateBits(results[0].1), "ranks disagree after \(ranks)-rank segment")
                }
                finals = results.map(\.1)
            }
            #expect(losses.count == 6)
            for (step, (a, b)) in zip(losses, whole.losses).enumerated() {
                #expect(abs(a - b) <= 1e-5 * b, "\(first)→\(second) ranks, step \(step + 1): \(a) vs \(b)")
            }
            let difference = maxDifference(finals[0], whole.trainer)
            #expect(difference <= 1e-4, "\(first)→\(second) ranks: parameters differ by \(difference)")
            let file = try CheckpointFile(path: directory.appendingPathComponent("step_00000003.h5").path)
            #expect(file.int("world_size") == first)
        }
    }

    @Test func aDifferentArchitectureIsRefusedNamingTheField() throws {
        let config = resumeConfig(.adam)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try segmented(config, stops: [], until: 2, directory: directory)
        func resume(_ changed: RunConfig) throws -> [String] {
            var notes: [String] = []
            let trainer = try Trainer(config: changed, source: syntheticSource(changed))
            let checkpoints = try RunCheckpoints(trainer: trainer, settings: changed.checkpoint, directory: directory.appendingPathComponent("checkpoints"),
                                                 hooks: CheckpointWriteHooks(), log: { notes.append($0) })
            try checkpoints.resume(.latest, configName: "changed.yaml")
            return notes
        }
        var wider = config
        wider.model.hiddenSize = 32
        let error = try #require(throws: CheckpointError.self) { try resume(wider) }
        #expect(error.kind == .mismatch)
        #expect("\(error)".contains("model.hidden_size is 16 in the checkpoint but 32 in changed.yaml"), "\(error)")

        var rmsprop = config
        rmsprop.optimizer.name = .rmsprop
        let optimizerError = try #require(throws: CheckpointError.self) { try resume(rmsprop) }
        #expect("\(optimizerError)".contains("optimizer.name adam"), "\(optimizerError)")

        var slower = config
        slower.optimizer.learningRate = 1e-3
        let notes = try resume(slower)
        #expect(notes.contains { $0.contains("optimizer.learning_rate differs") }, "\(notes)")
    }

    @Test func aDamagedNewestCheckpointIsReportedAndThePreviousOneUsed() throws {
        let config = resumeConfig(.adam, every: 2)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let trained = try segmented(config, stops: [], until: 4, directory: directory).trainer
        let newest = directory.appendingPathComponent("checkpoints/step_00000004.h5").path
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: newest)))
        // One flipped bit inside the data of params/head/channel_0/logits/weight.
        let entry = try #require(trained.model.layout.table["head/channel_0/logits/weight"])
        let needle = Array(UnsafeRawBufferPointer(start: trained.model.parameters.pointer + entry.offset, count: 64))
        let at = try #require((0...(bytes.count - needle.count)).first { bytes[$0..<$0 + needle.count].elementsEqual(needle) })
        bytes[at + 10] ^= 0x04
        try Data(bytes).write(to: URL(fileURLWithPath: newest))

        var log: [String] = []
        let trainer = try Trainer(config: config, source: syntheticSource(config))
        let checkpoints = try RunCheckpoints(trainer: trainer, settings: config.checkpoint, directory: directory.appendingPathComponent("checkpoints"),
                                             hooks: CheckpointWriteHooks(), log: { log.append($0) })
        #expect(try checkpoints.resume(.latest, configName: "test.yaml") == 2)
        #expect(log.contains { $0.hasPrefix("warning: skipping damaged checkpoint \(newest)") }, "\(log)")
        let run = try TrainingRun(trainer: trainer, runDirectory: directory, checkpoints: checkpoints, resumedFrom: 2, log: { _ in })
        try run.run(until: 6)
        #expect(stateBits(trainer) == stateBits(try reference(config, until: 6).trainer))

        // --resume-from the damaged file itself: refused, naming the dataset.
        let again = try Trainer(config: config, source: syntheticSource(config))
        let explicit = try RunCheckpoints(trainer: again, settings: config.checkpoint, directory: directory.appendingPathComponent("other"),
                                          hooks: CheckpointWriteHooks(), log: { _ in })
        let copy = directory.appendingPathComponent("damaged.h5").path
        try Data(bytes).write(to: URL(fileURLWithPath: copy))
        let error = try #require(throws: CheckpointError.self) { try explicit.resume(.file(copy), configName: "test.yaml") }
        #expect(error.kind == .damaged && error.object == "/params/head/channel_0/logits/weight", "\(error)")
    }

    @Test func aFailedSaveStopsLoudlyAndKeepsTheStateAndOlderCheckpoints() throws {
        let config = resumeConfig(.adam, every: 2)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let trainer = try Trainer(config: config, source: syntheticSource(config))
        let checkpoints = try RunCheckpoints(trainer: trainer, settings: config.checkpoint, directory: directory,
                                             hooks: CheckpointWriteHooks(), log: { _ in })
        let run = try TrainingRun(trainer: trainer, runDirectory: directory, checkpoints: checkpoints, log: { _ in })
        try run.run(until: 2)  // saves step 2
        checkpoints.directory.hooks = CheckpointWriteHooks { index, _, _ in
            if index == 5 { throw POSIXError(.ENOSPC) }  // the disk fills up in the middle of the next save
        }
        let error = try #require(throws: TrainingError.self) { try run.run(until: 6) }
        #expect("\(error)".contains("step_00000004.h5") && "\(error)".contains("latest: step_00000002.h5"), "\(error)")
        #expect(trainer.step == 4)
        #expect(try checkpoints.directory.checkpoints().map(\.step) == [2])
        #expect(checkpoints.directory.latestPointer()?.lastPathComponent == "step_00000002.h5")
        // The in-memory state is untouched: saving again (space freed) gives the uninterrupted run's step 4.
        checkpoints.directory.hooks = CheckpointWriteHooks()
        try checkpoints.save(reason: "retry")
        #expect(stateBits(trainer) == stateBits(try reference(config, until: 4).trainer))
    }

    @Test func noCheckpointMeansAFreshStartSaidSo() throws {
        let config = resumeConfig(.adam)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var log: [String] = []
        let trainer = try Trainer(config: config, source: syntheticSource(config))
        let checkpoints = try RunCheckpoints(trainer: trainer, settings: config.checkpoint, directory: directory,
                                             hooks: CheckpointWriteHooks(), log: { log.append($0) })
        #expect(try checkpoints.resume(.latest, configName: "test.yaml") == nil)
        #expect(log.contains { $0.contains("no checkpoint in \(directory.path); starting from step 0") }, "\(log)")
    }

    @Test func checkpointSettingsDecodeStrictly() throws {
        let yaml = "every: 200\nkeep_last: 3\nmilestones: [300000, 1000000]\n"
        let settings = try ConfigFile.decode(CheckpointSettings.self, yaml: yaml, source: "x.yaml")
        #expect(settings == CheckpointSettings(every: 200, keepLast: 3, milestones: [300_000, 1_000_000]))
        #expect(settings.isScheduled(step: 400) && settings.isScheduled(step: 300_000) && !settings.isScheduled(step: 300))
        let unknown = try #require(throws: ConfigError.self) { try ConfigFile.decode(CheckpointSettings.self, yaml: "evry: 2\n", source: "x.yaml") }
        #expect("\(unknown)".contains("unknown key 'evry'"))
        var config = resumeConfig()
        config.checkpoint.every = -1
        #expect(throws: ConfigError.self) { try config.validate() }
    }
}
