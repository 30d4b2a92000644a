// Bucket partitioning on hand-written layouts: reverse (backward) order, size limits, oversize
// tensors, ParameterTable padding, neighbours in memory, invalid ranges.
import Testing
import Kernels
@testable import Distribution

private func ranges(_ pairs: [(Int, Int)]) -> [ParameterRange] {
    pairs.map { ParameterRange(offset: $0.0, count: $0.1) }
}

@Test func fillsBucketsFromTheLastRange() throws {
    // Three 10-float tensors, buckets of 20 floats: the last two share bucket 0, the first is alone.
    let plan = try BucketPlan(ranges: ranges([(0, 10), (10, 10), (20, 10)]), bucketBytes: 80)
    #expect(plan.buckets == [
        GradientBucket(index: 0, rangeIndices: [2, 1], offset: 10, count: 20),
        GradientBucket(index: 1, rangeIndices: [0], offset: 0, count: 10),
    ])
    #expect(plan.bucketOfRange == [1, 0, 0])
    #expect(plan.requiredCount == 30)
}

@Test func oversizeTensorGetsItsOwnBucket() throws {
    let plan = try BucketPlan(ranges: ranges([(0, 4), (4, 100), (104, 4)]), bucketBytes: 64)
    #expect(plan.buckets.map(\.rangeIndices) == [[2], [1], [0]])
    #expect(plan.buckets[1].byteCount == 400)
}

@Test func defaultCapacityHoldsSixFourMebibyteTensors() throws {
    let million = 1 << 20
    let plan = try BucketPlan(ranges: (0..<10).map { ParameterRange(offset: $0 * million, count: million) })
    #expect(BucketPlan.defaultBucketBytes == 25 * 1024 * 1024)
    #expect(plan.buckets.map(\.rangeIndices) == [[9, 8, 7, 6, 5, 4], [3, 2, 1, 0]])
    #expect(plan.buckets.allSatisfy { $0.byteCount <= BucketPlan.defaultBucketBytes })
}

@Test func parameterTablePaddingIsInsideTheSpan() throws {
    var table = ParameterTable()
    table.add("a", [3])      // offset 0
    table.add("b", [5])      // offset 16
    table.add("c", [2])      // offset 32
    let plan = try BucketPlan(table: table)
    #expect(plan.buckets == [GradientBucket(index: 0, rangeIndices: [2, 1, 0], offset: 0, count: 34)])
}

@Test func joinsMemoryNeighboursInEitherDirection() throws {
    // Memory order 0, 1, 3, 2 (no range in the gap 30..<40): walking 3, 2, 1, 0 each range is the
    // neighbour above or below the span, so one bucket covers 0..<50, the gap included.
    let plan = try BucketPlan(ranges: ranges([(0, 10), (10, 10), (40, 10), (20, 10)]), bucketBytes: 1 << 20)
    #expect(plan.buckets == [GradientBucket(index: 0, rangeIndices: [3, 2, 1, 0], offset: 0, count: 50)])
}

@Test func nonNeighbourStartsANewBucket() throws {
    // Memory order 2 [0,10), 0 [10,20), 1 [30,40). Walking 2 then 1: range 0 lies between them, so a
    // shared span would reduce range 0 twice; 1 starts a new bucket, which 0 then joins.
    let plan = try BucketPlan(ranges: ranges([(10, 10), (30, 10), (0, 10)]), bucketBytes: 1 << 20)
    #expect(plan.buckets.map(\.rangeIndices) == [[2], [1, 0]])
    #expect(plan.buckets.map(\.offset) == [0, 10])
}

@Test func emptyRangesRideAlong() throws {
    let plan = try BucketPlan(ranges: ranges([(0, 4), (4, 0), (4, 4)]), bucketBytes: 16)
    #expect(plan.buckets.map(\.rangeIndices) == [[2, 1], [0]])
}

@Test func rejectsInvalidRanges() {
    #expect(throws: DistributedError.self) { try BucketPlan(ranges: ranges([(0, 10), (5, 10)])) }
    #expect(throws: DistributedError.self) { try BucketPlan(ranges: ranges([(0, -1)])) }
    #expect(throws: DistributedError.self) { try BucketPlan(ranges: ranges([(-4, 4)])) }
    #expect(throws: DistributedError.self) { try BucketPlan(ranges: ranges([(0, 4)]), bucketBytes: 3) }
}
