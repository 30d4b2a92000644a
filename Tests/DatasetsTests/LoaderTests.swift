// The loader: the evaluation schedule covers every clip exactly once for any number of ranks (padding
// flagged, never double counted); the prefetcher returns exactly what direct reads return, whether or not
// the prefetched batch is the one asked for, and reports read errors on the batch that needed them.

import Datasets
import Foundation
import Testing

/// A VideoSource whose reads can be slowed down or made to fail, counting them.
private final class CountingSource: VideoSource, @unchecked Sendable {
    let inner: InMemoryVideoSource
    let lock = NSLock()
    var reads = 0
    var failing: Set<Int> = []
    var delay: Double = 0
    init(count: Int) {
        inner = InMemoryVideoSource(count: count, frames: 6, height: 4, width: 4,
                                    storage: (0..<count).flatMap { testVideo($0, frames: 6, height: 4, width: 4) })
    }
    var count: Int { inner.count }
    var frames: Int { inner.frames }
    var height: Int { inner.height }
    var width: Int { inner.width }
    func read(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<UInt8>) throws {
        lock.lock(); reads += 1; let fail = failing.contains(index); lock.unlock()
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        if fail { throw DatasetError(.ioFailed(reason: "injected failure for video \(index)")) }
        try inner.read(index: index, startFrame: startFrame, frameCount: frameCount, into: buffer)
    }
}

private func direct(_ source: VideoSource, _ clips: [ClipRequest], frames: Int) throws -> [UInt8] {
    var out = [UInt8](repeating: 0, count: clips.count * frames * source.bytesPerFrame)
    try out.withUnsafeMutableBufferPointer { buffer in
        for (slot, clip) in clips.enumerated() {
            try source.read(index: clip.video, startFrame: clip.startFrame, frameCount: frames,
                            into: buffer.baseAddress! + slot * frames * source.bytesPerFrame)
        }
    }
    return out
}

@Suite struct LoaderTests {
    @Test func evaluationCoversEveryClipExactlyOnce() throws {
        for videos in [1, 5, 7, 16, 33] {
            for ranks in [1, 2, 3, 4, 8] {
                for batch in [1, 2, 5] {
                    for stride in [nil, 4] as [Int?] {
                        let schedule = try EvaluationSchedule(videoCount: videos, videoFrames: 12, clipFrames: 4,
                                                              windowStride: stride, batchPerRank: batch, ranks: ranks)
                        var seen = [Int](repeating: 0, count: schedule.itemCount)
                        var padding = 0
                        for b in 0..<schedule.batchCount {
                            for rank in 0..<ranks {
                                let items = schedule.items(batch: b, rank: rank)
                                #expect(items.count == batch)
                                for item in items {
                                    if item.isPadding { padding += 1; continue }
                                    seen[item.item] += 1
                                    #expect(schedule.window(item.item) == (item.video, item.startFrame))
                                    #expect(item.startFrame + 4 <= 12)
                                }
                            }
                        }
                        #expect(seen.allSatisfy { $0 == 1 }, "videos \(videos) ranks \(ranks) batch \(batch) stride \(String(describing: stride))")
                        #expect(padding == schedule.batchCount * ranks * batch - schedule.itemCount)
                        #expect(padding < ranks * batch)   // never a whole batch of padding
                    }
                }
            }
        }
        // Windows of 4 frames in 12, stride 3: starts 0, 3, 6 (9 would end at frame 13).
        let windows = try EvaluationSchedule(videoCount: 2, videoFrames: 12, clipFrames: 4, windowStride: 3, batchPerRank: 1)
        #expect(windows.windowsPerVideo == 3)
        #expect((0..<6).map { windows.window($0).startFrame } == [0, 3, 6, 0, 3, 6])
        #expect(throws: DatasetError.self) { try EvaluationSchedule(videoCount: 2, videoFrames: 3, clipFrames: 4, batchPerRank: 1) }
    }

    @Test func prefetchedBatchesEqualDirectReads() throws {
        let source = CountingSource(count: 12)
        let prefetcher = ClipPrefetcher(source: source, frameCount: 3, capacity: 4)
        func request(_ step: Int) -> [ClipRequest] {
            (0..<4).map { ClipRequest(video: (step * 5 + $0 * 7) % 12, startFrame: (step + $0) % 4) }
        }
        for step in 0..<6 {
            let got = Array(try prefetcher.batch(key: step, clips: request(step)))
            #expect(got == (try direct(source.inner, request(step), frames: 3)), "step \(step)")
            prefetcher.prefetch(key: step + 1, clips: request(step + 1))
        }
        // A prefetch for another step (a resume that jumped) is dropped; the right clips are read now.
        let jumped = Array(try prefetcher.batch(key: 40, clips: request(40)))
        #expect(jumped == (try direct(source.inner, request(40), frames: 3)))
        // Fewer clips than the capacity are fine; more are read without prefetching.
        let few = [ClipRequest(video: 3, startFrame: 1)]
        #expect(Array(try prefetcher.batch(key: 1, clips: few)) == (try direct(source.inner, few, frames: 3)))
        let many = (0..<9).map { ClipRequest(video: $0, startFrame: 0) }
        prefetcher.prefetch(key: 2, clips: many)
        #expect(Array(try prefetcher.batch(key: 2, clips: many)) == (try direct(source.inner, many, frames: 3)))
    }

    @Test func backgroundReadsOverlapAndErrorsSurface() throws {
        let source = CountingSource(count: 8)
        source.delay = 0.01   // 4 clips × 10 ms per batch
        let prefetcher = ClipPrefetcher(source: source, frameCount: 2, capacity: 4)
        let clips = (0..<4).map { ClipRequest(video: $0, startFrame: 0) }
        _ = try prefetcher.batch(key: 0, clips: clips)
        prefetcher.prefetch(key: 1, clips: clips)
        Thread.sleep(forTimeInterval: 1.0)   // "compute" far longer than the read, even on a loaded machine
        _ = try prefetcher.batch(key: 1, clips: clips)
        #expect(prefetcher.waitSeconds < 0.05, "waited \(prefetcher.waitSeconds) s for a batch that was read in the background")

        source.delay = 0
        source.failing = [2]
        prefetcher.prefetch(key: 2, clips: clips)
        let error = try #require(throws: DatasetError.self) { try prefetcher.batch(key: 2, clips: clips) }
        #expect(error.description.contains("injected failure for video 2"))
        source.failing = []
        #expect(Array(try prefetcher.batch(key: 2, clips: clips)) == (try direct(source.inner, clips, frames: 2)))
    }

    @Test func evaluationBatchesReadTheScheduledClips() throws {
        let source = CountingSource(count: 5)
        for ranks in [1, 2] {
            let schedule = try EvaluationSchedule(videoCount: 5, videoFrames: 6, clipFrames: 4, windowStride: 2, batchPerRank: 2, ranks: ranks)
            var weightSum: Float = 0
            for rank in 0..<ranks {
                let batches = try EvaluationBatches(source: source, schedule: schedule, rank: rank)
                var count = 0
                while let batch = try batches.next() {
                    #expect(batch.index == count)
                    let clips = batch.items.map { ClipRequest(video: $0.video, startFrame: $0.startFrame) }
                    #expect(Array(batch.pixels) == (try direct(source.inner, clips, frames: 4)))
                    weightSum += batch.weights.reduce(0, +)
                    count += 1
                }
                #expect(count == schedule.batchCount)
            }
            #expect(weightSum == Float(schedule.itemCount))   // 5 videos × 2 windows, each once
        }
    }
}
