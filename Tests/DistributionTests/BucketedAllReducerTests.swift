// Readiness tracking and launch order of the bucketed all-reduce (synchronous, non-MPI path), and a
// two-"rank" fake whose sum doubles every element: each element of every span is reduced exactly once.
import Testing
import Kernels
@testable import Distribution

/// A stand-in for two ranks holding identical data: a sum doubles every element. Records launches.
private final class DoublingCommunicator: Communicator, @unchecked Sendable {
    var launches: [Int] = []  // counts of the reduced buffers, in order
    var rank: Int { 0 }
    var size: Int { 2 }
    func barrier() throws {}
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) throws {
        launches.append(buffer.count)
        for index in buffer.indices { buffer[index] *= 2 }
    }
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation) throws {}
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation) throws {}
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws {}
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {}
    func allGather(_ value: UInt64) throws -> [UInt64] { [value, value] }
    func split(color: Int, key: Int) throws -> any Communicator { self }
}

/// Ranges 0..<10, 10..<20, 20..<30 in buckets of 10 floats: bucket j holds range 2 − j.
private let threeRanges = (0..<3).map { ParameterRange(offset: $0 * 10, count: 10) }

@Test func bucketsLaunchInFixedOrderWhateverTheReadinessOrder() throws {
    let fake = DoublingCommunicator()
    let reducer = try BucketedAllReducer(communicator: fake, ranges: threeRanges, bucketBytes: 40)
    var gradients = (0..<30).map(Float.init)
    try gradients.withUnsafeMutableBufferPointer { buffer in
        try reducer.begin(gradients: buffer)
        try reducer.markReady(0)  // bucket 2: must wait for buckets 0 and 1
        #expect(reducer.launchedBucketCount == 0 && reducer.isReady(0) && reducer.readyRangeCount == 1)
        try reducer.markReady(2)  // bucket 0
        #expect(reducer.launchedBucketCount == 1)
        try reducer.markReady(1)  // bucket 1, then bucket 2 follows at once
        #expect(reducer.launchedBucketCount == 3)
        let timings = try reducer.finish()
        #expect(timings.bucketCount == 3 && timings.byteCount == 120)
    }
    #expect(gradients == (0..<30).map { Float($0) * 2 })
    #expect(fake.launches == [10, 10, 10])
}

@Test func everyParameterIsReducedExactlyOnce() throws {
    var table = ParameterTable()
    for (index, shape) in [[3], [40], [5, 5], [1], [100]].enumerated() { table.add("t\(index)", shape) }
    let plan = try BucketPlan(table: table, bucketBytes: 256)
    #expect(plan.buckets.map(\.rangeIndices) == [[4], [3, 2], [1, 0]])
    let fake = DoublingCommunicator()
    let reducer = try BucketedAllReducer(communicator: fake, plan: plan)
    let original = (0..<table.totalCount).map { Float($0 % 17) - 8.5 }  // padding nonzero on purpose
    var gradients = original
    for step in 0..<2 {  // the reducer is reused step after step
        gradients = original
        let timings = try gradients.withUnsafeMutableBufferPointer { try reducer.allReduce($0) }
        #expect(timings.bucketCount == 3, "step \(step)")
    }
    let isParameter = (0..<table.totalCount).map { index in
        table.entries.contains { (($0.offset)..<($0.offset + $0.count)).contains(index) }
    }
    for index in gradients.indices {
        if isParameter[index] {
            #expect(gradients[index] == 2 * original[index], "element \(index)")
        } else {  // padding: inside a bucket span (doubled) or between buckets (untouched), never twice
            #expect(gradients[index] == 2 * original[index] || gradients[index] == original[index], "padding \(index)")
        }
    }
    // Offsets 0, 16, 64, 96, 112: spans 112..<212, 64..<97 (33 floats), 0..<56.
    #expect(fake.launches == [100, 33, 56, 100, 33, 56])
}

@Test func readinessMistakesAreReported() throws {
    let reducer = try BucketedAllReducer(communicator: LocalCommunicator(), ranges: threeRanges, bucketBytes: 40)
    var gradients = [Float](repeating: 1, count: 30)
    var short = [Float](repeating: 1, count: 29)
    #expect(throws: DistributedError.self) { try reducer.markReady(0) }             // before begin
    #expect(throws: DistributedError.self) {
        try short.withUnsafeMutableBufferPointer { try reducer.begin(gradients: $0) }  // too small
    }
    try gradients.withUnsafeMutableBufferPointer { buffer in
        try reducer.begin(gradients: buffer)
        #expect(throws: DistributedError.self) { try reducer.begin(gradients: buffer) }  // step open
        try reducer.markReady(2)
        #expect(throws: DistributedError.self) { try reducer.markReady(2) }   // twice
        #expect(throws: DistributedError.self) { try reducer.markReady(3) }   // no such range
        #expect(throws: DistributedError.readiness("finish() with 2 range(s) not marked ready (first: range 0)")) {
            try reducer.finish()
        }
        try reducer.markReady(1)
        try reducer.markReady(0)
        let timings = try reducer.finish()  // the step stayed open after the failed finish
        #expect(timings.communicationSeconds >= 0 && timings.blockedSeconds >= 0)
    }
    #expect(gradients == [Float](repeating: 1, count: 30))  // one rank: the identity
    #expect(throws: DistributedError.self) { try reducer.finish() }           // no step open
}
