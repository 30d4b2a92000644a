// The loader: the prefetcher returns exactly what direct reads return, whether or not the prefetched batch
// is the one asked for, and reports read errors on the batch that needed them. (The evaluation schedule's
// tests are EvaluationTests/EvaluationScheduleTests.swift.)

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

@Suite struct LoaderTests {
    @Test func prefetchedBatchesEqualDirectReads() throws {
        let source = CountingSource(count: 12)
        let prefetcher = ClipPrefetcher(source: source, frameCount: 3, capacity: 4)
        func request(_ step: Int) -> [ClipRequest] {
            (0..<4).map { ClipRequest(video: (step * 5 + $0 * 7) % 12, startFrame: (step + $0) % 4) }
        }
        for step in 0..<6 {
            let got = Array(try prefetcher.batch(key: step, clips: request(step)).pixels)
            #expect(got == (try source.inner.readClips(request(step), frameCount: 3)), "step \(step)")
            prefetcher.prefetch(key: step + 1, clips: request(step + 1))
        }
        // A prefetch for another step (a resume that jumped) is dropped; the right clips are read now.
        let jumped = Array(try prefetcher.batch(key: 40, clips: request(40)).pixels)
        #expect(jumped == (try source.inner.readClips(request(40), frameCount: 3)))
        // Fewer clips than the capacity are fine; more are read without prefetching.
        let few = [ClipRequest(video: 3, startFrame: 1)]
        #expect(Array(try prefetcher.batch(key: 1, clips: few).pixels) == (try source.inner.readClips(few, frameCount: 3)))
        let many = (0..<9).map { ClipRequest(video: $0, startFrame: 0) }
        prefetcher.prefetch(key: 2, clips: many)
        #expect(Array(try prefetcher.batch(key: 2, clips: many).pixels) == (try source.inner.readClips(many, frameCount: 3)))
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
        #expect(Array(try prefetcher.batch(key: 2, clips: clips).pixels) == (try source.inner.readClips(clips, frameCount: 2)))
    }
}
