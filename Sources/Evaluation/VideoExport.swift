// VideoExport: samples as files people look at — an animated GIF and an H.264 MP4 per video (frames
// enlarged with nearest-neighbour so 64×64 pixels stay crisp) and a PNG contact sheet with each ground
// truth row above its sample row. ffmpeg does the encoding; every file is written under a temporary name
// and renamed when complete, so an interrupted export never leaves a finished-looking file.

import Foundation
import Datasets

public enum VideoExport {
    /// UInt8 video [frames, height, width, 3] → GIF (palette generated from the video itself).
    public static func writeGIF(_ video: [UInt8], frames: Int, height: Int, width: Int, to path: String,
                                scale: Int = 4, framesPerSecond: Int = 4) throws {
        try encode(video, frames: frames, height: height, width: width, to: path, extension: "gif", arguments: [
            "-vf", "scale=iw*\(scale):ih*\(scale):flags=neighbor,split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=none",
            "-loop", "0",
        ], framesPerSecond: framesPerSecond)
    }

    /// UInt8 video [frames, height, width, 3] → MP4 (H.264, yuv420p, plays everywhere).
    public static func writeMP4(_ video: [UInt8], frames: Int, height: Int, width: Int, to path: String,
                                scale: Int = 4, framesPerSecond: Int = 4) throws {
        try encode(video, frames: frames, height: height, width: width, to: path, extension: "mp4", arguments: [
            "-vf", "scale=iw*\(scale):ih*\(scale):flags=neighbor", "-c:v", "libx264", "-pix_fmt", "yuv420p",
            "-crf", "12", "-movflags", "+faststart",
        ], framesPerSecond: framesPerSecond)
    }

    /// An RGB image: `height` rows of `width` pixels, 3 bytes each.
    public struct Picture: Equatable, Sendable {
        public var pixels: [UInt8]
        public let width: Int, height: Int
        public init(pixels: [UInt8], width: Int, height: Int) {
            precondition(pixels.count == width * height * 3, "Picture: pixel count")
            self.pixels = pixels; self.width = width; self.height = height
        }
    }

    /// The mark of primed frames (given, not generated), on the sheet's dark grey.
    public static let primedColor: (UInt8, UInt8, UInt8) = (255, 255, 255)
    public static let background: UInt8 = 24

    /// One PNG: for each video a ground-truth row (frames left to right) above its sample rows (one per
    /// sample), with 2-pixel separators; primed frames are marked by a white bar under the last row.
    public static func writeContactSheet(groundTruth: [[UInt8]], samples: [[[UInt8]]], frames: Int, height: Int, width: Int,
                                         primeFrames: Set<Int>, to path: String) throws {
        let sheet = contactSheet(groundTruth: groundTruth, samples: samples, frames: frames, height: height, width: width,
                                 primeFrames: primeFrames)
        try FFmpeg.writePNG(sheet.pixels, width: sheet.width, height: sheet.height, to: path)
    }

    /// The contact sheet's pixels (`writeContactSheet` encodes them).
    public static func contactSheet(groundTruth: [[UInt8]], samples: [[[UInt8]]], frames: Int, height: Int, width: Int,
                                    primeFrames: Set<Int>) -> Picture {
        precondition(groundTruth.count == samples.count)
        let gap = 2, bar = 2
        let sheetWidth = frames * (width + gap) + gap
        let rowHeight = height + gap
        let blockHeights = samples.map { (1 + $0.count) * rowHeight + bar + gap }
        let sheetHeight = blockHeights.reduce(gap, +)
        var sheet = [UInt8](repeating: background, count: sheetWidth * sheetHeight * 3)
        var top = gap
        for (index, (truth, rows)) in zip(groundTruth, samples).enumerated() {
            let barTop = top + (1 + rows.count) * rowHeight - gap
            for frame in 0..<frames {
                let x0 = gap + frame * (width + gap)
                blit(truth, frame: frame, height: height, width: width, into: &sheet, sheetWidth: sheetWidth, x0: x0, y0: top)
                for (r, sample) in rows.enumerated() {
                    blit(sample, frame: frame, height: height, width: width, into: &sheet, sheetWidth: sheetWidth, x0: x0, y0: top + (1 + r) * rowHeight)
                }
                if primeFrames.contains(frame) {
                    fill(&sheet, sheetWidth: sheetWidth, x: x0..<(x0 + width), y: barTop..<(barTop + bar), color: primedColor)
                }
            }
            top += blockHeights[index]
        }
        return Picture(pixels: sheet, width: sheetWidth, height: sheetHeight)
    }

    /// Copies frame `frame` of a [frames, height, width, 3] video into `sheet` with its top-left corner at (x0, y0).
    static func blit(_ video: [UInt8], frame: Int, height: Int, width: Int, into sheet: inout [UInt8], sheetWidth: Int, x0: Int, y0: Int) {
        for y in 0..<height {
            let source = ((frame * height + y) * width) * 3, target = ((y0 + y) * sheetWidth + x0) * 3
            sheet.replaceSubrange(target..<(target + width * 3), with: video[source..<(source + width * 3)])
        }
    }

    static func fill(_ sheet: inout [UInt8], sheetWidth: Int, x: Range<Int>, y: Range<Int>, color: (UInt8, UInt8, UInt8)) {
        for row in y {
            for column in x {
                let offset = (row * sheetWidth + column) * 3
                sheet[offset] = color.0; sheet[offset + 1] = color.1; sheet[offset + 2] = color.2
            }
        }
    }

    static func encode(_ video: [UInt8], frames: Int, height: Int, width: Int, to path: String, extension ext: String,
                       arguments: [String], framesPerSecond: Int) throws {
        precondition(video.count == frames * height * width * 3, "VideoExport: video size")
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid()).\(ext)").path
        let result = try FFmpeg.run(["-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "\(width)x\(height)",
                                     "-r", "\(framesPerSecond)", "-i", "-"] + arguments + [temporary], input: Data(video))
        guard result.status == 0, FileManager.default.fileExists(atPath: temporary) else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw EvaluationError("\(path): ffmpeg could not encode the \(ext.uppercased()): \(result.reason)")
        }
        _ = try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
    }
}
