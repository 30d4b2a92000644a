// runDistributedSelfTest: every collective, the communicator split, every data × model mesh the
// world size allows, and the bucketed all-reduce against one plain all-reduce — run on all ranks of a
// job (the hidden `vt` self-test subcommand) or on a LocalCommunicator (DistributedTests).
// Checks are local, but every section ends with an all-reduce of the failure count, so all ranks stay
// in step and all throw when any rank saw a mismatch (naming the ranks and the first failures).
// Left out: timing (see measureAllReduce), failure injection (the stall tests kill and stop real ranks).
import Common
import Kernels
#if canImport(Glibc)
import Glibc
#endif

/// Runs the self-test; returns a one-paragraph summary, throws `DistributedError.selfTestFailed`.
public func runDistributedSelfTest(communicator: any Communicator) throws -> String {
    var checker = SelfTestChecker(communicator: communicator)
    let (rank, size) = (communicator.rank, communicator.size)

    // Identity: ranks, rank-gathered checksums.
    try communicator.barrier()
    checker.expect(try communicator.allGather(rank) == Array(0..<size), "allGather(rank) is not 0..<\(size)")
    let checksums = try communicator.allGather(checksum(of: rank))
    checker.expect(checksums == (0..<size).map(checksum(of:)), "allGather(UInt64) returned \(checksums.prefix(8))")
    try checker.synchronise("identity")

    // Reductions: integer-valued floats, so every summation order gives the exact answer.
    var floats = (0..<1003).map { Float((rank + 1) * ($0 % 13)) }
    try communicator.allReduceSum(&floats)
    let triangle = size * (size + 1) / 2
    checker.expect(floats == (0..<1003).map { Float(triangle * ($0 % 13)) }, "Float sum: first values \(floats.prefix(4))")
    checker.expect(try communicator.allReduceSum(Double(rank) + 0.5) == Double(size * size) / 2, "Double sum")
    checker.expect(try communicator.allReduceMax(Double(rank) * 1.5) == Double(size - 1) * 1.5, "Double max")
    checker.expect(try communicator.allReduceMin(Double(rank) * 1.5) == 0, "Double min")
    checker.expect(try communicator.allReduceMax(rank * 7 - 3) == (size - 1) * 7 - 3, "Int max")
    checker.expect(try communicator.allReduceMin(rank * 7 - 3) == -3, "Int min")
    checker.expect(try communicator.allReduceSum(rank) == size * (size - 1) / 2, "Int sum")
    try checker.synchronise("reductions")

    // Broadcasts: floats from the last rank, a byte string only rank 0 knows.
    let root = size - 1
    var values = (0..<257).map { rank == root ? Float($0) * 0.25 + Float(root) : -1 }
    try communicator.broadcast(&values, root: root)
    checker.expect(values == (0..<257).map { Float($0) * 0.25 + Float(root) }, "Float broadcast: \(values.prefix(4))")
    let message = Array("vt distributed self-test from rank 0 of \(size)".utf8)
    let received = try communicator.broadcastBytes(rank == 0 ? message : [], root: 0)
    checker.expect(received == message, "byte broadcast received \(received.count) bytes")
    try checker.synchronise("broadcast")

    // Split by parity, keys reversed: the highest world rank of each parity becomes rank 0.
    let half = try communicator.split(color: rank % 2, key: -rank)
    let expectedMembers = Array(stride(from: rank % 2, to: size, by: 2).reversed())
    checker.expect(try half.allGather(rank) == expectedMembers, "split(color: rank % 2, key: -rank) members")
    checker.expect(half.rank == expectedMembers.firstIndex(of: rank), "split rank \(half.rank)")
    checker.expect(try half.allReduceSum(rank) == expectedMembers.reduce(0, +), "sum over split")
    try checker.synchronise("split")

    // Every mesh data × model = size: coordinates, axis sizes, sums along each axis.
    let shapes = (1...size).filter { size % $0 == 0 }.map { MeshShape(data: $0, model: size / $0) }
    for shape in shapes {
        let mesh = try DeviceMesh(parsing: shape.description, communicator: communicator)
        let (data, model) = (rank / shape.model, rank % shape.model)
        checker.expect(mesh.coordinates == MeshCoordinates(data: data, model: model), "\(shape): coordinates \(mesh.coordinates)")
        checker.expect(mesh.dataAxis.size == shape.data && mesh.dataAxis.rank == data, "\(shape): data axis")
        checker.expect(mesh.modelAxis.size == shape.model && mesh.modelAxis.rank == model, "\(shape): model axis")
        checker.expect(try mesh.dataAxis.allReduceSum(rank) == (0..<shape.data).reduce(0) { $0 + $1 * shape.model + model },
                       "\(shape): sum over the data axis")
        checker.expect(try mesh.modelAxis.allReduceSum(rank) == (0..<shape.model).reduce(0) { $0 + data * shape.model + $1 },
                       "\(shape): sum over the model axis")
        try checker.synchronise("mesh \(shape)")
    }

    // Bucketed vs plain all-reduce on a ParameterTable layout (alignment gaps, one oversize tensor),
    // ranges marked ready in a different order on every rank; three steps on one reducer.
    var table = ParameterTable()
    for (index, shape) in [[7], [10, 100], [33], [50, 100], [1], [250], [8, 8], [2048], [17], [3, 5]].enumerated() {
        table.add("tensor_\(index)", shape)
    }
    let reducer = try BucketedAllReducer(communicator: communicator, plan: BucketPlan(table: table, bucketBytes: 4096))
    var generator = SplitMix(seed: UInt64(rank) &* 0x9E37_79B9 &+ 1)
    var worstDifference: Float = 0
    for step in 0..<3 {
        var gradients = [Float](repeating: 0, count: table.totalCount)
        for entry in table.entries {
            for index in entry.offset..<(entry.offset + entry.count) { gradients[index] = generator.nextFloat() }
        }
        var expected = gradients
        try communicator.allReduceSum(&expected)
        var order = Array(table.entries.indices.reversed())
        if rank % 2 == 1 { generator.shuffle(&order) }
        try gradients.withUnsafeMutableBufferPointer { buffer in
            try reducer.begin(gradients: buffer)
            for range in order { try reducer.markReady(range) }
            _ = try reducer.finish()
        }
        let difference = zip(gradients, expected).map { abs($0 - $1) }.max() ?? 0
        worstDifference = max(worstDifference, difference)
        if size <= 2 {
            checker.expect(gradients.map(\.bitPattern) == expected.map(\.bitPattern),
                           "step \(step): bucketed ≠ plain bit for bit (max difference \(difference))")
        } else {
            checker.expect(difference <= 1e-6 * Float(size), "step \(step): bucketed − plain max difference \(difference)")
        }
        try checker.synchronise("bucketed all-reduce step \(step)")
    }

    // Segmented collectives (ZeRO stage 1), with uneven and empty segments: integer-valued floats, so
    // every summation order gives the exact sum.
    let counts = (0..<size).map { $0 == 1 ? 0 : 3 + 5 * $0 }  // rank 1 (if any) owns nothing
    let starts = counts.indices.map { counts[..<$0].reduce(0, +) }, total = counts.reduce(0, +)
    var scattered = (0..<total).map { Float((rank + 1) * ($0 % 11)) }
    try scattered.withUnsafeMutableBufferPointer { try communicator.reduceScatterSum($0, counts: counts) }
    let mine = starts[rank]..<(starts[rank] + counts[rank])
    checker.expect(Array(scattered[mine]) == mine.map { Float(triangle * ($0 % 11)) }, "reduce-scatter: segment \(scattered[mine].prefix(4))")
    var gathered = (0..<total).map { mine.contains($0) ? Float($0) + 0.5 : -1 }
    try gathered.withUnsafeMutableBufferPointer { try communicator.allGather($0, counts: counts) }
    checker.expect(gathered == (0..<total).map { Float($0) + 0.5 }, "all-gather: \(gathered.prefix(4))")
    let part = mine.map { Float($0) * 2 }
    var whole = [Float](repeating: -1, count: rank == root ? total : 0)
    try part.withUnsafeBufferPointer { part in
        try whole.withUnsafeMutableBufferPointer { try communicator.gather(part, into: $0, counts: counts, root: root) }
    }
    checker.expect(rank != root || whole == (0..<total).map { Float($0) * 2 }, "gather to rank \(root): \(whole.prefix(4))")
    try checker.synchronise("segmented collectives")

    // The reduce-scatter mode of the bucketed reducer: each rank's range holds exactly the plain sum.
    let partition = try FlatPartition(count: table.totalCount, parts: size, chunks: 64)
    let scatterer = try BucketedAllReducer(communicator: communicator, plan: BucketPlan(table: table, bucketBytes: 4096),
                                           partition: partition)
    for step in 0..<2 {
        var gradients = [Float](repeating: 0, count: table.totalCount)  // alignment padding stays 0, as in training
        for entry in table.entries {
            for index in entry.offset..<(entry.offset + entry.count) { gradients[index] = generator.nextFloat() }
        }
        var expected = gradients
        try communicator.allReduceSum(&expected)
        try gradients.withUnsafeMutableBufferPointer { _ = try scatterer.allReduce($0) }
        let owned = partition.range(rank)
        let difference = zip(gradients[owned], expected[owned]).map { abs($0 - $1) }.max() ?? 0
        if size <= 2 {
            checker.expect(gradients[owned].map(\.bitPattern) == expected[owned].map(\.bitPattern),
                           "reduce-scatter step \(step): owned range ≠ plain sum bit for bit (max difference \(difference))")
        } else {
            checker.expect(difference <= 1e-6 * Float(size), "reduce-scatter step \(step): owned range − plain sum \(difference)")
        }
        try checker.synchronise("bucketed reduce-scatter step \(step)")
    }

    // Peer heartbeat: while rank 0's main thread sleeps (no MPI call) and the others wait in a barrier,
    // every heartbeat keeps answering; after stop(), the peers see "finished". (Under MPI with
    // THREAD_MULTIPLE only; nil on one rank.)
    var heartbeatNote = ""
    if let heartbeat = try PeerHeartbeat.start(on: communicator, interval: 0.1) {
        if rank == 0 { usleep(1_500_000) }
        try communicator.barrier()
        let silent = heartbeat.peers().map(\.silentSeconds).max() ?? 0
        checker.expect(silent < 1.0, "a peer's heartbeat was silent for \(silent) s while its rank slept or waited")
        try checker.synchronise("peer heartbeat")
        if rank == 0 { heartbeat.stop() }
        try communicator.barrier()
        if rank != 0 {
            let deadline = monotonicSeconds() + 2
            while heartbeat.peers().first?.finished != true && monotonicSeconds() < deadline { usleep(10_000) }
            checker.expect(heartbeat.peers().first?.finished == true, "rank 0 stopped its heartbeat but rank \(rank) was not told")
        }
        heartbeat.stop()
        try checker.synchronise("peer heartbeat stop")
        heartbeatNote = String(format: ", peer heartbeat (longest silence %.2f s while a rank slept 1.5 s)", silent)
    }

    let level = MPIRuntime.providedThreadLevel.map { ", \($0)" } ?? ", no MPI"
    return "distributed self-test passed on \(size) rank(s)\(level): allGather, barrier, sum/max/min, broadcasts, "
        + "split, meshes \(shapes.map(\.description).joined(separator: " ")), bucketed all-reduce "
        + "(\(reducer.buckets.count) buckets, \(size <= 2 ? "bitwise equal" : "max difference \(worstDifference)") over 3 steps), "
        + "reduce-scatter / all-gather / gather, bucketed reduce-scatter over \(partition)\(heartbeatNote)"
}

/// Collects local failures; `synchronise` makes every rank agree whether any rank failed.
private struct SelfTestChecker {
    let communicator: any Communicator
    var failures: [String] = []

    mutating func expect(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { failures.append(message()) }
    }

    mutating func synchronise(_ section: String) throws {
        let failed = try communicator.allGather(failures.count)
        guard failed.contains(where: { $0 > 0 }) else { return }
        let ranks = failed.indices.filter { failed[$0] > 0 }
        throw DistributedError.selfTestFailed("\(section): mismatch on rank(s) \(ranks); rank \(communicator.rank) saw: "
                                              + (failures.isEmpty ? "nothing" : failures.prefix(3).joined(separator: "; ")))
    }
}

private func checksum(of rank: Int) -> UInt64 { UInt64(rank + 1) &* 0x9E37_79B9_7F4A_7C15 }

/// SplitMix64: a tiny deterministic generator, the same on every platform.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
    mutating func shuffle(_ values: inout [Int]) {
        for index in values.indices.dropLast().reversed() {
            values.swapAt(index, Int(next() % UInt64(index + 1)) + 0)
        }
    }
}
