// Multi-process check: the built `vt` binary (beside the test bundle, or VT_MPI_TEST_BINARY) runs the
// hidden `selftest-mpi` subcommand under mpirun with 2 and 4 ranks; exit status 0 is required. Extra
// arguments replace the default from VT_MPI_TEST_ARGUMENTS (split on spaces). Skipped only when mpirun
// or the binary is missing.
import Foundation
import Testing

/// `vt` in the build folder that holds this test bundle.
private let siblingBinary: String? = {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    for _ in 0..<4 {
        url.deleteLastPathComponent()
        let candidate = url.appendingPathComponent("vt").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}()
private let binary = ProcessInfo.processInfo.environment["VT_MPI_TEST_BINARY"] ?? siblingBinary
private let mpirun = ProcessInfo.processInfo.environment["PATH", default: ""].split(separator: ":")
    .map { "\($0)/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }

@Test(.enabled(if: binary != nil && mpirun != nil, "set VT_MPI_TEST_BINARY and put mpirun on PATH"),
      arguments: [2, 4])
func selfTestUnderMPIRun(ranks: Int) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: mpirun!)
    let extra = ProcessInfo.processInfo.environment["VT_MPI_TEST_ARGUMENTS", default: "selftest-mpi"]
        .split(separator: " ").map(String.init)
    process.arguments = ["--allow-run-as-root", "--oversubscribe", "-np", "\(ranks)", binary!] + extra
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("vt-mpi-\(ranks)-\(getpid()).log")
    FileManager.default.createFile(atPath: log.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: log) }
    let output = try FileHandle(forWritingTo: log)  // a file, not a pipe: a full pipe would block mpirun
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let deadline = Date().addingTimeInterval(300)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    if process.isRunning { process.terminate() }
    process.waitUntilExit()
    let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    #expect(process.terminationStatus == 0, "mpirun -np \(ranks) \(binary!) failed:\n\(text.suffix(2000))")
}
