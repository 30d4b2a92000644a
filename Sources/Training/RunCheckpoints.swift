// RunCheckpoints: a run's checkpoint schedule on every rank — resume at start, save when the schedule
// (or a stop signal) says so, keep what the retention policy keeps. Rank 0 alone touches the disk; every
// decision that could differ between ranks (which checkpoint was found, whether a save failed) is
// broadcast or reduced, so all ranks take the same path and none waits forever.
//
// Leaves out: the file format and commit protocol (Checkpointing), the trainer's state as tensors
// (TrainerCheckpoint), the training loop (TrainingRun).

import Foundation
import Checkpointing
import Distribution

public final class RunCheckpoints {
    public enum ResumeSource: Sendable {
        /// The run directory's newest intact checkpoint (`latest` first); start fresh if there is none.
        case latest
        /// This file, which must be intact.
        case file(String)
    }

    public let trainer: Trainer
    public let settings: CheckpointSettings
    public let directory: CheckpointDirectory
    /// The trainer's state as checkpoint contents, and back.
    let state: TrainerCheckpoint
    /// Written into every checkpoint's `mesh` attribute (default `data=<ranks>,model=1`).
    public var mesh: String?
    let log: (String) -> Void
    /// The step of the checkpoint this process last saved or resumed from (no second save of it).
    public private(set) var lastSavedStep: Int?
    /// Reports of this process's saves, for tests and measurements.
    public private(set) var saves: [SaveReport] = []

    var isLeader: Bool { trainer.isLeader }

    /// Rank 0 creates `directory` and removes temporary files an interrupted save left there.
    public init(trainer: Trainer, settings: CheckpointSettings, directory: URL,
                hooks: CheckpointWriteHooks = .fromEnvironment(), log: @escaping (String) -> Void) throws {
        self.trainer = trainer
        state = TrainerCheckpoint(trainer)
        self.settings = settings
        self.directory = CheckpointDirectory(url: directory, hooks: hooks)
        self.log = log
        var failure: Error?
        if isLeader {
            do {
                let removed = try self.directory.prepare()
                if !removed.isEmpty {
                    log("checkpoints: removed \(removed.count) temporary file(s) left by an interrupted save in \(directory.path): \(removed.joined(separator: ", "))")
                }
            } catch { failure = error }
        }
        try agree(failure, what: "preparing the checkpoint directory")
    }

    public var retention: RetentionPolicy {
        RetentionPolicy(keepLast: settings.keepLast, milestones: Set(settings.milestones))
    }

    // MARK: Resume

    /// Restores the trainer from `source` on rank 0 and broadcasts the state to every rank. Returns the
    /// step resumed from, or nil when `.latest` finds no checkpoint (training starts at step 0, and the
    /// log says so). A damaged newest checkpoint is reported by name and the previous one used.
    @discardableResult
    public func resume(_ source: ResumeSource, configName: String) throws -> Int? {
        var found: Int64 = -1
        var restored: TrainerCheckpoint.Restored?
        var failure: Error?
        if isLeader {
            do {
                switch source {
                case .file(let path):
                    let file = try CheckpointFile(path: path)
                    defer { file.close() }
                    restored = try restore(file, configName: configName)
                    found = Int64(file.step)
                case .latest:
                    var damaged: [SkippedCheckpoint] = []
                    let loaded = try directory.loadNewestIntact(skipped: { skipped in
                        damaged.append(skipped)
                        self.log("warning: skipping damaged checkpoint \(skipped.url.path): \(skipped.error)")
                    }, load: { file in restored = try self.restore(file, configName: configName) })
                    if let loaded {
                        found = Int64(loaded.step)
                        if !damaged.isEmpty { log("warning: resumed from the previous intact checkpoint \(loaded.url.path)") }
                    } else if !damaged.isEmpty {
                        throw TrainingError("every checkpoint in \(directory.url.path) is damaged (\(damaged.map(\.url.lastPathComponent).joined(separator: ", "))); "
                                            + "nothing was deleted — move them away to start over, or pass --resume-from FILE")
                    } else {
                        log("resume: no checkpoint in \(directory.url.path); starting from step 0")
                    }
                }
            } catch { failure = error }
        }
        try agree(failure, what: "resuming")
        var cell = [found]
        if trainer.world.size > 1 {
            try cell.withUnsafeMutableBytes { try trainer.world.broadcast($0, root: 0) }
        }
        guard cell[0] >= 0 else { return nil }
        try state.distribute(restored)
        lastSavedStep = trainer.step
        return trainer.step
    }

