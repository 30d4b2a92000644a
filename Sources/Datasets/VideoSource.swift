// VideoSource: what training and evaluation read — a fixed, indexable set of UInt8 [T, H, W, 3] videos, and
// what each video is conditioned on (docs/design.md §11): per-frame actions [T, A] and a class label.
// InMemoryVideoSource holds the built-in synthetic corpus (or any decoded set) in one contiguous array.
//
// Conditioning is all or nothing per source: either every video carries actions of one width A
// (`actionWidth` > 0) or none does (0); either every video has a class in 0..<labelNames.count or none does
// (`labelNames` nil). Sources without them get the protocol's defaults, which say so and throw when asked.

public protocol VideoSource: AnyObject, Sendable {
    var count: Int { get }
    var frames: Int { get }
    var height: Int { get }
    var width: Int { get }
    /// Copies frames start..<start+length of video `index` into `buffer` (UInt8 [length, H, W, 3]).
    func read(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<UInt8>) throws

    /// Width A of the per-frame actions every video carries (0: none).
    var actionWidth: Int { get }
    /// The class names when every video is labelled (nil: unlabelled).
    var labelNames: [String]? { get }
    /// Actions of frames startFrame ..< startFrame + frameCount of video `index` into `buffer` [frameCount, A]
    /// (row t: the action taken at frame startFrame + t).
    func readActions(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<Float>) throws
    /// The class of video `index`, in 0 ..< labelNames.count.
    func label(index: Int) throws -> Int
}

extension VideoSource {
    public var bytesPerFrame: Int { height * width * 3 }

    public var actionWidth: Int { 0 }
    public var labelNames: [String]? { nil }

    public func readActions(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<Float>) throws {
        throw noActions(index: index)
    }

    public func label(index: Int) throws -> Int { throw noLabels(index: index) }

    /// The error of asking a source without actions for them.
    func noActions(index: Int) -> DatasetError {
        DatasetError(.invalidRequest("this data carries no actions (asked for those of video \(index)); "
                                     + "action-conditioned models need shards with an 'actions' dataset, "
                                     + "e.g. BAIR or `vt prepare synthetic --actions`"))
    }

    /// The error of asking a source without labels for one.
    func noLabels(index: Int) -> DatasetError {
        DatasetError(.invalidRequest("this data has no class labels (asked for that of video \(index)); "
                                     + "class-conditioned models need shards with 'labels', "
                                     + "e.g. Kinetics or `vt prepare synthetic --classes K`"))
    }

    /// The clips' pixels one after another, UInt8 [clips.count, frameCount, height, width, 3], read plainly in
    /// order (what the prefetcher's batches must equal).
    public func readClips(_ clips: [ClipRequest], frameCount: Int) throws -> [UInt8] {
        let clipBytes = frameCount * bytesPerFrame
        var pixels = [UInt8](repeating: 0, count: clips.count * clipBytes)
        try pixels.withUnsafeMutableBufferPointer { buffer in
            for (slot, clip) in clips.enumerated() {
                try read(index: clip.video, startFrame: clip.startFrame, frameCount: frameCount, into: buffer.baseAddress! + slot * clipBytes)
            }
        }
        return pixels
    }

    /// Whether frames startFrame ..< startFrame + frameCount of video `index` exist (for the sources' checks).
    func hasFrames(index: Int, startFrame: Int, frameCount: Int) -> Bool {
        (0..<count).contains(index) && startFrame >= 0 && frameCount >= 0 && startFrame <= frames - frameCount
    }
}

public final class InMemoryVideoSource: VideoSource, @unchecked Sendable {
    public let count: Int, frames: Int, height: Int, width: Int
    public let actionWidth: Int
    public let labelNames: [String]?
    private let storage: [UInt8]
    /// [count, frames, actionWidth]; empty without actions.
    private let actionStorage: [Float]
    private let labels: [Int]

