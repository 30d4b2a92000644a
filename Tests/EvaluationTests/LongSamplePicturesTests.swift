// The pictures of long samples (issue 22), tested on their pixels before any encoding: the contact sheet's
// magenta lines sit in the gaps before the frames the windows say each window begins adding, long videos wrap
// into strips that show the right frames, the frame numbers read back as the right numbers (a reader matches
// the font's glyphs), the GIF/MP4 frames hold the real frame left and the sample right with the marked
// borders, and a one-window sheet is pixel for pixel what the sheet was before long samples (the old function,
// kept below as it was at commit b40751e).

import Foundation
import Testing
import Evaluation
import VideoModel

@Suite struct LongSamplePicturesTests {
    typealias RGB = (UInt8, UInt8, UInt8)

    /// A video whose frame f is flat (base + f, 7, 7): a pixel says which frame and which video it came from,
    /// and green 7 is in none of the marks' colours nor the background.
    func flat(frames: Int, height: Int, width: Int, base: Int) -> [UInt8] {
        (0..<frames).flatMap { f in (0..<(height * width)).flatMap { _ in [UInt8(base + f), 7, 7] } }
    }

    func isFrame(_ rgb: RGB) -> Bool { rgb.1 == 7 }
    var background: RGB { (VideoExport.background, VideoExport.background, VideoExport.background) }

    func pixel(_ picture: VideoExport.Picture, _ x: Int, _ y: Int) -> RGB {
        let o = (y * picture.width + x) * 3
        return (picture.pixels[o], picture.pixels[o + 1], picture.pixels[o + 2])
    }

    func same(_ a: RGB, _ b: RGB) -> Bool { a.0 == b.0 && a.1 == b.1 && a.2 == b.2 }

    /// The number drawn in `color` at (x, y) at `scale`, read glyph by glyph against the font's masks until a
    /// glyph cell is empty; nil if a cell matches no glyph.
    func readNumber(_ picture: VideoExport.Picture, x: Int, y: Int, scale: Int, color: RGB) -> String? {
        var text = "", left = x
        while left + PixelFont.width("0", scale: scale) <= picture.width {
            let cell = (0..<PixelFont.glyphHeight).map { row in
                (0..<PixelFont.glyphWidth).map { column in same(pixel(picture, left + column * scale, y + row * scale), color) }
            }
            if cell.joined().allSatisfy({ !$0 }) { break }
            guard let glyph = PixelFont.characters.first(where: { PixelFont.mask(String($0)) == cell }) else { return nil }
            text.append(glyph)
            left += (PixelFont.glyphWidth + 1) * scale
        }
        return text
    }

    /// The windows of an N-frame video under a T-frame model primed at frame 0.
    func windows(_ n: Int, _ t: Int, stride k: Int) throws -> SlidingWindows {
        try SlidingWindows(videoFrames: n, clipFrames: t, stride: k, first: FramePriming([0], clipFrames: t))
    }

    @Test func firstNewFramesAreWhereTheWindowsBeginAdding() throws {
        #expect(VideoExport.firstNewFrames(try windows(32, 8, stride: 4)) == [8, 12, 16, 20, 24, 28])
        // The last window adds the 2 frames left: it begins adding at 20 (starting at 14, 6 frames primed).
        #expect(VideoExport.firstNewFrames(try windows(22, 8, stride: 4)) == [8, 12, 16, 20])
        #expect(VideoExport.firstNewFrames(.single(FramePriming([0], clipFrames: 8))) == [])
    }

    @Test func stripsWrapIntoEvenPiecesOfAtMost32() {
        #expect(VideoExport.strips(frames: 22, framesPerStrip: 32) == [0..<22])
        #expect(VideoExport.strips(frames: 32, framesPerStrip: 32) == [0..<32])
        #expect(VideoExport.strips(frames: 33, framesPerStrip: 32) == [0..<17, 17..<33])
        #expect(VideoExport.strips(frames: 40, framesPerStrip: 32) == [0..<20, 20..<40])
        #expect(VideoExport.strips(frames: 96, framesPerStrip: 32) == [0..<32, 32..<64, 64..<96])
        #expect(VideoExport.strips(frames: 100, framesPerStrip: 32) == [0..<25, 25..<50, 50..<75, 75..<100])
    }