    /// Rank 0: loads `file` into the trainer and logs what it resumed and what differs.
    private func restore(_ file: CheckpointFile, configName: String) throws -> TrainerCheckpoint.Restored {
        let (notes, restored) = try state.restore(from: file, configName: configName)
        let cursor = trainer.data.schedule.cursor(step: trainer.step)
        let writtenOn = file.string("mesh") ?? "data=\(file.int("world_size") ?? 1),model=1"
        let now = "data=\(trainer.communicator.size),model=\(trainer.modelAxis.size)"
        log("resume: \(file.path) (step \(trainer.step), optimizer step \(trainer.optimizer.step), data epoch \(cursor.epoch) offset \(cursor.offset))"
            + (writtenOn != now ? "; written on mesh \(writtenOn), continuing on \(now) with the same global batch" : ""))
        for note in notes { log("resume: note: \(note)") }
        return restored
    }

    // MARK: Save

    /// Whether the schedule saves after the current step.
    public var isDue: Bool { settings.isScheduled(step: trainer.step) && lastSavedStep != trainer.step }

    /// Saves the current step on rank 0 (all ranks must call it together); no-op if this step was
    /// already saved or resumed from. A failed save throws on every rank, leaving older checkpoints,
    /// `latest` and the trainer's state untouched.
    @discardableResult
    public func save(reason: String) throws -> SaveReport? {
        guard lastSavedStep != trainer.step else { return nil }
        return try trainer.watchdog.saving("saving the checkpoint of step \(trainer.step)") { try write(reason: reason) }
    }

    private func write(reason: String) throws -> SaveReport? {
        var report: SaveReport?
        var failure: Error?
        // Collective: full tensors on rank 0 — all at once, or (sharded optimizer state) one at a time
        // while the writer writes them, so that no rank holds the whole optimizer state.
        let gathered = try state.gather()
        if isLeader {
            do {
                report = try directory.save(state.contents(mesh: mesh, gathered: gathered), retention: retention)
                let r = report!
                log(String(format: "checkpoint: %@ (%@, %.1f MB in %.3f s, %.0f MB/s: checksums %.3f, data %.3f, metadata %.3f, fsync %.3f, commit %.3f)",
                           r.url.path, reason, Double(r.bytes) / 1e6, r.seconds, r.megabytesPerSecond, r.timings.checksums,
                           r.timings.data, r.timings.metadata, r.timings.fsync, r.seconds - r.timings.total)
                    + (r.removed.isEmpty ? "" : "; removed \(r.removed.map(\.lastPathComponent).joined(separator: ", "))"))
                saves.append(r)
            } catch let error as CheckpointError {
                let latest = directory.latestPointer()?.lastPathComponent ?? "none"
                failure = TrainingError("\(error). Training stopped at step \(trainer.step); earlier checkpoints are intact (latest: \(latest)). "
                                        + "Free space or fix the directory, then continue with --resume.")
            } catch { failure = error }
        }
        // The other ranks' side of every gather; on rank 0, the gathers a failed write did not ask for.
        try gathered.finish()
        try agree(failure, what: "saving the checkpoint of step \(trainer.step)")
        lastSavedStep = trainer.step
        return report
    }

    /// Throws on every rank if rank 0 failed: a `RankFailure` carrying rank 0's message, so that only rank 0
    /// prints it (one line) and every rank exits without aborting the job (one all-reduce when it went well).
    private func agree(_ failure: Error?, what: String) throws {
        let communicator = trainer.world
        guard communicator.size > 1 else {
            if let failure { throw failure }
            return
        }
        guard try communicator.allReduceMax(failure == nil ? 0 : 1) != 0 else { return }
        let message = try communicator.broadcastBytes(Array((failure.map { "\($0)" } ?? "").utf8), root: 0)
        throw RankFailure(rank: 0, ranks: communicator.size, message: String(decoding: message, as: UTF8.self), what: what)
    }
}
