// Multi-process check: the built `vt` binary (beside the test bundle, or VT_MPI_TEST_BINARY) runs the
// hidden `selftest-mpi` subcommand under mpirun with 2 and 4 ranks; exit status 0 is required. Extra
// arguments replace the default from VT_MPI_TEST_ARGUMENTS (split on spaces). Skipped (with the reason)
// when mpirun or the binary is missing; under CI=true that is a failure.
import Foundation
import Testing
import VTTestSupport

@Test(.needs(.vt, .mpirun), arguments: [2, 4])
func selfTestUnderMPIRun(ranks: Int) throws {
    try requireTools(.vt, .mpirun)
    let binary = try ProcessInfo.processInfo.environment["VT_MPI_TEST_BINARY"] ?? requireTool(.vt)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try requireTool(.mpirun))
    let extra = ProcessInfo.processInfo.environment["VT_MPI_TEST_ARGUMENTS", default: "selftest-mpi"]
        .split(separator: " ").map(String.init)
    process.arguments = ["--allow-run-as-root", "--oversubscribe", "-np", "\(ranks)", binary] + extra
    let directory = try temporaryDirectory("mpi")
    defer { try? FileManager.default.removeItem(at: directory) }
    let log = directory.appendingPathComponent("vt-mpi-\(ranks).log")
    FileManager.default.createFile(atPath: log.path, contents: nil)
    let output = try FileHandle(forWritingTo: log)  // a file, not a pipe: a full pipe would block mpirun
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let deadline = Date().addingTimeInterval(300)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    if process.isRunning { process.terminate() }
    process.waitUntilExit()
    let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    #expect(process.terminationStatus == 0, "mpirun -np \(ranks) \(binary) failed:\n\(text.suffix(2000))")
}
