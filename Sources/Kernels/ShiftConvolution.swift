// ShiftConvolution: the decoder's masked 3×3×3 convolution that sees only strictly earlier positions.
// Its 13 taps are the offsets (dt, dh, dw) ∈ {−1,0,1}³ lexicographically before (0,0,0), in that order
// (docs/design.md §2); positions outside the slice grid contribute zero.
//
//   im2col    columns[v·N + p, tap·E + e] = embedded[v, p + tap, e]      columns [V·N, 13·E]
//   then      u = columns · weight[13·E, D] + bias (a Linear); the backward of im2col is col2im (adds).

public enum ShiftConvolution {
    public static let taps: [(dt: Int, dh: Int, dw: Int)] = {
        var result: [(Int, Int, Int)] = []
        for dt in -1...1 { for dh in -1...1 { for dw in -1...1 {
            if (dt, dh, dw) < (0, 0, 0) { result.append((dt, dh, dw)) }
        } } }
        return result
    }()

    /// im2col in the precision of the products that read the columns (fp32, or bf16 copied from bf16 values).
    public static func im2col(columns: Destination, embedded: Operand, videos: Int, grid: (t: Int, h: Int, w: Int), width e: Int) {
        switch (columns, embedded) {
        case let (.fp32(target), .fp32(source)): im2col(columns: target, embedded: source, videos: videos, grid: grid, width: e)
        case let (.bf16(target), .bf16(source)): im2col(columns: target, embedded: source, videos: videos, grid: grid, width: e)
        default: preconditionFailure("ShiftConvolution.im2col: columns and embeddings of mixed precision")
        }
    }

    public static func im2col(columns: UnsafeMutablePointer<Float>, embedded: UnsafePointer<Float>,
                              videos: Int, grid: (t: Int, h: Int, w: Int), width e: Int) {
        im2col(columns: columns, embedded: embedded, videos: videos, grid: grid, width: e, zero: 0)
    }

    /// The same copy for bf16 values (bf16 runs keep only the bf16 columns: they feed the products alone).
    public static func im2col(columns: UnsafeMutablePointer<BFloat16>, embedded: UnsafePointer<BFloat16>,
                              videos: Int, grid: (t: Int, h: Int, w: Int), width e: Int) {
        im2col(columns: columns, embedded: embedded, videos: videos, grid: grid, width: e, zero: BFloat16(bitPattern: 0))
    }

    @inline(__always)
    static func im2col<Element>(columns: UnsafeMutablePointer<Element>, embedded: UnsafePointer<Element>,
                                videos: Int, grid: (t: Int, h: Int, w: Int), width e: Int, zero: Element) {
        let n = grid.t * grid.h * grid.w, rowWidth = taps.count * e
        Parallel.rows(videos * n, grain: 256) { rows in
            for row in rows {
                let video = row / n, p = row % n
                let (t, h, w) = rasterCoordinates(p, in: grid)
                let target = columns + row * rowWidth
                for (tap, offset) in taps.enumerated() {
                    let tt = t + offset.dt, hh = h + offset.dh, ww = w + offset.dw
                    let slot = target + tap * e
                    if tt < 0 || tt >= grid.t || hh < 0 || hh >= grid.h || ww < 0 || ww >= grid.w {
                        slot.update(repeating: zero, count: e)
                    } else {
                        slot.update(from: embedded + (video * n + (tt * grid.h + hh) * grid.w + ww) * e, count: e)
                    }
                }
            }
        }
    }

    /// dEmbedded[v, p + tap, :] += dColumns[v·N + p, tap·E ..< (tap+1)·E]. Parallel over videos and,
    /// inside a video, sequential in a fixed order (deterministic).
    public static func col2im(dEmbedded: UnsafeMutablePointer<Float>, dColumns: UnsafePointer<Float>,
                              videos: Int, grid: (t: Int, h: Int, w: Int), width e: Int) {
        let n = grid.t * grid.h * grid.w, rowWidth = taps.count * e
        // Gather form: each target position q pulls from the positions q − tap that read it, so targets
        // are disjoint across workers and the sum order is fixed (tap order).
        Parallel.rows(videos * n, grain: 256) { rows in
            for row in rows {
                let video = row / n, q = row % n
                let (t, h, w) = rasterCoordinates(q, in: grid)
                let target = dEmbedded + row * e
                for (tap, offset) in taps.enumerated() {
                    let tt = t - offset.dt, hh = h - offset.dh, ww = w - offset.dw
                    if tt < 0 || tt >= grid.t || hh < 0 || hh >= grid.h || ww < 0 || ww >= grid.w { continue }
                    let source = dColumns + (video * n + (tt * grid.h + hh) * grid.w + ww) * rowWidth + tap * e
                    for c in 0..<e { target[c] += source[c] }
                }
            }
        }
    }

    /// The naive oracle: u[v,p,:] = Σ_taps embedded[v, p+tap, :]·weight[tap] + bias, in Double.
    public static func naiveForward(embedded: [Float], weight: [Float], bias: [Float], videos: Int,
                                    grid: (t: Int, h: Int, w: Int), inputWidth e: Int, outputWidth d: Int) -> [Float] {
        let n = grid.t * grid.h * grid.w
        var out = [Float](repeating: 0, count: videos * n * d)
        for video in 0..<videos {
            for t in 0..<grid.t { for h in 0..<grid.h { for w in 0..<grid.w {
                let p = (t * grid.h + h) * grid.w + w
                for o in 0..<d {
                    var acc = Double(bias[o])
                    for (tap, offset) in taps.enumerated() {
                        let tt = t + offset.dt, hh = h + offset.dh, ww = w + offset.dw
                        guard (0..<grid.t).contains(tt), (0..<grid.h).contains(hh), (0..<grid.w).contains(ww) else { continue }
                        let q = (tt * grid.h + hh) * grid.w + ww
                        for c in 0..<e { acc += Double(embedded[(video * n + q) * e + c]) * Double(weight[(tap * e + c) * d + o]) }
                    }
                    out[(video * n + p) * d + o] = Float(acc)
                }
            } } }
        }
        return out
    }
}
