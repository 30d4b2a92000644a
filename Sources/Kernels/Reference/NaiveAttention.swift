// NaiveAttention: the oracle of every attention kernel — raster-order q, k, v, block membership decided by
// coordinates, the relative biases looked up per pair, a true −∞ causal mask, Double arithmetic.
// Leaves out: speed, and backward (finite differences check the kernels' backward).

import Foundation

public enum NaiveAttention {
    /// The naive oracle: raster-order q, k, v [videos·N, H·Dh] and relative tables, explicit block
    /// membership by coordinates, true −∞ mask, Double arithmetic. Returns raster-order output.
    public static func forward(q: [Float], k: [Float], v: [Float], videos: Int,
                                    grid: (t: Int, h: Int, w: Int), block: (t: Int, h: Int, w: Int),
                                    heads: Int, headSize dh: Int, rt: [Float], rh: [Float], rw: [Float],
                                    causal: Bool) -> [Float] {
        let n = grid.t * grid.h * grid.w, width = heads * dh
        var out = [Float](repeating: 0, count: videos * n * width)
        for video in 0..<videos {
            for i in 0..<n {
                let (ti, hi, wi) = rasterCoordinates(i, in: grid)
                let blockOf = { (t: Int, h: Int, w: Int) in (t / block.t, h / block.h, w / block.w) }
                let mine = blockOf(ti, hi, wi)
                // within-block raster rank, for the causal mask
                let rankI = ((ti % block.t) * block.h + hi % block.h) * block.w + wi % block.w
                for head in 0..<heads {
                    var logits: [Double] = [], values: [Int] = []
                    for j in 0..<n {
                        let (tj, hj, wj) = rasterCoordinates(j, in: grid)
                        guard blockOf(tj, hj, wj) == mine else { continue }
                        let rankJ = ((tj % block.t) * block.h + hj % block.h) * block.w + wj % block.w
                        var logit = 0.0
                        for c in 0..<dh {
                            logit += Double(q[(video * n + i) * width + head * dh + c]) * Double(k[(video * n + j) * width + head * dh + c])
                        }
                        logit /= Double(dh).squareRoot()
                        logit += Double(rt[head * (2 * block.t - 1) + (ti % block.t) - (tj % block.t) + block.t - 1])
                        logit += Double(rh[head * (2 * block.h - 1) + (hi % block.h) - (hj % block.h) + block.h - 1])
                        logit += Double(rw[head * (2 * block.w - 1) + (wi % block.w) - (wj % block.w) + block.w - 1])
                        if causal && rankJ > rankI { logit = -Double.infinity }
                        logits.append(logit); values.append(j)
                    }
                    let m = logits.max()!
                    let e = logits.map { Foundation.exp($0 - m) }
                    let total = e.reduce(0, +)
                    for c in 0..<dh {
                        var acc = 0.0
                        for (index, j) in values.enumerated() { acc += e[index] / total * Double(v[(video * n + j) * width + head * dh + c]) }
                        out[(video * n + i) * width + head * dh + c] = Float(acc)
                    }
                }
            }
        }
        return out
    }
}