// The launcher/world check (Sources/Distribution/LaunchCheck.swift) on the real binary: a process that
// Slurm's variables call one of 2 tasks of a step, with no MPI launcher (`srun --mpi=none`), refuses in
// one line with a non-zero exit and writes nothing; task 1 of such a step exits quietly (task 0 speaks
// for the step); a batch script's job-wide SLURM_NTASKS and mpirun nested in a 1-task step are not refused.

import Foundation
import VTTestSupport
import Testing

@Suite(.needs(.vt))
struct LaunchCheckCommandLineTests {
    init() throws { try requireTools(.vt) }

    /// What `srun -n 2 --mpi=none` puts in each task's environment (the variables vt could read).
    static func srunStep(tasks: Int, procid: Int) -> [String: String] {
        ["SLURM_JOB_ID": "4242", "SLURM_JOBID": "4242", "SLURM_STEP_ID": "0", "SLURM_STEPID": "0",
         "SLURM_NTASKS": "\(tasks)", "SLURM_NPROCS": "\(tasks)", "SLURM_STEP_NUM_TASKS": "\(tasks)",
         "SLURM_STEP_NUM_NODES": "1", "SLURM_PROCID": "\(procid)", "SLURM_LOCALID": "\(procid)", "SLURM_NODEID": "0"]
    }

    /// Runs `vt arguments` (under `mpirun -np ranks` when ranks > 1) in `directory` with the test's
    /// environment minus every launcher variable, plus `extra`; returns (exit status, stdout + stderr).
    func run(_ arguments: [String], ranks: Int = 1, in directory: URL, extra: [String: String]) throws -> (status: Int32, output: String) {
        let process = Process()
        var environment = ProcessInfo.processInfo.environment.filter { name, _ in
            !["SLURM_", "OMPI_COMM_WORLD", "PMIX_", "PMI_"].contains { name.hasPrefix($0) }
        }
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        environment.merge(extra) { _, new in new }
        process.environment = environment
        process.currentDirectoryURL = directory
        if ranks == 1 {
            process.executableURL = URL(fileURLWithPath: try requireTool(.vt))
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: try requireTool(.mpirun))
            process.arguments = ["--oversubscribe", "--bind-to", "none", "-np", "\(ranks)", try requireTool(.vt)] + arguments
        }
        let logs = try temporaryDirectory("launch")
        defer { try? FileManager.default.removeItem(at: logs) }
        let log = logs.appendingPathComponent("vt.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)  // a file, not a pipe: a full pipe would block mpirun
        process.standardOutput = handle; process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(240)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let hung = process.isRunning
        if hung { process.terminate() }
        process.waitUntilExit()
        return (hung ? -999 : process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    /// A folder holding only `run.yaml` (checkpoints every 2 steps, so a run that trained at all writes some).
    func folder() throws -> URL {
        let directory = try temporaryDirectory()
        let config = smallDistributedConfig.replacingOccurrences(of: "steps: 20", with: "steps: 2")
            .replacingOccurrences(of: "checkpoint:\n  every: 0", with: "checkpoint:\n  every: 2")
        try config.write(to: directory.appendingPathComponent("run.yaml"), atomically: true, encoding: .utf8)
        return directory
    }

    func contents(_ directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    @Test func oneTaskOfATwoTaskStepWithoutMPIRefusesAndWritesNothing() throws {
        let directory = try folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try run(["train", "--config", "run.yaml"], in: directory, extra: Self.srunStep(tasks: 2, procid: 0))
        #expect(result.status != 0 && result.status != -999, "\(result.output)")
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1, "expected one line, got:\n\(result.output)")
        #expect(result.output.hasPrefix("error: the launcher started 2 tasks (SLURM_STEP_NUM_TASKS=2) but MPI gave this process a world of 1 rank,"),
                "\(result.output)")
        #expect(result.output.contains("srun --mpi=pmix"), "\(result.output)")
        let written = try contents(directory)
        #expect(written == ["run.yaml"], "something was written: \(written)")
    }

    @Test func theOtherTasksOfSuchAStepExitQuietly() throws {
        let directory = try folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try run(["train", "--config", "run.yaml"], in: directory, extra: Self.srunStep(tasks: 2, procid: 1))
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.isEmpty, "task 1 printed:\n\(result.output)")
        #expect(try contents(directory) == ["run.yaml"])
    }

    @Test func prepareIsRefusedToo() throws {
        let directory = try folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try run(["prepare", "synthetic", "--output", "data/train.h5", "--videos", "4"], in: directory,
                             extra: Self.srunStep(tasks: 4, procid: 0))
        #expect(result.status != 0 && result.status != -999, "\(result.output)")
        #expect(result.output.split(separator: "\n").count == 1, "\(result.output)")
        #expect(result.output.contains("(SLURM_STEP_NUM_TASKS=4)"), "\(result.output)")
        #expect(try contents(directory) == ["run.yaml"])
    }

    @Test func aBatchScriptAndAOneTaskStepTrain() throws {
        // In the batch script of `sbatch --ntasks=2`: SLURM_NTASKS=2, no step variables; one process is fine.
        let batch = try folder()
        defer { try? FileManager.default.removeItem(at: batch) }
        let inBatch = try run(["train", "--config", "run.yaml"], in: batch,
                              extra: ["SLURM_JOB_ID": "4242", "SLURM_NTASKS": "2", "SLURM_NNODES": "1"])
        #expect(inBatch.status == 0, "\(inBatch.output)")
        #expect(FileManager.default.fileExists(atPath: batch.appendingPathComponent("Checkpoints/run/step_00000002.h5").path))
        let step = try folder()
        defer { try? FileManager.default.removeItem(at: step) }
        let inStep = try run(["train", "--config", "run.yaml"], in: step, extra: Self.srunStep(tasks: 1, procid: 0))
        #expect(inStep.status == 0, "\(inStep.output)")
    }

    @Test(.needs(.mpirun))
    func mpirunInsideAOneTaskStepTrains() throws {
        try requireTools(.mpirun)
        // `srun -n 1 mpirun -np 2 vt …`: the ranks inherit SLURM_STEP_NUM_TASKS=1, mpirun's count (2) wins.
        // (Only the step's variables: with SLURM_JOB_ID set, mpirun would look for a Slurm allocation.)
        let directory = try folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try run(["train", "--config", "run.yaml"], ranks: 2, in: directory,
                             extra: ["SLURM_STEP_NUM_TASKS": "1", "SLURM_PROCID": "0"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("on 2 ranks"), "\(result.output)")
    }
}
