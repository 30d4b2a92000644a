// BucketPlan: groups the parameter ranges of one flat gradient buffer into all-reduce buckets.
//
// Backward produces gradients last parameter first, so buckets are filled walking the ranges in
// reverse table order: bucket 0 holds the last parameters and is the first one that can be launched.
// A bucket reduces one contiguous span of the buffer, so a range joins the current bucket only if it
// is the memory neighbour of the bucket's span (no other range in between) and the grown span stays
// within `bucketBytes`; a range larger than `bucketBytes` gets a bucket of its own. Gaps between the
// ranges of a bucket (ParameterTable's 16-float alignment padding, zero on every rank) are reduced too.
// Left out: reordering parameters to fill buckets better; non-Float gradients.
import Kernels

/// `count` floats starting at `offset` in the flat buffer: one parameter tensor's gradient.
public struct ParameterRange: Equatable, Hashable, Sendable {
    public var offset: Int
    public var count: Int

    public init(offset: Int, count: Int) {
        self.offset = offset
        self.count = count
    }
}

/// One all-reduce: the ranges it waits for and the span `offset..<offset+count` it reduces.
public struct GradientBucket: Equatable, Sendable {
    /// Launch position: every rank launches bucket j only after bucket j−1.
    public let index: Int
    /// Indices into `BucketPlan.ranges`, in the order backward is expected to produce them.
    public let rangeIndices: [Int]
    public let offset: Int
    public let count: Int
    public var byteCount: Int { count * MemoryLayout<Float>.stride }
}

public struct BucketPlan: Equatable, Sendable {
    /// PyTorch DDP's default bucket capacity, 25 MiB (6,553,600 floats).
    public static let defaultBucketBytes = 25 * 1024 * 1024

    public let ranges: [ParameterRange]
    public let buckets: [GradientBucket]
    /// `bucketOfRange[r]` is the bucket that reduces range r.
    public let bucketOfRange: [Int]
    /// One past the last float any range touches: the smallest gradient buffer the plan fits.
    public let requiredCount: Int

    /// The ranges of every entry of a parameter table, in table order.
    public init(table: ParameterTable, bucketBytes: Int = defaultBucketBytes) throws {
        try self.init(ranges: table.entries.map { ParameterRange(offset: $0.offset, count: $0.count) },
                      bucketBytes: bucketBytes)
    }

    /// `ranges` in parameter (forward) order; they must not overlap.
    public init(ranges: [ParameterRange], bucketBytes: Int = defaultBucketBytes) throws {
        let floatSize = MemoryLayout<Float>.stride
        guard bucketBytes >= floatSize else {
            throw DistributedError.invalidBucketPlan("bucketBytes \(bucketBytes) is smaller than one float")
        }
        for (index, range) in ranges.enumerated() where range.offset < 0 || range.count < 0 {
            throw DistributedError.invalidBucketPlan("range \(index) has offset \(range.offset), count \(range.count)")
        }
        // Memory order of the non-empty ranges, to find neighbours and reject overlaps.
        let sorted = ranges.indices.filter { ranges[$0].count > 0 }
            .sorted { (ranges[$0].offset, $0) < (ranges[$1].offset, $1) }
        var position = [Int](repeating: -1, count: ranges.count)
        for (place, index) in sorted.enumerated() {
            position[index] = place
            if place > 0 {
                let previous = ranges[sorted[place - 1]]
                guard previous.offset + previous.count <= ranges[index].offset else {
                    throw DistributedError.invalidBucketPlan("range \(index) overlaps range \(sorted[place - 1])")
                }
            }
        }

        var buckets: [GradientBucket] = []
        var bucketOfRange = [Int](repeating: 0, count: ranges.count)
        var members: [Int] = []
        var span: (low: Int, high: Int, first: Int, last: Int)? = nil  // floats and sorted positions
        func close() {
            guard !members.isEmpty else { return }
            for member in members { bucketOfRange[member] = buckets.count }
            buckets.append(GradientBucket(index: buckets.count, rangeIndices: members,
                                          offset: span?.low ?? 0, count: span.map { $0.high - $0.low } ?? 0))
            members = []
            span = nil
        }
        for index in ranges.indices.reversed() {
            let range = ranges[index]
            guard range.count > 0 else { members.append(index); continue }  // empty: rides along
            let place = position[index]
            if let current = span {
                let neighbour = place == current.first - 1 || place == current.last + 1
                let grown = max(current.high, range.offset + range.count) - min(current.low, range.offset)
                if neighbour && grown * floatSize <= bucketBytes {
                    members.append(index)
                    span = (min(current.low, range.offset), max(current.high, range.offset + range.count),
                            min(current.first, place), max(current.last, place))
                    continue
                }
                close()
            }
            members.append(index)
            span = (range.offset, range.offset + range.count, place, place)
        }
        close()
        self.ranges = ranges
        self.buckets = buckets
        self.bucketOfRange = bucketOfRange
        requiredCount = ranges.map { $0.offset + $0.count }.max() ?? 0
    }
}
