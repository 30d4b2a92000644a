// CheckpointOptions: `vt train`'s checkpoint and resume flags, and the steps they drive — overriding the
// config's `checkpoint:` section, resuming before the first step, installing the SIGTERM/SIGINT/SIGUSR1 handlers,
// and saying how to continue after a stop.

import ArgumentParser
import Foundation
import Training

struct CheckpointOptions: ParsableArguments {
    @Flag(help: "Continue from the run's latest intact checkpoint (or start at step 0, saying so, if there is none).")
    var resume = false
    @Option(help: ArgumentHelp("Continue from this checkpoint file.", valueName: "file"))
    var resumeFrom: String?
    @Option(help: ArgumentHelp("Save a checkpoint every N global steps (overrides checkpoint.every; 0: only at the end).", valueName: "n"))
    var checkpointEvery: Int?
    @Option(help: ArgumentHelp("Folder for the run's checkpoints (overrides checkpoint.directory; default Checkpoints/<config name>).", valueName: "dir"))
    var checkpointDir: String?

    func validate() throws {
        if resume && resumeFrom != nil { throw ValidationError("--resume and --resume-from exclude each other") }
        if let checkpointEvery, checkpointEvery < 0 {
            throw ValidationError("--checkpoint-every must be at least 0 (got \(checkpointEvery))")
        }
    }

    /// The config with the command-line overrides applied and `checkpoint.directory` resolved, so the
    /// config stored in checkpoints says where they went.
    func apply(to config: RunConfig, configPath: String) -> RunConfig {
        var config = config
        if let checkpointEvery { config.checkpoint.every = checkpointEvery }
        let runName = URL(fileURLWithPath: configPath).deletingPathExtension().lastPathComponent
        config.checkpoint.directory = checkpointDir ?? config.checkpoint.directory ?? "Checkpoints/\(runName)"
        return config
    }

    /// Opens the run's checkpoint directory (rank 0 removes stale temporary files) and resumes if asked;
    /// returns the schedule and the step resumed from.
    func start(trainer: Trainer, configPath: String) throws -> (RunCheckpoints, Int?) {
        let settings = trainer.config.checkpoint
        let directory = URL(fileURLWithPath: settings.directory ?? "Checkpoints")
        let isLeader = trainer.isLeader
        let log: (String) -> Void = { if isLeader { note($0) } }
        let checkpoints = try RunCheckpoints(trainer: trainer, settings: settings, directory: directory, log: log)
        var resumed: Int?
        if resume {
            resumed = try checkpoints.resume(.latest, configName: configPath)
        } else if let resumeFrom {
            resumed = try checkpoints.resume(.file(resumeFrom), configName: configPath)
        }
        let schedule = settings.every > 0 ? "every \(settings.every) steps" : "at the end only"
        log("checkpoints: \(directory.path), \(schedule), keep last \(settings.keepLast)"
            + (settings.milestones.isEmpty ? "" : " + milestones \(settings.milestones.map(String.init).joined(separator: ", "))"))
        return (checkpoints, resumed)
    }

    /// SIGTERM/SIGINT/SIGUSR1: finish the step, save, exit cleanly; a second signal exits at once. Installed before
    /// MPI starts, so the launcher's rank variable decides who says so (mpirun and srun signal every rank).
    func installStopSignals() -> StopSignals {
        let environment = ProcessInfo.processInfo.environment
        let rank = environment["OMPI_COMM_WORLD_RANK"] ?? environment["PMIX_RANK"] ?? environment["PMI_RANK"] ?? "0"
        return StopSignals { signal in
            guard rank == "0" else { return }
            note("\n\(StopSignals.name(signal)) received: finishing this step, then saving a checkpoint and exiting (send it again to exit at once)")
        }
    }

    func reportStop(_ run: TrainingRun, configPath: String) {
        guard let signal = run.stoppedBySignal, run.trainer.isLeader else { return }
        note("stopped by \(StopSignals.name(signal)) at step \(run.trainer.step); continue with: vt train --config \(configPath) --resume")
    }
}
