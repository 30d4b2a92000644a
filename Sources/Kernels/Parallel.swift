// Parallel: fork-join loops over both cores with partitions that never depend on the thread count,
// so every reduction sums in the same order on any machine (bitwise-reproducible training).

import Foundation

public enum Parallel {
    /// Worker count used for splitting independent work. Results never depend on it.
    /// `VT_THREADS` sets it; otherwise the cores are shared among the MPI ranks on this node.
    nonisolated(unsafe) public static var workers: Int = defaultWorkers(environment: ProcessInfo.processInfo.environment,
                                                                        cores: ProcessInfo.processInfo.activeProcessorCount)

    public static func defaultWorkers(environment: [String: String], cores: Int) -> Int {
        if let text = environment["VT_THREADS"], let value = Int(text), value >= 1 { return value }
        let localRanks = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init)
            ?? environment["SLURM_NTASKS_PER_NODE"].flatMap(Int.init) ?? 1
        return max(1, cores / max(1, localRanks))
    }

    /// Runs `body(range)` over a partition of `0..<count` into at most `workers` contiguous ranges of at
    /// least `grain` items. Use only for work whose result does not depend on the partition.
    @inline(__always)
    public static func rows(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        let pieces = min(workers, max(1, count / max(1, grain)))
        if pieces <= 1 { body(0..<count); return }
        DispatchQueue.concurrentPerform(iterations: pieces) { piece in
            body(range(of: piece, pieces: pieces, count: count))
        }
    }

    /// Runs `body(chunk, range)` for a *fixed* partition of `0..<count` into `chunks` ranges (independent
    /// of the machine), concurrently. Reductions keep one partial per chunk and sum them in chunk order.
    public static func chunks(_ count: Int, chunks: Int, _ body: (Int, Range<Int>) -> Void) {
        if chunks <= 1 || workers <= 1 {
            for chunk in 0..<chunks { body(chunk, range(of: chunk, pieces: chunks, count: count)) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            body(chunk, range(of: chunk, pieces: chunks, count: count))
        }
    }

    @inline(__always)
    public static func range(of piece: Int, pieces: Int, count: Int) -> Range<Int> {
        let base = count / pieces, extra = count % pieces
        let start = piece * base + min(piece, extra)
        return start..<(start + base + (piece < extra ? 1 : 0))
    }
}
