import ArgumentParser
import Foundation
import Kernels
import Training
import Distribution
import VideoModel

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a model from a YAML config.")

    @Option(help: "The run's YAML config (see Configs/).") var config: String
    @Option(help: "Train until this global step (default: the config's training.steps).") var steps: Int?
    @Option(help: "Folder for metrics.jsonl (default: runs/<config name>).") var runDir: String?
    @OptionGroup var checkpointOptions: CheckpointOptions
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var distributionOptions: DistributionOptions
    @Option(help: "Precision of the matrix products: fp32 or bf16 (default: the config's training.precision).")
    var precision: Precision?
    @Option(help: "What backward keeps: none, or layer (re-run each layer's forward in backward; bitwise the same results, less memory). Default: the config's training.recompute.")
    var recompute: Recompute?

    func validate() throws {
        if let steps, steps < 0 { throw ValidationError("--steps must be at least 0 (got \(steps))") }
        try checkpointOptions.validate()
    }

    func run() throws {
        var world: (any Communicator)? = nil
        do {
            MatMul.configureThreads()
            let stopSignals = checkpointOptions.installStopSignals()  // first: a signal during setup stops cleanly too
            let ranks = try RunWorld()
            world = ranks.world
            let note = ranks.say
            let runConfig = try ranks.agree("reading the config") {
                var loaded = try checkpointOptions.apply(to: distributionOptions.apply(to: dataOptions.apply(to: RunConfig.load(path: config))),
                                                         configPath: config)
                if let precision { loaded.training.precision = precision }
                if let recompute { loaded.training.recompute = recompute }
                return loaded
            }
            if let line = try ranks.agree("checking the precision", { try PrecisionCheck.prepare(runConfig.training.precision) }) { note(line) }
            let mesh = try ranks.agree("laying out the mesh") { try ranks.mesh(options: distributionOptions, config: runConfig) }
            let name = URL(fileURLWithPath: config).deletingPathExtension().lastPathComponent
            let directory = URL(fileURLWithPath: runDir ?? "runs/\(name)")
            let model = runConfig.model
            note("vt train: \(config) → \(directory.path)")
            note("model: \(model.frames)×\(model.height)×\(model.width), subscale \(model.subscale), d \(model.hiddenSize), \(model.heads)×\(model.headSize) heads, \(model.encoderLayers)+\(model.decoderLayers) layers; global batch \(runConfig.training.batchSize)")
            if ranks.world.size > 1 {
                note("mesh: \(mesh.shape) on \(ranks.world.size) ranks (2-D torus); \(Parallel.workers) worker threads per rank")
            }
            let (source, evaluationSource) = try ranks.agree("opening the data") { try dataOptions.sources(runConfig, log: note) }
            let trainer = try ranks.agree("building the model") {
                try Trainer(config: runConfig, source: source, communicator: mesh.dataAxis, modelAxis: mesh.modelAxis,
                            world: mesh.all)
            }
            let timeline = distributionOptions.timeline != nil ? Timeline(rank: ranks.world.rank) : nil
            note("parameters: \(ModelParameters(config: runConfig.model).table.parameterCount)"
                 + (mesh.shape.model > 1 ? " (\(trainer.model.layout.table.parameterCount) per model shard)" : ""))
            if runConfig.distribution.shardOptimizer && mesh.shape.data == 1 {
                note("note: distribution.shard_optimizer: the data axis has 1 rank, so there is nothing to shard; training unsharded")
            }
            note(trainer.stateMemorySummary)
            let (checkpoints, resumedFrom) = try checkpointOptions.start(trainer: trainer, configPath: config)
            let run = try TrainingRun(trainer: trainer, runDirectory: directory, checkpoints: checkpoints, resumedFrom: resumedFrom, log: note)
            run.stopSignals = stopSignals
            run.evaluationSource = evaluationSource
            run.timeline = timeline
            let history = try run.run(until: steps ?? runConfig.training.steps)
            trainer.watchdog.stop()  // the collectives are over: the other ranks may finish before this one
            checkpointOptions.reportStop(run, configPath: config)
            if let folder = distributionOptions.timeline, let timeline {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                try timeline.write(to: URL(fileURLWithPath: folder).appendingPathComponent("timeline-rank\(ranks.world.rank).json"))
                note("timeline: \(folder)/timeline-rank<R>.json (open in chrome://tracing or ui.perfetto.dev)")
            }
            if let first = history.first, let last = history.last {
                let head = history.prefix(10).map(\.bitsPerDim).reduce(0, +) / Double(min(10, history.count))
                let tail = history.suffix(10).map(\.bitsPerDim).reduce(0, +) / Double(min(10, history.count))
                note(String(format: "done: %d steps; bits/dim %.3f (first 10 steps) → %.3f (last 10 steps); metrics in %@",
                            last.step - first.step + 1, head, tail, directory.appendingPathComponent("metrics.jsonl").path))
            }
        } catch {
            throw failDistributed(error, world: world)
        }
    }
}
