// SlidingWindows: how a T-frame model covers an N-frame video (docs/design.md §12).
//
//   window 0      frames [0, T), primed as the run asks (the model's first pattern, or --prime-frames)
//   window w ≥ 1  frames [w·k, w·k + T): its first T − k frames are the previous windows' (primed), its last
//                 k are new — generated when sampling, scored when computing the likelihood
//   last window   when (N − T) is not a multiple of k it ends at frame N: it starts at N − T and its new
//                 frames are the r < k not yet covered (T − r primed)
//
// A window with r new frames continues from T − r primed frames 0..<T − r: the model was trained for that
// when `prime_frames` holds the pattern 0..<T − r (ModelConfig.trainedStrides lists those r).

public struct SlidingWindows: Equatable, Sendable, CustomStringConvertible {
    public struct Window: Equatable, Sendable {
        public let index: Int
        /// The video frame the window's frame 0 is.
        public let start: Int
        /// The window's primed frames (window-relative).
        public let priming: FramePriming
        /// Frames the window adds (window 0: every frame it does not prime; later windows: its last ones).
        public var newFrames: Int { priming.clipFrames - priming.frames.count }
    }

    /// N, T and k.
    public let videoFrames: Int, clipFrames: Int, stride: Int
    public let windows: [Window]

    /// Windows of an N-frame video (`videoFrames`) under a `clipFrames`-frame model, window 0 primed by
    /// `first`. N < T, k outside 1...T or a window 0 that primes frames beyond a later window's reach is an error.
    public init(videoFrames: Int, clipFrames: Int, stride: Int, first: FramePriming) throws {
        guard first.clipFrames == clipFrames else { throw ConfigError("window 0's priming is for \(first.clipFrames) frames, the model's clip has \(clipFrames)") }
        guard videoFrames >= clipFrames else {
            throw ConfigError("--frames \(videoFrames) is shorter than the model's \(clipFrames)-frame clip (sliding windows make videos longer, not shorter)")
        }
        guard (1...clipFrames).contains(stride) else {
            throw ConfigError("--stride \(stride) must be between 1 and the model's \(clipFrames) frames")
        }
        self.videoFrames = videoFrames; self.clipFrames = clipFrames; self.stride = stride
        var windows = [Window(index: 0, start: 0, priming: first)]
        var covered = clipFrames
        while covered < videoFrames {
            let added = min(stride, videoFrames - covered)
            windows.append(Window(index: windows.count, start: covered + added - clipFrames,
                                  priming: .prefix(clipFrames - added, clipFrames: clipFrames)))
            covered += added
        }
        self.windows = windows
    }

    /// One window: a plain T-frame clip.
    public static func single(_ priming: FramePriming) -> SlidingWindows {
        try! SlidingWindows(videoFrames: priming.clipFrames, clipFrames: priming.clipFrames, stride: priming.clipFrames, first: priming)
    }

    public var count: Int { windows.count }
    public subscript(index: Int) -> Window { windows[index] }

    /// The video frames no window generates (window 0's primed frames).
    public var primedFrames: [Int] { windows[0].priming.frames }
    /// Every other frame of the video.
    public var generatedFrames: [Int] { (0..<videoFrames).filter { !windows[0].priming.contains($0) } }

    /// Windows w ≥ 1 whose continuation (T − r primed frames, r new) the model was not trained for, given the
    /// strides it was (ModelConfig.trainedStrides).
    public func untrainedWindows(trainedStrides: [Int]) -> [Window] {
        windows.dropFirst().filter { !trainedStrides.contains($0.newFrames) }
    }

    public var description: String {
        count == 1 ? "one \(clipFrames)-frame window"
            : "\(count) windows of \(clipFrames) frames, stride \(stride), over \(videoFrames) frames (starts \(windows.map(\.start)))"
    }
}
