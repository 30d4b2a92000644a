// ClipPrefetcher: reads the next batch of clips on a background thread while the current one is computed
// (double buffering), so training and evaluation do not wait for the disk.
//
//     let clips = try prefetcher.batch(key: step, clips: requests(step))     // waits only if not ready
//     prefetcher.prefetch(key: step + 1, clips: requests(step + 1))         // starts the next read
//     model.forward(videos: clips.pixels.baseAddress!, …)                    // valid until the next batch()
//
// `batch` returns the prefetched pixels when `key` and `clips` are what was prefetched; otherwise (the
// first step, after a resume that moved the step, or a different request) it reads them now, so the result
// never depends on what was prefetched — only the waiting does. A read error of the background thread is
// thrown by the `batch` call that asks for that batch. `waitSeconds` says how long the last `batch` call
// waited (0 when the read was already done), the number to watch for "training never waits".
//
// Conditioning (docs/design.md §11): asked for (`actions`, `labels`) and present in the source, each clip's
// actions [frames, A] (cropped with the clip: row t is the action taken at the clip's frame t) and its
// video's label are read with its pixels, in the same background read, and come back in the same ClipBatch.
//
// Not here: which clips (ExampleSchedule, EvaluationSchedule), the pixels' source (any VideoSource).

import Foundation

/// One clip to read: frames startFrame ..< startFrame + frameCount of `video`.
public struct ClipRequest: Equatable, Sendable {
    public var video: Int
    public var startFrame: Int
    public init(video: Int, startFrame: Int) { self.video = video; self.startFrame = startFrame }
}

/// A batch of clips as read: pixels, and (when asked for and the source has them) actions and labels. The
/// buffers are the prefetcher's, valid until its next `batch` call.
public struct ClipBatch {
    /// UInt8 [clips, frames, H, W, 3].
    public let pixels: UnsafeBufferPointer<UInt8>
    /// Float [clips, frames, A], clip-aligned (row t of a clip: the action taken at its frame t); nil when not
    /// asked for or the source has none.
    public let actions: UnsafeBufferPointer<Float>?
    /// The class of each clip's video; nil when not asked for or the source is unlabelled.
    public let labels: [Int]?
}

public final class ClipPrefetcher: @unchecked Sendable {   // state touched by the worker is guarded by `pending`
    public let source: VideoSource
    /// Frames per clip.
    public let frameCount: Int
    public var bytesPerClip: Int { frameCount * source.bytesPerFrame }
    /// A of the actions read with each clip; 0 when they are not read (not asked for, or none in the source).
    public let actionWidth: Int
    /// Whether each clip's label is read (asked for, and the source is labelled).
    public let readsLabels: Bool
    /// Floats of actions per clip: frameCount × actionWidth.
    public var actionsPerClip: Int { frameCount * actionWidth }
    /// Seconds the last `batch` call waited for the background read (0 if it was done, or none was pending).
    public private(set) var waitSeconds = 0.0
    /// Seconds the last read took (background or immediate).
    public private(set) var readSeconds = 0.0

    private var buffers: [UnsafeMutablePointer<UInt8>] = []
    private var actionBuffers: [UnsafeMutablePointer<Float>] = []
    /// The labels read into each buffer.
    private var labelBuffers: [[Int]] = [[], []]
    private var capacity = 0   // clips per buffer
    private var front = 0      // the buffer handed out by the last `batch`
    private let queue = DispatchQueue(label: "vt.clip-prefetcher", qos: .userInitiated)

    private final class Pending: @unchecked Sendable {
        let key: Int, clips: [ClipRequest], buffer: Int
        let done = DispatchGroup()
        var error: Error?
        var labels: [Int] = []
        var seconds = 0.0
        init(key: Int, clips: [ClipRequest], buffer: Int) { self.key = key; self.clips = clips; self.buffer = buffer }
    }
    private var pending: Pending?

    /// `actions`, `labels`: also read each clip's actions and its video's label, when the source has them
    /// (`actionWidth`, `readsLabels` say whether it does).
    public init(source: VideoSource, frameCount: Int, capacity: Int = 1, actions: Bool = false, labels: Bool = false) {
        precondition(frameCount >= 1 && frameCount <= source.frames, "ClipPrefetcher: clip length")
        self.source = source
        self.frameCount = frameCount
        actionWidth = actions ? source.actionWidth : 0
        readsLabels = labels && source.labelNames != nil
        reserve(max(1, capacity))
    }

