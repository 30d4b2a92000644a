// Priming patterns and sliding windows (docs/design.md §12; the config forms are in ConfigTests): the strides
// a model is trained to continue with, the windows of an N-frame video, a batch whose videos prime different
// frames computing exactly what one-pattern models compute, and the windowed sampler against the plain one,
// the naive oracle, and itself under other batchings.

import Foundation
import Testing
import Kernels
@testable import VideoModel

private func initialised(_ config: ModelConfig, batch: Int, seed: UInt64 = 7) throws -> VideoTransformer {
    let model = try VideoTransformer(config: config, maxBatch: batch)
    model.layout.initialize(model.parameters, seed: seed)
    return model
}

/// The small test model (Tests/Scripts/tiny-model.yaml's): 4 frames of 8×8, subscale (2, 2, 2), frame 0 primed.
private func smallModelConfig() -> ModelConfig {
    ModelConfig(frames: 4, height: 8, width: 8, subscale: Triple(2, 2, 2), primeFrames: [0], embeddingSize: 8, hiddenSize: 16,
                heads: 2, headSize: 8, ffnSize: 32, encoderLayers: 1, decoderLayers: 1, encoderKernel: Triple(3, 3, 3),
                blocks: [Triple(2, 4, 4), Triple(1, 2, 4)])
}

/// Smooth random videos (UInt8 [count, frames, 8, 8, 3]): a drifting gradient plus noise.
private func videos(_ count: Int, frames: Int, seed: UInt64 = 4) -> [UInt8] {
    var generator = Xoshiro256(seed: seed)
    var out: [UInt8] = []
    for v in 0..<count { for t in 0..<frames { for h in 0..<8 { for w in 0..<8 { for c in 0..<3 {
        out.append(UInt8(truncatingIfNeeded: (v * 37 + (h + t) * 20 + w * 9 + c * 60 + generator.nextInt(below: 24)) % 256))
    } } } } }
    return out
}

@Suite struct PrimingPatternTests {
    @Test func trainedStridesComeFromThePrefixPatterns() {
        var config = smallModelConfig()   // 4 frames
        #expect(config.trainedStrides == [3])
        config.primePatterns = [[0], [0, 1, 2]]
        #expect(config.trainedStrides == [3, 1])
        config.primePatterns = [[0, 3]]   // in-betweening: not a continuation
        #expect(config.trainedStrides.isEmpty)
        config.primePatterns = [[]]
        #expect(config.trainedStrides.isEmpty)
    }

    @Test func windowsCoverTheVideoOnceAndEndAtItsLastFrame() throws {
        let first = FramePriming([0], clipFrames: 4)
        let even = try SlidingWindows(videoFrames: 8, clipFrames: 4, stride: 2, first: first)
        #expect(even.windows.map(\.start) == [0, 2, 4])
        #expect(even.windows.map(\.priming.frames) == [[0], [0, 1], [0, 1]])
        #expect(even.windows.map(\.newFrames) == [3, 2, 2])
        #expect(even.generatedFrames == Array(1..<8) && even.primedFrames == [0])
        // 9 frames: the last window starts at 5 and adds the one frame left, from 3 primed.
        let ragged = try SlidingWindows(videoFrames: 9, clipFrames: 4, stride: 2, first: first)
        #expect(ragged.windows.map(\.start) == [0, 2, 4, 5])
        #expect(ragged.windows.last!.priming.frames == [0, 1, 2] && ragged.windows.last!.newFrames == 1)
        #expect(ragged.untrainedWindows(trainedStrides: [3, 2]).map(\.index) == [3])
        #expect(even.untrainedWindows(trainedStrides: [3, 2]).isEmpty)
        // Every frame after window 0's primed ones is added by exactly one window.
        for (n, k) in [(4, 1), (7, 3), (16, 4), (17, 3), (30, 2)] {
            let windows = try SlidingWindows(videoFrames: n, clipFrames: 4, stride: k, first: first)
            var made = [Int](repeating: 0, count: n)
            for window in windows.windows { for f in 0..<4 where !window.priming.contains(f) { made[window.start + f] += 1 } }
            #expect(made == [0] + Array(repeating: 1, count: n - 1), "N \(n) k \(k)")
            #expect(windows.count == 1 + (n - 4 + k - 1) / k, "N \(n) k \(k): \(windows.count) windows")
        }
        #expect(throws: ConfigError.self) { try SlidingWindows(videoFrames: 3, clipFrames: 4, stride: 2, first: first) }
        #expect(throws: ConfigError.self) { try SlidingWindows(videoFrames: 8, clipFrames: 4, stride: 0, first: first) }
        #expect(throws: ConfigError.self) { try SlidingWindows(videoFrames: 8, clipFrames: 4, stride: 5, first: first) }
    }

