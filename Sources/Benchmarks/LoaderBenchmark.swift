// LoaderBenchmark: how many training clips per second the data loader delivers from a VideoSource — the
// same path training takes (ExampleSchedule's seeded permutation and random temporal crops, ClipPrefetcher reading
// step s+1 on its background thread while step s is "computed", here: nothing), so the number is the
// loader's ceiling, to compare with the videos per second a training step consumes (`vt bench --data`).

import Datasets
import Foundation
import Training
import Common

public struct LoaderBenchmarkReport: Sendable {
    public var steps: Int
    public var videos: Int
    public var seconds: Double
    public var videosPerSecond: Double { Double(videos) / max(seconds, 1e-12) }
    /// Megabytes of pixels delivered per second.
    public var megabytesPerSecond: Double
}

public enum LoaderBenchmark {
    /// Reads batches of `batch` clips of `clipFrames` frames for at least `seconds` (and at least 3 batches).
    public static func run(source: VideoSource, clipFrames: Int, batch: Int, seconds: Double = 3, seed: UInt64 = 0) throws
        -> LoaderBenchmarkReport {
        guard clipFrames >= 1, clipFrames <= source.frames, batch >= 1 else {
            throw TrainingError("the loader benchmark needs clips of 1...\(source.frames) frames (the data's length), got \(clipFrames)")
        }
        let schedule = ExampleSchedule(videoCount: source.count, globalBatch: batch, seed: seed, videoFrames: source.frames,
                              clipFrames: clipFrames, trainableSlices: [0])
        let prefetcher = ClipPrefetcher(source: source, frameCount: clipFrames, capacity: batch)
        func clips(_ step: Int) -> [ClipRequest] {
            schedule.examples(step: step).map { ClipRequest(video: $0.video, startFrame: $0.startFrame) }
        }
        let start = Date()
        var step = 0
        var checksum = 0
        while step < 3 || Date().timeIntervalSince(start) < seconds {
            let pixels = try prefetcher.batch(key: step, clips: clips(step)).pixels
            prefetcher.prefetch(key: step + 1, clips: clips(step + 1))
            checksum &+= Int(pixels[step % pixels.count])   // touch the data
            step += 1
        }
        let elapsed = Date().timeIntervalSince(start)
        _ = checksum
        let bytes = Double(step * batch * clipFrames * source.bytesPerFrame)
        return LoaderBenchmarkReport(steps: step, videos: step * batch, seconds: elapsed, megabytesPerSecond: bytes / elapsed / 1e6)
    }
}
