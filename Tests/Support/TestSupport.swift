// VTTestSupport: what the test targets share — a small config (as a RunConfig and as YAML), the vt binary
// built beside the tests, running it (under mpirun), and VTTestFiles' temporary folders and repository
// paths (re-exported). Public API only, so any test target can depend on it without depending on another
// test target.

@_exported import VTTestFiles
import Foundation
import VideoModel
import Optimization
import Training

/// A model small enough that a training step takes milliseconds.
public func smallRunConfig(batch: Int = 4, steps: Int = 10, accumulation: Int = 1, optimizer: OptimizerConfig? = nil) -> RunConfig {
    let model = ModelConfig(frames: 4, height: 8, width: 8, subscale: Triple(2, 2, 2), primeFrames: [0],
                            embeddingSize: 8, hiddenSize: 16, heads: 2, headSize: 8, ffnSize: 32, encoderLayers: 1,
                            decoderLayers: 1, encoderKernel: Triple(3, 3, 3), blocks: [Triple(2, 4, 4), Triple(1, 2, 4)])
    return RunConfig(model: model,
                     optimizer: optimizer ?? OptimizerConfig(name: .adam, learningRate: 3e-3, warmupSteps: 2, clipNorm: 1),
                     training: TrainingSettings(batchSize: batch, steps: steps, seed: 3, logEvery: 5, accumulationSteps: accumulation),
                     data: DataSettings(syntheticVideos: 12, syntheticSeed: 2))
}

/// The `vt` executable built beside this test bundle.
public let vtBinary: String? = {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    for _ in 0..<4 {
        url.deleteLastPathComponent()
        let candidate = url.appendingPathComponent("vt").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}()

/// `mpirun` on PATH, if any.
public let mpirun: String? = ProcessInfo.processInfo.environment["PATH", default: ""].split(separator: ":")
    .map { "\($0)/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }

/// Runs `vt` (directly for 1 rank, else under `mpirun -np ranks`; `wrapper` is a shell script that sees vt
/// as $0 and its arguments as $@) in `directory`, with a time limit; returns (exit status, stdout + stderr),
/// status -999 when it had to be stopped. Output goes to a file, not a pipe: a full pipe would block mpirun.
public func runVTRanks(_ ranks: Int, _ arguments: [String], directory: URL? = nil, timeout: Double = 240,
                wrapper: String? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    var environment = ProcessInfo.processInfo.environment
    environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    process.environment = environment
    if let directory { process.currentDirectoryURL = directory }
    if ranks == 1 && wrapper == nil {
        process.executableURL = URL(fileURLWithPath: vtBinary!)
        process.arguments = arguments
    } else {
        process.executableURL = URL(fileURLWithPath: mpirun!)
        let command = wrapper.map { ["/bin/sh", "-c", $0] } ?? []
        process.arguments = ["--oversubscribe", "--bind-to", "none", "-np", "\(ranks)"] + command + [vtBinary!] + arguments
    }
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("vt-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: log) }
    let handle = try FileHandle(forWritingTo: log)
    process.standardOutput = handle; process.standardError = handle
    try runWithDefaultSignalMask(process)
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    let hung = process.isRunning
    if hung {
        process.terminate()
        let grace = Date().addingTimeInterval(10)
        while process.isRunning && Date() < grace { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
    process.waitUntilExit()
    let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    return (hung ? -999 : process.terminationStatus, output)
}

/// Starts `process` with no signal blocked, as a shell would. The test runner's threads block most
/// signals and a spawned process inherits the mask: mpirun started from them ignores SIGTERM and SIGUSR1.
public func runWithDefaultSignalMask(_ process: Process) throws {
    final class Outcome: @unchecked Sendable { var error: Error? }
    let outcome = Outcome(), done = DispatchSemaphore(value: 0)
    let thread = Thread {
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
        do { try process.run() } catch { outcome.error = error }
        done.signal()
    }
    thread.start()
    done.wait()
    if let error = outcome.error { throw error }
}

/// Runs `vt` with arguments in one process; returns (exit status, stdout + stderr).
public func runVT(_ arguments: [String], directory: URL? = nil) throws -> (status: Int32, output: String) {
    try runVTRanks(1, arguments, directory: directory)
}

/// A small model as YAML, for the command-line tests.
public let smallDistributedConfig = """
model:
  frames: 4
  height: 8
  width: 8
  subscale: [2, 2, 2]
  prime_frames: [0]
  embedding_size: 8
  hidden_size: 16
  heads: 2
  head_size: 8
  ffn_size: 32
  encoder_layers: 1
  decoder_layers: 2
  encoder_kernel: [3, 3, 3]
  blocks: [[2, 4, 4], [1, 2, 4]]
optimizer:
  # RMSProp, as the paper trains: its update is linear in the gradient. (Adam's is ~lr·sign(g) where g is
  # near zero, so summation-order differences between 1 and 2 ranks can flip a sign and move a parameter
  # by 2·lr; losses still agree to 1e-8, parameters only to ~lr.)
  name: rmsprop
  learning_rate: 1.0e-3
  decay: 0.95
  momentum: 0.9
  clip_norm: 1.0
training:
  batch_size: 8
  steps: 20
  seed: 5
data:
  synthetic_videos: 24
distribution:
  checksum_every: 5
  bucket_mb: 0.01
checkpoint:
  every: 0
"""