    /// `storage`: UInt8 [count, frames, height, width, 3]. `actions` (with `actionWidth` A ≥ 1): Float
    /// [count, frames, A], row t of a video the action taken at its frame t. `labels` (with `labelNames`): one
    /// class in 0..<labelNames.count per video.
    public init(count: Int, frames: Int, height: Int, width: Int, storage: [UInt8],
                actions: [Float]? = nil, actionWidth: Int = 0, labels: [Int]? = nil, labelNames: [String]? = nil) {
        precondition(storage.count == count * frames * height * width * 3, "InMemoryVideoSource: storage size")
        if let actions {
            precondition(actionWidth >= 1 && actions.count == count * frames * actionWidth,
                         "InMemoryVideoSource: actions must be [count, frames, actionWidth] with actionWidth ≥ 1")
        } else {
            precondition(actionWidth == 0, "InMemoryVideoSource: actionWidth without actions")
        }
        precondition((labels == nil) == (labelNames == nil), "InMemoryVideoSource: labels and labelNames go together")
        if let labels, let labelNames {
            precondition(labels.count == count && labels.allSatisfy { (0..<labelNames.count).contains($0) },
                         "InMemoryVideoSource: one label in 0..<labelNames.count per video")
        }
        self.count = count; self.frames = frames; self.height = height; self.width = width; self.storage = storage
        self.actionWidth = actionWidth
        actionStorage = actions ?? []
        self.labels = labels ?? []
        self.labelNames = labelNames
    }

    /// The built-in corpus: `count` robot-pushing-like videos from `SyntheticVideoGenerator` (seeded). With
    /// `actions` the gripper follows the actions the source carries (A = 4); with `classes` K ≥ 1 every video
    /// has one of K looks and the label saying which (SyntheticVideos.swift). Without either it is the classic
    /// corpus, byte for byte.
    public static func synthetic(count: Int, frames: Int, height: Int, width: Int, seed: UInt64,
                                 actions: Bool = false, classes: Int = 0) -> InMemoryVideoSource {
        let generator = SyntheticVideoGenerator(frames: frames, height: height, width: width, seed: seed,
                                                actions: actions, classes: classes)
        let size = generator.bytesPerVideo
        let actionSize = frames * SyntheticVideoGenerator.actionWidth
        var storage = [UInt8](repeating: 0, count: count * size)
        var actionStorage = [Float](repeating: 0, count: actions ? count * actionSize : 0)
        storage.withUnsafeMutableBufferPointer { buffer in
            actionStorage.withUnsafeMutableBufferPointer { actionBuffer in
                let base = buffer.baseAddress!, actionBase = actionBuffer.baseAddress
                DispatchQueueConcurrent.perform(count) { index in
                    generator.video(index: index, into: base + index * size,
                                    actions: actions ? actionBase! + index * actionSize : nil, positions: nil)
                }
            }
        }
        return InMemoryVideoSource(count: count, frames: frames, height: height, width: width, storage: storage,
                                   actions: actions ? actionStorage : nil,
                                   actionWidth: actions ? SyntheticVideoGenerator.actionWidth : 0,
                                   labels: classes > 0 ? (0..<count).map { generator.label(index: $0)! } : nil,
                                   labelNames: generator.labelNames)
    }

    public func read(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<UInt8>) throws {
        guard hasFrames(index: index, startFrame: startFrame, frameCount: frameCount) else {
            throw DatasetError(.invalidRequest("video \(index) frames \(startFrame)..<\(startFrame + frameCount) is outside \(count) videos × \(frames) frames"))
        }
        let frameBytes = bytesPerFrame
        storage.withUnsafeBufferPointer {
            buffer.update(from: $0.baseAddress! + (index * frames + startFrame) * frameBytes, count: frameCount * frameBytes)
        }
    }

    public func readActions(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<Float>) throws {
        guard actionWidth > 0 else { throw noActions(index: index) }
        guard hasFrames(index: index, startFrame: startFrame, frameCount: frameCount) else {
            throw DatasetError(.invalidRequest("the actions of video \(index) frames \(startFrame)..<\(startFrame + frameCount) "
                                               + "are outside \(count) videos × \(frames) frames"))
        }
        actionStorage.withUnsafeBufferPointer {
            buffer.update(from: $0.baseAddress! + (index * frames + startFrame) * actionWidth, count: frameCount * actionWidth)
        }
    }

    public func label(index: Int) throws -> Int {
        guard labelNames != nil else { throw noLabels(index: index) }
        guard (0..<count).contains(index) else {
            throw DatasetError(.invalidRequest("video \(index) is outside the \(count) videos"))
        }
        return labels[index]
    }
}

import Foundation

enum DispatchQueueConcurrent {
    static func perform(_ iterations: Int, _ body: (Int) -> Void) {
        DispatchQueue.concurrentPerform(iterations: iterations, execute: body)
    }
}
