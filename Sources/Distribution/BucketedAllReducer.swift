// BucketedAllReducer: sums a flat Float gradient buffer across ranks bucket by bucket while backward
// is still running (docs/design.md §4). The caller marks parameter ranges ready as backward produces them;
// a bucket whose ranges are all ready is all-reduced (in place) by a communication thread — but only
// after every earlier bucket, so all ranks issue the same collectives in the same order whatever order
// their ranges became ready in. The thread uses blocking MPI_Allreduce (Open MPI's non-blocking
// collectives were half as fast here and do not progress by themselves). The reducer works on a
// private duplicate of the communicator, so the caller's own collectives never interleave with it.
//
// Step protocol: begin(gradients:) → markReady(r) for every range → finish(). Between begin and
// finish the buffer must stay alive and the ranges already marked must not be written.
// For a LocalCommunicator (or any non-MPI communicator) buckets are reduced synchronously inside
// markReady with the communicator's blocking all-reduce — for a group of one, a no-op.
// With a `FlatPartition` (ZeRO stage 1) each bucket is reduce-scattered instead: one blocking
// MPI_Reduce_scatter per bucket whose per-rank counts are the bucket's overlap with each rank's range,
// so after finish() every rank holds the sum of exactly its own range (the rest of the buffer is
// unspecified) — same thread, same order, same overlap with backward.
// Left out: gradient compression, averaging (the caller scales), hierarchical (intra/inter-node) rings.
#if canImport(Glibc)
import Common
import Glibc
#endif
import Foundation
import CMPI
import _MPIShims

/// What one step of the bucketed all-reduce cost.
public struct AllReduceTimings: Equatable, Sendable {
    public var bucketCount: Int
    /// Bytes reduced (bucket spans, padding included).
    public var byteCount: Int
    /// Wall time spent inside finish(), waiting for the last buckets.
    public var blockedSeconds: Double
    /// Time during which at least one bucket was in flight (union of launch → completion intervals).
    public var communicationSeconds: Double
    /// Launch → observed completion, per bucket.
    public var bucketSeconds: [Double]
    /// Launch and completion of each bucket on the `monotonicSeconds()` clock (for timelines).
    public var bucketIntervals: [(start: Double, end: Double)] = []

    public static func == (a: AllReduceTimings, b: AllReduceTimings) -> Bool {
        a.bucketCount == b.bucketCount && a.byteCount == b.byteCount && a.blockedSeconds == b.blockedSeconds
            && a.communicationSeconds == b.communicationSeconds && a.bucketSeconds == b.bucketSeconds
    }
    /// Communication hidden behind the caller's work.
    public var overlappedSeconds: Double { max(0, communicationSeconds - blockedSeconds) }
}

public final class BucketedAllReducer: @unchecked Sendable {
    public let plan: BucketPlan
    public var buckets: [GradientBucket] { plan.buckets }
    /// When set, buckets are reduce-scattered over these ranges (one per rank) instead of all-reduced.
    public let partition: FlatPartition?
    private let state: ReducerState

    /// `partition` (ZeRO stage 1): one range per rank of `communicator`, covering the plan's buffer.
    public init(communicator: any Communicator, plan: BucketPlan, partition: FlatPartition? = nil) throws {
        self.plan = plan
        self.partition = partition
        var segments: [[Int]]? = nil
        if let partition {
            guard partition.parts == communicator.size, partition.count >= plan.requiredCount else {
                throw DistributedError.invalidArgument("a partition into \(partition.parts) ranges of \(partition.count) floats does not fit "
                                                       + "\(communicator.size) ranks and a plan over \(plan.requiredCount) floats")
            }
            segments = plan.buckets.map { partition.counts(of: $0.offset..<($0.offset + $0.count)) }
        }
        if let mpi = communicator as? MPICommunicator, mpi.size > 1 {
            state = ReducerState(plan: plan, communicator: try mpi.duplicate(), threaded: true, segments: segments)
            let state = self.state
            let thread = Thread { state.communicationLoop() }
            thread.name = "vt-allreduce"
            thread.start()
        } else {
            state = ReducerState(plan: plan, communicator: communicator, threaded: false, segments: segments)
        }
    }

