// Exports are real files: ffmpeg decodes the GIF and MP4 back to the right frame count and size, and the
// contact sheet PNG holds exactly the laid-out sheet (frames enlarged to about 96 pixels high, labels, headers).
// Long samples: the side-by-side GIF/MP4 decode to N frames of the composed size, and the PNG holds exactly the
// sheet's pixels (the marks survive encoding); a one-window sheet is the same PNG whether or not it is given its
// window (its layout is tested on pixels in EvaluationTests/LongSamplePicturesTests). BAIR-sized (64×64) views
// stay within 512 pixels a side.

import Foundation
import VTTestSupport
import Testing
import Datasets
@testable import Evaluation
import Training
import VideoModel

@Suite(.needs(.ffmpeg))
struct VideoExportTests {
    init() throws { try requireTools(.ffmpeg) }

    func probe(_ path: String) throws -> (frames: Int, width: Int, height: Int) {
        let result = try FFmpeg.run(["-nostdin", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        #expect(result.status == 0, "\(result.reason)")
        let info = try FFmpeg.run(["-nostdin", "-i", path])   // prints stream info on stderr
        let match = info.standardError.firstMatch(of: try Regex(", ([0-9]+)x([0-9]+)"))
        let width = match.flatMap { Int($0.output[1].substring ?? "") } ?? 0
        let height = match.flatMap { Int($0.output[2].substring ?? "") } ?? 0
        return (result.standardOutput.count / max(1, width * height * 3), width, height)
    }

    @Test func gifMp4AndContactSheetDecode() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let video = SyntheticVideoGenerator(frames: 6, height: 16, width: 16, seed: 1).video(index: 0)
        let gif = directory.appendingPathComponent("v.gif").path, mp4 = directory.appendingPathComponent("v.mp4").path
        try VideoExport.writeGIF(video, frames: 6, height: 16, width: 16, to: gif)
        try VideoExport.writeMP4(video, frames: 6, height: 16, width: 16, to: mp4)
        for path in [gif, mp4] {
            let (frames, width, height) = try probe(path)
            #expect(frames == 6 && width == 64 && height == 64, "\(path): \(frames) frames \(width)×\(height)")
        }
        let sheet = directory.appendingPathComponent("sheet.png").path
        try VideoExport.writeContactSheet(groundTruth: [video, video], samples: [[video], [video, video, video]], frames: 6,
                                          height: 16, width: 16, primeFrames: [0], to: sheet)
        let (_, width, height) = try probe(sheet)
        // 16-pixel frames enlarged 6× (96 px, 98 with the gap) right of the label column; per video a header line
        // (14 px), the real row and one row per sample, a 2-px bar and a 2-px gap; videos 8 px apart.
        let layout = VideoExport.SheetLayout(frames: 6, height: 16, width: 16, samples: [1, 3], labels: ["real", "s0", "s1", "s2"], framesPerStrip: 32)
        #expect(width == layout.labelWidth + 6 * 98 && height == 2 + (14 + 2 * 98 + 4) + 8 + (14 + 4 * 98 + 4))
        #expect(try decode(sheet) == VideoExport.contactSheet(groundTruth: [video, video], samples: [[video], [video, video, video]], frames: 6,
                                                              height: 16, width: 16, primeFrames: [0]).pixels)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains("partial") }
        #expect(leftovers.isEmpty)
    }

    func decode(_ path: String) throws -> [UInt8] {
        let result = try FFmpeg.run(["-nostdin", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        #expect(result.status == 0, "\(result.reason)")
        return [UInt8](result.standardOutput)
    }

    @Test func longSampleViewsDecode() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (n, h, w) = (40, 16, 16)
        let generator = SyntheticVideoGenerator(frames: n, height: h, width: w, seed: 1)
        let real = generator.video(index: 0), sample = generator.video(index: 1)
        let windows = try SlidingWindows(videoFrames: n, clipFrames: 8, stride: 4, first: FramePriming([0], clipFrames: 8))
        let view = VideoExport.sideBySide(real: real, sample: sample, frames: n, height: h, width: w, primeFrames: [0], windows: windows)
        let gif = directory.appendingPathComponent("v.gif").path, mp4 = directory.appendingPathComponent("v.mp4").path
        try VideoExport.writeGIF(view.video, frames: n, height: view.height, width: view.width, to: gif)
        try VideoExport.writeMP4(view.video, frames: n, height: view.height, width: view.width, to: mp4)
        for path in [gif, mp4] {
            let (frames, width, height) = try probe(path)
            #expect(frames == n && width == 4 * view.width && height == 4 * view.height, "\(path): \(frames) frames \(width)×\(height)")
        }
        let sheet = directory.appendingPathComponent("sheet.png").path
        try VideoExport.writeContactSheet(groundTruth: [real], samples: [[sample, real]], frames: n, height: h, width: w,
                                          primeFrames: [0], windows: windows, to: sheet)
        let pixels = VideoExport.contactSheet(groundTruth: [real], samples: [[sample, real]], frames: n, height: h, width: w,
                                              primeFrames: [0], windows: windows)
        let (_, width, height) = try probe(sheet)
        let layout = VideoExport.SheetLayout(frames: n, height: h, width: w, samples: [2], labels: ["real", "s0", "s1"], framesPerStrip: 32)
        #expect(width == pixels.width && height == pixels.height && width == layout.labelWidth + 20 * 98)
        #expect(try decode(sheet) == pixels.pixels)
    }

    @Test func oneWindowSheetIsTheSamePNG() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let video = SyntheticVideoGenerator(frames: 8, height: 16, width: 16, seed: 2).video(index: 0)
        let plain = directory.appendingPathComponent("plain.png").path, single = directory.appendingPathComponent("single.png").path
        try VideoExport.writeContactSheet(groundTruth: [video], samples: [[video]], frames: 8, height: 16, width: 16, primeFrames: [0], to: plain)
        try VideoExport.writeContactSheet(groundTruth: [video], samples: [[video]], frames: 8, height: 16, width: 16, primeFrames: [0],
                                          windows: .single(FramePriming([0], clipFrames: 8)), to: single)
        #expect(try Data(contentsOf: URL(fileURLWithPath: plain)) == Data(contentsOf: URL(fileURLWithPath: single)))
        #expect(try decode(plain) == VideoExport.contactSheet(groundTruth: [video], samples: [[video]], frames: 8, height: 16, width: 16,
                                                              primeFrames: [0]).pixels)
    }

    /// 64×64 (BAIR) frames: a clip's GIF/MP4 play 4× enlarged at 256×256; a long sample's side-by-side view
    /// (134×73) 3× at 402×219, the MP4 padded to 402×220 (yuv420p needs even sides).
    @Test func bairSizedViewsStayWithin512Pixels() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (n, h, w) = (10, 64, 64)
        let generator = SyntheticVideoGenerator(frames: n, height: h, width: w, seed: 3)
        let real = generator.video(index: 0), sample = generator.video(index: 1)
        #expect(VideoExport.viewScale(width: w, height: h) == 4)
        let gif = directory.appendingPathComponent("clip.gif").path, mp4 = directory.appendingPathComponent("clip.mp4").path
        try VideoExport.writeGIF(real, frames: n, height: h, width: w, to: gif, scale: 4)
        try VideoExport.writeMP4(real, frames: n, height: h, width: w, to: mp4, scale: 4)
        for path in [gif, mp4] { let p = try probe(path); #expect(p.frames == n && p.width == 256 && p.height == 256, "\(path): \(p)") }
        let windows = try SlidingWindows(videoFrames: n, clipFrames: 4, stride: 2, first: FramePriming([0], clipFrames: 4))
        let view = VideoExport.sideBySide(real: real, sample: sample, frames: n, height: h, width: w, primeFrames: [0], windows: windows)
        #expect(view.width == 134 && view.height == 73)
        let scale = VideoExport.viewScale(width: view.width, height: view.height)
        #expect(scale == 3)
        let longGIF = directory.appendingPathComponent("long.gif").path, longMP4 = directory.appendingPathComponent("long.mp4").path
        try VideoExport.writeGIF(view.video, frames: n, height: view.height, width: view.width, to: longGIF, scale: scale)
        try VideoExport.writeMP4(view.video, frames: n, height: view.height, width: view.width, to: longMP4, scale: scale)
        let g = try probe(longGIF), m = try probe(longMP4)
        #expect(g.frames == n && g.width == 402 && g.height == 219, "GIF \(g)")
        #expect(m.frames == n && m.width == 402 && m.height == 220, "MP4 \(m)")
        // Frames too large for 4× are never enlarged below 1×.
        #expect(VideoExport.viewScale(width: 600, height: 300) == 1 && VideoExport.viewScale(width: 170, height: 80) == 3)
    }
}
