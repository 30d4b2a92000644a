// Data parallelism under mpirun: 1 rank with global batch B and 2 ranks with B/2 each train the same run
// (per-step losses within 1e-4 relative over 20 steps, final parameters within 1e-5), and bad distributed
// setups stop every rank with one message instead of hanging.

import Foundation
import VTTestSupport
import Testing

@Suite(.needs(.vt, .mpirun), .serialized)
struct DataParallelTests {
    init() throws { try requireTools(.vt, .mpirun) }

    @Test func oneRankAndTwoRanksTrainTheSameRun() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try smallDistributedConfig.write(to: directory.appendingPathComponent("small.yaml"), atomically: true, encoding: .utf8)
        let one = try runVTRanks(1, ["train", "--config", "small.yaml", "--run-dir", "r1", "--checkpoint-dir", "c1"], directory: directory)
        #expect(one.status == 0, "\(one.output.suffix(1500))")
        let two = try runVTRanks(2, ["train", "--config", "small.yaml", "--run-dir", "r2", "--checkpoint-dir", "c2", "--timeline", "t2"], directory: directory)
        #expect(two.status == 0, "\(two.output.suffix(1500))")
        func losses(_ run: String) throws -> [Double] {
            try String(contentsOf: directory.appendingPathComponent("\(run)/metrics.jsonl"), encoding: .utf8).split(separator: "\n").map {
                (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["loss"] as! Double
            }
        }
        let (a, b) = (try losses("r1"), try losses("r2"))
        #expect(a.count == 20 && b.count == 20)
        let worst = zip(a, b).map { abs($0 - $1) / abs($0) }.max() ?? 1
        #expect(worst <= 1e-4, "per-step losses differ by up to \(worst) relative")
        let p1 = try parameters(ofCheckpoint: directory.appendingPathComponent("c1/step_00000020.h5").path)
        let p2 = try parameters(ofCheckpoint: directory.appendingPathComponent("c2/step_00000020.h5").path)
        #expect(!p1.isEmpty && Set(p1.keys) == Set(p2.keys))
        var largest: Float = 0
        for (name, values) in p1 { largest = max(largest, zip(values, p2[name]!).map { abs($0 - $1) }.max() ?? 0) }
        #expect(largest <= 1e-5, "final parameters differ by up to \(largest)")
        for rank in 0..<2 {
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("t2/timeline-rank\(rank).json").path))
        }
    }

    @Test(arguments: [
        (3, ["--steps", "2"], "rank 0 of 3 (building the model): training.batch_size 8 is not divisible by data ranks (3)"),
        (2, ["--mesh", "data=4,model=1"], "(laying out the mesh)"),
        (3, ["--mesh", "data=1,model=3"], "a model axis of 3 must divide model.heads 2 and model.ffn_size 32"),
    ])
    func badDistributedSetupsStopEveryRankWithOneMessage(ranks: Int, extra: [String], expected: String) throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try smallDistributedConfig.write(to: directory.appendingPathComponent("small.yaml"), atomically: true, encoding: .utf8)
        let result = try runVTRanks(ranks, ["train", "--config", "small.yaml", "--run-dir", "r", "--checkpoint-dir", "c"] + extra,
                                    directory: directory, timeout: 120)
        #expect(result.status != 0 && result.status != -999, "status \(result.status): \(result.output.suffix(1500))")
        #expect(result.output.contains(expected), "\(result.output.suffix(1500))")
        #expect(result.output.components(separatedBy: "error:").count == 2, "exactly one error line: \(result.output.suffix(1500))")
    }

    @Test func dataMissingOnOneRankStopsTheJob() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try smallDistributedConfig.write(to: directory.appendingPathComponent("small.yaml"), atomically: true, encoding: .utf8)
        let prepare = try runVTRanks(1, ["prepare", "synthetic", "--videos", "16", "--frames", "4", "--height", "8", "--width", "8",
                                         "--output", "shards/train.h5"], directory: directory)
        #expect(prepare.status == 0, "\(prepare.output)")
        // Rank 1 is pointed at a path that does not exist on its "machine".
        let wrapper = "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then exec \"$0\" \"$@\" --data shards/missing.h5; else exec \"$0\" \"$@\" --data shards/train.h5; fi"
        let result = try runVTRanks(2, ["train", "--config", "small.yaml", "--run-dir", "r", "--checkpoint-dir", "c", "--steps", "2"],
                                    directory: directory, timeout: 120, wrapper: wrapper)
        #expect(result.status != 0 && result.status != -999, "status \(result.status): \(result.output.suffix(1500))")
        #expect(result.output.contains("rank 1 of 2 (opening the data)") && result.output.contains("missing.h5"), "\(result.output.suffix(1500))")
    }
}
