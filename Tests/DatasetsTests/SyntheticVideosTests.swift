// The built-in synthetic corpus: deterministic, structured, and temporally coherent.

import Datasets
import Testing

/// Mean |a − b| over the bytes of two equally long ranges.
private func meanAbsoluteDifference(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Double {
    precondition(a.count == b.count)
    var total = 0
    for (x, y) in zip(a, b) { total += abs(Int(x) - Int(y)) }
    return Double(total) / Double(a.count)
}

private func frame(_ video: [UInt8], _ t: Int, _ generator: SyntheticVideoGenerator) -> ArraySlice<UInt8> {
    video[(t * generator.bytesPerFrame)..<((t + 1) * generator.bytesPerFrame)]
}

@Suite struct SyntheticVideosTests {
    @Test(arguments: [(16, 16, 16), (16, 64, 64), (5, 8, 8), (3, 12, 20)])
    func sizesAndDeterminism(_ frames: Int, _ height: Int, _ width: Int) {
        let generator = SyntheticVideoGenerator(frames: frames, height: height, width: width, seed: 42)
        let video = generator.video(index: 3)
        #expect(video.count == frames * height * width * 3)
        #expect(generator.bytesPerVideo == video.count)
        // Same seed and index: same bytes, from a second generator and through the pointer API.
        #expect(SyntheticVideoGenerator(frames: frames, height: height, width: width, seed: 42).video(index: 3) == video)
        var buffer = [UInt8](repeating: 0xEE, count: video.count)
        buffer.withUnsafeMutableBufferPointer { generator.video(index: 3, into: $0.baseAddress!) }
        #expect(buffer == video)
        // Another index or another seed: another video.
        #expect(generator.video(index: 4) != video)
        #expect(SyntheticVideoGenerator(frames: frames, height: height, width: width, seed: 43).video(index: 3) != video)
    }

    @Test func goldenBytes() {
        // Pins the exact output (and so cross-platform determinism): change only together with a
        // deliberate change of the generator, since prepared synthetic shards depend on it.
        let small = SyntheticVideoGenerator(frames: 4, height: 16, width: 16, seed: 0)
        #expect(sha256Hex(small.video(index: 0)) == goldenSmall)
        let large = SyntheticVideoGenerator(frames: 16, height: 64, width: 64, seed: 7)
        #expect(sha256Hex(large.video(index: 123_456)) == goldenLarge)
    }

    @Test func shorterVideosArePrefixes() {
        let long = SyntheticVideoGenerator(frames: 16, height: 16, width: 16, seed: 1)
        let short = SyntheticVideoGenerator(frames: 5, height: 16, width: 16, seed: 1)
        let empty = SyntheticVideoGenerator(frames: 0, height: 16, width: 16, seed: 1)
        for index in [0, 1, 99] {
            #expect(short.video(index: index) == Array(long.video(index: index)[..<short.bytesPerVideo]))
        }
        #expect(empty.video(index: 0).isEmpty)
    }

    @Test func valueRangeAndStructure() {
        let generator = SyntheticVideoGenerator(frames: 16, height: 64, width: 64, seed: 5)
        for index in 0..<8 {
            let video = generator.video(index: index)
            let mean = Double(video.reduce(0) { $0 + Int($1) }) / Double(video.count)
            let variance = video.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(video.count)
            let distinct = Set(video).count
            #expect(mean > 50 && mean < 210, "video \(index): mean \(mean)")
            #expect(variance.squareRoot() > 12, "video \(index): standard deviation \(variance.squareRoot())")
            #expect(distinct > 100, "video \(index): only \(distinct) distinct values")
            #expect(video.min()! < 70 && video.max()! > 170, "video \(index): range \(video.min()!)…\(video.max()!)")
            // Neighbouring pixels agree (structure, not noise): mean horizontal step ≪ mean |pixel − mean|.
            var horizontal = 0
            for row in 0..<(16 * 64) {
                for column in 0..<63 {
                    let p = (row * 64 + column) * 3
                    horizontal += abs(Int(video[p]) - Int(video[p + 3]))
                }
            }
            let step = Double(horizontal) / Double(16 * 64 * 63)
            let spread = video.reduce(0.0) { $0 + abs(Double($1) - mean) } / Double(video.count)
            #expect(step < 0.5 * spread, "video \(index): neighbour step \(step) vs spread \(spread)")
        }
    }

    @Test func framesAreTemporallyCorrelatedAndMoving() {
        for (height, width) in [(64, 64), (16, 16)] {
            let generator = SyntheticVideoGenerator(frames: 16, height: height, width: width, seed: 11)
            let videos = (0..<6).map { generator.video(index: $0) }
            var consecutive = 0.0, unrelated = 0.0, moving = 0
            for (i, video) in videos.enumerated() {
                let other = videos[(i + 1) % videos.count]
                var videoMotion = 0.0
                for t in 0..<15 {
                    let d = meanAbsoluteDifference(frame(video, t, generator), frame(video, t + 1, generator))
                    consecutive += d
                    videoMotion += d
                    unrelated += meanAbsoluteDifference(frame(video, t, generator), frame(other, t, generator))
                }
                if videoMotion > 0 { moving += 1 }
            }
            consecutive /= Double(6 * 15)
            unrelated /= Double(6 * 15)
            #expect(consecutive < 0.2 * unrelated, "\(height)×\(width): consecutive \(consecutive), unrelated \(unrelated)")
            #expect(consecutive > 0.1, "\(height)×\(width): nothing moves (\(consecutive))")
            #expect(moving == 6)
        }
    }
}

/// SHA-256 of `SyntheticVideoGenerator(frames: 4, height: 16, width: 16, seed: 0).video(index: 0)`.
private let goldenSmall = "d8d3b9245200b97fd2d255e56a031d8eb91974fb906cd23b7a5dff44f19a870f"
/// SHA-256 of `SyntheticVideoGenerator(frames: 16, height: 64, width: 64, seed: 7).video(index: 123_456)`.
private let goldenLarge = "43c13012bd97898672237bf734ef2ef24a6095265ff9448bb76539763335aebd"