    /// A batch whose videos prime different frames is, video for video and bit for bit, what a model
    /// configured with each video's pattern computes: losses, every NLL, and the gradient.
    @Test func eachVideoPrimesItsOwnFrames() throws {
        var config = smallModelConfig()
        config.primePatterns = [[0], [0, 1]]
        var onlyFirst = config, onlySecond = config
        onlyFirst.primeFrames = [0]; onlySecond.primeFrames = [0, 1]
        let mixed = try initialised(config, batch: 2), a = try initialised(onlyFirst, batch: 2), b = try initialised(onlySecond, batch: 2)
        let clips = videos(2, frames: 4)
        let slices = [4, 0]   // slice 4 holds frames 1 and 3 (frame 1 primed by pattern 1 only), slice 0 frames 0 and 2
        let primings = config.primings
        for mode in [ForwardMode.training, .evaluation] {
            let (m, x, y) = clips.withUnsafeBufferPointer { p in
                (mixed.forward(videos: p.baseAddress!, slices: slices, priming: [primings[0], primings[1]], mode: mode),
                 a.forward(videos: p.baseAddress!, slices: slices, mode: mode),
                 b.forward(videos: p.baseAddress!, slices: slices, mode: mode))
            }
            #expect(m.videoLosses[0] == x.videoLosses[0] && m.videoLosses[1] == y.videoLosses[1], "\(mode)")
            let n = mixed.positions
            for channel in 0..<3 {
                #expect((0..<n).allSatisfy { mixed.nll[channel][$0] == a.nll[channel][$0] })
                #expect((n..<(2 * n)).allSatisfy { mixed.nll[channel][$0] == b.nll[channel][$0] })
            }
        }
        // Slice 4 (frames 1, 3): video 1 primes frame 1, so it predicts half of what video 0 predicts.
        let counts = clips.withUnsafeBufferPointer {
            mixed.forward(videos: $0.baseAddress!, slices: [4, 4], priming: [primings[0], primings[1]], mode: .evaluation).subpixels
        }
        #expect(counts == 3 * (2 + 1) * mixed.config.sliceShape.h * mixed.config.sliceShape.w)
        // The gradient of a one-video batch primed by pattern 1 is the one-pattern model's.
        mixed.gradients.zero(); b.gradients.zero()
        clips.withUnsafeBufferPointer { p in
            mixed.forward(videos: p.baseAddress!, slices: [0], priming: [primings[1]], mode: .training); mixed.backward()
            b.forward(videos: p.baseAddress!, slices: [0], mode: .training); b.backward()
        }
        #expect((0..<mixed.gradients.count).allSatisfy { mixed.gradients.pointer[$0] == b.gradients.pointer[$0] })
        // And a later forward without priming is back to the config's first pattern.
        let plain = clips.withUnsafeBufferPointer { mixed.forward(videos: $0.baseAddress!, slices: slices, mode: .evaluation) }
        let first = clips.withUnsafeBufferPointer { a.forward(videos: $0.baseAddress!, slices: slices, mode: .evaluation) }
        #expect(plain.videoLosses == first.videoLosses)
    }

    @Test func theRandomStreamOfWindowZeroIsTheClipsAndLaterWindowsHaveTheirOwn() {
        let random = SubpixelRandom(seed: 9)
        #expect(random.uniform(video: 3, slice: 1, position: 5, channel: 2) == random.uniform(video: 3, slice: 1, position: 5, channel: 2, firstFrame: 0))
        let later = Set((1...6).map { random.uniform(video: 3, slice: 1, position: 5, channel: 2, firstFrame: $0) })
        #expect(later.count == 6 && !later.contains(random.uniform(video: 3, slice: 1, position: 5, channel: 2)))
    }