    public convenience init(communicator: any Communicator, ranges: [ParameterRange],
                            bucketBytes: Int = BucketPlan.defaultBucketBytes) throws {
        try self.init(communicator: communicator, plan: BucketPlan(ranges: ranges, bucketBytes: bucketBytes))
    }

    deinit { state.shutDown() }

    /// Starts a step over `gradients` (at least `plan.requiredCount` floats); no range is ready yet.
    public func begin(gradients: UnsafeMutableBufferPointer<Float>) throws {
        guard gradients.count >= plan.requiredCount else {
            throw DistributedError.invalidArgument(
                "gradient buffer has \(gradients.count) floats, the plan needs \(plan.requiredCount)")
        }
        try state.begin(gradients.baseAddress)
    }

    /// Range `rangeIndex` holds its final local gradient; its bucket may be launched.
    public func markReady(_ rangeIndex: Int) throws { try state.markReady(rangeIndex) }

    public func isReady(_ rangeIndex: Int) -> Bool {
        state.locked { state.ready.indices.contains(rangeIndex) && state.ready[rangeIndex] }
    }
    public var readyRangeCount: Int { state.locked { state.ready.filter { $0 }.count } }
    /// Buckets launched so far in this step (always a prefix of `buckets`).
    public var launchedBucketCount: Int { state.locked { state.launched } }

    /// Waits until every bucket is reduced and ends the step. Throws, leaving the step open, if some
    /// range was not marked ready (mark it and call finish again) or if an MPI call failed.
    public func finish() throws -> AllReduceTimings { try state.finish() }

    /// One whole step with no overlap: begin, mark every range ready in backward order, finish.
    public func allReduce(_ gradients: UnsafeMutableBufferPointer<Float>) throws -> AllReduceTimings {
        try begin(gradients: gradients)
        for range in plan.ranges.indices.reversed() { try markReady(range) }
        return try finish()
    }
}

/// Everything the caller's thread and the communication thread share, guarded by `condition`.
private final class ReducerState: @unchecked Sendable {
    let plan: BucketPlan
    let communicator: any Communicator
    let threaded: Bool
    /// Per bucket, the per-rank counts of its reduce-scatter (nil: all-reduce every bucket).
    let segments: [[Int]]?
    let condition = NSCondition()

    var gradients: UnsafeMutablePointer<Float>? = nil
    var stepActive = false
    var ready: [Bool]
    var pending: [Int]          // ranges not yet ready, per bucket
    var launched = 0            // buckets launched, in order
    var completed = 0
    var launchTimes: [Double]
    var completionTimes: [Double]
    var failure: Error? = nil
    var shuttingDown = false
    var threadExited = false

    init(plan: BucketPlan, communicator: any Communicator, threaded: Bool, segments: [[Int]]?) {
        self.plan = plan
        self.communicator = communicator
        self.threaded = threaded
        self.segments = segments
        ready = Array(repeating: false, count: plan.ranges.count)
        pending = plan.buckets.map { $0.rangeIndices.count }
        launchTimes = Array(repeating: 0, count: plan.buckets.count)
        completionTimes = launchTimes
        threadExited = !threaded
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }

    func begin(_ base: UnsafeMutablePointer<Float>?) throws {
        try locked {
            guard !stepActive else { throw DistributedError.readiness("begin() called before finish() of the previous step") }
            gradients = base
            ready = ready.map { _ in false }
            pending = plan.buckets.map { $0.rangeIndices.count }
            launched = 0
            completed = 0
            failure = nil
            stepActive = true
        }
    }

    func markReady(_ rangeIndex: Int) throws {
        try locked {
            guard stepActive else { throw DistributedError.readiness("markReady(\(rangeIndex)) outside begin()…finish()") }
            guard ready.indices.contains(rangeIndex) else {
                throw DistributedError.readiness("range \(rangeIndex) does not exist (the plan has \(ready.count))")
            }
            guard !ready[rangeIndex] else { throw DistributedError.readiness("range \(rangeIndex) was marked ready twice") }
            ready[rangeIndex] = true
            pending[plan.bucketOfRange[rangeIndex]] -= 1
            if threaded {
                condition.broadcast()
            } else {
                try launchSynchronously()
            }
        }
    }

