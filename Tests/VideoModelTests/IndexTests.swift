// Exact, hand-written index tests: slice extraction and order, visibility, block partition, the 13
// shift taps, within-block causal order. Expected values are written out so they can be checked by eye.

import Testing
import Kernels
@testable import VideoModel

@Suite struct IndexTests {
    func config(frames: Int, height: Int, width: Int, subscale: Triple, prime: [Int]) -> ModelConfig {
        ModelConfig(frames: frames, height: height, width: width, subscale: subscale, primeFrames: prime,
                    embeddingSize: 2, hiddenSize: 2, heads: 1, headSize: 2, ffnSize: 2, encoderLayers: 1,
                    decoderLayers: 1, encoderKernel: Triple(1, 1, 1), blocks: [Triple(1, 1, 1)])
    }

    @Test func slicesAreOrderedWithTheWidthOffsetFastest() {
        let s = Subscaling(config: config(frames: 4, height: 4, width: 4, subscale: Triple(2, 2, 2), prime: [0]))
        let offsets = (0..<8).map { s.offset(ofSlice: $0) }
        #expect(offsets == [Triple(0, 0, 0), Triple(0, 0, 1), Triple(0, 1, 0), Triple(0, 1, 1),
                            Triple(1, 0, 0), Triple(1, 0, 1), Triple(1, 1, 0), Triple(1, 1, 1)])
        // k(t, h, w) = ((t mod 2)·2 + h mod 2)·2 + w mod 2
        #expect(s.sliceIndex(t: 3, h: 2, w: 1) == 5)
        #expect(s.sliceIndex(t: 2, h: 3, w: 0) == 2)
        for t in 0..<4 { for h in 0..<4 { for w in 0..<4 {
            #expect(s.offset(ofSlice: s.sliceIndex(t: t, h: h, w: w)) == Triple(t % 2, h % 2, w % 2))
        } } }
    }

    @Test func sliceExtractionTakesStridedPixelsInRasterOrder() {
        // V[t, h, w, ch] = 100·t + 10·h + w + ch (ch adds 0, 1, 2); 4 frames × 2 × 4, subscale (2, 1, 2).
        let s = Subscaling(config: config(frames: 4, height: 2, width: 4, subscale: Triple(2, 1, 2), prime: [0]))
        var video = [UInt8](repeating: 0, count: 4 * 2 * 4 * 3)
        for t in 0..<4 { for h in 0..<2 { for w in 0..<4 { for ch in 0..<3 {
            video[((t * 2 + h) * 4 + w) * 3 + ch] = UInt8((100 * t + 10 * h + w + ch) % 256)
        } } } }
        // Slice k = 3 is offset (1, 0, 1): frames 1, 3; rows 0, 1; columns 1, 3.
        var slice = [UInt8](repeating: 0, count: 2 * 2 * 2 * 3)
        video.withUnsafeBufferPointer { v in slice.withUnsafeMutableBufferPointer { s.extract(slice: 3, from: v.baseAddress!, into: $0.baseAddress!) } }
        let firstChannel = stride(from: 0, to: slice.count, by: 3).map { Int(slice[$0]) }
        #expect(firstChannel == [101, 103, 111, 113, 301, 303, 311, 313].map { $0 % 256 })
        #expect(Array(slice[0..<3]) == [101, 102, 103])
        // insert is the inverse of extract.
        var rebuilt = [UInt8](repeating: 0, count: video.count)
        for k in 0..<s.sliceCount {
            var values = [UInt8](repeating: 0, count: 8 * 3)
            video.withUnsafeBufferPointer { v in values.withUnsafeMutableBufferPointer { s.extract(slice: k, from: v.baseAddress!, into: $0.baseAddress!) } }
            values.withUnsafeBufferPointer { v in rebuilt.withUnsafeMutableBufferPointer { s.insert(slice: k, values: v.baseAddress!, into: $0.baseAddress!) } }
        }
        #expect(rebuilt == video)
    }

    @Test func visibilityIsEarlierSlicesOrPrimedFrames() {
        // subscale (2, 1, 1): slice 0 = even frames, slice 1 = odd frames; frame 0 primed.
        let s = Subscaling(config: config(frames: 4, height: 1, width: 1, subscale: Triple(2, 1, 1), prime: [0]))
        #expect((0..<4).map { s.isVisible(t: $0, h: 0, w: 0, toSlice: 0) } == [true, false, false, false])
        #expect((0..<4).map { s.isVisible(t: $0, h: 0, w: 0, toSlice: 1) } == [true, false, true, false])
        #expect(s.predictedPositions(slice: 0) == 1 && s.predictedPositions(slice: 1) == 2)
        #expect((0..<2).map { s.isPrimed(slice: 0, position: $0) } == [true, false])
    }

    @Test func blocksAreCutInRasterOrderOverTheBlockGrid() {
        // 4×4 grid (one frame) in 2×2 blocks: positions numbered by raster index.
        let partition = BlockPartition(grid: (1, 4, 4), block: (1, 2, 2))
        #expect(partition.rasterIndex == [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15])
        // 2 frames × 2 × 4 in (2, 1, 2) blocks: inside a block t is slowest.
        let temporal = BlockPartition(grid: (2, 2, 4), block: (2, 1, 2))
        #expect(temporal.rasterIndex == [0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15])
        #expect(temporal.blocksPerVideo == 4 && temporal.blockLength == 4)
    }

    @Test func theThirteenShiftTapsAreTheLexicographicPredecessors() {
        let expected: [(Int, Int, Int)] = [(-1, -1, -1), (-1, -1, 0), (-1, -1, 1), (-1, 0, -1), (-1, 0, 0), (-1, 0, 1),
                                           (-1, 1, -1), (-1, 1, 0), (-1, 1, 1), (0, -1, -1), (0, -1, 0), (0, -1, 1), (0, 0, -1)]
        #expect(ShiftConvolution.taps.count == 13)
        for (tap, want) in zip(ShiftConvolution.taps, expected) { #expect(tap == want) }
    }

    @Test func relativeBiasUsesQueryMinusKeyOffsets() {
        // One head, block (1, 1, 3): bias[i, j] = Rw[wi − wj + 2]; Rt and Rh have a single entry each.
        var bias = [Float](repeating: 0, count: 9)
        let rw: [Float] = [10, 20, 30, 40, 50]  // offsets −2, −1, 0, 1, 2
        bias.withUnsafeMutableBufferPointer {
            RelativeBias.expand(rt: [0.5], rh: [0.25], rw: rw, heads: 1, block: (1, 1, 3), into: $0.baseAddress!)
        }
        #expect(bias == [30, 20, 10, 40, 30, 20, 50, 40, 30].map { $0 + 0.75 })
    }
}
