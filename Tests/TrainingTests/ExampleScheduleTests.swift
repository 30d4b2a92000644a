// The sampler: no video twice in an epoch, ranks partition the global batch, pure function of the step.

import Testing
@testable import Training

@Suite struct ExampleScheduleTests {
    let schedule = ExampleSchedule(videoCount: 10, globalBatch: 4, seed: 9, videoFrames: 6, clipFrames: 4, trainableSlices: [1, 2, 3])

    @Test func everyEpochIsAPermutation() {
        let stream = (0..<10).flatMap { schedule.examples(step: $0) }   // 40 examples = 4 epochs
        for epoch in 0..<4 {
            let videos = stream.filter { $0.epoch == epoch }.map(\.video)
            #expect(videos.count == 10 && Set(videos).count == 10, "epoch \(epoch): \(videos)")
        }
        let orders = (0..<4).map { epoch in stream.filter { $0.epoch == epoch }.map(\.video) }
        #expect(Set(orders.map { $0.description }).count > 1, "epochs should be shuffled differently")
        #expect(stream.allSatisfy { (0...2).contains($0.startFrame) && [1, 2, 3].contains($0.slice) })
    }

    @Test func ranksPartitionTheGlobalBatch() {
        for step in 0..<5 {
            let whole = schedule.examples(step: step)
            let parts = (0..<2).map { schedule.examples(step: step, rank: $0, ranks: 2) }
            #expect(parts[0].count == 2 && parts[1].count == 2)
            #expect(Set((parts[0] + parts[1]).map(\.position)) == Set(whole.map(\.position)))
            #expect((parts[0] + parts[1]).sorted { $0.position < $1.position } == whole)
        }
    }

    @Test func examplesArePureFunctionsOfTheStep() {
        let other = ExampleSchedule(videoCount: 10, globalBatch: 4, seed: 9, videoFrames: 6, clipFrames: 4, trainableSlices: [1, 2, 3])
        #expect(other.examples(step: 7) == schedule.examples(step: 7))   // no history needed
        #expect(schedule.cursor(step: 3) == (epoch: 1, offset: 2))
    }
}
