// CheckpointedModel: a model rebuilt from a checkpoint alone — the resolved config stored in it gives the
// architecture, `params/` the weights (each dataset's shape and CRC-32C checked as it is read) — plus the
// evaluation pass over a data set that every evaluating command shares.

import Foundation
import Checkpointing
import Datasets
import Distribution
import Kernels
import VideoModel

public struct CheckpointedModel {
    public let config: RunConfig
    public let model: VideoTransformer
    public let step: Int
    public let path: String

    /// Opens `path`, decodes its config (optionally replacing the priming frames) and reads its parameters
    /// (fp32, as every checkpoint holds them) into a model whose products run in `precision`.
    public init(path: String, maxBatch: Int, primeFrames: [Int]? = nil, precision: Precision = .fp32) throws {
        let file = try CheckpointFile(path: path)
        defer { file.close() }
        guard let text = file.string("config") else {
            throw TrainingError("\(path): the checkpoint has no config attribute, so its model cannot be rebuilt")
        }
        var config = try ConfigFile.decode(RunConfig.self, yaml: text, source: "\(path) (stored config)")
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

    /// The shards at `path` (default: the stored config's data.eval), checked to fit the model.
    public func data(_ path: String?, role: String) throws -> ShardVideoSource {
        guard let path = path ?? config.data.eval else {
            throw TrainingError("no \(role) data: pass --data PATH (the checkpoint's config has no data.eval)")
        }
        let shards = try ShardVideoSource(path: path)
        try checkFits(shards, dataPath: path)
        return shards
    }

    /// Refuses data whose videos do not fit the model (frame size, clip length), naming both.
    public func checkFits(_ source: VideoSource, dataPath: String) throws {
        let model = config.model
        guard source.height == model.height, source.width == model.width, source.frames >= model.frames else {
            throw TrainingError("\(dataPath) holds \(source.frames)-frame \(source.height)×\(source.width) videos, but the checkpoint's model (\(path)) needs \(model.frames)-frame \(model.height)×\(model.width) clips")
        }
    }
}

/// Videos 0..<count of another source (for `--videos N`).
public final class PrefixVideoSource: VideoSource, @unchecked Sendable {
    let base: VideoSource
    public let count: Int
    public var frames: Int { base.frames }
    public var height: Int { base.height }
    public var width: Int { base.width }
    public init(_ base: VideoSource, count: Int) { self.base = base; self.count = min(count, base.count) }
    public func read(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<UInt8>) throws {
        try base.read(index: index, startFrame: startFrame, frameCount: frameCount, into: buffer)
    }
}

public enum EvaluationRun {
    /// Exact bits/dim of the first clip of every video of `source` (DESIGN §2, §3): the videos are split
    /// over the ranks of `communicator` in batches of `batchPerRank`, padding masked, totals summed.
    public static func run(model: VideoTransformer, source: VideoSource, communicator: any Communicator,
                           batchPerRank: Int, progress: ((Int, Int) -> Void)? = nil) throws -> EvaluationTotals {
        let schedule = try EvaluationSchedule(videoCount: source.count, videoFrames: source.frames,
                                              clipFrames: model.config.frames, batchPerRank: batchPerRank,
                                              ranks: communicator.size)
        let batches = try EvaluationBatches(source: source, schedule: schedule, rank: communicator.rank)
        let evaluator = Evaluator(model: model)
        var totals = EvaluationTotals(frames: model.config.frames, slices: model.config.sliceCount)
        while let batch = try batches.next() {
            totals.add(evaluator.evaluate(videos: UnsafePointer(batch.pixels.baseAddress!), mask: batch.items.map { !$0.isPadding }))
            progress?(batch.index + 1, schedule.batchCount)
        }
        return try totals.summed(over: communicator)
    }
}
