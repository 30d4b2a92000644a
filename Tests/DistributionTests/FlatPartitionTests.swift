// The ZeRO-1 cut of a flat buffer into per-rank ranges (hand-checked small cases), the per-bucket
// segments it gives, and the reduce-scatter mode of the bucketed reducer with a fake two-rank group.
import Testing
import Kernels
@testable import Distribution

@Suite struct FlatPartitionTests {
    @Test func rangesAreWholeNormChunksWhenTheRankCountDividesTheChunks() throws {
        // 1000 floats in 8 chunks of 125: 2 ranks get chunks 0–3 and 4–7, 4 ranks two chunks each.
        #expect(try FlatPartition(count: 1000, parts: 2, chunks: 8).bounds == [0, 500, 1000])
        #expect(try FlatPartition(count: 1000, parts: 4, chunks: 8).bounds == [0, 250, 500, 750, 1000])
        // Uneven chunks (Parallel.range gives the first `count % chunks` chunks one extra float).
        let uneven = try FlatPartition(count: 1003, parts: 2, chunks: 8)
        #expect(uneven.bounds == [0, Parallel.range(of: 4, pieces: 8, count: 1003).lowerBound, 1003])
        #expect(uneven.bounds[1] == 503)
    }

    @Test func otherwiseRangesAreBalancedOnSixteenFloats() throws {
        let three = try FlatPartition(count: 1000, parts: 3, chunks: 64)  // 3 does not divide 64
        #expect(three.bounds == [0, 336, 672, 1000])
        #expect(three.bounds.dropFirst().dropLast().allSatisfy { $0 % 16 == 0 })
        #expect(try FlatPartition(count: 20, parts: 4).bounds == [0, 0, 16, 16, 20])  // empty ranges are fine
        #expect(try FlatPartition(count: 0, parts: 2, chunks: 64).bounds == [0, 0, 0])
        #expect(throws: DistributedError.self) { try FlatPartition(count: 10, parts: 0) }
    }

    @Test func segmentsOfASpanFollowTheRanges() throws {
        let partition = try FlatPartition(count: 100, parts: 3)  // units of 16: 7 units → [0, 32, 64, 100]
        #expect(partition.bounds == [0, 32, 64, 100])
        #expect(partition.counts(of: 10..<70) == [22, 32, 6])
        #expect(partition.counts(of: 40..<50) == [0, 10, 0])
        #expect(partition.overlap(of: 10..<70, part: 2) == 64..<70)
        #expect(partition.overlap(of: 40..<50, part: 0).isEmpty && partition.overlap(of: 40..<50, part: 1) == 40..<50)
    }

    /// With a partition each bucket is reduce-scattered with its overlap per rank: rank 0 of a fake
    /// group of two (sums double every element) receives exactly its range doubled.
    @Test func theReducerReduceScattersEachBucketOverTheRanges() throws {
        final class FakeTwoRanks: Communicator, @unchecked Sendable {
            var segments: [[Int]] = []
            var rank: Int { 0 }
            var size: Int { 2 }
            func barrier() throws {}
            func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) throws { Issue.record("all-reduce") }
            func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation) throws {}
            func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation) throws {}
            func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws {}
            func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {}
            func allGather(_ value: UInt64) throws -> [UInt64] { [value, value] }
            func split(color: Int, key: Int) throws -> any Communicator { self }
            func reduceScatterSum(_ buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws {
                segments.append(counts)
                for index in 0..<counts[0] { buffer[index] *= 2 }  // rank 0's segment comes first
            }
        }
        var table = ParameterTable()
        for (index, shape) in [[30], [40], [50]].enumerated() { table.add("t\(index)", shape) }  // offsets 0, 32, 80
        let plan = try BucketPlan(table: table, bucketBytes: 4 * 48)  // buckets: t2, t1, t0
        let partition = try FlatPartition(count: table.totalCount, parts: 2)  // 130 floats → 9 units → [0, 64, 130]
        #expect(partition.bounds == [0, 64, 130])
        let fake = FakeTwoRanks()
        let reducer = try BucketedAllReducer(communicator: fake, plan: plan, partition: partition)
        var gradients = (0..<table.totalCount).map(Float.init)
        _ = try gradients.withUnsafeMutableBufferPointer { try reducer.allReduce($0) }
        #expect(fake.segments == [[0, 50], [32, 8], [30, 0]])
        let expected: [Float] = (0..<64).map { (index: Int) -> Float in index < 30 || index >= 32 ? Float(index) * 2 : Float(index) }
        #expect(Array(gradients[0..<64]) == expected)
        #expect(throws: DistributedError.self) {
            try BucketedAllReducer(communicator: fake, plan: plan, partition: try FlatPartition(count: table.totalCount, parts: 3))
        }
    }
}
