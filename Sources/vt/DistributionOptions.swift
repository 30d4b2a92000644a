// DistributionOptions: the MPI world and device mesh of a command (`--mesh`, `--timeline`), rank-0-only
// output, and agreement on failure: a setup step that fails on some rank stops every rank cleanly, with
// one message on rank 0 naming the rank — instead of leaving the others waiting in a collective.

import ArgumentParser
import Distribution
import Foundation
import Training
import VideoModel

struct DistributionOptions: ParsableArguments {
    @Option(help: "Device mesh, e.g. data=4,model=1 (default: the config's distribution.mesh, else all ranks on data).")
    var mesh: String?
    @Option(help: "Write a per-rank Chrome trace of compute and communication (timeline-rank<R>.json) into this folder.")
    var timeline: String?
    @Flag(inversion: .prefixedNo,
          help: "ZeRO stage 1: shard the optimizer slots and parameter updates over the data axis (default: the config's distribution.shard_optimizer).")
    var shardOptimizer: Bool? = nil

    /// The config with the command line's distribution settings applied.
    func apply(to config: RunConfig) -> RunConfig {
        var config = config
        if let shardOptimizer { config.distribution.shardOptimizer = shardOptimizer }
        return config
    }

    func validate() throws {
        if let mesh, mesh.isEmpty { throw ValidationError("--mesh needs a value such as data=2,model=1") }
    }
}

/// The ranks of a run and how they are laid out.
struct RunWorld {
    let world: any Communicator
    var isLeader: Bool { world.rank == 0 }
    /// Rank 0 prints; other ranks stay silent.
    var say: (String) -> Void { isLeader ? note : { _ in } }

    init() throws { world = try MPIRuntime.world() }

    /// The device mesh for `config` (the `--mesh` option wins over `distribution.mesh`).
    func mesh(options: DistributionOptions, config: RunConfig) throws -> DeviceMesh {
        let text = options.mesh ?? config.distribution.mesh ?? "data=\(world.size),model=1"
        let shape = try MeshShape.parse(text, worldSize: world.size)
        if let problem = ModelSharding.problem(config: config.model, count: shape.model) {
            throw TrainingError("--mesh \(shape): \(problem)")
        }
        return try DeviceMesh(shape: shape, communicator: world)
    }

    /// `Communicator.agree` on the world: every rank throws the lowest failing rank's message.
    func agree<T>(_ what: String, _ body: () throws -> T) throws -> T { try world.agree(what, body) }
}

/// Prints the error on rank 0 only (every rank of a failed collective setup holds the same message)
/// and exits every rank non-zero; an error only this rank knows about aborts the whole MPI job.
func failDistributed(_ error: Error, world: (any Communicator)?) -> ExitCode {
    let rank = world?.rank ?? 0
    if error is RankFailure || (world?.size ?? 1) == 1 {
        if rank == 0 { FileHandle.standardError.write(Data("error: \(error)\n".utf8)) }
        return ExitCode.failure
    }
    FileHandle.standardError.write(Data("error: rank \(rank): \(error)\n".utf8))
    if MPIRuntime.isLaunchedUnderMPI { MPIRuntime.abort(code: 1) }
    return ExitCode.failure
}