    deinit {
        pending?.done.wait()
        buffers.forEach { $0.deallocate() }
        actionBuffers.forEach { $0.deallocate() }
    }

    /// The clips' pixels, UInt8 [clips.count, frameCount, H, W, 3], with their actions and labels when read;
    /// valid until the next `batch` call.
    public func batch(key: Int, clips: [ClipRequest]) throws -> ClipBatch {
        var clock = ContinuousClock.now
        waitSeconds = 0
        if let pending {
            pending.done.wait()
            waitSeconds = Self.seconds(since: clock)
            self.pending = nil
            if pending.key == key && pending.clips == clips {
                if let error = pending.error { throw error }
                front = pending.buffer
                labelBuffers[front] = pending.labels
                readSeconds = pending.seconds
                return result(clips.count)
            }
        }
        reserve(clips.count)
        clock = ContinuousClock.now
        labelBuffers[front] = try read(clips, into: buffers[front], actions: actionBuffers[front])
        readSeconds = Self.seconds(since: clock)
        return result(clips.count)
    }

    /// The front buffers as a batch of `count` clips.
    private func result(_ count: Int) -> ClipBatch {
        ClipBatch(pixels: UnsafeBufferPointer(start: buffers[front], count: count * bytesPerClip),
                  actions: actionWidth > 0 ? UnsafeBufferPointer(start: actionBuffers[front], count: count * actionsPerClip) : nil,
                  labels: readsLabels ? labelBuffers[front] : nil)
    }

    /// Starts reading `clips` for `key` in the background, into the buffer not handed out last.
    public func prefetch(key: Int, clips: [ClipRequest]) {
        if let pending {   // an unused prefetch: let it finish, drop it
            pending.done.wait()
            self.pending = nil
        }
        // Growing would free the buffer the caller still reads; `batch` will read this one itself.
        guard clips.count <= capacity else { return }
        let job = Pending(key: key, clips: clips, buffer: 1 - front)
        nonisolated(unsafe) let target = buffers[job.buffer]   // only the worker writes them until `done`
        nonisolated(unsafe) let actionTarget = actionBuffers[job.buffer]
        job.done.enter()
        pending = job
        queue.async { [self] in
            let clock = ContinuousClock.now
            do { job.labels = try read(clips, into: target, actions: actionTarget) } catch { job.error = error }
            job.seconds = Self.seconds(since: clock)
            job.done.leave()
        }
    }

    /// Reads the clips' pixels (and actions) into the buffers; returns their labels (empty when not read).
    private func read(_ clips: [ClipRequest], into buffer: UnsafeMutablePointer<UInt8>,
                      actions: UnsafeMutablePointer<Float>) throws -> [Int] {
        var labels: [Int] = []
        for (slot, clip) in clips.enumerated() {
            try source.read(index: clip.video, startFrame: clip.startFrame, frameCount: frameCount,
                            into: buffer + slot * bytesPerClip)
            if actionWidth > 0 {
                try source.readActions(index: clip.video, startFrame: clip.startFrame, frameCount: frameCount,
                                       into: actions + slot * actionsPerClip)
            }
            if readsLabels { labels.append(try source.label(index: clip.video)) }
        }
        return labels
    }

    /// Makes both buffers hold at least `clips` clips (only called with no read pending).
    private func reserve(_ clips: Int) {
        guard clips > capacity || buffers.isEmpty else { return }
        buffers.forEach { $0.deallocate() }
        actionBuffers.forEach { $0.deallocate() }
        capacity = max(clips, 1)
        buffers = (0..<2).map { _ in
            let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * bytesPerClip)
            buffer.initialize(repeating: 0, count: capacity * bytesPerClip)
            return buffer
        }
        actionBuffers = (0..<2).map { _ in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(capacity * actionsPerClip, 1))
            buffer.initialize(repeating: 0, count: max(capacity * actionsPerClip, 1))
            return buffer
        }
    }

    private static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }
}
