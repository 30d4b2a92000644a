// measureAllReduce: OSU-style all-reduce timings for `vt bench --communication` — for each message
// size, the median over iterations of (a) one MPI_Allreduce of n bytes and (b) the bucketed reducer
// over the same n bytes cut into `tensorBytes` tensors (no overlap: all ranges are marked ready at
// once, so (b) − (a) is the cost of bucketing and of the communication thread).
// An iteration's time is the slowest rank's (barrier, time, all-reduce max). Bus bandwidth follows
// nccl-tests: n / t · 2(p−1)/p, the bytes each rank's links carry in a ring all-reduce; 0 for p = 1.
// Left out: latency-only (0-byte) runs, non-sum reductions, other collectives.
import Common
import Foundation

public struct AllReduceMeasurement: Equatable, Sendable, CustomStringConvertible {
    public var bytes: Int
    public var ranks: Int
    public var iterations: Int
    public var plainSeconds: Double
    public var bucketedSeconds: Double
    public var bucketCount: Int

    /// Bytes per second per rank, ring-normalised (see the file comment).
    public var plainBusBandwidth: Double { busBandwidth(plainSeconds) }
    public var bucketedBusBandwidth: Double { busBandwidth(bucketedSeconds) }

    private func busBandwidth(_ seconds: Double) -> Double {
        guard ranks > 1, seconds > 0 else { return 0 }
        return Double(bytes) / seconds * 2 * Double(ranks - 1) / Double(ranks)
    }

    public var description: String {
        String(format: "%10d B on %d ranks: allreduce %10.1f µs %7.3f GB/s bus | bucketed (%d) %10.1f µs %7.3f GB/s bus",
               bytes, ranks, plainSeconds * 1e6, plainBusBandwidth / 1e9,
               bucketCount, bucketedSeconds * 1e6, bucketedBusBandwidth / 1e9)
    }
}

/// Times both all-reduce paths for every size in `sizes` (bytes, rounded up to whole floats).
/// Collective: every rank of `communicator` must call it with the same arguments.
public func measureAllReduce(communicator: any Communicator, sizes: [Int], iterations: Int,
                             warmupIterations: Int = 2, bucketBytes: Int = BucketPlan.defaultBucketBytes,
                             tensorBytes: Int = 1 << 20) throws -> [AllReduceMeasurement] {
    guard iterations >= 1, tensorBytes >= 4, sizes.allSatisfy({ $0 >= 1 }) else {
        throw DistributedError.invalidArgument("measureAllReduce needs iterations ≥ 1, tensorBytes ≥ 4, sizes ≥ 1 byte")
    }
    return try sizes.map { bytes in
        let count = (bytes + 3) / 4
        let tensorCount = tensorBytes / 4
        let ranges = stride(from: 0, to: count, by: tensorCount).map {
            ParameterRange(offset: $0, count: min(tensorCount, count - $0))
        }
        let reducer = try BucketedAllReducer(communicator: communicator, ranges: ranges, bucketBytes: bucketBytes)
        var buffer = [Float](repeating: 0, count: count)
        func median(_ operation: (UnsafeMutableBufferPointer<Float>) throws -> Void) throws -> Double {
            var times: [Double] = []
            for iteration in 0..<(warmupIterations + iterations) {
                // Small values keep repeated sums finite; timing does not depend on them.
                for index in buffer.indices { buffer[index] = Float(index % 7) * 1e-3 }
                try communicator.barrier()
                let start = monotonicSeconds()
                try buffer.withUnsafeMutableBufferPointer { try operation($0) }
                let slowest = try communicator.allReduceMax(monotonicSeconds() - start)
                if iteration >= warmupIterations { times.append(slowest) }
            }
            return times.sorted()[times.count / 2]
        }
        let plain = try median { try communicator.allReduceSum($0) }
        let bucketed = try median { _ = try reducer.allReduce($0) }
        return AllReduceMeasurement(bytes: count * 4, ranks: communicator.size, iterations: iterations,
                                    plainSeconds: plain, bucketedSeconds: bucketed,
                                    bucketCount: reducer.buckets.count)
    }
}
