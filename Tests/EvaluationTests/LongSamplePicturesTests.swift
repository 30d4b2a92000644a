// The pictures of samples (issues 22 and 23), tested on their pixels before any encoding: contact-sheet frames
// are enlarged by the factor their size calls for (nearest neighbour), every row carries its label ("real",
// "s0 21.3dB") and every frame its number and p/g mark, read back glyph by glyph (PixelFont.read); the magenta
// lines of long samples sit in the gaps before the frames the windows say each window begins adding; long
// videos wrap into strips that show the right frames; the GIF/MP4 frames hold the real frame left and the
// sample right with the marked borders; a one-window sheet is the same whether or not it is given its window.

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

    /// The text drawn in `color` at (x, y) at `scale` (PixelFont.read).
    func readNumber(_ picture: VideoExport.Picture, x: Int, y: Int, scale: Int, color: RGB) -> String? {
        PixelFont.read(picture.pixels, imageWidth: picture.width, x: x, y: y, scale: scale, color: color)
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
        #expect(Set(masks.map { $0.map { $0.map { $0 ? "#" : "." }.joined() }.joined(separator: "|") }).count == PixelFont.characters.count)
        #expect(PixelFont.characters.isSuperset(of: "0123456789/.- realsdBinftpg"))
        #expect(PixelFont.width("128", scale: 2) == 22 && PixelFont.mask("128").first?.count == 11)
    }

    @Test func framesAreEnlargedToAbout96PixelsHigh() {
        #expect([32, 64, 96, 128, 16, 12, 48, 1].map(VideoExport.sheetScale(height:)) == [3, 2, 1, 1, 6, 8, 2, 96])
        // A 32×32 frame whose pixel (x, y) is (x, 7, y + 40 f): on the sheet, frame f's pixel (X, Y) is the
        // frame's (X / 3, Y / 3), each source pixel a 3×3 square, the cell exactly 96×96.
        let (n, h, w) = (2, 32, 32)
        let video: [UInt8] = (0..<n).flatMap { f -> [UInt8] in (0..<h).flatMap { y -> [UInt8] in (0..<w).flatMap { x -> [UInt8] in [UInt8(x), 7, UInt8(y + 40 * f)] } } }
        let sheet = VideoExport.contactSheet(groundTruth: [video], samples: [[video]], frames: n, height: h, width: w, primeFrames: [0])
        let layout = VideoExport.SheetLayout(frames: n, height: h, width: w, samples: [1], labels: ["real", "s0"], framesPerStrip: 32)
        #expect(layout.scale == 3 && layout.frameWidth == 96 && layout.frameHeight == 96)
        #expect(sheet.width == layout.width && sheet.height == layout.height)
        for row in 0..<2 {
            let top = layout.rowTop(row, stripTop: layout.stripTop(video: 0, strip: 0))
            for f in 0..<n {
                let left = layout.left(f, in: 0..<n)
                for Y in 0..<96 {
                    for X in 0..<96 {
                        let p = pixel(sheet, left + X, top + Y)
                        if !(Int(p.0) == X / 3 && p.1 == 7 && Int(p.2) == Y / 3 + 40 * f) {
                            Issue.record("row \(row) frame \(f): pixel (\(X), \(Y)) is \(p)"); return
                        }
                    }
                }
                // The cell ends there: the gap after it and the rows above and below are no frame.
                #expect(!isFrame(pixel(sheet, left + 96, top)) && !isFrame(pixel(sheet, left - 1, top)))
                #expect(!isFrame(pixel(sheet, left, top - 1)) && !isFrame(pixel(sheet, left, top + 96)))
            }
        }
    }

    @Test func rowLabelsSayRealAndTheSamplesPSNR() {
        #expect(VideoExport.rowLabel(sample: nil, psnr: 30) == "real")
        #expect(VideoExport.rowLabel(sample: 0, psnr: 21.34) == "s0 21.3dB")
        #expect(VideoExport.rowLabel(sample: 3, psnr: 9.96) == "s3 10.0dB")
        #expect(VideoExport.rowLabel(sample: 1, psnr: .infinity) == "s1 inf")
        #expect(VideoExport.rowLabel(sample: 2, psnr: nil) == "s2")
    }

    /// Two videos of 5 frames (16×12, enlarged 6×), 2 and 1 samples with PSNRs, frames 0 and 3 primed: each row's
    /// label reads back on that row (its glyphs inside the row's frames' height), the header says t, then each
    /// frame's number and g over generated frames (grey) and p over primed ones (white) in that frame's cell.
    @Test func labelsAndFrameHeadersReadBackWhereTheyBelong() throws {
        let (n, h, w) = (5, 16, 12)
        let psnr = [[21.34, 9.96], [17.06]]
        let sheet = VideoExport.contactSheet(groundTruth: [flat(frames: n, height: h, width: w, base: 10), flat(frames: n, height: h, width: w, base: 60)],
                                             samples: [[flat(frames: n, height: h, width: w, base: 100), flat(frames: n, height: h, width: w, base: 150)],
                                                       [flat(frames: n, height: h, width: w, base: 200)]],
                                             frames: n, height: h, width: w, primeFrames: [0, 3], psnr: psnr)
        let labels = [["real", "s0 21.3dB", "s1 10.0dB"], ["real", "s0 17.1dB"]]
        let layout = VideoExport.SheetLayout(frames: n, height: h, width: w, samples: [2, 1], labels: labels.flatMap { $0 }, framesPerStrip: 32)
        #expect(layout.scale == 6 && sheet.width == layout.width && sheet.height == layout.height)
        #expect(layout.labelWidth == PixelFont.width("s0 21.3dB", scale: 2) + 8)
        let grey = VideoExport.labelColor, white = VideoExport.primedColor
        for (v, rows) in labels.enumerated() {
            let top = layout.stripTop(video: v, strip: 0)
            for (r, label) in rows.enumerated() {
                let rowTop = layout.rowTop(r, stripTop: top)
                // The row holds video v's row r (red: 10/60 real, 100/150/200 samples) and the label beside it.
                #expect(Int(pixel(sheet, layout.left(0, in: 0..<n), rowTop).0) == [[10, 100, 150], [60, 200]][v][r])
                let labelRows = (0..<sheet.height).filter { y in (0..<layout.labelWidth).contains { same(pixel(sheet, $0, y), grey) } }
                let here = labelRows.filter { (rowTop..<(rowTop + layout.frameHeight)).contains($0) }
                #expect(here.count == 10, "video \(v) row \(r): label rows \(here)")
                #expect(readNumber(sheet, x: layout.pad, y: here.first ?? 0, scale: 2, color: grey) == label, "video \(v) row \(r)")
            }
            // Header line: "t" in the label column; over each frame its number (grey), then p (white) or g (grey).
            let headerY = top + layout.gap
            #expect(headerY + 10 <= layout.rowTop(0, stripTop: top))
            #expect(readNumber(sheet, x: layout.pad, y: headerY, scale: 2, color: grey) == "t")
            for f in 0..<n {
                let left = layout.left(f, in: 0..<n), cell = left..<(left + layout.frameWidth)
                let primed = [0, 3].contains(f)
                #expect(readNumber(sheet, x: left + 2, y: headerY, scale: 2, color: grey) == (primed ? "\(f)" : "\(f) g"), "frame \(f)")
                let whiteColumns = (0..<sheet.width).filter { x in (headerY..<(headerY + 10)).contains { same(pixel(sheet, x, $0), white) } }
                let inCell = whiteColumns.filter { cell.contains($0) }
                #expect(inCell.isEmpty != primed, "frame \(f): white header columns \(inCell)")
                if let first = inCell.first { #expect(readNumber(sheet, x: first, y: headerY, scale: 2, color: white) == "p") }
                #expect(whiteColumns.allSatisfy { x in [0, 3].contains { layout.left($0, in: 0..<n) <= x && x < layout.left($0, in: 0..<n) + layout.frameWidth } })
            }
            // The white bar under the primed frames, below the last sample row.
            let barY = layout.rowTop(rows.count - 1, stripTop: top) + layout.frameHeight  // rows: real and the samples
            for f in 0..<n {
                let marked = (0..<layout.bar).contains { same(pixel(sheet, layout.left(f, in: 0..<n) + 5, barY + $0), white) }
                #expect(marked == [0, 3].contains(f), "frame \(f): bar")
            }
        }
        // Without scores the sample rows say just s0, s1.
        let plain = VideoExport.contactSheet(groundTruth: [flat(frames: n, height: h, width: w, base: 10)],
                                             samples: [[flat(frames: n, height: h, width: w, base: 100)]], frames: n, height: h, width: w, primeFrames: [0])
        let plainLayout = VideoExport.SheetLayout(frames: n, height: h, width: w, samples: [1], labels: ["real", "s0"], framesPerStrip: 32)
        let origin = plainLayout.labelOrigin(rowTop: plainLayout.rowTop(1, stripTop: plainLayout.stripTop(video: 0, strip: 0)))
        #expect(plain.width == plainLayout.width && readNumber(plain, x: origin.x, y: origin.y, scale: 2, color: grey) == "s0")
    }

    /// One strip: the magenta lines fill exactly the gap columns before the frames the windows begin adding at,
    /// on every row of real and sampled frames; every frame sits in its cell; those frames' numbers are magenta.
    @Test func windowLinesSitInTheGapsTheWindowsName() throws {
        let (n, h, w) = (22, 16, 12)
        let slid = try windows(n, 8, stride: 4)
        let sheet = VideoExport.contactSheet(groundTruth: [flat(frames: n, height: h, width: w, base: 10)],
                                             samples: [[flat(frames: n, height: h, width: w, base: 100), flat(frames: n, height: h, width: w, base: 150)]],
                                             frames: n, height: h, width: w, primeFrames: [0], windows: slid)
        let layout = VideoExport.SheetLayout(frames: n, height: h, width: w, samples: [2], labels: ["real", "s0", "s1"], framesPerStrip: 32)
        let strip = 0..<n, gap = layout.gap
        #expect(sheet.width == layout.width && sheet.width == layout.labelWidth + n * (6 * w + gap))
        let lineColumns = Set([8, 12, 16, 20].flatMap { f in (layout.left(f, in: strip) - gap)..<layout.left(f, in: strip) })
        // Rows of frames: where frame 0's cell holds the real video (10) or a sample (100, 150).
        let frameRows = (0..<sheet.height).filter { y in isFrame(pixel(sheet, layout.left(0, in: strip), y)) }
        #expect(frameRows.count == 3 * 6 * h)
        for y in frameRows {
            let base = Int(pixel(sheet, layout.left(0, in: strip), y).0)
            let magenta = Set((0..<sheet.width).filter { same(pixel(sheet, $0, y), VideoExport.windowColor) })
            #expect(magenta == lineColumns, "row \(y): magenta columns \(magenta.sorted())")
            for f in 0..<n { #expect(Int(pixel(sheet, layout.left(f, in: strip) + 3 * w, y).0) == base + f, "row \(y): frame \(f)'s cell") }
        }
        let headerY = layout.stripTop(video: 0, strip: 0) + gap
        for f in 0..<n {
            let starts = [8, 12, 16, 20].contains(f)
            let number = readNumber(sheet, x: layout.left(f, in: strip) + 2, y: headerY, scale: 2, color: starts ? VideoExport.windowColor : VideoExport.labelColor)
            #expect(number == (starts ? "\(f)" : f == 0 ? "0" : "\(f) g"), "frame \(f)'s header")
        }
    }

    /// 40 frames in strips of at most 16: three strips (0..<14, 14..<28, 28..<40) per video, each with the real
    /// row and the sample row of its frames, its own header and labels; a window beginning at a strip's first
    /// frame (28) puts its line at the strip's left edge, in the label column's gap. Two videos: six strips, in order.
    @Test func longVideosWrapIntoNumberedStrips() throws {
        let (n, h, w) = (40, 32, 32)
        let slid = try windows(n, 8, stride: 4)
        let sheet = VideoExport.contactSheet(groundTruth: [flat(frames: n, height: h, width: w, base: 10), flat(frames: n, height: h, width: w, base: 60)],
                                             samples: [[flat(frames: n, height: h, width: w, base: 110)], [flat(frames: n, height: h, width: w, base: 160)]],
                                             frames: n, height: h, width: w, primeFrames: [0], windows: slid, framesPerStrip: 16)
        let layout = VideoExport.SheetLayout(frames: n, height: h, width: w, samples: [1, 1], labels: ["real", "s0"], framesPerStrip: 16)
        #expect(layout.strips == [0..<14, 14..<28, 28..<40])
        #expect(sheet.width == layout.width && sheet.width == layout.labelWidth + 14 * (96 + 2) && sheet.height == layout.height)
        let x0 = layout.left(0, in: 0..<14)
        let frameTops = (0..<sheet.height).filter { y in isFrame(pixel(sheet, x0, y)) && (y == 0 || !isFrame(pixel(sheet, x0, y - 1))) }
        let firstFrames = frameTops.map { Int(pixel(sheet, x0, $0).0) }
        #expect(firstFrames == [10, 110, 24, 124, 38, 138, 60, 160, 74, 174, 88, 188], "\(firstFrames)")
        for (index, top) in frameTops.enumerated() where index % 2 == 0 {
            let stripIndex = (index / 2) % 3, strip = layout.strips[stripIndex], base = index < 6 ? 10 : 60
            let stripTop = layout.stripTop(video: index / 6, strip: stripIndex)
            #expect(top == layout.rowTop(0, stripTop: stripTop))
            for f in strip { #expect(Int(pixel(sheet, layout.left(f, in: strip) + 1, top).0) == base + f) }
            let rest = (strip.count..<14).map { layout.left($0, in: 0..<14) + 1 }
            #expect(rest.allSatisfy { same(pixel(sheet, $0, top), background) }, "strip \(strip) holds only its frames")
            let starts = [8, 12, 16, 20, 24, 28, 32, 36].contains(strip.lowerBound)
            let color = starts ? VideoExport.windowColor : VideoExport.labelColor
            let number = readNumber(sheet, x: layout.left(strip.lowerBound, in: strip) + 2, y: stripTop + layout.gap, scale: 2, color: color)
            #expect(number == (starts ? "\(strip.lowerBound)" : "\(strip.lowerBound) g") || (strip.lowerBound == 0 && number == "0"), "strip \(strip): \(String(describing: number))")
            let origin = layout.labelOrigin(rowTop: top)
            #expect(readNumber(sheet, x: origin.x, y: origin.y, scale: 2, color: VideoExport.labelColor) == "real")
            let lines = (0..<layout.gap).allSatisfy { same(pixel(sheet, layout.labelWidth + $0, top), VideoExport.windowColor) }
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

    /// One window — no windows, or a single one — draws the same sheet, laid out as SheetLayout says: every
    /// pixel of every frame in its enlarged cell, nothing magenta; the labels say real and s<k>.
    @Test func oneWindowSheetsFollowTheLayout() {
        let cases: [(frames: Int, height: Int, width: Int, samples: [Int], prime: Set<Int>)] = [
            (6, 16, 16, [1, 3], [0, 3]), (8, 12, 20, [4], [0]), (4, 32, 32, [2, 1, 1], []), (5, 9, 7, [1], [0, 4]), (3, 100, 40, [1], [0]),
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
            let plain = VideoExport.contactSheet(groundTruth: truths, samples: samples, frames: c.frames, height: c.height, width: c.width, primeFrames: c.prime)
            let single = VideoExport.contactSheet(groundTruth: truths, samples: samples, frames: c.frames, height: c.height, width: c.width,
                                                  primeFrames: c.prime, windows: .single(FramePriming(Array(c.prime).sorted(), clipFrames: c.frames)))
            #expect(plain == single, "case \(index)")
            let labels = ["real"] + (0..<c.samples.max()!).map { "s\($0)" }
            let layout = VideoExport.SheetLayout(frames: c.frames, height: c.height, width: c.width, samples: c.samples, labels: labels, framesPerStrip: 32)
            #expect(layout.strips == [0..<c.frames] && plain.width == layout.width && plain.height == layout.height, "case \(index)")
            #expect(layout.frameHeight >= 96 && (layout.scale == 1 || c.height * (layout.scale - 1) < 96), "case \(index): scale \(layout.scale)")
            var wrong = 0
            for (v, rows) in zip(truths, samples).map({ [$0] + $1 }).enumerated() {
                let top = layout.stripTop(video: v, strip: 0)
                for (r, clip) in rows.enumerated() {
                    let rowTop = layout.rowTop(r, stripTop: top)
                    for f in 0..<c.frames {
                        let left = layout.left(f, in: 0..<c.frames)
                        for y in 0..<(c.height * layout.scale) {
                            for x in 0..<(c.width * layout.scale) {
                                let source = ((f * c.height + y / layout.scale) * c.width + x / layout.scale) * 3
                                if !same(pixel(plain, left + x, rowTop + y), (clip[source], clip[source + 1], clip[source + 2])) { wrong += 1 }
                            }
                        }
                    }
                    let origin = layout.labelOrigin(rowTop: rowTop)
                    #expect(readNumber(plain, x: origin.x, y: origin.y, scale: 2, color: VideoExport.labelColor) == (r == 0 ? "real" : "s\(r - 1)"))
                }
            }
            #expect(wrong == 0, "case \(index): \(wrong) frame pixels out of place")
            #expect(!stride(from: 0, to: plain.pixels.count, by: 3).contains { o in
                plain.pixels[o] == 255 && plain.pixels[o + 1] == 0 && plain.pixels[o + 2] == 255 && (o / 3) % plain.width < layout.labelWidth
            }, "case \(index): no window line")
        }
    }
}
