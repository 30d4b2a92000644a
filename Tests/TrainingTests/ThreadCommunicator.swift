// ThreadCommunicator: an in-process group of ranks, one thread each, for testing multi-rank code paths
// (resume on another number of ranks, agreeing on a stop signal) under plain `swift test`. Every collective
// exchanges each rank's bytes through one rendezvous; reductions sum in rank order, so every rank gets
// bitwise the same result.

import Foundation
import Distribution

final class Rendezvous: @unchecked Sendable {  // all state under `condition`
    let size: Int
    private let condition = NSCondition()
    private var contributions: [[UInt8]?]
    private var arrived = 0, departed = 0
    private var departing = false

    init(size: Int) {
        self.size = size
        contributions = Array(repeating: nil, count: size)
    }

    /// Every rank's bytes, indexed by rank, once all ranks have called.
    func exchange(rank: Int, _ bytes: [UInt8]) -> [[UInt8]] {
        condition.lock()
        defer { condition.unlock() }
        while departing { condition.wait() }
        contributions[rank] = bytes
        arrived += 1
        if arrived == size {
            departing = true
            condition.broadcast()
        } else {
            while !departing { condition.wait() }
        }
        let all = contributions.map { $0! }
        departed += 1
        if departed == size {
            arrived = 0; departed = 0; departing = false
            contributions = Array(repeating: nil, count: size)
            condition.broadcast()
        }
        return all
    }
}

final class ThreadCommunicator: Communicator, @unchecked Sendable {
    let rank: Int
    let rendezvous: Rendezvous
    var size: Int { rendezvous.size }

    init(rank: Int, rendezvous: Rendezvous) {
        self.rank = rank; self.rendezvous = rendezvous
    }

    /// One communicator per rank of a new group of `size`.
    static func group(size: Int) -> [ThreadCommunicator] {
        let rendezvous = Rendezvous(size: size)
        return (0..<size).map { ThreadCommunicator(rank: $0, rendezvous: rendezvous) }
    }

    func barrier() throws { _ = rendezvous.exchange(rank: rank, []) }

    private func reduce<T: BinaryFloatingPoint>(_ buffer: UnsafeMutableBufferPointer<T>, _ operation: ReductionOperation) {
        let all = rendezvous.exchange(rank: rank, Array(UnsafeRawBufferPointer(buffer)))
        let parts = all.map { bytes in bytes.withUnsafeBytes { Array($0.bindMemory(to: T.self)) } }
        for i in 0..<buffer.count {
            var value = parts[0][i]
            for part in parts.dropFirst() {
                switch operation {
                case .sum: value += part[i]
                case .max: value = Swift.max(value, part[i])
                case .min: value = Swift.min(value, part[i])
                }
            }
            buffer[i] = value
        }
    }

    func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) throws { reduce(buffer, operation) }
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation) throws { reduce(buffer, operation) }

    func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation) throws {
        let all = rendezvous.exchange(rank: rank, Array(UnsafeRawBufferPointer(buffer)))
        let parts = all.map { bytes in bytes.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) } }
        for i in 0..<buffer.count {
            let values = parts.map { $0[i] }
            switch operation {
            case .sum: buffer[i] = values.reduce(0, +)
            case .max: buffer[i] = values.max()!
            case .min: buffer[i] = values.min()!
            }
        }
    }

    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws {
        try broadcast(UnsafeMutableRawBufferPointer(buffer), root: root)
    }

    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        let all = rendezvous.exchange(rank: rank, rank == root ? Array(UnsafeRawBufferPointer(bytes)) : [])
        precondition(all[root].count == bytes.count, "broadcast: root sent \(all[root].count) bytes, rank \(rank) expects \(bytes.count)")
        all[root].withUnsafeBytes { bytes.copyMemory(from: $0) }
    }

    func allGather(_ value: UInt64) throws -> [UInt64] {
        rendezvous.exchange(rank: rank, withUnsafeBytes(of: value) { Array($0) })
            .map { $0.withUnsafeBytes { $0.load(as: UInt64.self) } }
    }

    func split(color: Int, key: Int) throws -> any Communicator {
        throw DistributedError.invalidArgument("ThreadCommunicator does not split")
    }
}

/// Runs `body(rank)` on one thread per rank and returns the results by rank (rethrowing the first error).
func onEveryRank<Result>(_ size: Int, _ body: @escaping @Sendable (Int) throws -> Result) throws -> [Result] {
    let box = ResultsBox<Result>(size)
    let lock = NSLock()
    let group = DispatchGroup()
    for rank in 0..<size {
        group.enter()
        let thread = Thread {
            let result = Swift.Result { try body(rank) }
            lock.lock(); box.results[rank] = result; lock.unlock()
            group.leave()
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
    group.wait()
    return try box.results.map { try $0!.get() }
}

/// Results filled in by rank threads (each writes its own slot under the caller's lock).
final class ResultsBox<Value>: @unchecked Sendable {
    var results: [Swift.Result<Value, Error>?]
    init(_ size: Int) { results = Array(repeating: nil, count: size) }
}