    @Test func glyphsAreDistinct() {
        let masks = PixelFont.characters.map { PixelFont.mask(String($0)) }
        #expect(Set(masks.map { $0.map { $0.map { $0 ? "#" : "." }.joined() }.joined(separator: "|") }).count == 11)
        #expect(PixelFont.width("128", scale: 2) == 22 && PixelFont.mask("128").first?.count == 11)
    }

    /// One strip: the magenta lines fill exactly the gap columns before the frames the windows begin adding at,
    /// on every row of real and sampled frames; every frame sits in its cell; the numbers read back.
    @Test func windowLinesSitInTheGapsTheWindowsName() throws {
        let (n, h, w, gap) = (22, 16, 12, 2)
        let slid = try windows(n, 8, stride: 4)
        let sheet = VideoExport.contactSheet(groundTruth: [flat(frames: n, height: h, width: w, base: 10)],
                                             samples: [[flat(frames: n, height: h, width: w, base: 100), flat(frames: n, height: h, width: w, base: 150)]],
                                             frames: n, height: h, width: w, primeFrames: [0], windows: slid)
        #expect(sheet.width == n * (w + gap) + gap)
        let lineColumns = Set([8, 12, 16, 20].flatMap { f in (gap + f * (w + gap) - gap)..<(gap + f * (w + gap)) })
        // Rows of frames: where frame 0's cell holds the real video (10) or a sample (100, 150).
        let frameRows = (0..<sheet.height).filter { y in isFrame(pixel(sheet, gap, y)) }
        #expect(frameRows.count == 3 * h)
        for y in frameRows {
            let base = Int(pixel(sheet, gap, y).0)
            let magenta = Set((0..<sheet.width).filter { same(pixel(sheet, $0, y), VideoExport.windowColor) })
            #expect(magenta == lineColumns, "row \(y): magenta columns \(magenta.sorted())")
            for f in 0..<n { #expect(Int(pixel(sheet, gap + f * (w + gap) + w / 2, y).0) == base + f, "row \(y): frame \(f)'s cell") }
        }
        // Numbers above the real row: 0 (grey) at the strip's first frame, then each window's first new frame in magenta.
        let numberTop = try #require((0..<frameRows[0]).first { y in (gap..<(gap + w)).contains { same(pixel(sheet, $0, y), VideoExport.labelColor) } })
        #expect(readNumber(sheet, x: gap + 1, y: numberTop, scale: 1, color: VideoExport.labelColor) == "0")
        for f in [8, 12, 16, 20] {
            #expect(readNumber(sheet, x: gap + f * (w + gap) + 1, y: numberTop, scale: 1, color: VideoExport.windowColor) == String(f))
        }
        // The primed-frame bar: white under frame 0 only, below the last sample row.
        let barRows = (frameRows.last! + 1..<sheet.height).filter { same(pixel(sheet, gap, $0), VideoExport.primedColor) }
        #expect(barRows.count == 2)
        #expect(!(frameRows.last! + 1..<sheet.height).contains { same(pixel(sheet, gap + w + gap, $0), VideoExport.primedColor) })
    }

    /// 40 frames in strips of at most 16: three strips (0..<14, 14..<28, 28..<40) per video, each with the real
    /// row and the sample row of its frames, numbered from its first frame; a window beginning at a strip's
    /// first frame (28) puts its line at the strip's left edge. Two videos: six strips, in order.
    @Test func longVideosWrapIntoNumberedStrips() throws {
        let (n, h, w, gap) = (40, 32, 32, 2)
        let slid = try windows(n, 8, stride: 4)
        let sheet = VideoExport.contactSheet(groundTruth: [flat(frames: n, height: h, width: w, base: 10), flat(frames: n, height: h, width: w, base: 60)],
                                             samples: [[flat(frames: n, height: h, width: w, base: 110)], [flat(frames: n, height: h, width: w, base: 160)]],
                                             frames: n, height: h, width: w, primeFrames: [0], windows: slid, framesPerStrip: 16)
        #expect(sheet.width == 14 * (w + gap) + gap)
        // The first row of each frame row: the top row of a run of rows holding a frame in the first cell.
        let frameTops = (0..<sheet.height).filter { y in isFrame(pixel(sheet, gap, y)) && (y == 0 || !isFrame(pixel(sheet, gap, y - 1))) }
        let firstFrames = frameTops.map { Int(pixel(sheet, gap, $0).0) }
        #expect(firstFrames == [10, 110, 24, 124, 38, 138, 60, 160, 74, 174, 88, 188], "\(firstFrames)")
        let strips = [0..<14, 14..<28, 28..<40]
        for (index, top) in frameTops.enumerated() where index % 2 == 0 {
            let strip = strips[(index / 2) % 3], base = index < 6 ? 10 : 60
            for (j, f) in strip.enumerated() { #expect(Int(pixel(sheet, gap + j * (w + gap) + 1, top).0) == base + f) }
            let rest = (strip.count..<14).map { gap + $0 * (w + gap) + 1 }
            #expect(rest.allSatisfy { same(pixel(sheet, $0, top), background) }, "strip \(strip) holds only its frames")
            // Its number, at scale 2 (frames 32 pixels high): magenta when a window begins adding there.
            let color = [8, 12, 16, 20, 24, 28, 32, 36].contains(strip.lowerBound) ? VideoExport.windowColor : VideoExport.labelColor
            let numberBottom = try #require((0..<top).last { y in (gap..<(gap + w / 2)).contains { same(pixel(sheet, $0, y), color) } })
            let numberTop = numberBottom - (PixelFont.height(scale: 2) - 1)
            #expect(readNumber(sheet, x: gap + 2, y: numberTop, scale: 2, color: color) == String(strip.lowerBound), "strip \(strip)")
            let lines = (0..<gap).allSatisfy { same(pixel(sheet, $0, top), VideoExport.windowColor) }
            #expect(lines == (strip.lowerBound == 28), "strip \(strip): line at its left edge \(lines)")
        }
    }

    /// The GIF/MP4 frames of a long sample: real frame left, sample right, the sample's border magenta on the
    /// first frame each window adds and white on the primed frame, and the frame number under the real frame.
    @Test func sideBySideFramesCarryTheirNumberAndWindowMarks() throws {
        let (n, h, w) = (22, 16, 12)
        let view = VideoExport.sideBySide(real: flat(frames: n, height: h, width: w, base: 10), sample: flat(frames: n, height: h, width: w, base: 100),
                                          frames: n, height: h, width: w, primeFrames: [0], windows: try windows(n, 8, stride: 4))
        #expect(view.width == 2 * (w + 2) + 2 && view.height == h + 2 + 7)
        #expect(view.video.count == n * view.width * view.height * 3)
        let frameBytes = view.width * view.height * 3
        for f in 0..<n {
            let frame = VideoExport.Picture(pixels: Array(view.video[(f * frameBytes)..<((f + 1) * frameBytes)]), width: view.width, height: view.height)
            #expect(Int(pixel(frame, 1 + w / 2, 1 + h / 2).0) == 10 + f && Int(pixel(frame, w + 4 + 1 + w / 2, 1 + h / 2).0) == 100 + f)
            let starts = [8, 12, 16, 20].contains(f)
            let border: RGB = starts ? VideoExport.windowColor : f == 0 ? VideoExport.primedColor : background
            for (x, y) in [(w + 4, 0), (w + 4, h + 1), (2 * w + 5, h / 2), (w + 4 + w / 2, 0)] {
                #expect(same(pixel(frame, x, y), border), "frame \(f): border pixel (\(x), \(y))")
            }
            #expect(same(pixel(frame, 0, 0), background), "frame \(f): the real frame is unmarked")
            let color = starts ? VideoExport.windowColor : VideoExport.labelColor
            #expect(readNumber(frame, x: 1, y: h + 3, scale: 1, color: color) == String(f), "frame \(f)'s number")
        }
    }

    /// One window — no windows, or a single one — draws the sheet the old function drew, byte for byte.
    @Test func oneWindowSheetsAreTheOldOnes() {
        let cases: [(frames: Int, height: Int, width: Int, samples: [Int], prime: Set<Int>)] = [
            (6, 16, 16, [1, 3], [0, 3]), (8, 12, 20, [4], [0]), (4, 32, 32, [2, 1, 1], []), (5, 9, 7, [1], [0, 4]),
        ]
        for (index, c) in cases.enumerated() {
            var state = UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15
            func video() -> [UInt8] {
                (0..<(c.frames * c.height * c.width * 3)).map { _ in
                    state ^= state << 13; state ^= state >> 7; state ^= state << 17
                    return UInt8(truncatingIfNeeded: state >> 24)
                }
            }
            let truths = c.samples.map { _ in video() }, samples = c.samples.map { k in (0..<k).map { _ in video() } }
            let old = legacyContactSheet(groundTruth: truths, samples: samples, frames: c.frames, height: c.height, width: c.width, primeFrames: c.prime)
            for windows in [nil, SlidingWindows.single(FramePriming(Array(c.prime), clipFrames: c.frames))] {
                let new = VideoExport.contactSheet(groundTruth: truths, samples: samples, frames: c.frames, height: c.height, width: c.width,
                                                   primeFrames: c.prime, windows: windows)
                #expect(new.width == old.width && new.height == old.height)
                #expect(new.pixels == old.pixels, "case \(index), windows \(String(describing: windows))")
            }
        }
    }

    /// VideoExport.writeContactSheet as it was at commit b40751e, returning the pixels it gave FFmpeg.writePNG.
    func legacyContactSheet(groundTruth: [[UInt8]], samples: [[[UInt8]]], frames: Int, height: Int, width: Int,
                            primeFrames: Set<Int>) -> (pixels: [UInt8], width: Int, height: Int) {
        precondition(groundTruth.count == samples.count)
        let gap = 2, bar = 2
        let sheetWidth = frames * (width + gap) + gap
        let rowHeight = height + gap
        let blockHeights = samples.map { (1 + $0.count) * rowHeight + bar + gap }
        let sheetHeight = blockHeights.reduce(gap, +)
        var sheet = [UInt8](repeating: 24, count: sheetWidth * sheetHeight * 3)
        func blit(_ video: [UInt8], frame: Int, x0: Int, y0: Int) {
            for y in 0..<height {
                let source = ((frame * height + y) * width) * 3, target = ((y0 + y) * sheetWidth + x0) * 3
                sheet.replaceSubrange(target..<(target + width * 3), with: video[source..<(source + width * 3)])
            }
        }
        var top = gap
        for (index, (truth, rows)) in zip(groundTruth, samples).enumerated() {
            let barTop = top + (1 + rows.count) * rowHeight - gap
            for frame in 0..<frames {
                let x0 = gap + frame * (width + gap)
                blit(truth, frame: frame, x0: x0, y0: top)
                for (r, sample) in rows.enumerated() { blit(sample, frame: frame, x0: x0, y0: top + (1 + r) * rowHeight) }
                if primeFrames.contains(frame) {
                    for y in barTop..<(barTop + bar) {
                        for x in x0..<(x0 + width) { for ch in 0..<3 { sheet[(y * sheetWidth + x) * 3 + ch] = 255 } }
                    }
                }
            }
            top += blockHeights[index]
        }
        return (sheet, sheetWidth, sheetHeight)
    }
}
