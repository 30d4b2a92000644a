// The stall watchdog end to end under mpirun: a 2-rank job with one rank stopped (SIGSTOP) ends within
// about a minute naming that rank, and SIGUSR1 to mpirun saves and stops (mpirun forwards it; SIGTERM it
// would answer by killing the ranks). Its bounds and thread: TrainingTests/StallDetectorTests.swift.
import Foundation
import Testing
import VTTestSupport

@Suite(.needs(.vt, .mpirun), .serialized)
struct StallCommandLineTests {
    init() throws { try requireTools(.vt, .mpirun) }

    func config(steps: Int) -> String {
        smallDistributedConfig.replacingOccurrences(of: "  steps: 20", with: "  steps: \(steps)")
    }

    /// Rank 1 stops (SIGSTOP, as a hung node would) after a few seconds of training: with the default
    /// `auto`, rank 0 ends the job about 45 s later naming rank 1, and mpirun exits non-zero.
    @Test func aStoppedRankEndsTheJobWithinAboutAMinute() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try config(steps: 1_000_000).write(to: directory.appendingPathComponent("small.yaml"), atomically: true, encoding: .utf8)
        let wrapper = #"if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then (sleep 6; kill -STOP $$) & fi; exec "$0" "$@""#
        let start = Date()
        let run = try runVTRanks(2, ["train", "--config", "small.yaml", "--run-dir", "run", "--checkpoint-dir", "c"],
                                 directory: directory, timeout: 150, wrapper: wrapper)
        let seconds = Date().timeIntervalSince(start)
        #expect(run.status != 0 && run.status != -999, "status \(run.status): \(run.output.suffix(1500))")
        #expect(run.output.contains("error: rank 0: rank 1 stopped answering (no heartbeat for 4"), "\(run.output.suffix(1500))")
        #expect(run.output.contains("stall timeout auto: 45 s"), "\(run.output.suffix(1500))")
        #expect(seconds > 6 + 44 && seconds < 6 + 75, "the job ended after \(seconds) s")
        print(String(format: "stall: rank 1 stopped at 6 s, job over after %.1f s", seconds))
    }

    /// `kill -USR1 <mpirun>`: the ranks finish the step, save, and exit 0; the run continues with --resume.
    @Test func usr1ToMPIRunSavesAndStops() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try config(steps: 1_000_000).write(to: directory.appendingPathComponent("small.yaml"), atomically: true, encoding: .utf8)
        // mpirun's own PID is the parent of every rank's: the rank-0 wrapper signals it once training runs.
        let wrapper = #"if [ "$OMPI_COMM_WORLD_RANK" = 0 ]; then (sleep 4; kill -USR1 $PPID) & fi; exec "$0" "$@""#
        let run = try runVTRanks(2, ["train", "--config", "small.yaml", "--run-dir", "run", "--checkpoint-dir", "c"],
                                 directory: directory, timeout: 120, wrapper: wrapper)
        #expect(run.status == 0, "status \(run.status): \(run.output.suffix(1500))")
        #expect(run.output.contains("SIGUSR1 received: finishing this step"), "\(run.output.suffix(1500))")
        #expect(run.output.contains("stopped by SIGUSR1 at step"), "\(run.output.suffix(1500))")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("c").path)
        #expect(names.contains { $0.hasPrefix("step_") && $0.hasSuffix(".h5") }, "\(names)")
    }
}
