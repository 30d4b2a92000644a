// WindowedSampler: N-frame samples from a T-frame model by sliding windows (docs/design.md §12; SlidingWindows.swift
// says which frames each window primes and adds). Each window is an ordinary CachedSampler call on the T frames
// it covers, primed with the frames the earlier windows made, its random stream keyed by the window's first
// frame — so a sample is the same however it is batched, split over ranks or resumed, and window 0 is exactly
// the T-frame sample of the same seed. An action-conditioned window reads the actions of the frames it covers.
// Cost: one T-frame sample per window, so N frames cost (1 + ⌈(N − T)/k⌉) T-frame samples.

import Kernels

public final class WindowedSampler {
    public let sampler: CachedSampler
    public let windows: SlidingWindows
    /// Videos drawn together.
    public var batch: Int { sampler.batch }

    public init(sampler: CachedSampler, windows: SlidingWindows) {
        precondition(windows.clipFrames == sampler.model.config.frames, "WindowedSampler: windows for another clip length")
        self.sampler = sampler; self.windows = windows
    }

    /// Generates every frame of `videos` (UInt8 [batch, N, H, W, 3]) that window 0 does not prime (those must hold
    /// the priming data). `conditioning.actions`, when the model takes actions, are [batch, N, A] (the whole
    /// video's); labels are per video. `progress(done, total)` counts positions over all windows.
    public func sample(videos: UnsafeMutablePointer<UInt8>, videoIDs: [Int], random: SubpixelRandom, temperature: Double,
                       conditioning: Conditioning = .none, progress: ((Int, Int) -> Void)? = nil) -> SamplingResult {
        let config = sampler.model.config, t = config.frames, n = windows.videoFrames
        let frameBytes = config.height * config.width * ModelConfig.channels, a = config.actions
        if windows.count == 1 {   // the plain sampler, untouched
            return sampler.sample(videos: videos, videoIDs: videoIDs, random: random, temperature: temperature,
                                  priming: windows[0].priming, conditioning: conditioning, progress: progress)
        }
        var clips = [UInt8](repeating: 0, count: batch * t * frameBytes)
        var clipActions = [Float](repeating: 0, count: a > 0 && conditioning.actions != nil ? batch * t * a : 0)
        var total = SamplingResult(logLikelihood: Array(repeating: 0, count: batch), subpixels: 0)
        for window in windows.windows {
            clips.withUnsafeMutableBufferPointer { clips in
                for b in 0..<batch {   // the frames the window covers; the ones it adds are overwritten
                    (clips.baseAddress! + b * t * frameBytes).update(from: videos + (b * n + window.start) * frameBytes, count: t * frameBytes)
                }
            }
            if let actions = conditioning.actions, a > 0 {
                for b in 0..<batch {
                    for i in 0..<(t * a) { clipActions[b * t * a + i] = actions[(b * n + window.start) * a + i] }
                }
            }
            let result = clipActions.withUnsafeBufferPointer { actions in
                clips.withUnsafeMutableBufferPointer { clips in
                    sampler.sample(videos: clips.baseAddress!, videoIDs: videoIDs, random: random, temperature: temperature,
                                   priming: window.priming, firstFrame: window.start,
                                   conditioning: Conditioning(actions: actions.isEmpty ? nil : actions.baseAddress, labels: conditioning.labels),
                                   progress: progress.map { report in { done, all in report(window.index * all + done, self.windows.count * all) } })
                }
            }
            for b in 0..<batch { total.logLikelihood[b] += result.logLikelihood[b] }
            total.subpixels += result.subpixels
            clips.withUnsafeBufferPointer { clips in
                for b in 0..<batch {   // back into the video: the frames this window made
                    for frame in 0..<t where !window.priming.contains(frame) {
                        (videos + (b * n + window.start + frame) * frameBytes)
                            .update(from: clips.baseAddress! + (b * t + frame) * frameBytes, count: frameBytes)
                    }
                }
            }
        }
        return total
    }
}
