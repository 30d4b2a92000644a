// CheckpointedModel: a model rebuilt from a checkpoint alone — the resolved config stored in it gives the
// architecture, `params/` the weights (each dataset's shape and CRC-32C checked as it is read) — plus the
// evaluation pass over a data set that every evaluating command shares.

import Foundation
import Checkpointing
import Datasets
import Kernels
import VideoModel

public struct CheckpointedModel {
    public let config: RunConfig
    public let model: VideoTransformer
    public let step: Int
    public let path: String
    /// The continuation strides the model was trained for (its stored `prime_frames`, whatever --prime-frames
    /// replaced them with for this run; docs/design.md §12).
    public let trainedStrides: [Int]

    /// Opens `path`, decodes its config (optionally replacing the priming frames) and reads its parameters
    /// (fp32, as every checkpoint holds them) into a model whose products run in `precision`.
    public init(path: String, maxBatch: Int, primeFrames: [Int]? = nil, precision: Precision = .fp32) throws {
        let file = try CheckpointFile(path: path)
        defer { file.close() }
        var config = try Self.decodeConfig(file, path: path)
        trainedStrides = config.model.trainedStrides
        if let primeFrames {
            config.model.primeFrames = primeFrames
            do { try config.model.validate(prefix: "--prime-frames / model.") } catch { throw TrainingError("\(error)") }
        }
        model = try VideoTransformer(config: config.model, maxBatch: maxBatch, precision: precision)
        config.training.precision = precision
        try file.read(into: CheckpointTensors(group: "params", table: model.layout.table, buffer: model.parameters))
        self.config = config
        step = file.step
        self.path = path
    }

    /// The resolved config stored in the checkpoint at `path` (without reading its tensors).
    public static func storedConfig(path: String) throws -> RunConfig {
        let file = try CheckpointFile(path: path)
        defer { file.close() }
        return try decodeConfig(file, path: path)
    }

    static func decodeConfig(_ file: CheckpointFile, path: String) throws -> RunConfig {
        guard let text = file.string("config") else {
            throw TrainingError("\(path): the checkpoint has no config attribute, so its model cannot be rebuilt")
        }
        return try ConfigFile.decode(RunConfig.self, yaml: text, source: "\(path) (stored config)")
    }

    /// The shards at `path` (default: the stored config's data.eval), checked to fit the model.
    public func data(_ path: String?, role: String) throws -> ShardVideoSource {
        try Self.data(path, config: config, checkpoint: self.path, role: role)
    }

    /// The shards at `path` (default: `config`'s data.eval), checked to fit `config`'s model.
    public static func data(_ path: String?, config: RunConfig, checkpoint: String, role: String) throws -> ShardVideoSource {
        guard let path = path ?? config.data.eval else {
            throw TrainingError("no \(role) data: pass --data PATH (the checkpoint's config has no data.eval)")
        }
        let shards = try ShardVideoSource(path: path)
        let model = config.model
        guard shards.height == model.height, shards.width == model.width, shards.frames >= model.frames else {
            throw TrainingError("\(path) holds \(shards.frames)-frame \(shards.height)×\(shards.width) videos, but the checkpoint's model (\(checkpoint)) needs \(model.frames)-frame \(model.height)×\(model.width) clips")
        }
        return shards
    }
}
