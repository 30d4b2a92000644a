// LayerNorm over the last axis with population variance and eps inside the square root (docs/design.md §2).
//
//   forward   out[N, D] = (x − mean)·rstd·scale + bias,  rstd = 1/√(var + eps);  saves mean[N], rstd[N]
//   backward  dx[N, D] (+)= rstd·(g − mean(g) − x̂·mean(g·x̂)),  g = dOut·scale
//             dScale[D] += Σ dOut·x̂,  dBias[D] += Σ dOut   (fixed 16-chunk partials, summed in order)

public enum LayerNorm {
    public static let epsilon: Float = 1e-6
    static let reductionChunks = 16

    public static func forward(out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                               rstd: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                               scale: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows: Int, width: Int) {
        Parallel.rows(rows, grain: 64) { range in
            for r in range {
                let x = input + r * width, y = out + r * width
                let mu = sum(x, width) / Float(width)
                var variance: Float = 0
                var acc = SIMD8<Float>(repeating: 0)
                var c = 0
                while c + 8 <= width {
                    let d = SIMD8<Float>(UnsafeBufferPointer(start: x + c, count: 8)) - mu
                    acc += d * d; c += 8
                }
                variance = acc.sum()
                while c < width { let d = x[c] - mu; variance += d * d; c += 1 }
                variance /= Float(width)
                let s = 1 / (variance + epsilon).squareRoot()
                mean[r] = mu; rstd[r] = s
                for c in 0..<width { y[c] = (x[c] - mu) * s * scale[c] + bias[c] }
            }
        }
    }

    public static func backward(dInput: UnsafeMutablePointer<Float>, dScale: UnsafeMutablePointer<Float>,
                                dBias: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                input: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                                rstd: UnsafePointer<Float>, scale: UnsafePointer<Float>, rows: Int,
                                width: Int, accumulate: Bool = true) {
        let chunks = reductionChunks
        var partials = [Float](repeating: 0, count: chunks * 2 * width)
        partials.withUnsafeMutableBufferPointer { partial in
            let partialBase = partial.baseAddress!
            Parallel.chunks(rows, chunks: chunks) { chunk, range in
                let pScale = partialBase + chunk * 2 * width, pBias = pScale + width
                for r in range {
                    let x = input + r * width, g = dOut + r * width, dx = dInput + r * width
                    let mu = mean[r], s = rstd[r]
                    var meanG: Float = 0, meanGX: Float = 0
                    for c in 0..<width {
                        let xhat = (x[c] - mu) * s
                        let gc = g[c] * scale[c]
                        meanG += gc; meanGX += gc * xhat
                        pScale[c] += g[c] * xhat; pBias[c] += g[c]
                    }
                    meanG /= Float(width); meanGX /= Float(width)
                    for c in 0..<width {
                        let xhat = (x[c] - mu) * s
                        let value = s * (g[c] * scale[c] - meanG - xhat * meanGX)
                        dx[c] = accumulate ? dx[c] + value : value
                    }
                }
            }
            for chunk in 0..<chunks {
                let pScale = partialBase + chunk * 2 * width, pBias = pScale + width
                for c in 0..<width { dScale[c] += pScale[c]; dBias[c] += pBias[c] }
            }
        }
    }

    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var c = 0
        while c + 8 <= n { acc += SIMD8<Float>(UnsafeBufferPointer(start: x + c, count: 8)); c += 8 }
        var total = acc.sum()
        while c < n { total += x[c]; c += 1 }
        return total
    }

    /// The naive oracle (Double arithmetic, one row at a time).
    public static func naiveForward(input: [Float], scale: [Float], bias: [Float], rows: Int, width: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * width)
        for r in 0..<rows {
            let x = (0..<width).map { Double(input[r * width + $0]) }
            let mu = x.reduce(0, +) / Double(width)
            let variance = x.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(width)
            let s = 1 / (variance + Double(epsilon)).squareRoot()
            for c in 0..<width { out[r * width + c] = Float((x[c] - mu) * s * Double(scale[c]) + Double(bias[c])) }
        }
        return out
    }
}
