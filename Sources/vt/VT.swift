// vt: the command line — train, bench (and, as later issues land, evaluate, sample, prepare, inspect, mesh).

import ArgumentParser
import Foundation
import Kernels
import VideoModel

@main
struct VT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vt",
        abstract: "Train, evaluate and sample the Video Transformer (Weissenborn et al., ICLR 2020).",
        subcommands: [Train.self, Evaluate.self, Sample.self, Bench.self, Prepare.self, Inspect.self, Mesh.self, SelfTestMPI.self])
}

/// Prints `error: message` on stderr and exits non-zero: the one failure path for user-facing errors.
func fail(_ error: Error) -> ExitCode {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    return ExitCode.failure
}

func note(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

extension Precision: ExpressibleByArgument {}
extension Recompute: ExpressibleByArgument {}
