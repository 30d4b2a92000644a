// EvaluationSchedule: which clip every rank evaluates in every batch, so that each clip of the test split
// is evaluated exactly once whatever the number of ranks (docs/design.md §3: pad and mask, never double count).
//
// The items are the fixed windows of every video, in order: video 0's windows, then video 1's, ... A window
// starts at frame 0 (`windowStride` nil: one clip per video, the paper's protocol) or at 0, stride,
// 2·stride, ... while the clip fits, or (`sliding`) the sliding windows of one long video (docs/design.md §12),
// each evaluated as a primed clip. Batch b of the global batch G = ranks × batchPerRank covers items
// b·G ..< (b+1)·G; rank r takes the items b·G + r, b·G + r + ranks, ... (every ranks-th, like the training
// sampler). Positions past the last item are padding: they repeat item 0 (so the batch has a real clip to
// run) and carry `isPadding`, which the evaluator uses as a mask weight of zero.
//
// `EvaluationBatches` reads a rank's batches in order through a ClipPrefetcher, each while the previous one
// is evaluated. Not here: computing bits/dim (Evaluator, EvaluationRun).

import Datasets
import VideoModel

public struct EvaluationItem: Equatable, Sendable {
    /// Index of the item in the schedule (unique per real item; padding repeats 0).
    public let item: Int
    public let video: Int
    public let startFrame: Int
    /// Which of the video's windows (0 unless the schedule slides windows over long videos).
    public var window = 0
    /// True for a padding slot: run it (the batch shape is fixed) but give it weight zero.
    public let isPadding: Bool
}

public struct EvaluationSchedule: Sendable, Equatable {
    public let videoCount: Int
    public let videoFrames: Int
    public let clipFrames: Int
    public let windowStride: Int?
    /// The sliding windows of each video's first `sliding.videoFrames` frames (nil: independent clips).
    public let sliding: SlidingWindows?
    public let batchPerRank: Int
    public let ranks: Int

    public init(videoCount: Int, videoFrames: Int, clipFrames: Int, windowStride: Int? = nil, sliding: SlidingWindows? = nil,
                batchPerRank: Int, ranks: Int = 1) throws {
        guard videoCount >= 1 else { throw DatasetError(.invalidRequest("evaluation needs at least one video")) }
        guard clipFrames >= 1, clipFrames <= videoFrames else {
            throw DatasetError(.invalidRequest("clips of \(clipFrames) frames do not fit videos of \(videoFrames) frames"))
        }
        if let windowStride, windowStride < 1 {
            throw DatasetError(.invalidRequest("the window stride must be at least 1 (got \(windowStride))"))
        }
        if let sliding {
            guard windowStride == nil, sliding.clipFrames == clipFrames, sliding.videoFrames <= videoFrames else {
                throw DatasetError(.invalidRequest("sliding windows over \(sliding.videoFrames) frames need videos of at least that many frames (the data has \(videoFrames))"))
            }
        }
        guard batchPerRank >= 1, ranks >= 1 else {
            throw DatasetError(.invalidRequest("batch per rank and ranks must be at least 1"))
        }
        self.videoCount = videoCount; self.videoFrames = videoFrames; self.clipFrames = clipFrames
        self.windowStride = windowStride; self.sliding = sliding; self.batchPerRank = batchPerRank; self.ranks = ranks
    }

    /// Windows per video.
    public var windowsPerVideo: Int {
        if let sliding { return sliding.count }
        guard let windowStride else { return 1 }
        return (videoFrames - clipFrames) / windowStride + 1
    }

    /// Real items (clips) to evaluate.
    public var itemCount: Int { videoCount * windowsPerVideo }
    public var globalBatch: Int { batchPerRank * ranks }
    /// Batches every rank runs (the same number on every rank).
    public var batchCount: Int { (itemCount + globalBatch - 1) / globalBatch }

    /// Item `item` (0..<itemCount) as a video, a start frame and the index of the window.
    public func window(_ item: Int) -> (video: Int, startFrame: Int, window: Int) {
        let perVideo = windowsPerVideo, window = item % perVideo
        return (item / perVideo, sliding.map { $0[window].start } ?? window * (windowStride ?? 0), window)
    }

    /// The `batchPerRank` items rank `rank` evaluates in batch `batch`, padding flagged.
    public func items(batch: Int, rank: Int) -> [EvaluationItem] {
        precondition((0..<batchCount).contains(batch) && (0..<ranks).contains(rank), "EvaluationSchedule: batch or rank")
        return (0..<batchPerRank).map { slot in
            let position = batch * globalBatch + rank + slot * ranks
            let real = position < itemCount
            let (video, start, window) = window(real ? position : 0)
            var item = EvaluationItem(item: real ? position : 0, video: video, startFrame: start, isPadding: !real)
            item.window = window
            return item
        }
    }
}

/// One batch of an evaluation: the items (padding flagged), a weight per item (1 real, 0 padding) and the
/// pixels [batchPerRank, clipFrames, H, W, 3], valid until the next `next()` — with, when asked for, the
/// clips' actions [batchPerRank, clipFrames, A] and labels (padding holds video 0's).
public struct EvaluationBatch {
    public let index: Int
    public let items: [EvaluationItem]
    public var weights: [Float] { items.map { $0.isPadding ? 0 : 1 } }
    public let pixels: UnsafeBufferPointer<UInt8>
    public let actions: UnsafeBufferPointer<Float>?
    public let labels: [Int]?
}

/// This rank's evaluation batches in order, each read while the previous one is evaluated.
public final class EvaluationBatches {
    public let schedule: EvaluationSchedule
    public let rank: Int
    private let prefetcher: ClipPrefetcher
    private var nextBatch = 0

    /// `actions`, `labels`: read the clips' actions and labels too, when the source has them (docs/design.md §11).
    public init(source: VideoSource, schedule: EvaluationSchedule, rank: Int = 0, actions: Bool = false, labels: Bool = false) throws {
        guard (0..<schedule.ranks).contains(rank) else {
            throw DatasetError(.invalidRequest("rank \(rank) is outside the schedule's \(schedule.ranks) ranks"))
        }
        guard schedule.videoCount == source.count, schedule.videoFrames == source.frames else {
            throw DatasetError(.invalidRequest("the schedule is for \(schedule.videoCount) videos of \(schedule.videoFrames) "
                                               + "frames, the data has \(source.count) of \(source.frames)"))
        }
        self.schedule = schedule
        self.rank = rank
        prefetcher = ClipPrefetcher(source: source, frameCount: schedule.clipFrames, capacity: schedule.batchPerRank,
                                    actions: actions, labels: labels)
    }

    /// Seconds the last `next()` waited for its pixels.
    public var waitSeconds: Double { prefetcher.waitSeconds }

    public func next() throws -> EvaluationBatch? {
        guard nextBatch < schedule.batchCount else { return nil }
        let index = nextBatch
        nextBatch += 1
        let items = schedule.items(batch: index, rank: rank)
        let clips = try prefetcher.batch(key: index, clips: items.map { ClipRequest(video: $0.video, startFrame: $0.startFrame) })
        if nextBatch < schedule.batchCount {
            prefetcher.prefetch(key: nextBatch, clips: schedule.items(batch: nextBatch, rank: rank).map {
                ClipRequest(video: $0.video, startFrame: $0.startFrame)
            })
        }
        return EvaluationBatch(index: index, items: items, pixels: clips.pixels, actions: clips.actions, labels: clips.labels)
    }
}
