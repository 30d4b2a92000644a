// Videos longer than the model, end to end (docs/design.md §12): `vt sample --frames N` draws the same N-frame
// sample set for 1 and 2 ranks and batch 1 and 4, and after a kill -9 and `--resume`; window 0 is the
// ordinary sample; a stride the model was not trained to continue with is refused in one line (or allowed
// with a warning); `vt evaluate --frames N` reports the windowed bits/dim and says how it covered the videos.

import Foundation
import VTTestSupport
import Testing
import Evaluation
import Datasets

@Suite(.needs(.vt), .serialized)
struct LongSamplingCommandTests {
    init() throws { try requireTools(.vt) }

    /// The small model (4-frame clips of 16×16) trained with frame 0 or frames 0, 1 primed, and 10-frame test videos.
    func prepare(videos: Int) throws -> URL {
        try trainedSmallModel(videos: videos, videoFrames: 10, primeFrames: "[[0], [0, 1]]")
    }

    let sample = ["sample", "--checkpoint", "c/step_00000004.h5", "--data", "test.h5", "--all", "--samples-per-video", "2", "--seed", "5",
                  "--views", "1", "--frames", "10"]

    func contents(_ path: URL) throws -> [String: [UInt8]] {
        try datasetBytes(path, ["samples", "ground_truth", "log_likelihood", "psnr", "ssim"])
    }

