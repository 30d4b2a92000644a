// A contact sheet is pixels first (VideoExport.contactSheet), then a PNG: those pixels are the ones the sheet
// had before it was a function (the old function, kept below as it was at commit b40751e), for several sizes,
// sample counts and primed frames.

import Foundation
import Testing
import Evaluation

@Suite struct LongSamplePicturesTests {
    /// The sheet's pixels are the ones the old function drew, byte for byte.
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
            let new = VideoExport.contactSheet(groundTruth: truths, samples: samples, frames: c.frames, height: c.height, width: c.width,
                                               primeFrames: c.prime)
            #expect(new.width == old.width && new.height == old.height)
            #expect(new.pixels == old.pixels, "case \(index)")
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
