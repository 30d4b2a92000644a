// Communicator: the collectives the trainer uses, behind one protocol with two implementations —
// `MPICommunicator` (Open MPI, see MPICommunicator.swift) and `LocalCommunicator` (one process, every
// operation the identity), so every test runs under plain `swift test`.
// The segmented collectives of ZeRO stage 1 (reduce-scatter, all-gather, gather over per-rank segments)
// have default implementations built on all-reduce and broadcast, so any communicator has them;
// MPICommunicator replaces them with MPI_Reduce_scatter, MPI_Allgatherv and MPI_Gatherv.
// Left out: point-to-point messages, user-defined reductions, non-blocking collectives in the public API
// (the bucketed all-reduce owns those, see BucketedAllReducer.swift).

/// The reductions the collectives support.
public enum ReductionOperation: Sendable {
    case sum, max, min
}

/// Errors of the Distributed module other than failing MPI calls (those are `MPIError`).
public enum DistributedError: Error, CustomStringConvertible, Equatable {
    case invalidArgument(String)
    case invalidMesh(String)
    case invalidBucketPlan(String)
    case readiness(String)
    case selfTestFailed(String)
    /// A broken invariant of the caller's (a bug, not a condition of the run).
    case internalError(String)

    public var description: String {
        switch self {
        case .invalidArgument(let message): return "invalid argument: \(message)"
        case .invalidMesh(let message): return "invalid mesh: \(message)"
        case .invalidBucketPlan(let message): return "invalid bucket plan: \(message)"
        case .readiness(let message): return "bucketed all-reduce: \(message)"
        case .selfTestFailed(let message): return "distributed self-test failed: \(message)"
        case .internalError(let message): return "internal: \(message)"
        }
    }
}

