// VideoExport: samples as files people look at — an animated GIF and an H.264 MP4 per video (frames
// enlarged with nearest-neighbour so 64×64 pixels stay crisp) and a PNG contact sheet a person can read:
// frames enlarged to about 96 pixels high, each ground truth row ("real") above its sample rows ("s0 21.3dB":
// the sample's mean PSNR), frame numbers with p/g (primed/generated) above. Long samples (sliding windows,
// docs/design.md §12) show the real video beside the sample with frame numbers, and mark where each window
// begins adding frames (sideBySide, contactSheet's strips and magenta lines).
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

    /// UInt8 video [frames, height, width, 3] → MP4 (H.264, yuv420p, plays everywhere; an odd side once scaled
    /// gets one padding pixel, as yuv420p needs even sides).
    public static func writeMP4(_ video: [UInt8], frames: Int, height: Int, width: Int, to path: String,
                                scale: Int = 4, framesPerSecond: Int = 4) throws {
        try encode(video, frames: frames, height: height, width: width, to: path, extension: "mp4", arguments: [
            "-vf", "scale=iw*\(scale):ih*\(scale):flags=neighbor,pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
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

    /// One PNG of the pixels `contactSheet` lays out. `psnr[video][sample]`, when given, is the sample's mean
    /// PSNR over its generated frames, printed in the row's label.
    public static func writeContactSheet(groundTruth: [[UInt8]], samples: [[[UInt8]]], frames: Int, height: Int, width: Int,
                                         primeFrames: Set<Int>, windows: SlidingWindows? = nil, psnr: [[Double]]? = nil,
                                         to path: String) throws {
        let sheet = contactSheet(groundTruth: groundTruth, samples: samples, frames: frames, height: height, width: width,
                                 primeFrames: primeFrames, windows: windows, psnr: psnr)
        try FFmpeg.writePNG(sheet.pixels, width: sheet.width, height: sheet.height, to: path)
    }

    /// How many times a contact sheet enlarges frames `height` pixels high: the least integer that makes them at
    /// least `sheetFrameHeight` (96) pixels high (32 → 3, 64 → 2, 96 or more → 1), nearest neighbour.
    public static func sheetScale(height: Int) -> Int {
        precondition(height >= 1)
        return max(1, (sheetFrameHeight + height - 1) / height)
    }
    public static let sheetFrameHeight = 96
    /// The contact sheet's text (labels, frame numbers) is drawn at this scale: glyphs 6×10 pixels.
    public static let sheetTextScale = 2

    /// The label at the left of a sheet's rows: "real", then "s<k>" with the sample's mean PSNR over its
    /// generated frames to one decimal ("s0 21.3dB"; "s0 inf" for a perfect copy), or just "s<k>" without scores.
    public static func rowLabel(sample: Int?, psnr: Double?) -> String {
        guard let sample else { return "real" }
        guard let psnr, !psnr.isNaN else { return "s\(sample)" }
        return psnr.isFinite ? "s\(sample) " + String(format: "%.1f", psnr) + "dB" : "s\(sample) inf"
    }

    /// A frame's header on the sheet: its number t and "p" if it is primed (given), "g" if generated.
    public static func frameHeader(_ frame: Int, primed: Bool) -> (number: String, mark: String) {
        (String(frame), primed ? "p" : "g")
    }

    /// The geometry of a contact sheet, shared by `contactSheet` and the tests that read it back.
    public struct SheetLayout: Sendable {
        public let scale: Int, frameWidth: Int, frameHeight: Int   // frames as drawn (scaled)
        public let gap = 2, bar = 2, videoGap = 8, pad = 4
        public let labelWidth: Int        // the label column, left of the frames
        public let headerHeight: Int      // the line of frame numbers and p/g marks above a strip's rows
        public let strips: [Range<Int>]
        public let samples: [Int]         // samples per video
        public let width: Int, height: Int
        public var textHeight: Int { PixelFont.height(scale: VideoExport.sheetTextScale) }

        public init(frames: Int, height: Int, width: Int, samples: [Int], labels: [String], framesPerStrip: Int) {
            scale = VideoExport.sheetScale(height: height)
            frameWidth = width * scale; frameHeight = height * scale
            let text = VideoExport.sheetTextScale
            labelWidth = (labels + ["t"]).map { PixelFont.width($0, scale: text) }.max()! + 2 * pad
            headerHeight = PixelFont.height(scale: text) + 2 * gap
            strips = VideoExport.strips(frames: frames, framesPerStrip: framesPerStrip)
            self.samples = samples
            self.width = labelWidth + strips[0].count * (frameWidth + gap)
            let (strip, perRow, fixed) = (strips.count, frameHeight + gap, headerHeight + bar + gap)
            self.height = gap + samples.map { strip * (fixed + (1 + $0) * perRow) }.reduce(0, +) + videoGap * max(0, samples.count - 1)
        }

        /// The left edge of `frame`'s cell in `strip` (the 2-pixel gap before it is at left - 2 ..< left).
        public func left(_ frame: Int, in strip: Range<Int>) -> Int { labelWidth + gap + (frame - strip.lowerBound) * (frameWidth + gap) }
        /// The top of every strip of video `video`: its header line; the real row starts headerHeight below.
        public func stripTop(video: Int, strip: Int) -> Int {
            let before = samples[..<video].map { strips.count * stripHeight($0) + videoGap }.reduce(0, +)
            return gap + before + strip * stripHeight(samples[video])
        }
        public func stripHeight(_ samples: Int) -> Int { headerHeight + (1 + samples) * (frameHeight + gap) + bar + gap }
        /// The top of row `row` (0 the real video, 1 + k sample k) of a strip whose header is at `stripTop`.
        public func rowTop(_ row: Int, stripTop: Int) -> Int { stripTop + headerHeight + row * (frameHeight + gap) }
        /// Where a row's label is drawn: `pad` from the left, centred on the row.
        public func labelOrigin(rowTop: Int) -> (x: Int, y: Int) { (pad, rowTop + (frameHeight - textHeight) / 2) }
    }

    /// The contact sheet's pixels. Each video is wrapped into strips of at most `framesPerStrip` frames (`strips`;
    /// one strip for a clip of the model's length), one under the other, the videos 8 pixels apart. A strip is:
    /// a header line with, over each frame, its number t (grey) and "p" (white) if it is primed or "g" (grey) if
    /// generated, "t" in the label column; the real row, labelled "real"; one row per sample, labelled
    /// `rowLabel` ("s0 21.3dB" with `psnr[video][sample]`); and a white bar under the primed frames. Frames are
    /// enlarged `sheetScale` times (nearest neighbour) with 2-pixel gaps; text is 3×5 glyphs at scale 2.
    /// Long samples (windows.count > 1): a magenta line fills the gap before the first frame each window adds,
    /// from the header to the bar, and that frame's number is magenta.
    public static func contactSheet(groundTruth: [[UInt8]], samples: [[[UInt8]]], frames: Int, height: Int, width: Int,
                                    primeFrames: Set<Int>, windows: SlidingWindows? = nil, psnr: [[Double]]? = nil,
                                    framesPerStrip: Int = VideoExport.framesPerStrip) -> Picture {
        precondition(groundTruth.count == samples.count && !samples.isEmpty)
        if let windows { precondition(windows.videoFrames == frames) }
        if let psnr { precondition(psnr.count == samples.count && zip(psnr, samples).allSatisfy { $0.count >= $1.count }) }
        let labels = samples.enumerated().map { v, rows in
            [rowLabel(sample: nil, psnr: nil)] + rows.indices.map { rowLabel(sample: $0, psnr: psnr?[v][$0]) }
        }
        let layout = SheetLayout(frames: frames, height: height, width: width, samples: samples.map(\.count),
                                 labels: labels.flatMap { $0 }, framesPerStrip: framesPerStrip)
        let (gap, bar, text) = (layout.gap, layout.bar, sheetTextScale)
        let starts = Set(windows.map(firstNewFrames) ?? [])
        var sheet = [UInt8](repeating: background, count: layout.width * layout.height * 3)
        for (video, (truth, rows)) in zip(groundTruth, samples).enumerated() {
            for (stripIndex, strip) in layout.strips.enumerated() {
                let top = layout.stripTop(video: video, strip: stripIndex)
                let barTop = layout.rowTop(1 + rows.count, stripTop: top) - gap
                PixelFont.draw("t", x: layout.pad, y: top + gap, scale: text, color: labelColor, into: &sheet, imageWidth: layout.width)
                for (row, label) in labels[video].enumerated() {
                    let origin = layout.labelOrigin(rowTop: layout.rowTop(row, stripTop: top))
                    PixelFont.draw(label, x: origin.x, y: origin.y, scale: text, color: labelColor, into: &sheet, imageWidth: layout.width)
                }
                for frame in strip {
                    let x0 = layout.left(frame, in: strip)
                    for (row, video) in ([truth] + rows).enumerated() {
                        blit(video, frame: frame, height: height, width: width, scale: layout.scale, into: &sheet, sheetWidth: layout.width,
                             x0: x0, y0: layout.rowTop(row, stripTop: top))
                    }
                    let primed = primeFrames.contains(frame)
                    if primed {
                        fill(&sheet, sheetWidth: layout.width, x: x0..<(x0 + layout.frameWidth), y: barTop..<(barTop + bar), color: primedColor)
                    }
                    if starts.contains(frame) {
                        fill(&sheet, sheetWidth: layout.width, x: (x0 - gap)..<x0, y: top..<(barTop + bar), color: windowColor)
                    }
                    // The header: number then mark, a space apart, a glyph pixel clear of the line; left out where
                    // the cell is too narrow for them.
                    let header = frameHeader(frame, primed: primed), x = x0 + text
                    let markX = x + PixelFont.width(header.number + " ", scale: text) + text
                    if markX + PixelFont.width(header.mark, scale: text) <= x0 + layout.frameWidth {
                        PixelFont.draw(header.mark, x: markX, y: top + gap, scale: text, color: primed ? primedColor : labelColor,
                                       into: &sheet, imageWidth: layout.width)
                    }
                    if x + PixelFont.width(header.number, scale: text) <= x0 + layout.frameWidth + gap {
                        PixelFont.draw(header.number, x: x, y: top + gap, scale: text, color: starts.contains(frame) ? windowColor : labelColor,
                                       into: &sheet, imageWidth: layout.width)
                    }
                }
            }
        }
        return Picture(pixels: sheet, width: layout.width, height: layout.height)
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

    /// The scale for a GIF/MP4 of frames `width`×`height`: 4, or less (at least 1) so neither side exceeds
    /// `maxSide` pixels — 64×64 frames play at 256×256, a long sample's 134×73 side-by-side view at 402×219.
    public static func viewScale(width: Int, height: Int, maxSide: Int = 512) -> Int {
        max(1, min(4, maxSide / max(width, height)))
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
        blit(video, frame: frame, height: height, width: width, scale: 1, into: &sheet, sheetWidth: sheetWidth, x0: x0, y0: y0)
    }

    /// The same, each pixel enlarged to a `scale`×`scale` square (nearest neighbour).
    static func blit(_ video: [UInt8], frame: Int, height: Int, width: Int, scale: Int, into sheet: inout [UInt8], sheetWidth: Int, x0: Int, y0: Int) {
        guard scale > 1 else { blitRows(video, frame: frame, height: height, width: width, into: &sheet, sheetWidth: sheetWidth, x0: x0, y0: y0); return }
        var line = [UInt8](repeating: 0, count: width * scale * 3)
        for y in 0..<height {
            let source = ((frame * height + y) * width) * 3
            for x in 0..<width {
                for d in 0..<scale {
                    let o = (x * scale + d) * 3
                    line[o] = video[source + x * 3]; line[o + 1] = video[source + x * 3 + 1]; line[o + 2] = video[source + x * 3 + 2]
                }
            }
            for d in 0..<scale {
                let target = ((y0 + y * scale + d) * sheetWidth + x0) * 3
                sheet.replaceSubrange(target..<(target + line.count), with: line)
            }
        }
    }

    static func blitRows(_ video: [UInt8], frame: Int, height: Int, width: Int, into sheet: inout [UInt8], sheetWidth: Int, x0: Int, y0: Int) {
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
