import ArgumentParser
import Foundation
import Kernels
import Training
import Datasets

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a model from a YAML config.")

    @Option(help: "The run's YAML config (see Configs/).") var config: String
    @Option(help: "Train until this global step (default: the config's training.steps).") var steps: Int?
    @Option(help: "Folder for metrics.jsonl (default: runs/<config name>).") var runDir: String?

    func validate() throws {
        if let steps, steps < 0 { throw ValidationError("--steps must be at least 0 (got \(steps))") }
    }

    func run() throws {
        do {
            MatMul.configureThreads()
            let runConfig = try RunConfig.load(path: config)
            let name = URL(fileURLWithPath: config).deletingPathExtension().lastPathComponent
            let directory = URL(fileURLWithPath: runDir ?? "runs/\(name)")
            let model = runConfig.model
            note("vt train: \(config) → \(directory.path)")
            note("model: \(model.frames)×\(model.height)×\(model.width), subscale \(model.subscale), d \(model.hiddenSize), \(model.heads)×\(model.headSize) heads, \(model.encoderLayers)+\(model.decoderLayers) layers; global batch \(runConfig.training.batchSize)")
            let source: VideoSource
            if let train = runConfig.data.train {
                throw TrainingError("data.train (\(train)): reading prepared shards is not available yet; remove it to train on the built-in synthetic corpus")
            } else {
                note("data: built-in synthetic corpus, \(runConfig.data.syntheticVideos) videos (seed \(runConfig.data.syntheticSeed))")
                source = InMemoryVideoSource.synthetic(count: runConfig.data.syntheticVideos, frames: model.frames,
                                                       height: model.height, width: model.width, seed: runConfig.data.syntheticSeed)
            }
            let trainer = try Trainer(config: runConfig, source: source)
            note("parameters: \(trainer.model.layout.table.parameterCount)")
            let run = try TrainingRun(trainer: trainer, runDirectory: directory, log: note)
            let history = try run.run(until: steps ?? runConfig.training.steps)
            if let first = history.first, let last = history.last {
                let head = history.prefix(10).map(\.bitsPerDim).reduce(0, +) / Double(min(10, history.count))
                let tail = history.suffix(10).map(\.bitsPerDim).reduce(0, +) / Double(min(10, history.count))
                note(String(format: "done: %d steps; bits/dim %.3f (first 10 steps) → %.3f (last 10 steps); metrics in %@",
                            last.step - first.step + 1, head, tail, directory.appendingPathComponent("metrics.jsonl").path))
            }
        } catch {
            throw fail(error)
        }
    }
}
