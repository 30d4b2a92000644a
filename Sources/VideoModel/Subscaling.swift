// Subscaling: slices of a video under subscale factors s = (st, sh, sw), and which pixels each slice's
// encoder may see (docs/design.md §2). Videos are UInt8 [T, H, W, C] row-major.
//
//   slice (a, b, c) = V[a::st, b::sh, c::sw],  k = (a·sh + b)·sw + c   (c fastest)
//   k(t, h, w)     = ((t mod st)·sh + h mod sh)·sw + w mod sw
//   visible(p; k)  = k(p) < k  or  p.t ∈ prime frames

public struct Subscaling: Sendable {
    public let frames: Int, height: Int, width: Int
    public let factors: Triple
    public let primeFrames: Set<Int>
    public static let channels = 3

    public init(config: ModelConfig) {
        frames = config.frames; height = config.height; width = config.width
        factors = config.subscale; primeFrames = Set(config.primeFrames)
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
        sliceIndex(t: t, h: h, w: w) < k || primeFrames.contains(t)
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
        return primeFrames.contains(offset(ofSlice: k).t + (n / (shape.h * shape.w)) * factors.t)
    }

    /// Non-primed positions of slice k (each has C sub-pixels in the loss).
    public func predictedPositions(slice k: Int) -> Int {
        let shape = sliceShape
        let a = offset(ofSlice: k).t
        let primed = (0..<shape.t).filter { primeFrames.contains(a + $0 * factors.t) }.count
        return (shape.t - primed) * shape.h * shape.w
    }

    /// Slices that have at least one sub-pixel in the loss (training draws its slice among these).
    public var trainableSlices: [Int] { (0..<sliceCount).filter { predictedPositions(slice: $0) > 0 } }
}
