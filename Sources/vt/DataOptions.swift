// DataOptions: `--data PATH` and `--eval-data PATH` (overriding the config's data.train and data.eval), and
// the choice of what training reads: prepared shards when data.train is set, else the built-in synthetic
// corpus generated in memory. Shared by the commands that read data (train; evaluate later).

import ArgumentParser
import Datasets
import Foundation
import Training

struct DataOptions: ParsableArguments {
    @Option(help: "Training shards (a .h5 file or a folder of them); overrides the config's data.train.")
    var data: String?
    @Option(help: "Evaluation shards (a .h5 file or a folder of them); overrides the config's data.eval.")
    var evalData: String?

    /// The config with the command line's data paths in place (so checkpoints record what was read).
    func apply(to config: RunConfig) -> RunConfig {
        var config = config
        if let data { config.data.train = data }
        if let evalData { config.data.eval = evalData }
        return config
    }

    /// The training source and, when data.eval is set, the evaluation shards (checked against the model).
    func sources(_ config: RunConfig, log: (String) -> Void) throws -> (train: VideoSource, eval: VideoSource?) {
        let model = config.model
        let source: VideoSource
        if let train = config.data.train {
            let shards = try open(train, role: "data.train")
            log("data: \(train): \(shards.summary)")
            source = shards
        } else {
            log("data: built-in synthetic corpus, \(config.data.syntheticVideos) videos (seed \(config.data.syntheticSeed))")
            source = try ConditioningCheck.syntheticSource(for: model, count: config.data.syntheticVideos, seed: config.data.syntheticSeed)
        }
        var evaluation: VideoSource? = nil
        if let eval = config.data.eval {
            let shards = try open(eval, role: "data.eval")
            evaluation = shards
            log("eval data: \(eval): \(shards.summary)")
            guard (shards.height, shards.width) == (model.height, model.width), shards.frames >= model.frames else {
                throw TrainingError("data.eval (\(eval)): its videos are \(shards.frames)×\(shards.height)×\(shards.width) "
                                    + "but the model needs clips of \(model.frames)×\(model.height)×\(model.width)")
            }
            try ConditioningCheck.require(model, from: shards, role: "data.eval")
        }
        return (source, evaluation)
    }

    private func open(_ path: String, role: String) throws -> ShardVideoSource {
        guard FileManager.default.fileExists(atPath: path) else {
            throw TrainingError("\(role): \(path) does not exist (relative paths are taken from the current folder, "
                                + "\(FileManager.default.currentDirectoryPath)); prepare shards with `vt prepare bair|kinetics|synthetic`, "
                                + "e.g. `vt prepare synthetic --videos 512 --output \(path)`")
        }
        return try ShardVideoSource(path: path)
    }
}
