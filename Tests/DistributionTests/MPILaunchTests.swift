// Multi-process check: when VT_MPI_TEST_BINARY names an executable that runs the distributed
// self-test (the hidden `vt` subcommand, or any driver calling runDistributedSelfTest), launch it
// under mpirun with 2 and 4 ranks and require exit status 0. Extra arguments for it come from
// VT_MPI_TEST_ARGUMENTS (split on spaces). Skipped when the variable is unset or mpirun is missing.
import Foundation
import Testing

private let binary = ProcessInfo.processInfo.environment["VT_MPI_TEST_BINARY"]
private let mpirun = ProcessInfo.processInfo.environment["PATH", default: ""].split(separator: ":")
    .map { "\($0)/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }

@Test(.enabled(if: binary != nil && mpirun != nil, "set VT_MPI_TEST_BINARY and put mpirun on PATH"),
      arguments: [2, 4])
func selfTestUnderMPIRun(ranks: Int) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: mpirun!)
    let extra = ProcessInfo.processInfo.environment["VT_MPI_TEST_ARGUMENTS", default: ""]
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
