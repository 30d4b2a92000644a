// The two FVDs of long samples (docs/design.md §12) end to end through `vt evaluate --samples` and the pinned
// environment: a samples.h5 drawn in windows gets `fvd` over each video's first 16 frames and `fvd_unrolled`
// over all its 16-frame windows, stated in the protocol; `fvd` equals the FVD of the same samples cut to 16
// frames (an ordinary file, whose report keeps its old keys); bad windows are refused with one message before
// the tool runs.

import Foundation
import VTTestSupport
import Testing
import Evaluation
import HDF5

@Suite(.needs(.vt, .fvd), .serialized)
struct LongSampleFVDTests {
    init() throws { try requireTools(.vt, .fvd) }

    static let videos = 3, frames = 32, size = 16

    /// Deterministic pixels of video `video` (a phase), frame `t`: ramps and bars that move with t.
    static func pixel(_ video: Int, _ t: Int, _ y: Int, _ x: Int, _ channel: Int) -> UInt8 {
        switch channel {
        case 0: UInt8((x * 16 + 8 * t + 37 * video) % 256)
        case 1: ((y + 3 * t + 5 * video) / 2) % 2 == 0 ? 0 : 255
        default: UInt8((x + y + 5 * t + 29 * video) * 255 / (2 * size + 5 * frames + 29 * 8) % 256)
        }
    }

    /// Frames `range` of every video: [videos, frames, H, W, 3] row-major; sample videos are phase + 4, except
    /// that sample 0's first 16 frames are the real ones (so the first-window FVD is 0 and the unrolled one not).
    static func clips(sample: Bool, _ range: Range<Int>) -> [UInt8] {
        var values: [UInt8] = []
        for video in 0..<videos {
            for t in range {
                let phase = sample && t >= 16 ? video + 4 : video
                for y in 0..<size { for x in 0..<size { for channel in 0..<3 { values.append(pixel(phase, t, y, x, channel)) } } }
            }
        }
        return values
    }

    /// A samples.h5 of frames `range` with K = 1, primed at [0]; drawn in windows of `modelFrames` at `stride` when given.
    static func write(_ path: String, _ range: Range<Int>, modelFrames: Int? = nil, stride: Int? = nil) throws {
        let file = try HDF5File.create(path)
        try file.root.createDataset("samples", shape: [videos, 1, range.count, size, size, 3], values: clips(sample: true, range))
        try file.root.createDataset("ground_truth", shape: [videos, range.count, size, size, 3], values: clips(sample: false, range))
        try file.root.setAttribute("prime_frames", [Int64(0)])
        if let modelFrames, let stride {
            try file.root.setAttribute("model_frames", Int64(modelFrames))
            try file.root.setAttribute("window_stride", Int64(stride))
        }
        try file.close()
    }

    func json(_ output: String) throws -> [String: Any] {
        let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") })
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func longSamplesGetTheFirstWindowAndTheUnrolledFVD() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // 32 frames drawn by a 16-frame model at stride 8; the FVD windows default to 16 frames at stride 16.
        try Self.write(directory.appendingPathComponent("long.h5").path, 0..<32, modelFrames: 16, stride: 8)
        let run = try runVT(["evaluate", "--samples", "long.h5", "--metrics", "fvd", "--json"], directory: directory)
        #expect(run.status == 0, "\(run.output.suffix(1500))")
        let report = try json(run.output)
        let fvd = try #require(report["fvd"] as? [String: Any]), unrolled = try #require(report["fvd_unrolled"] as? [String: Any])
        #expect(fvd["window"] as? Int == 16 && fvd["window_mode"] as? String == "first" && fvd["window_starts"] as? [Int] == [0])
        #expect(unrolled["window"] as? Int == 16 && unrolled["window_mode"] as? String == "all" && unrolled["window_stride"] as? Int == 16)
        #expect(unrolled["windows_per_video"] as? Int == 2 && unrolled["window_starts"] as? [Int] == [0, 16] && unrolled["clips_per_set"] as? Int == 6)
        let first = try #require(fvd["mean"] as? Double), all = try #require(unrolled["mean"] as? Double)
        #expect(all.isFinite && all > 0, "the samples' second windows are not the real ones: \(all)")
        #expect(abs(first) <= 1e-6 * all, "the samples' first windows are the real ones: \(first) (unrolled \(all))")
        // 6 real windows + 6 generated ones, 3 of which are real ones; the first-window run finds its clips cached.
        #expect((report["i3d"] as? [String: Any])?["videos_computed"] as? Int == 9, "\(report["i3d"] ?? "none")")
        let windows = try #require((report["protocol"] as? [String: Any])?["fvd_windows"] as? String)
        #expect(windows.contains("fvd: frames 0…15") && windows.contains("frames 0…15, frames 16…31") && windows.contains("3 videos × 2 windows"), "\(windows)")

        // As text: two lines, from the cache.
        let text = try runVT(["evaluate", "--samples", "long.h5", "--metrics", "fvd"], directory: directory)
        #expect(text.status == 0, "\(text.output.suffix(1500))")
        let lines = text.output.split(separator: "\n").filter { $0.hasPrefix("FVD") }
        #expect(lines.count == 2, "\(text.output.suffix(1500))")
        #expect(lines.first?.contains("(all frames; first 16-frame window, frames 0…15)") == true, "\(lines)")
        #expect(lines.last?.hasPrefix("FVD unrolled: ") == true && lines.last?.contains("2 windows of 16 frames at frames 0, 16, pooled") == true, "\(lines)")

        // `fvd` is the FVD of the samples cut to their first 16 frames: an ordinary file, same clips (all cached), same number,
        // and its report has none of the windows' keys.
        try Self.write(directory.appendingPathComponent("cut.h5").path, 0..<16)
        let cut = try runVT(["evaluate", "--samples", "cut.h5", "--metrics", "fvd", "--json"], directory: directory)
        #expect(cut.status == 0, "\(cut.output.suffix(1500))")
        let ordinary = try json(cut.output)
        #expect((ordinary["fvd"] as? [String: Any])?["mean"] as? Double == first)
        #expect((ordinary["i3d"] as? [String: Any])?["videos_computed"] as? Int == 0)
        #expect(ordinary["fvd_unrolled"] == nil && (ordinary["fvd"] as? [String: Any])?["window"] == nil)
        #expect((ordinary["protocol"] as? [String: Any])?["fvd_windows"] == nil)

        // Bad windows: one line, before any scoring.
        for (arguments, words) in [(["--fvd-window", "8"], "FVD needs at least 9 frames"), (["--fvd-window", "33"], "--fvd-window 33 is longer than the 32 frames"),
                                   (["--fvd-window-stride", "0"], "--fvd-window-stride must be at least 1")] {
            let refused = try runVT(["evaluate", "--samples", "long.h5", "--metrics", "fvd"] + arguments, directory: directory)
            #expect(refused.status != 0 && refused.output.contains(words), "\(arguments): \(refused.output)")
            #expect(refused.output.split(separator: "\n").filter { $0.contains(words) }.count == 1, "\(arguments): \(refused.output)")
            #expect(!refused.output.contains("vt_fvd:") && !refused.output.contains("Traceback"), "\(arguments): \(refused.output)")
        }
    }
}
