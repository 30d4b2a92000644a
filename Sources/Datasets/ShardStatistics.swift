// ShardStatistics: what `vt inspect data` reports about a set of videos — pixel statistics over a sample
// of videos, and a contact sheet (a grid of frames: one row per video) to look at.
//
// Statistics are exact over the videos sampled (evenly spaced through the set, all of them when there are
// few): per-channel mean and standard deviation, minimum and maximum, and the mean absolute change between
// consecutive frames (near 0 means frozen videos, a sign of a broken conversion).
//
// Not here: writing the PNG (FFmpeg.writePNG), the command line.

public struct PixelStatistics: Sendable {
    public var videos: Int
    public var mean: [Double]
    public var standardDeviation: [Double]
    public var minimum: UInt8
    public var maximum: UInt8
    /// Mean |frame[t] − frame[t−1]| over all sub-pixels, in pixel levels (0–255).
    public var meanFrameChange: Double
}

public enum ShardStatistics {
    /// `limit` video indices spread evenly over 0..<count (all when count ≤ limit).
    public static func sample(count: Int, limit: Int) -> [Int] {
        guard count > limit else { return Array(0..<count) }
        return (0..<limit).map { $0 * count / limit }
    }

    /// Statistics over the videos `indices` of `source` (whole videos).
    public static func pixels(of source: VideoSource, indices: [Int]) throws -> PixelStatistics {
        var sum = [Double](repeating: 0, count: 3), squares = [Double](repeating: 0, count: 3)
        var minimum = UInt8.max, maximum = UInt8.min
        var change = 0.0, changeCount = 0.0
        let frameBytes = source.bytesPerFrame
        var video = [UInt8](repeating: 0, count: source.frames * frameBytes)
        for index in indices {
            try video.withUnsafeMutableBufferPointer {
                try source.read(index: index, startFrame: 0, frameCount: source.frames, into: $0.baseAddress!)
            }
            video.withUnsafeBufferPointer { pixels in
                var channelSums = [UInt64](repeating: 0, count: 3), channelSquares = [UInt64](repeating: 0, count: 3)
                for i in stride(from: 0, to: pixels.count, by: 3) {
                    for c in 0..<3 {
                        let value = pixels[i + c]
                        channelSums[c] += UInt64(value)
                        channelSquares[c] += UInt64(value) * UInt64(value)
                        minimum = min(minimum, value)
                        maximum = max(maximum, value)
                    }
                }
                for c in 0..<3 { sum[c] += Double(channelSums[c]); squares[c] += Double(channelSquares[c]) }
                var videoChange: UInt64 = 0
                for i in frameBytes..<pixels.count {
                    let a = Int(pixels[i]), b = Int(pixels[i - frameBytes])
                    videoChange += UInt64(abs(a - b))
                }
                change += Double(videoChange)
                changeCount += Double(pixels.count - frameBytes)
            }
        }
        let perChannel = Double(indices.count) * Double(video.count / 3)
        let mean = sum.map { $0 / max(perChannel, 1) }
        let deviation = (0..<3).map { ((squares[$0] / max(perChannel, 1)) - mean[$0] * mean[$0]).squareRoot() }
        return PixelStatistics(videos: indices.count, mean: mean, standardDeviation: deviation,
                               minimum: indices.isEmpty ? 0 : minimum, maximum: maximum,
                               meanFrameChange: changeCount > 0 ? change / changeCount : 0)
    }

    /// A grid of frames: one row per video of `indices`, `columns` frames per row spread over the video,
    /// `gap` pixels of grey between tiles. Returns UInt8 RGB [height, width, 3].
    public static func contactSheet(of source: VideoSource, indices: [Int], columns: Int, gap: Int = 2) throws
        -> (pixels: [UInt8], width: Int, height: Int) {
        let columns = max(1, min(columns, source.frames))
        let frameIndices = columns == 1 ? [0] : (0..<columns).map { $0 * (source.frames - 1) / (columns - 1) }
        let tileWidth = source.width, tileHeight = source.height
        let width = columns * tileWidth + (columns + 1) * gap
        let height = indices.count * tileHeight + (indices.count + 1) * gap
        var sheet = [UInt8](repeating: 96, count: width * height * 3)
        var frame = [UInt8](repeating: 0, count: source.bytesPerFrame)
        for (row, video) in indices.enumerated() {
            for (column, t) in frameIndices.enumerated() {
                try frame.withUnsafeMutableBufferPointer {
                    try source.read(index: video, startFrame: t, frameCount: 1, into: $0.baseAddress!)
                }
                let x0 = gap + column * (tileWidth + gap), y0 = gap + row * (tileHeight + gap)
                for y in 0..<tileHeight {
                    let target = ((y0 + y) * width + x0) * 3
                    sheet.replaceSubrange(target..<target + tileWidth * 3, with: frame[(y * tileWidth * 3)..<((y + 1) * tileWidth * 3)])
                }
            }
        }
        return (sheet, width, height)
    }
}
