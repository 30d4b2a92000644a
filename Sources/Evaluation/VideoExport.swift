// VideoExport: samples as files people look at — an animated GIF and an H.264 MP4 per video (frames
// enlarged with nearest-neighbour so 64×64 pixels stay crisp) and a PNG contact sheet with each ground
// truth row above its sample row. Long samples (sliding windows, docs/design.md §12) show the real video beside
// the sample with frame numbers, and mark where each window begins adding frames (sideBySide, longContactSheet).
// ffmpeg does the encoding; every file is written under a temporary name and renamed when complete, so an
// interrupted export never leaves a finished-looking file.

import Foundation
import Datasets
import VideoModel

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

    /// The marks: primed frames (given, not generated) white, the first frame each window adds magenta,
    /// frame numbers light grey, on the sheet's dark grey.
    public static let primedColor: (UInt8, UInt8, UInt8) = (255, 255, 255)
    public static let windowColor: (UInt8, UInt8, UInt8) = (255, 0, 255)
    public static let labelColor: (UInt8, UInt8, UInt8) = (200, 200, 200)
    public static let background: UInt8 = 24
    /// The most frames a strip of a long contact sheet shows.
    public static let framesPerStrip = 32

    /// One PNG: for each video a ground-truth row (frames left to right) above its sample rows (one per
    /// sample), with 2-pixel separators; primed frames are marked by a white bar under the last row. Long
    /// samples (more than one window) are laid out as `longContactSheet` says.
    public static func writeContactSheet(groundTruth: [[UInt8]], samples: [[[UInt8]]], frames: Int, height: Int, width: Int,
                                         primeFrames: Set<Int>, windows: SlidingWindows? = nil, to path: String) throws {
        let sheet = contactSheet(groundTruth: groundTruth, samples: samples, frames: frames, height: height, width: width,
                                 primeFrames: primeFrames, windows: windows)
        try FFmpeg.writePNG(sheet.pixels, width: sheet.width, height: sheet.height, to: path)
    }

    /// The contact sheet's pixels: one row of frames per clip, or for a long sample (windows.count > 1) the strips
    /// of `longContactSheet`.
    public static func contactSheet(groundTruth: [[UInt8]], samples: [[[UInt8]]], frames: Int, height: Int, width: Int,
                                    primeFrames: Set<Int>, windows: SlidingWindows? = nil, framesPerStrip: Int = VideoExport.framesPerStrip) -> Picture {
        if let windows, windows.count > 1 {
            return longContactSheet(groundTruth: groundTruth, samples: samples, frames: frames, height: height, width: width,
                                    primeFrames: primeFrames, windows: windows, framesPerStrip: framesPerStrip)
        }
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

    /// The first frame each window w ≥ 1 adds (where its new frames begin), ascending.
    public static func firstNewFrames(_ windows: SlidingWindows) -> [Int] {
        windows.windows.dropFirst().map { $0.start + windows.clipFrames - $0.newFrames }
    }

    /// How a long sheet wraps `frames` frames: as few strips of at most `framesPerStrip` as can hold them,
    /// of equal length (the last may be shorter), so no strip is a stub.
    public static func strips(frames: Int, framesPerStrip: Int) -> [Range<Int>] {
        precondition(frames >= 1 && framesPerStrip >= 1)
        let count = (frames + framesPerStrip - 1) / framesPerStrip, length = (frames + count - 1) / count
        return stride(from: 0, to: frames, by: length).map { $0..<min(frames, $0 + length) }
    }

    /// The contact sheet of long samples: each video wrapped into strips (`strips`), one under the other, the
    /// videos 8 pixels apart. A strip is a line of frame numbers, the ground-truth row and the sample rows over
    /// its frames, and the white bar under primed frames. A magenta line fills the 2-pixel gap before the first
    /// frame each window adds, from the number line to the bar, and that frame's number is printed in magenta
    /// just right of it (left out where it would overlap the previous number); the strip's first frame number is grey
    /// unless a window begins there. Digits are 3×5 pixels, doubled for frames 32 pixels high or more.
    static func longContactSheet(groundTruth: [[UInt8]], samples: [[[UInt8]]], frames: Int, height: Int, width: Int,
                                 primeFrames: Set<Int>, windows: SlidingWindows, framesPerStrip: Int) -> Picture {
        precondition(groundTruth.count == samples.count && windows.videoFrames == frames)
        let gap = 2, bar = 2, videoGap = 8
        let scale = height >= 32 ? 2 : 1
        let labelHeight = PixelFont.height(scale: scale) + gap
        let strips = strips(frames: frames, framesPerStrip: framesPerStrip)
        let starts = Set(firstNewFrames(windows))
        let sheetWidth = strips[0].count * (width + gap) + gap
        let rowHeight = height + gap
        let stripHeights = samples.map { labelHeight + (1 + $0.count) * rowHeight + bar + gap }
        let sheetHeight = gap + stripHeights.reduce(0) { $0 + strips.count * $1 } + videoGap * (samples.count - 1)
        var sheet = [UInt8](repeating: background, count: sheetWidth * sheetHeight * 3)
        var top = gap
        for (index, (truth, rows)) in zip(groundTruth, samples).enumerated() {
            for strip in strips {
                let rowTop = top + labelHeight, barTop = rowTop + (1 + rows.count) * rowHeight - gap
                func left(_ frame: Int) -> Int { gap + (frame - strip.lowerBound) * (width + gap) }
                for frame in strip {
                    let x0 = left(frame)
                    blit(truth, frame: frame, height: height, width: width, into: &sheet, sheetWidth: sheetWidth, x0: x0, y0: rowTop)
                    for (r, sample) in rows.enumerated() {
                        blit(sample, frame: frame, height: height, width: width, into: &sheet, sheetWidth: sheetWidth, x0: x0, y0: rowTop + (1 + r) * rowHeight)
                    }
                    if primeFrames.contains(frame) {
                        fill(&sheet, sheetWidth: sheetWidth, x: x0..<(x0 + width), y: barTop..<(barTop + bar), color: primedColor)
                    }
                    if starts.contains(frame) {
                        fill(&sheet, sheetWidth: sheetWidth, x: (x0 - gap)..<x0, y: top..<(barTop + bar), color: windowColor)
                    }
                }
                var numberEnd = Int.min
                for frame in [strip.lowerBound] + starts.filter({ strip.contains($0) && $0 != strip.lowerBound }).sorted() {
                    let text = String(frame), x = left(frame) + scale  // a digit pixel clear of the line
                    guard x >= numberEnd + 2 * scale, x + PixelFont.width(text, scale: scale) <= sheetWidth else { continue }
                    PixelFont.draw(text, x: x, y: top, scale: scale, color: starts.contains(frame) ? windowColor : labelColor,
                                   into: &sheet, imageWidth: sheetWidth)
                    numberEnd = x + PixelFont.width(text, scale: scale)
                }
                top += stripHeights[index]
            }
            top += videoGap
        }
        return Picture(pixels: sheet, width: sheetWidth, height: sheetHeight)
    }

    /// A long sample's frames as its GIF and MP4 show them: the real frame left and the sample right, 2 pixels
    /// apart, each in a 1-pixel border, and the frame number under the real frame. The sample's border is
    /// magenta on the first frame each window adds (and the number magenta too), white on primed frames, the
    /// background otherwise. Returns the video [frames, height, width, 3] and its frame size.
    public static func sideBySide(real: [UInt8], sample: [UInt8], frames: Int, height: Int, width: Int,
                                  primeFrames: Set<Int>, windows: SlidingWindows) -> (video: [UInt8], height: Int, width: Int) {
        precondition(real.count == frames * height * width * 3 && sample.count == real.count && windows.videoFrames == frames)
        let border = 1, gap = 2
        let viewWidth = 2 * (width + 2 * border) + gap
        let numberTop = height + 2 * border + 1
        let viewHeight = numberTop + PixelFont.height(scale: 1) + 1
        let starts = Set(firstNewFrames(windows))
        let frameBytes = viewWidth * viewHeight * 3
        var video = [UInt8](repeating: background, count: frames * frameBytes)
        var view = [UInt8](repeating: background, count: frameBytes)
        let sampleLeft = width + 2 * border + gap
        for frame in 0..<frames {
            for i in view.indices { view[i] = background }
            blit(real, frame: frame, height: height, width: width, into: &view, sheetWidth: viewWidth, x0: border, y0: border)
            let mark = starts.contains(frame) ? windowColor : primeFrames.contains(frame) ? primedColor : nil
            if let mark {
                fill(&view, sheetWidth: viewWidth, x: sampleLeft..<(sampleLeft + width + 2 * border), y: 0..<(height + 2 * border), color: mark)
            }
            blit(sample, frame: frame, height: height, width: width, into: &view, sheetWidth: viewWidth, x0: sampleLeft + border, y0: border)
            PixelFont.draw(String(frame), x: border, y: numberTop, scale: 1, color: starts.contains(frame) ? windowColor : labelColor,
                           into: &view, imageWidth: viewWidth)
            video.replaceSubrange((frame * frameBytes)..<((frame + 1) * frameBytes), with: view)
        }
        return (video, viewHeight, viewWidth)
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