    /// Non-MPI path (lock held): reduce every launchable bucket now with the blocking all-reduce.
    private func launchSynchronously() throws {
        while launched < plan.buckets.count && pending[launched] == 0 {
            let bucket = plan.buckets[launched]
            launchTimes[launched] = monotonicSeconds()
            try reduce(bucket, gradients)
            completionTimes[launched] = monotonicSeconds()
            launched += 1
            completed += 1
        }
    }

    /// Sums `bucket` over the ranks: the whole span (all-reduce) or each rank's segment (reduce-scatter).
    private func reduce(_ bucket: GradientBucket, _ base: UnsafeMutablePointer<Float>?) throws {
        let span = UnsafeMutableBufferPointer(start: base.map { $0 + bucket.offset }, count: bucket.count)
        if let segments {
            try communicator.reduceScatterSum(span, counts: segments[bucket.index])
        } else {
            try communicator.allReduce(span, .sum)
        }
    }

    func finish() throws -> AllReduceTimings {
        let start = monotonicSeconds()
        return try locked {
            guard stepActive else { throw DistributedError.readiness("finish() without begin()") }
            if let missing = ready.firstIndex(of: false) {
                let count = ready.filter { !$0 }.count
                throw DistributedError.readiness("finish() with \(count) range(s) not marked ready (first: range \(missing))")
            }
            while completed < plan.buckets.count && failure == nil { condition.wait() }
            stepActive = false
            gradients = nil
            if let failure { throw failure }
            return timings(blocked: monotonicSeconds() - start)
        }
    }

    private func timings(blocked: Double) -> AllReduceTimings {
        var busy = 0.0
        var coveredUntil = -Double.infinity
        for bucket in plan.buckets.indices {  // launches are in time order
            let (launch, end) = (launchTimes[bucket], completionTimes[bucket])
            busy += max(0, end - max(launch, coveredUntil))
            coveredUntil = max(coveredUntil, end)
        }
        return AllReduceTimings(bucketCount: plan.buckets.count,
                                byteCount: plan.buckets.reduce(0) { $0 + $1.byteCount },
                                blockedSeconds: blocked, communicationSeconds: busy,
                                bucketSeconds: plan.buckets.indices.map { completionTimes[$0] - launchTimes[$0] },
                                bucketIntervals: plan.buckets.indices.map { (launchTimes[$0], completionTimes[$0]) })
    }

    // MARK: Communication thread (MPI only)

    /// Reduces buckets in order as they become ready, each with one blocking MPI_Allreduce on this
    /// thread, while the caller's thread goes on with backward. Blocking collectives take Open MPI's
    /// tuned algorithms; its non-blocking ones (libnbc) measured 45–55% of their bandwidth here, and
    /// would also need MPI_Test polling to progress at all. Sleeps on the condition between buckets.
    func communicationLoop() {
        condition.lock()
        while true {
            while !shuttingDown && !(stepActive && failure == nil && launched < plan.buckets.count && pending[launched] == 0) {
                condition.wait()
            }
            if shuttingDown { break }
            let bucket = plan.buckets[launched]
            launched += 1
            let base = gradients
            condition.unlock()
            let launch = monotonicSeconds()
            var error: Error? = nil
            do {
                try reduce(bucket, base)
            } catch let caught {
                error = caught
            }
            let end = monotonicSeconds()
            condition.lock()
            (launchTimes[bucket.index], completionTimes[bucket.index]) = (launch, end)
            completed += 1
            if let error { failure = error }
            condition.broadcast()
        }
        threadExited = true
        condition.broadcast()
        condition.unlock()
    }

    /// Stops the communication thread (after its in-flight requests complete) and waits for it.
    func shutDown() {
        locked {
            shuttingDown = true
            condition.broadcast()
            while !threadExited { condition.wait() }
        }
    }
}