/// A group of ranks that run collectives together. Every rank of the group must call the same
/// collectives in the same order (MPI's rule); buffers are reduced or broadcast in place.
public protocol Communicator: AnyObject, Sendable {
    /// This process's index in the group, `0..<size`.
    var rank: Int { get }
    /// Number of processes in the group.
    var size: Int { get }
    func barrier() throws
    /// Element-wise reduction across ranks, result in `buffer` on every rank.
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) throws
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation) throws
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation) throws
    /// Copies `buffer` of rank `root` into `buffer` of every rank (all ranks pass the same count).
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws
    /// One value from every rank, indexed by rank.
    func allGather(_ value: UInt64) throws -> [UInt64]
    /// Partitions the group by `color` (≥ 0); ranks inside a part are ordered by `key`, then by rank.
    func split(color: Int, key: Int) throws -> any Communicator

    // Segmented collectives: `counts[r]` floats belong to rank r, segments in rank order (rank r's starts
    // at counts[0] + … + counts[r−1]); every rank passes the same counts.

    /// Sums `buffer` (counts.sum floats) over the ranks; afterwards this rank's segment holds the sum and
    /// the rest of `buffer` is unspecified (MPI_Reduce_scatter).
    func reduceScatterSum(_ buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws
    /// Every rank's segment of `buffer` to every rank, in place (MPI_Allgatherv).
    func allGather(_ buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws
    /// Rank r's `part` (counts[r] floats) into segment r of `whole` on `root` (MPI_Gatherv); `whole` is
    /// not touched, and may be empty, on other ranks.
    func gather(_ part: UnsafeBufferPointer<Float>, into whole: UnsafeMutableBufferPointer<Float>, counts: [Int], root: Int) throws
}

// MARK: - Conveniences built on the primitives

extension Communicator {
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try allReduce(buffer, .sum)
    }

    public func allReduceSum(_ values: inout [Float]) throws {
        try values.withUnsafeMutableBufferPointer { try allReduce($0, .sum) }
    }

    public func allReduceSum(_ values: inout [Double]) throws {
        try values.withUnsafeMutableBufferPointer { try allReduce($0, .sum) }
    }

    public func allReduceSum(_ value: Double) throws -> Double { try reduced(value, .sum) }
    public func allReduceMax(_ value: Double) throws -> Double { try reduced(value, .max) }
    public func allReduceMin(_ value: Double) throws -> Double { try reduced(value, .min) }
    public func allReduceSum(_ value: Int) throws -> Int { try reduced(value, .sum) }
    public func allReduceMax(_ value: Int) throws -> Int { try reduced(value, .max) }
    public func allReduceMin(_ value: Int) throws -> Int { try reduced(value, .min) }

    private func reduced(_ value: Double, _ operation: ReductionOperation) throws -> Double {
        var cell = [value]
        try cell.withUnsafeMutableBufferPointer { try allReduce($0, operation) }
        return cell[0]
    }

    private func reduced(_ value: Int, _ operation: ReductionOperation) throws -> Int {
        var cell = [Int64(value)]
        try cell.withUnsafeMutableBufferPointer { try allReduce($0, operation) }
        return Int(cell[0])
    }

    public func broadcast(_ values: inout [Float], root: Int) throws {
        try values.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
    }

    /// Broadcasts a byte string whose length only `root` knows (length first, then the bytes).
    public func broadcastBytes(_ bytes: [UInt8], root: Int) throws -> [UInt8] {
        var length = [Int64(rank == root ? bytes.count : 0)]
        try length.withUnsafeMutableBytes { try broadcast($0, root: root) }
        var result = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length[0]))
        try result.withUnsafeMutableBytes { try broadcast($0, root: root) }
        return result
    }

    /// Gathers every rank's byte string (lengths may differ) on `root`, in rank order; other ranks get [].
    /// The bytes travel as the float gather's 4-byte words, which MPI copies bit for bit.
    public func gatherBytes(_ bytes: [UInt8], root: Int) throws -> [[UInt8]] {
        let lengths = try allGather(bytes.count)
        let words = lengths.map { ($0 + 3) / 4 }
        var part = [Float](repeating: 0, count: words[rank])
        part.withUnsafeMutableBytes { _ = $0.copyBytes(from: bytes) }
        var whole = [Float](repeating: 0, count: rank == root ? words.reduce(0, +) : 0)
        try part.withUnsafeBufferPointer { part in
            try whole.withUnsafeMutableBufferPointer { try gather(part, into: $0, counts: words, root: root) }
        }
        guard rank == root else { return [] }
        var start = 0
        return whole.withUnsafeBytes { raw in
            (0..<size).map { owner in
                defer { start += words[owner] * 4 }
                return Array(raw[start..<(start + lengths[owner])])
            }
        }
    }

    /// Runs `body` on every rank; if it throws on any rank, every rank throws a `RankFailure` carrying
    /// the lowest failing rank's message (so rank 0 can print it) — collectively, so nobody hangs.
    public func agree<T>(_ what: String, _ body: () throws -> T) throws -> T {
        var result: T? = nil, failure: Error? = nil
        do { result = try body() } catch { failure = error }
        guard size > 1 else {
            if let failure { throw failure }
            return result!
        }
        let flags = try allGather(failure == nil ? 0 : 1)
        guard let failed = flags.firstIndex(of: 1) else { return result! }
        let message = try broadcastBytes(Array("\(failure.map { "\($0)" } ?? "")".utf8), root: failed)
        throw RankFailure(rank: failed, ranks: size, message: String(decoding: message, as: UTF8.self), what: what)
    }

    public func allGather(_ value: Int) throws -> [Int] {
        try allGather(UInt64(bitPattern: Int64(value))).map { Int(Int64(bitPattern: $0)) }
    }

    // Default segmented collectives, from all-reduce and broadcast (the sums are those of allReduce).

    public func reduceScatterSum(_ buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws {
        _ = try checkSegments(counts, total: buffer.count)
        try allReduce(buffer, .sum)
    }

    public func allGather(_ buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws {
        let starts = try checkSegments(counts, total: buffer.count)
        for owner in 0..<size where counts[owner] > 0 {
            try broadcast(UnsafeMutableBufferPointer(rebasing: buffer[starts[owner]..<(starts[owner] + counts[owner])]), root: owner)
        }
    }

    public func gather(_ part: UnsafeBufferPointer<Float>, into whole: UnsafeMutableBufferPointer<Float>, counts: [Int], root: Int) throws {
        try checkRoot(root)
        let starts = try checkSegments(counts, total: counts.reduce(0, +))
        try checkGather(part: part, whole: whole, counts: counts, root: root)
        var message = [Float](repeating: 0, count: counts.max() ?? 0)
        for owner in 0..<size where counts[owner] > 0 {
            try message.withUnsafeMutableBufferPointer { message in
                let segment = UnsafeMutableBufferPointer(rebasing: message[0..<counts[owner]])
                if owner == rank { _ = segment.initialize(from: part) }
                try broadcast(segment, root: owner)
                if rank == root { whole.baseAddress!.advanced(by: starts[owner]).update(from: segment.baseAddress!, count: counts[owner]) }
            }
        }
    }

    /// Each segment's start; throws unless there is one count ≥ 0 per rank, adding up to `total`.
    func checkSegments(_ counts: [Int], total: Int) throws -> [Int] {
        guard counts.count == size, counts.allSatisfy({ $0 >= 0 }), counts.reduce(0, +) == total else {
            throw DistributedError.invalidArgument("segments \(counts) do not cut \(total) floats over \(size) ranks")
        }
        var starts = [0]
        for count in counts.dropLast() { starts.append(starts.last! + count) }
        return starts
    }

    func checkGather(part: UnsafeBufferPointer<Float>, whole: UnsafeMutableBufferPointer<Float>, counts: [Int], root: Int) throws {
        guard part.count == counts[rank], rank != root || whole.count >= counts.reduce(0, +) else {
            throw DistributedError.invalidArgument("gather: rank \(rank) sends \(part.count) floats for segment \(counts[rank]) into \(whole.count)")
        }
    }

    func checkRoot(_ root: Int) throws {
        guard (0..<size).contains(root) else {
            throw DistributedError.invalidArgument("root \(root) is not a rank of a group of size \(size)")
        }
    }
}

// MARK: - Local (single process)

/// A group of one process: reductions and broadcasts leave buffers unchanged, `allGather` returns
/// `[value]`, `split` returns another group of one. No MPI call is made.
public final class LocalCommunicator: Communicator, @unchecked Sendable {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func barrier() throws {}
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) throws {}
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation) throws {}
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation) throws {}
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws { try checkRoot(root) }
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws { try checkRoot(root) }
    public func allGather(_ value: UInt64) throws -> [UInt64] { [value] }
    public func split(color: Int, key: Int) throws -> any Communicator {
        guard color >= 0 else { throw DistributedError.invalidArgument("split color \(color) must be ≥ 0") }
        return LocalCommunicator()
    }
}

/// The error every rank throws when one rank's part of a collective step failed (see `agree`).
public struct RankFailure: Error, CustomStringConvertible {
    public let rank: Int, ranks: Int, message: String, what: String
    public init(rank: Int, ranks: Int, message: String, what: String) {
        self.rank = rank; self.ranks = ranks; self.message = message; self.what = what
    }
    public var description: String { "rank \(rank) of \(ranks) (\(what)): \(message)" }
}
