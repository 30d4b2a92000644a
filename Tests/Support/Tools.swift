// The programs the integration tests run — the `vt` binary built beside the tests, `mpirun`, `ffmpeg`, FVD's
// Python environment — and the two rules for a missing one:
//
//   @Suite(.needs(.vt, .mpirun)) struct X { init() throws { try requireTools(.vt, .mpirun) } ... }
//   @Test(.needs(.ffmpeg)) func y() throws { try requireTools(.ffmpeg); ... }
//
// Locally a missing tool skips the test with the reason (`.needs`). Under CI=true (as `.ci/run` runs in CI)
// `.needs` enables the test anyway and `requireTools` records a failure naming the tool, so a CI machine
// that lost mpirun fails instead of passing a suite that never ran. No test returns early instead.

import Foundation
import Testing
import Datasets
import Evaluation

/// True when the environment says CI (`CI=true`, or 1/yes): missing tools fail instead of skipping.
public let isCI: Bool = ["true", "1", "yes"].contains(ProcessInfo.processInfo.environment["CI", default: ""].lowercased())

/// The `vt` executable built beside this test bundle (`swift build --build-tests` builds both).
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

/// `ffmpeg` on PATH, if any (found as vt finds it).
public let ffmpeg: String? = try? FFmpeg.executable()

/// FVD's Python environment (`bash scripts/setup-fvd.sh`), if it is set up and imports the tool.
public let fvdEnvironment: String? = {
    let python = FVDBridge.python()
    return (try? FVDBridge.check(python: python)) != nil ? python : nil
}()

/// A program an integration test needs.
public enum Tool: String, Sendable, CaseIterable, CustomStringConvertible {
    case vt, mpirun, ffmpeg, fvd

    /// Where it is, or nil when it is missing.
    public var path: String? {
        switch self {
        case .vt: vtBinary
        case .mpirun: VTTestSupport.mpirun
        case .ffmpeg: VTTestSupport.ffmpeg
        case .fvd: fvdEnvironment
        }
    }

    public var description: String {
        switch self {
        case .vt: "the vt binary"
        case .mpirun: "mpirun"
        case .ffmpeg: "ffmpeg"
        case .fvd: "the FVD environment"
        }
    }

    /// Why it is missing and how to get it.
    public var missingReason: String {
        switch self {
        case .vt: "the vt binary is not beside the test bundle (build it with the tests: swift build --build-tests)"
        case .mpirun: "mpirun is not on PATH (apt-get install openmpi-bin; bash scripts/setup.sh)"
        case .ffmpeg: "ffmpeg is not on PATH (apt-get install ffmpeg; bash scripts/setup.sh)"
        case .fvd: "the FVD environment is not set up (bash scripts/setup-fvd.sh)"
        }
    }
}

extension Trait where Self == ConditionTrait {
    /// Enables the test or suite only when every tool is there, skipping it with the reason otherwise —
    /// except under CI=true, where it is always enabled and its `requireTools` fails naming what is missing.
    public static func needs(_ tools: Tool..., sourceLocation: SourceLocation = #_sourceLocation) -> Self {
        let missing = tools.filter { $0.path == nil }
        let reason = "needs " + tools.map(\.description).joined(separator: " and ")
            + (missing.isEmpty ? "" : ": " + missing.map(\.missingReason).joined(separator: "; "))
        return .enabled(if: isCI || missing.isEmpty, Comment(rawValue: reason), sourceLocation: sourceLocation)
    }
}

/// The first statement of a test (or its suite's `init`) that runs `tools`: a recorded failure naming the
/// missing tool (under CI=true `.needs` lets such a test run so that this fails).
public func requireTools(_ tools: Tool..., sourceLocation: SourceLocation = #_sourceLocation) throws {
    for tool in tools { _ = try requireTool(tool, sourceLocation: sourceLocation) }
}

/// The path of `tool`, or a recorded failure naming it.
@discardableResult
public func requireTool(_ tool: Tool, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    try #require(tool.path, Comment(rawValue: "missing tool: " + tool.missingReason + (isCI ? " — CI=true, so a missing tool fails the run" : "")),
                 sourceLocation: sourceLocation)
}

