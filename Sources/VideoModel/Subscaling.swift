// Subscaling: slices of a video under subscale factors s = (st, sh, sw), and which pixels each slice's
// encoder may see (docs/design.md §2). Videos are UInt8 [T, H, W, C] row-major.
//
//   slice (a, b, c) = V[a::st, b::sh, c::sw],  k = (a·sh + b)·sw + c   (c fastest)
//   k(t, h, w)     = ((t mod st)·sh + h mod sh)·sw + w mod sw
//   visible(p; k)  = k(p) < k  or  p.t ∈ prime frames
//
// The primed frames are a `FramePriming`: the config's first pattern by default, or the one an example drew
// (training with several patterns, docs/design.md §12) or a window needs (a continuation primes its first T − k).

/// Which frames of a clip are given rather than predicted: visible to every slice, outside the loss.
public struct FramePriming: Hashable, Sendable, CustomStringConvertible {
    /// The primed frames, ascending.
    public let frames: [Int]
    /// isPrimed[t] for every frame of the clip.
    public let isPrimed: [Bool]

    /// `frames` must lie in 0..<clipFrames (ModelConfig.validate checks configs; callers check the rest).
    public init(_ frames: [Int], clipFrames: Int) {
        precondition(frames.allSatisfy { (0..<clipFrames).contains($0) }, "FramePriming: frame outside 0..<\(clipFrames)")
        self.frames = Array(Set(frames)).sorted()
        var mask = [Bool](repeating: false, count: clipFrames)
        for frame in frames { mask[frame] = true }
        isPrimed = mask
    }

    /// Frames 0..<count primed: how a continuation window sees the frames it shares with the previous one.
    public static func prefix(_ count: Int, clipFrames: Int) -> FramePriming { FramePriming(Array(0..<count), clipFrames: clipFrames) }

    public var clipFrames: Int { isPrimed.count }
    /// The number of primed frames if they are 0..<n (a continuation pattern), else nil.
    public var prefixLength: Int? { frames == Array(0..<frames.count) ? frames.count : nil }
    @inline(__always) public func contains(_ frame: Int) -> Bool { isPrimed[frame] }
    public var description: String { "\(frames)" }
}

public struct Subscaling: Sendable {
    public let frames: Int, height: Int, width: Int
    public let factors: Triple
    public private(set) var priming: FramePriming
    public static let channels = 3

    /// The config's first priming pattern (what sampling and evaluation use unless told otherwise).
    public init(config: ModelConfig) {
        self.init(config: config, priming: FramePriming(config.primeFrames, clipFrames: config.frames))
    }

    public init(config: ModelConfig, priming: FramePriming) {
        precondition(priming.clipFrames == config.frames, "Subscaling: priming for \(priming.clipFrames) frames, clip of \(config.frames)")
        frames = config.frames; height = config.height; width = config.width
        factors = config.subscale; self.priming = priming
    }

    /// The same slicing with other frames primed.
    public func primed(_ priming: FramePriming) -> Subscaling {
        precondition(priming.clipFrames == frames, "Subscaling: priming for \(priming.clipFrames) frames, clip of \(frames)")
        var copy = self
        copy.priming = priming
        return copy
    }

    public var sliceCount: Int { factors.product }
    public var sliceShape: Triple { Triple(frames / factors.t, height / factors.h, width / factors.w) }
    public var positionsPerSlice: Int { sliceShape.product }

    /// The offset (a, b, c) of slice k.
    public func offset(ofSlice k: Int) -> Triple {
        Triple(k / (factors.h * factors.w), (k / factors.w) % factors.h, k % factors.w)
    }

    public func sliceIndex(t: Int, h: Int, w: Int) -> Int {
        ((t % factors.t) * factors.h + h % factors.h) * factors.w + w % factors.w
    }

    public func isVisible(t: Int, h: Int, w: Int, toSlice k: Int) -> Bool {
        sliceIndex(t: t, h: h, w: w) < k || priming.contains(t)
    }

    /// Video coordinates of slice k's position (i, j, l).
    @inline(__always)
    public func pixel(slice origin: Triple, i: Int, j: Int, l: Int) -> (t: Int, h: Int, w: Int) {
        (origin.t + i * factors.t, origin.h + j * factors.h, origin.w + l * factors.w)
    }

    /// Writes slice k of `video` as UInt8 [T'·H'·W', C] in raster order.
    public func extract(slice k: Int, from video: UnsafePointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) {
        let origin = offset(ofSlice: k), shape = sliceShape, c = Self.channels
        var n = 0
        for i in 0..<shape.t { for j in 0..<shape.h { for l in 0..<shape.w {
            let p = pixel(slice: origin, i: i, j: j, l: l)
            let source = video + ((p.t * height + p.h) * width + p.w) * c
            for ch in 0..<c { out[n * c + ch] = source[ch] }
            n += 1
        } } }
    }

    /// Writes slice values [N, C] back into their video positions.
    public func insert(slice k: Int, values: UnsafePointer<UInt8>, into video: UnsafeMutablePointer<UInt8>) {
        let origin = offset(ofSlice: k), shape = sliceShape, c = Self.channels
        var n = 0
        for i in 0..<shape.t { for j in 0..<shape.h { for l in 0..<shape.w {
            let p = pixel(slice: origin, i: i, j: j, l: l)
            let target = video + ((p.t * height + p.h) * width + p.w) * c
            for ch in 0..<c { target[ch] = values[n * c + ch] }
            n += 1
        } } }
    }

    /// Whether slice k's position n (raster order) lies in a primed frame.
    public func isPrimed(slice k: Int, position n: Int) -> Bool {
        let shape = sliceShape
        return priming.contains(offset(ofSlice: k).t + (n / (shape.h * shape.w)) * factors.t)
    }

    /// Non-primed positions of slice k (each has C sub-pixels in the loss).
    public func predictedPositions(slice k: Int) -> Int {
        let shape = sliceShape
        let a = offset(ofSlice: k).t
        let primed = (0..<shape.t).filter { priming.contains(a + $0 * factors.t) }.count
        return (shape.t - primed) * shape.h * shape.w
    }

    /// Slices that have at least one sub-pixel in the loss (training draws its slice among these).
    public var trainableSlices: [Int] { (0..<sliceCount).filter { predictedPositions(slice: $0) > 0 } }
}
