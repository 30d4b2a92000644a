import ArgumentParser
import Foundation
import Distribution

/// Hidden: exercises every collective, the mesh and bucketed-vs-plain all-reduce under mpirun.
struct SelfTestMPI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest-mpi", abstract: "Check MPI collectives and the device mesh (used by the test suite).",
        shouldDisplay: false)

    func run() throws {
        do {
            let world = try MPIRuntime.world()
            let report = try runDistributedSelfTest(communicator: world)
            if world.rank == 0 { print(report) }
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            if MPIRuntime.isLaunchedUnderMPI { MPIRuntime.abort(code: 1) }
            throw ExitCode.failure
        }
    }
}
