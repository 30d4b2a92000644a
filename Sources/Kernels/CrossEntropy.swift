// CrossEntropy: fused log-softmax negative log-likelihood and its gradient, per row.
//
//   nll[n]         = logsumexp(logits[n, :]) − logits[n, target[n]]          (Double, nats)
//   dLogits[n, :]  = weight[n] · (softmax(logits[n, :]) − onehot(target[n]))   (may alias logits)
// targets are UInt8 read with a stride (channel c of a [N, C] pixel array). The log is taken in Double
// so that all-zero logits give exactly ln 256 (bits/dim exactly 8).

import Foundation

public enum CrossEntropy {
    public static func forward(nll: UnsafeMutablePointer<Double>, logits: UnsafePointer<Float>,
                               targets: UnsafePointer<UInt8>, targetStride: Int, rows: Int, classes: Int) {
        Parallel.rows(rows, grain: 64) { range in
            for n in range {
                let row = logits + n * classes
                nll[n] = logSumExp(row, classes) - Double(row[Int(targets[n * targetStride])])
            }
        }
    }

    public static func forwardBackward(nll: UnsafeMutablePointer<Double>, dLogits: UnsafeMutablePointer<Float>,
                                       logits: UnsafePointer<Float>, targets: UnsafePointer<UInt8>,
                                       targetStride: Int, weights: UnsafePointer<Float>, rows: Int, classes: Int) {
        Parallel.rows(rows, grain: 64) { range in
            for n in range {
                let row = logits + n * classes, d = dLogits + n * classes
                let target = Int(targets[n * targetStride])
                let targetLogit = row[target]   // read before `d` (which may alias `row`) is written
                var maximum = -Float.infinity
                for c in 0..<classes { maximum = max(maximum, row[c]) }
                var total: Float = 0
                for c in 0..<classes { let e = expf(row[c] - maximum); d[c] = e; total += e }
                nll[n] = Double(maximum) + Foundation.log(Double(total)) - Double(targetLogit)
                let scale = weights[n] / total
                for c in 0..<classes { d[c] *= scale }
                d[target] -= weights[n]
            }
        }
    }

    @inline(__always)
    static func logSumExp(_ row: UnsafePointer<Float>, _ count: Int) -> Double {
        var maximum = -Float.infinity
        for c in 0..<count { maximum = max(maximum, row[c]) }
        var total: Float = 0
        for c in 0..<count { total += expf(row[c] - maximum) }
        return Double(maximum) + Foundation.log(Double(total))
    }
}
