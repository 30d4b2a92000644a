// EvaluationRun: the exact bits per dimension of a model over a data set, split over the ranks (docs/design.md §2,
// §3), and PrefixVideoSource (the first N videos, for `--videos N`).

import Datasets
import Distribution
import VideoModel

/// Videos 0..<count of another source (for `--videos N`).
public final class PrefixVideoSource: VideoSource, @unchecked Sendable {
    public let base: VideoSource
    public let count: Int
    public var frames: Int { base.frames }
    public var height: Int { base.height }
    public var width: Int { base.width }
    public init(_ base: VideoSource, count: Int) { self.base = base; self.count = min(count, base.count) }
    public var actionWidth: Int { base.actionWidth }
    public var labelNames: [String]? { base.labelNames }
    public func read(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<UInt8>) throws {
        try base.read(index: index, startFrame: startFrame, frameCount: frameCount, into: buffer)
    }
    public func readActions(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<Float>) throws {
        guard (0..<count).contains(index) else { throw outside(index) }
        try base.readActions(index: index, startFrame: startFrame, frameCount: frameCount, into: buffer)
    }
    public func label(index: Int) throws -> Int {
        guard (0..<count).contains(index) else { throw outside(index) }
        return try base.label(index: index)
    }
    private func outside(_ index: Int) -> DatasetError {
        DatasetError(.invalidRequest("video \(index) is outside the first \(count) videos (--videos \(count))"))
    }
}

public enum EvaluationRun {
    /// Exact bits/dim of the first clip of every video of `source` (docs/design.md §2, §3) — or, with `sliding`, of
    /// its first `sliding.videoFrames` frames under those sliding windows (§12): the videos (windows) are split
    /// over the ranks of `communicator` in batches of `batchPerRank`, padding masked, totals summed.
    public static func run(model: VideoTransformer, source: VideoSource, communicator: any Communicator,
                           batchPerRank: Int, sliding: SlidingWindows? = nil, progress: ((Int, Int) -> Void)? = nil) throws -> EvaluationTotals {
        let schedule = try EvaluationSchedule(videoCount: source.count, videoFrames: source.frames,
                                              clipFrames: model.config.frames, sliding: sliding, batchPerRank: batchPerRank,
                                              ranks: communicator.size)
        let batches = try EvaluationBatches(source: source, schedule: schedule, rank: communicator.rank,
                                            actions: model.config.actions > 0, labels: model.config.classes > 0)
        let evaluator = Evaluator(model: model)
        var totals = EvaluationTotals(frames: sliding?.videoFrames ?? model.config.frames, slices: model.config.sliceCount)
        while let batch = try batches.next() {
            let conditioning = Conditioning(actions: batch.actions.map { UnsafePointer($0.baseAddress!) }, labels: batch.labels)
            totals.add(evaluator.evaluate(videos: UnsafePointer(batch.pixels.baseAddress!), conditioning: conditioning,
                                          mask: batch.items.map { !$0.isPadding },
                                          windows: sliding.map { sliding in batch.items.map { sliding[$0.window] } },
                                          videoFrames: sliding?.videoFrames))
            progress?(batch.index + 1, schedule.batchCount)
        }
        return try totals.summed(over: communicator)
    }
}
