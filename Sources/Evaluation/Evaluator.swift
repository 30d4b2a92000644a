// Evaluator: the exact bits per dimension (docs/design.md §2) — for every video, every slice is run with teacher
// forcing and every non-primed sub-pixel's NLL is summed; nothing is estimated from a random slice.
// Totals are plain sums (bits, counts) per frame and per slice, so they add across batches and ranks;
// padded batch entries are masked out, so the result does not depend on batch size or rank count. A conditioned
// model (docs/design.md §11) is evaluated given each video's actions and label.

import Foundation
import VideoModel
import Distribution

public struct EvaluationTotals: Codable, Equatable, Sendable {
    public var bits: Double = 0
    public var subpixels: Int = 0
    public var videos: Int = 0
    public var frameBits: [Double], frameSubpixels: [Int]
    public var sliceBits: [Double], sliceSubpixels: [Int]

    public init(frames: Int, slices: Int) {
        frameBits = Array(repeating: 0, count: frames); frameSubpixels = Array(repeating: 0, count: frames)
        sliceBits = Array(repeating: 0, count: slices); sliceSubpixels = Array(repeating: 0, count: slices)
    }

    public var bitsPerDim: Double { bits / Double(max(1, subpixels)) }
    public var framesBitsPerDim: [Double?] { zip(frameBits, frameSubpixels).map { $1 == 0 ? nil : $0 / Double($1) } }
    public var slicesBitsPerDim: [Double?] { zip(sliceBits, sliceSubpixels).map { $1 == 0 ? nil : $0 / Double($1) } }

    public mutating func add(_ other: EvaluationTotals) {
        bits += other.bits; subpixels += other.subpixels; videos += other.videos
        for i in frameBits.indices { frameBits[i] += other.frameBits[i]; frameSubpixels[i] += other.frameSubpixels[i] }
        for i in sliceBits.indices { sliceBits[i] += other.sliceBits[i]; sliceSubpixels[i] += other.sliceSubpixels[i] }
    }

    /// Sums the totals of every rank (all ranks get the result).
    public func summed(over communicator: any Communicator) throws -> EvaluationTotals {
        guard communicator.size > 1 else { return self }
        var doubles = [bits] + frameBits + sliceBits
        var counts = ([subpixels, videos] + frameSubpixels + sliceSubpixels).map(Double.init)
        try communicator.allReduceSum(&doubles)
        try communicator.allReduceSum(&counts)
        var result = EvaluationTotals(frames: frameBits.count, slices: sliceBits.count)
        result.bits = doubles[0]
        result.frameBits = Array(doubles[1...frameBits.count])
        result.sliceBits = Array(doubles[(1 + frameBits.count)...])
        result.subpixels = Int(counts[0]); result.videos = Int(counts[1])
        result.frameSubpixels = counts[2..<(2 + frameBits.count)].map { Int($0) }
        result.sliceSubpixels = counts[(2 + frameBits.count)...].map { Int($0) }
        return result
    }
}

public final class Evaluator {
    public let model: VideoTransformer
    public init(model: VideoTransformer) { self.model = model }

    /// Totals for `mask.count` videos (UInt8 [count, T, H, W, 3]) conditioned on `conditioning` (docs/design.md
    /// §11); `mask[b] == false` marks padding. `windows[b]`, when given, says which window of a `videoFrames`-frame
    /// video clip b is (docs/design.md §12): its primed frames and where it starts, so the per-frame totals are
    /// the long video's.
    public func evaluate(videos: UnsafePointer<UInt8>, conditioning: Conditioning = .none, mask: [Bool],
                         windows: [SlidingWindows.Window]? = nil, videoFrames: Int? = nil) -> EvaluationTotals {
        let config = model.config, n = config.positionsPerSlice, c = ModelConfig.channels
        let shape = config.sliceShape
        let itemSubscaling = windows.map { $0.map { model.subscaling.primed($0.priming) } }
            ?? Array(repeating: model.subscaling, count: mask.count)
        let starts = windows?.map(\.start) ?? Array(repeating: 0, count: mask.count)
        let firstWindow = windows?.map { $0.index == 0 } ?? Array(repeating: true, count: mask.count)
        var totals = EvaluationTotals(frames: videoFrames ?? config.frames, slices: config.sliceCount)
        totals.videos = zip(mask, firstWindow).filter { $0 && $1 }.count   // a video counts once, with its window 0
        for k in 0..<config.sliceCount {
            model.forward(videos: videos, slices: Array(repeating: k, count: mask.count), priming: itemSubscaling.map(\.priming),
                          conditioning: conditioning, mode: .evaluation)
            for (b, real) in mask.enumerated() where real {
                let subscaling = itemSubscaling[b], frameOrigin = starts[b] + subscaling.offset(ofSlice: k).t
                for position in 0..<n where !subscaling.isPrimed(slice: k, position: position) {
                    let frame = frameOrigin + position / (shape.h * shape.w) * config.subscale.t
                    var bits = 0.0
                    for channel in 0..<c { bits += model.nll[channel][b * n + position] / M_LN2 }
                    totals.bits += bits; totals.subpixels += c
                    totals.frameBits[frame] += bits; totals.frameSubpixels[frame] += c
                    totals.sliceBits[k] += bits; totals.sliceSubpixels[k] += c
                }
            }
        }
        return totals
    }
}
