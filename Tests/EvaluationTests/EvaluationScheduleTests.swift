// The evaluation schedule covers every clip exactly once for any number of ranks (padding flagged, never
// double counted), and EvaluationBatches reads exactly the scheduled clips.

import Datasets
import Evaluation
import Foundation
import Testing

/// The clips read one by one, without the prefetcher.
@Suite struct EvaluationScheduleTests {
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
                                    #expect(schedule.window(item.item) == (item.video, item.startFrame, item.window))
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

    @Test func evaluationBatchesReadTheScheduledClips() throws {
        let bytes = 5 * 6 * 4 * 4 * 3
        let pixels: [UInt8] = (0..<bytes).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let source = InMemoryVideoSource(count: 5, frames: 6, height: 4, width: 4, storage: pixels)
        for ranks in [1, 2] {
            let schedule = try EvaluationSchedule(videoCount: 5, videoFrames: 6, clipFrames: 4, windowStride: 2, batchPerRank: 2, ranks: ranks)
            var weightSum: Float = 0
            for rank in 0..<ranks {
                let batches = try EvaluationBatches(source: source, schedule: schedule, rank: rank)
                var count = 0
                while let batch = try batches.next() {
                    #expect(batch.index == count)
                    let clips = batch.items.map { ClipRequest(video: $0.video, startFrame: $0.startFrame) }
                    #expect(Array(batch.pixels) == (try source.readClips(clips, frameCount: 4)))
                    weightSum += batch.weights.reduce(0, +)
                    count += 1
                }
                #expect(count == schedule.batchCount)
            }
            #expect(weightSum == Float(schedule.itemCount))   // 5 videos × 2 windows, each once
        }
    }
}
