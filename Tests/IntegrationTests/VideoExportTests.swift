// Exports are real files: ffmpeg decodes the GIF and MP4 back to the right frame count and size, and the
// contact sheet PNG has the layout's dimensions.

import Foundation
import VTTestSupport
import Testing
import Datasets
@testable import Evaluation
import Training

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
        // Per video: the real row and one row per sample (18 px each), a 2-px bar and a 2-px gap.
        #expect(width == 6 * 18 + 2 && height == (2 * 18 + 2 + 2) + (4 * 18 + 2 + 2) + 2)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains("partial") }
        #expect(leftovers.isEmpty)
    }
}