    /// The cached sampler with a continuation's priming and a window's first frame draws exactly what the
    /// naive oracle (the whole teacher-forced model per sub-pixel) draws.
    @Test func aContinuationWindowMatchesTheNaiveOracle() throws {
        var config = smallModelConfig()
        config.primePatterns = [[0], [0, 1]]
        let model = try initialised(config, batch: 2)
        let priming = FramePriming.prefix(2, clipFrames: 4), random = SubpixelRandom(seed: 5)
        var cached = videos(2, frames: 4), naive = cached
        let fast = cached.withUnsafeMutableBufferPointer {
            CachedSampler(model: model, batch: 2).sample(videos: $0.baseAddress!, videoIDs: [0, 7], random: random, temperature: 1,
                                                         priming: priming, firstFrame: 6)
        }
        let slow = naive.withUnsafeMutableBufferPointer {
            NaiveSampler.sample(model: model, videos: $0.baseAddress!, videoIDs: [0, 7], random: random, temperature: 1,
                                priming: priming, firstFrame: 6)
        }
        #expect(cached == naive)
        #expect(fast.subpixels == slow.subpixels && fast.subpixels == 2 * 2 * 8 * 8 * 3)
        for (x, y) in zip(fast.logLikelihood, slow.logLikelihood) { #expect(abs(x - y) <= 1e-9 * abs(y)) }
        let frameBytes = 8 * 8 * 3, original = videos(2, frames: 4)
        #expect(cached[0..<(2 * frameBytes)] == original[0..<(2 * frameBytes)], "primed frames are copied, never sampled")
    }

    /// Window 0 of a long sample is the T-frame sample of the same seed; later windows continue from what the
    /// earlier ones made; the result does not depend on the batch.
    @Test func windowedSamplesAreTheClipSampleContinuedAndBatchIndependent() throws {
        var config = smallModelConfig()
        config.primePatterns = [[0], [0, 1]]
        let model = try initialised(config, batch: 3)
        let windows = try SlidingWindows(videoFrames: 9, clipFrames: 4, stride: 2, first: FramePriming([0], clipFrames: 4))
        let frameBytes = 8 * 8 * 3, long = videos(3, frames: 9, seed: 8), ids = [4, 1, 9], random = SubpixelRandom(seed: 2)
        var together = long
        let result = together.withUnsafeMutableBufferPointer {
            WindowedSampler(sampler: CachedSampler(model: model, batch: 3), windows: windows)
                .sample(videos: $0.baseAddress!, videoIDs: ids, random: random, temperature: 1)
        }
        #expect(result.subpixels == 3 * 8 * frameBytes)
        let single = WindowedSampler(sampler: CachedSampler(model: model, batch: 1), windows: windows)
        for b in 0..<3 {
            var alone = Array(long[(b * 9 * frameBytes)..<((b + 1) * 9 * frameBytes)])
            let one = alone.withUnsafeMutableBufferPointer {
                single.sample(videos: $0.baseAddress!, videoIDs: [ids[b]], random: random, temperature: 1)
            }
            #expect(alone[...] == together[(b * 9 * frameBytes)..<((b + 1) * 9 * frameBytes)], "video \(b) depends on its batch")
            #expect(one.logLikelihood[0] == result.logLikelihood[b])
            #expect(alone[0..<frameBytes] == long[(b * 9 * frameBytes)..<(b * 9 * frameBytes + frameBytes)], "frame 0 is the priming frame")
            // Window 0 is the clip sampler's 4-frame sample.
            var clip = Array(long[(b * 9 * frameBytes)..<(b * 9 * frameBytes + 4 * frameBytes)])
            _ = clip.withUnsafeMutableBufferPointer {
                CachedSampler(model: model, batch: 1).sample(videos: $0.baseAddress!, videoIDs: [ids[b]], random: random, temperature: 1)
            }
            #expect(Array(alone[0..<(4 * frameBytes)]) == clip)
            // Window 3 (frames 5..<9) continued frames 5..7 made by earlier windows: re-running it alone adds frame 8 again.
            var last = Array(alone[(5 * frameBytes)..<(9 * frameBytes)])
            _ = last.withUnsafeMutableBufferPointer {
                CachedSampler(model: model, batch: 1).sample(videos: $0.baseAddress!, videoIDs: [ids[b]], random: random, temperature: 1,
                                                             priming: .prefix(3, clipFrames: 4), firstFrame: 5)
            }
            #expect(last[...] == alone[(5 * frameBytes)..<(9 * frameBytes)])
        }
    }
}