/// Runs `vt` (directly for 1 rank, else under `mpirun -np ranks`; `wrapper` is a shell script that sees vt
/// as $0 and its arguments as $@) in `directory`, with a time limit; returns (exit status, stdout + stderr),
/// status -999 when it had to be stopped. Output goes to a file, not a pipe: a full pipe would block mpirun.
public func runVTRanks(_ ranks: Int, _ arguments: [String], directory: URL? = nil, timeout: Double = 240,
                wrapper: String? = nil) throws -> (status: Int32, output: String) {
    let vt = try requireTool(.vt)
    let process = Process()
    var environment = ProcessInfo.processInfo.environment
    environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    process.environment = environment
    if let directory { process.currentDirectoryURL = directory }
    if ranks == 1 && wrapper == nil {
        process.executableURL = URL(fileURLWithPath: vt)
        process.arguments = arguments
    } else {
        process.executableURL = URL(fileURLWithPath: try requireTool(.mpirun))
        let command = wrapper.map { ["/bin/sh", "-c", $0] } ?? []
        process.arguments = ["--oversubscribe", "--bind-to", "none", "-np", "\(ranks)"] + command + [vt] + arguments
    }
    let logs = try temporaryDirectory("log")
    defer { try? FileManager.default.removeItem(at: logs) }
    let log = logs.appendingPathComponent("vt.log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
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

/// A fresh folder with `c/step_<steps>.h5` of the small test model on `size`×`size` frames making
/// `frames`-frame clips (frame 0 primed, or `primeFrames` as YAML, e.g. "[[0], [0, 1]]"), and `test.h5` holding `videos` synthetic test videos of
/// `videoFrames` frames of that size.
public func trainedSmallModel(size: Int = 16, frames: Int = 4, steps: Int = 4, videos: Int, videoFrames: Int = 6,
                              primeFrames: String? = nil) throws -> URL {
    let directory = try temporaryDirectory()
    var config = smallDistributedConfig
        .replacingOccurrences(of: "  height: 8\n  width: 8", with: "  height: \(size)\n  width: \(size)")
        .replacingOccurrences(of: "  frames: 4\n", with: "  frames: \(frames)\n")
    if let primeFrames { config = config.replacingOccurrences(of: "  prime_frames: [0]\n", with: "  prime_frames: \(primeFrames)\n") }
    try config.write(to: directory.appendingPathComponent("small.yaml"), atomically: true, encoding: .utf8)
    let train = try runVT(["train", "--config", "small.yaml", "--steps", "\(steps)", "--run-dir", "r", "--checkpoint-dir", "c"], directory: directory)
    #expect(train.status == 0, "\(train.output.suffix(800))")
    let shards = try runVT(["prepare", "synthetic", "--videos", "\(videos)", "--frames", "\(videoFrames)", "--height", "\(size)",
                            "--width", "\(size)", "--seed", "4", "--split", "test", "--output", "test.h5"], directory: directory)
    #expect(shards.status == 0, "\(shards.output)")
    return directory
}

/// Starts `vt arguments` in `directory` and kills it with SIGKILL as soon as `parts` (a folder) holds `count`
/// part files (`part-*`), or after `seconds`; returns the ended process (`terminationReason` says whether the
/// kill came first). For the sampling job's kill -9 + `--resume` tests.
public func runVTUntilKilled(_ arguments: [String], directory: URL, parts: URL, count: Int, seconds: Double = 120) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try requireTool(.vt))
    process.arguments = arguments
    process.currentDirectoryURL = directory
    process.standardOutput = FileHandle.nullDevice; process.standardError = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(seconds)
    while process.isRunning && Date() < deadline
            && ((try? FileManager.default.contentsOfDirectory(atPath: parts.path))?.filter { $0.hasPrefix("part-") }.count ?? 0) < count {
        usleep(2_000)
    }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    return process
}
