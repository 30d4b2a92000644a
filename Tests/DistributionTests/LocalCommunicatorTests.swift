// LocalCommunicator semantics, the world without mpirun, and the self-test on one process.
import Testing
@testable import Distribution

@Test func localCollectivesAreIdentities() throws {
    let local = LocalCommunicator()
    #expect(local.rank == 0 && local.size == 1)
    try local.barrier()
    var floats: [Float] = [1, -2, 3.5]
    try local.allReduceSum(&floats)
    #expect(floats == [1, -2, 3.5])
    #expect(try local.allReduceSum(2.5) == 2.5)
    #expect(try local.allReduceMax(-7) == -7 && local.allReduceMin(4.0) == 4.0)
    try local.broadcast(&floats, root: 0)
    #expect(floats == [1, -2, 3.5])
    #expect(try local.broadcastBytes([1, 2, 3], root: 0) == [1, 2, 3])
    #expect(try local.allGather(42) == [42])
    #expect(try local.allGather(UInt64.max) == [UInt64.max])
}

@Test func localRejectsRootsAndColorsOutsideTheGroup() throws {
    let local = LocalCommunicator()
    var floats: [Float] = [1]
    #expect(throws: DistributedError.self) { try local.broadcast(&floats, root: 1) }
    #expect(throws: DistributedError.self) { try local.split(color: -1, key: 0) }
    let part = try local.split(color: 3, key: 9)
    #expect(part.rank == 0 && part.size == 1)
}

@Test(.enabled(if: !MPIRuntime.isLaunchedUnderMPI))
func worldWithoutMPIRunIsLocal() throws {
    let world = try MPIRuntime.world()
    #expect(world is LocalCommunicator)
    #expect(MPIRuntime.providedThreadLevel == nil)  // MPI_Init was not called
}

@Test func selfTestPassesOnOneProcess() throws {
    let summary = try runDistributedSelfTest(communicator: LocalCommunicator())
    #expect(summary.contains("passed on 1 rank"))
}

@Test func measurementRunsOnOneProcess() throws {
    let results = try measureAllReduce(communicator: LocalCommunicator(), sizes: [4, 4096], iterations: 2)
    #expect(results.map(\.bytes) == [4, 4096])
    #expect(results.allSatisfy { $0.plainBusBandwidth == 0 && $0.bucketCount == 1 })
}
