// FVDWindows: which frames the two FVD numbers of long samples see (docs/design.md §12). `fvd` scores the
// first W-frame window of every video (frames [0, W) of the frames --fvd-frames selects), as a 16-frame
// model's FVD does; `fvd_unrolled` scores every W-frame window starting at 0, S, 2S, … that fits, each window
// one I3D clip, the real windows pooled against each trial's generated windows (the paper's "unrolled" FVD).
// W defaults to 16 (the field's clip length) or the selected frames if fewer; S to W (no overlap).
//
// With --fvd-frames generated the windows are cut from the generated frames, which must then be consecutive
// (a window must not join frames that were not adjacent): for window 0 primed at [0] the first window is
// frames 1…W. The Python tool (tools/fvd, score --window) cuts them the same way; this type plans and checks
// them before any sampling, and words the protocol.
//
// Leaves out: scoring (FVDBridge) and deciding whether samples are long (the command: samples drawn in
// several windows, or --fvd-window given).

public struct FVDWindows: Equatable, Sendable {
    /// The field's FVD clip length.
    public static let defaultLength = 16

    /// The video frames the windows are cut from (all frames, or the generated ones), in order.
    public let frames: [Int]
    /// W and S.
    public let length: Int, stride: Int
    /// Where the unrolled windows start, as positions in `frames` (0, S, 2S, …).
    public let positions: [Int]

    /// The windows of `frames` (the frames --fvd-frames `selection` keeps) for `--fvd-window` `window` and
    /// `--fvd-window-stride` `stride` (nil: the defaults); `what` names the videos in errors.
    public init(frames: [Int], selection: String, window: Int?, stride: Int?, what: String) throws {
        let length = window ?? min(Self.defaultLength, frames.count)
        try FVDBridge.checkFrames(length, what: "each window of \(what) (--fvd-window \(length))")
        guard length <= frames.count else {
            throw EvaluationError("--fvd-window \(length) is longer than the \(frames.count) frames of \(what) (--fvd-frames \(selection))")
        }
        if let stride, stride < 1 { throw EvaluationError("--fvd-window-stride must be at least 1 (got \(stride))") }
        guard frames == Array(frames[0]...frames[frames.count - 1]) else {
            throw EvaluationError("--fvd-frames \(selection) leaves frames that are not consecutive in \(what) (a window would join frames that were not adjacent); use --fvd-frames all with windows")
        }
        self.frames = frames; self.length = length; self.stride = stride ?? length
        positions = Array(Swift.stride(from: 0, through: frames.count - length, by: self.stride))
    }

    /// The video frames each unrolled window starts at (the first is the `fvd` window).
    public var starts: [Int] { positions.map { frames[$0] } }

    /// "frames 0…15".
    public static func span(_ start: Int, _ length: Int) -> String { "frames \(start)…\(start + length - 1)" }

    /// The text line's note on `fvd`: "first 16-frame window, frames 0…15".
    public var firstSummary: String { "first \(length)-frame window, \(Self.span(frames[0], length))" }

    /// The text line's note on `fvd_unrolled`: "3 windows of 16 frames at frames 0, 16, 32".
    public var unrolledSummary: String {
        "\(positions.count) window\(positions.count == 1 ? "" : "s") of \(length) frames at frames \(starts.map(String.init).joined(separator: ", "))"
    }

    /// The protocol's statement of both numbers, for `videos` videos.
    public func protocolText(videos: Int) -> String {
        "fvd: \(Self.span(frames[0], length)) of each video (its first \(length)-frame window); fvd_unrolled: every \(length)-frame window "
            + "at stride \(stride) that fits, \(starts.map { Self.span($0, length) }.joined(separator: ", ")), each window one I3D clip, "
            + "the real windows pooled against each trial's generated windows (\(videos) videos × \(positions.count) windows a side)"
    }
}