    @Test func longSamplesDoNotDependOnRanksOrBatch() throws {
        let directory = try prepare(videos: 3)
        defer { try? FileManager.default.removeItem(at: directory) }
        var reference: [String: [UInt8]]? = nil
        for (ranks, batch) in [(1, 4), (1, 1), (2, 4)] {
            let out = "long-\(ranks)-\(batch)"
            let run = try runVTRanks(ranks, sample + ["--batch", "\(batch)", "--output", out], directory: directory)
            #expect(run.status == 0, "\(ranks) ranks × batch \(batch): \(run.output.suffix(800))")
            let set = try contents(directory.appendingPathComponent("\(out)/samples.h5"))
            if let reference {
                for name in reference.keys.sorted() { #expect(set[name] == reference[name], "\(name): \(ranks) ranks × batch \(batch) differ from 1 × 4") }
                continue
            }
            reference = set
            #expect(run.output.contains("4 windows of 4 frames, stride 2, over 10 frames (starts [0, 2, 4, 6])"), "\(run.output)")
            let file = try SampleFile(path: directory.appendingPathComponent("\(out)/samples.h5").path)
            #expect((file.videos, file.samplesPerVideo, file.frames) == (3, 2, 10))
            #expect(file.generatedFrames == Array(1..<10) && file.windows?.windows.map(\.start) == [0, 2, 4, 6])
            // Window 0 is the ordinary 4-frame sample of the same seed.
            let plain = try runVT(Array(sample.dropLast(2)) + ["--output", "plain"], directory: directory)
            #expect(plain.status == 0, "\(plain.output.suffix(800))")
            let clip = try SampleFile(path: directory.appendingPathComponent("plain/samples.h5").path)
            let frame = 16 * 16 * 3
            for v in 0..<3 {
                let (real, samples) = try file.pixels(video: v), (_, short) = try clip.pixels(video: v)
                for s in 0..<2 {
                    let long = Array(samples[(s * 10 * frame)..<((s + 1) * 10 * frame)])
                    #expect(Array(long[0..<frame]) == Array(real[0..<frame]), "video \(v) sample \(s): the primed frame changed")
                    #expect(Array(long[0..<(4 * frame)]) == Array(short[(s * 4 * frame)..<((s + 1) * 4 * frame)]), "video \(v) sample \(s): window 0")
                    #expect(Array(long[(4 * frame)...]) != Array(real[(4 * frame)...]), "video \(v) sample \(s): later windows copied the video")
                }
            }
            let stored = try file.storedScores(videos: 3, samples: 2)
            #expect(stored.psnr.allSatisfy { $0.allSatisfy { $0.count == 9 } }, "PSNR of every generated frame, 1…9")
            // The contact sheet (--views 1: video 0, both samples) labels each sample row with its mean stored PSNR.
            let labels = ["real"] + (0..<2).map { VideoExport.rowLabel(sample: $0, psnr: stored.psnr[0][$0].reduce(0, +) / 9) }
            #expect(labels[1].hasSuffix("dB") && labels[1].hasPrefix("s0 "), "\(labels)")
            let layout = VideoExport.SheetLayout(frames: 10, height: 16, width: 16, samples: [2], labels: labels, framesPerStrip: 32)
            let png = try FFmpeg.run(["-nostdin", "-v", "error", "-i", directory.appendingPathComponent("\(out)/contact_sheet.png").path,
                                      "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            let sheet = [UInt8](png.standardOutput)
            #expect(png.status == 0 && sheet.count == layout.width * layout.height * 3, "contact sheet: \(png.reason), \(sheet.count) bytes")
            for (row, label) in labels.enumerated() where sheet.count == layout.width * layout.height * 3 {
                let origin = layout.labelOrigin(rowTop: layout.rowTop(row, stripTop: layout.stripTop(video: 0, strip: 0)))
                #expect(PixelFont.read(sheet, imageWidth: layout.width, x: origin.x, y: origin.y, scale: VideoExport.sheetTextScale,
                                       color: VideoExport.labelColor) == label, "row \(row)")
            }
        }
    }

    @Test func untrainedStridesAreRefusedOrAllowedWithAWarning() throws {
        let directory = try prepare(videos: 1)
        defer { try? FileManager.default.removeItem(at: directory) }
        // Stride 2 over 9 frames: the last window would add 1 frame from 3 primed, which the model never saw.
        let refused = try runVT(sample.dropLast(2) + ["--frames", "9", "--output", "x"], directory: directory)
        #expect(refused.status != 0 && refused.output.contains("window 3 (frames 5..<9) continues 1 frame(s) from 3")
                && refused.output.contains("--allow-untrained-stride"), "\(refused.output)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("x/samples.h5").path))
        let allowed = try runVT(sample.dropLast(2) + ["--frames", "9", "--output", "y", "--allow-untrained-stride"], directory: directory)
        #expect(allowed.status == 0 && allowed.output.contains("warning: 1 window(s) continue as the model was not trained to"), "\(allowed.output)")
        // Stride 3 is trained (pattern [0] teaches continuing 3 frames from 1): 4 + 3 + 3 = 10.
        let three = try runVT(sample + ["--stride", "3", "--output", "z"], directory: directory)
        #expect(three.status == 0 && three.output.contains("3 windows of 4 frames, stride 3"), "\(three.output)")
        let short = try runVT(sample.dropLast(2) + ["--frames", "12", "--output", "w"], directory: directory)
        #expect(short.status != 0 && short.output.contains("12"), "\(short.output)")
    }

    @Test func aKilledLongJobResumesToTheUninterruptedSet() throws {
        let directory = try prepare(videos: 16)
        defer { try? FileManager.default.removeItem(at: directory) }
        let whole = try runVT(sample + ["--batch", "2", "--output", "whole"], directory: directory)
        #expect(whole.status == 0, "\(whole.output.suffix(800))")
        let process = try runVTUntilKilled(sample + ["--batch", "1", "--output", "cut"], directory: directory,
                                           parts: directory.appendingPathComponent("cut/parts"), count: 3)
        #expect(process.terminationReason == .uncaughtSignal, "the job ended before it could be killed")
        // Resuming with another stride is refused; with the same windows (on 2 ranks) it finishes the same set.
        let otherStride = try runVT(sample + ["--stride", "3", "--output", "cut", "--resume"], directory: directory)
        #expect(otherStride.status != 0 && otherStride.output.contains("stride 2, not 4 with stride 3"), "\(otherStride.output)")
        let resumed = try runVTRanks(2, sample + ["--batch", "3", "--output", "cut", "--resume"], directory: directory)
        #expect(resumed.status == 0 && resumed.output.contains("already in"), "\(resumed.output.suffix(800))")
        let a = try contents(directory.appendingPathComponent("whole/samples.h5")), b = try contents(directory.appendingPathComponent("cut/samples.h5"))
        for name in a.keys.sorted() { #expect(a[name] == b[name], "\(name) differs after kill -9 and --resume") }
    }

    /// A round of a paper-scale model takes many minutes: progress is reported inside it (issue 23: at least every
    /// --progress-every seconds, with the window, slice and position, the rate and the ETA).
    @Test func progressIsReportedInsideARound() throws {
        let directory = try trainedSmallModel(size: 32, frames: 8, videos: 1, videoFrames: 32, primeFrames: "[[0], [0, 1, 2, 3]]")
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try runVT(["sample", "--checkpoint", "c/step_00000004.h5", "--data", "test.h5", "--videos", "1", "--batch", "1",
                             "--views", "0", "--frames", "32", "--progress-every", "0.05", "--output", "p"], directory: directory)
        #expect(run.status == 0, "\(run.output.suffix(800))")
        let lines = run.output.split(separator: "\n").filter { $0.hasPrefix("sampling: 0/1 samples, round 1/1 ") }
        #expect(!lines.isEmpty, "no progress inside the round: \(run.output)")
        for line in lines {
            #expect(line.contains("window ") && line.contains("/7, slice ") && line.contains("/8, position ") && line.contains("/1024), ")
                    && line.contains(" sub-pixels/s  ETA "), "\(line)")
        }
        #expect(run.output.contains("sampling: 1/1 samples  "), "\(run.output)")
    }

    @Test func evaluateGivesTheWindowedBitsPerDim() throws {
        let directory = try prepare(videos: 3)
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try runVT(["evaluate", "--checkpoint", "c/step_00000004.h5", "--data", "test.h5", "--frames", "10", "--json"], directory: directory)
        #expect(run.status == 0, "\(run.output.suffix(800))")
        let json = try self.json(run.output)
        #expect(json["bits_per_dim_windows"] as? String == "4 windows of 4 frames, stride 2, over 10 frames (starts [0, 2, 4, 6])")
        #expect(json["subpixels"] as? Int == 3 * 9 * 16 * 16 * 3)
        #expect((json["bits_per_dim_per_frame"] as? [Any])?.count == 10)
        let plain = try runVT(["evaluate", "--checkpoint", "c/step_00000004.h5", "--data", "test.h5", "--json"], directory: directory)
        let short = try self.json(plain.output)
        #expect(short["bits_per_dim_windows"] == nil && short["subpixels"] as? Int == 3 * 3 * 16 * 16 * 3)
    }

    func json(_ output: String) throws -> [String: Any] {
        let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") })
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
}
