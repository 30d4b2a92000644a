// WindowOptions: `--frames N [--stride k] [--allow-untrained-stride]`, which `vt sample` and `vt evaluate` share:
// videos longer than the model's clip by sliding windows (docs/design.md §12, docs/long-videos.md).

import ArgumentParser
import Training
import VideoModel

struct WindowOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Frames per video: more than the model's clip T slides windows of T frames (default: T).", valueName: "n"))
    var frames: Int?
    @Option(help: ArgumentHelp("New frames per window after the first (default: the largest stride the model was trained to continue with, T minus its longest priming pattern 0..<m).", valueName: "k"))
    var stride: Int?
    @Flag(help: "Allow a window that continues from a number of frames the model was not trained to continue from (with a warning).")
    var allowUntrainedStride = false

    func validate() throws {
        if let frames, frames < 1 { throw ValidationError("--frames must be at least 1 (got \(frames))") }
        if let stride, stride < 1 { throw ValidationError("--stride must be at least 1 (got \(stride))") }
        if stride != nil && frames == nil { throw ValidationError("--stride needs --frames (the length of the videos to slide over)") }
    }

    /// The windows over `frames` frames of `loaded`'s model, window 0 primed as the model is; a window the model
    /// was not trained to continue is refused unless allowed, then `warn`ed about.
    func windows(_ loaded: CheckpointedModel, warn: (String) -> Void) throws -> SlidingWindows {
        let config = loaded.config.model, t = config.frames, first = FramePriming(config.primeFrames, clipFrames: t)
        guard let frames, frames != t else {
            if let stride { warn("--stride \(stride) has no effect: --frames \(t) is the model's clip, one window") }
            return .single(first)
        }
        let trained = loaded.trainedStrides
        guard let k = stride ?? trained.last else {   // the longest context: T minus the longest pattern 0..<m
            throw TrainingError("the model (\(loaded.path)) was not trained to continue a video: its prime_frames \(loaded.config.model.primePatterns) hold no pattern 0..<m; pass --stride k --allow-untrained-stride to slide anyway, or train with prime_frames such as [[0], [0, 1, 2, 3, 4, 5, 6, 7]]")
        }
        let windows = try SlidingWindows(videoFrames: frames, clipFrames: t, stride: k, first: first)
        let untrained = windows.untrainedWindows(trainedStrides: trained)
        if let window = untrained.first {
            let what = "window \(window.index) (frames \(window.start)..<\(window.start + t)) continues \(window.newFrames) frame(s) from \(t - window.newFrames)"
            let known = trained.isEmpty ? "no continuation" : "continuing " + trained.map { "\($0) from \(t - $0)" }.joined(separator: ", ")
            if !allowUntrainedStride {
                throw TrainingError("\(what), which the model was not trained for (its prime_frames teach \(known)); choose --stride and --frames so every window adds a trained number of frames, or pass --allow-untrained-stride")
            }
            warn("warning: \(untrained.count) window(s) continue as the model was not trained to (first: \(what); trained: \(known)); --allow-untrained-stride")
        }
        return windows
    }
}
