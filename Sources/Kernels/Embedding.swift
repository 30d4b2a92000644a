// Embedding: gather-sum of table rows and its backward scatter-add. The encoder's one-hot 3-D
// convolution, the decoder's channel embedding and the head's previous-channel terms are all this.
//
//   forward   out[n, :] (=|+=) Σ_{s < K, index[n,s] ≥ 0} table[index[n,s], :]      out [N, D]
//   backward  dTable[index[n,s], :] += dOut[n, :]                                      dTable [R, D]
// index [N, K] Int32, −1 marks an absent term (invisible or out-of-range pixel).
// The backward splits the D columns across workers: no two workers touch the same float, and each float
// receives its terms in (n, s) order, so the result is deterministic.

public enum Embedding {
    public static func gatherSum(out: UnsafeMutablePointer<Float>, table: UnsafePointer<Float>,
                                 indices: UnsafePointer<Int32>, rows: Int, terms: Int, width: Int,
                                 accumulate: Bool) {
        Parallel.rows(rows, grain: 64) { range in
            for n in range {
                let target = out + n * width
                if !accumulate { target.update(repeating: 0, count: width) }
                let index = indices + n * terms
                for s in 0..<terms where index[s] >= 0 {
                    let source = table + Int(index[s]) * width
                    for c in 0..<width { target[c] += source[c] }
                }
            }
        }
    }

    public static func scatterAdd(dTable: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                  indices: UnsafePointer<Int32>, rows: Int, terms: Int, width: Int) {
        let grain = 16
        Parallel.rows((width + grain - 1) / grain, grain: 1) { blocks in
            let start = blocks.lowerBound * grain, end = min(width, blocks.upperBound * grain)
            for n in 0..<rows {
                let source = dOut + n * width
                let index = indices + n * terms
                for s in 0..<terms where index[s] >= 0 {
                    let target = dTable + Int(index[s]) * width
                    for c in start..<end { target[c] += source[c] }
                }
            }
        }
    }
}
