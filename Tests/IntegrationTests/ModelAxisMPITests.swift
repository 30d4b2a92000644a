// The model axis under mpirun (docs/design.md §4): `vt train --mesh data=1,model=2` (2 ranks) and
// `--mesh data=2,model=2` (4 ranks, oversubscribed on 2 cores) train the same run as one rank with the
// same global batch — per-step losses within 1e-4 relative over 10 steps, final parameters within 1e-5 —
// and a run saved on data=2,model=2 continues on data=4,model=1 as the same run. The in-process versions
// (threads instead of processes) are in ModelAxisTests.

import Foundation
import VTTestSupport
import Testing

@Suite(.needs(.vt, .mpirun), .serialized)
struct ModelAxisMPITests {
    init() throws { try requireTools(.vt, .mpirun) }

    @Test func meshesWithAModelAxisTrainTheSameRunAsOneRank() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try smallDistributedConfig.write(to: directory.appendingPathComponent("small.yaml"), atomically: true, encoding: .utf8)
        func train(_ ranks: Int, _ name: String, _ extra: [String]) throws {
            let result = try runVTRanks(ranks, ["train", "--config", "small.yaml", "--run-dir", name, "--checkpoint-dir", "c-\(name)"] + extra,
                                        directory: directory)
            #expect(result.status == 0, "\(name): \(result.output.suffix(1500))")
        }
        func losses(_ run: String) throws -> [Double] {
            try String(contentsOf: directory.appendingPathComponent("\(run)/metrics.jsonl"), encoding: .utf8).split(separator: "\n").compactMap {
                (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["loss"] as? Double
            }
        }
        try train(1, "one", ["--steps", "10"])
        try train(2, "d1m2", ["--steps", "10", "--mesh", "data=1,model=2", "--timeline", "t"])
        try train(4, "d2m2", ["--steps", "10", "--mesh", "data=2,model=2"])
        // Saved on data=2,model=2 at step 5, continued on data=4,model=1.
        try train(4, "moved", ["--steps", "5", "--mesh", "data=2,model=2"])
        try train(4, "moved", ["--steps", "10", "--mesh", "data=4,model=1", "--resume"])
        for rank in 0..<2 {  // the timeline shows the activation all-reduces on the main thread
            let trace = try String(contentsOf: directory.appendingPathComponent("t/timeline-rank\(rank).json"), encoding: .utf8)
            #expect(trace.contains("model-axis all-reduce"))
        }
        let reference = try losses("one")
        let p1 = try parameters(ofCheckpoint: directory.appendingPathComponent("c-one/step_00000010.h5").path)
        #expect(reference.count == 10 && !p1.isEmpty)
        for run in ["d1m2", "d2m2", "moved"] {
            let other = try losses(run)
            #expect(other.count == 10, "\(run): \(other.count) steps logged")
            let worst = zip(reference, other).map { abs($0 - $1) / abs($0) }.max() ?? 1
            #expect(worst <= 1e-4, "\(run): per-step losses differ by up to \(worst) relative")
            let p2 = try parameters(ofCheckpoint: directory.appendingPathComponent("c-\(run)/step_00000010.h5").path)
            #expect(Set(p1.keys) == Set(p2.keys), "\(run): the checkpoint holds every tensor under its docs/design.md name")
            var largest: Float = 0
            for (name, values) in p1 {
                #expect(values.count == p2[name]?.count, "\(run): \(name) is a full tensor")
                largest = max(largest, zip(values, p2[name] ?? []).map { abs($0 - $1) }.max() ?? 0)
            }
            #expect(largest <= 1e-5, "\(run): final parameters differ by up to \(largest)")
        }
    }
}
