// Conditioned models end to end on the vt binary (docs/design.md §11): a model trained on the action-driven,
// class-coloured synthetic corpus is sampled with guidance; the sample set is byte-identical for 1 and 2
// ranks and batch sizes 1 and 3, samples.h5 records the actions and labels each sample was given, an action
// file and a class name override them, a resume under other conditions is refused naming the difference,
// and data without what the model is conditioned on is refused naming the shard.

import Foundation
import VTTestSupport
import Testing
import HDF5

@Suite(.needs(.vt), .serialized)
struct ConditionedCommandTests {
    init() throws { try requireTools(.vt) }

    /// A folder with a 16×16 model with 4-d actions and 3 classes trained 3 steps (`c/step_00000003.h5`),
    /// its training shard and a test shard of 4 videos, and a plain (unconditioned) test shard.
    func prepare() throws -> URL {
        let directory = try temporaryDirectory()
        let config = frames16Config.replacingOccurrences(of: "model:\n", with: "model:\n  actions: 4\n  classes: 3\n")
            .replacingOccurrences(of: "data:\n", with: "data:\n  train: train.h5\n")
        try config.write(to: directory.appendingPathComponent("cond.yaml"), atomically: true, encoding: .utf8)
        for (name, videos, seed, flags) in [("train.h5", 16, 1, ["--actions", "--classes", "3"]), ("test.h5", 4, 2, ["--actions", "--classes", "3"]),
                                            ("plain.h5", 4, 2, [])] {
            let made = try runVT(["prepare", "synthetic", "--videos", "\(videos)", "--frames", "4", "--height", "16", "--width", "16",
                                  "--seed", "\(seed)", "--output", name] + flags, directory: directory)
            #expect(made.status == 0, "\(made.output)")
        }
        let train = try runVT(["train", "--config", "cond.yaml", "--steps", "3", "--run-dir", "r", "--checkpoint-dir", "c"], directory: directory)
        #expect(train.status == 0, "\(train.output.suffix(800))")
        return directory
    }

    @Test func guidedConditionedSamplesDoNotDependOnRanksOrBatchAndRecordTheirConditions() throws {
        let directory = try prepare()
        defer { try? FileManager.default.removeItem(at: directory) }
        let sample = ["sample", "--checkpoint", "c/step_00000003.h5", "--data", "test.h5", "--all", "--samples-per-video", "2",
                      "--seed", "5", "--guidance", "1.5", "--views", "0"]
        let names = ["samples", "log_likelihood", "psnr", "ssim", "actions", "labels"]
        var reference: [String: [UInt8]]? = nil
        for (ranks, batch) in [(1, 3), (1, 1), (2, 3)] {
            let out = "out-\(ranks)-\(batch)"
            let run = try runVTRanks(ranks, sample + ["--batch", "\(batch)", "--output", out], directory: directory)
            #expect(run.status == 0, "\(ranks) × \(batch): \(run.output.suffix(800))")
            let set = try datasetBytes(directory.appendingPathComponent("\(out)/samples.h5"), names)
            if let reference {
                for name in names { #expect(set[name] == reference[name], "\(name): \(ranks) ranks × batch \(batch) differ from 1 × 3") }
            } else {
                reference = set
            }
        }
        // What each sample was given: the test shard's actions and labels, the same for a video's samples.
        let file = try HDF5File.open(directory.appendingPathComponent("out-1-3/samples.h5").path)
        defer { try? file.close() }
        let shard = try HDF5File.open(directory.appendingPathComponent("test.h5").path)
        defer { try? shard.close() }
        #expect(try file.root.dataset("actions").shape() == [4, 2, 4, 4])
        let actions = try file.root.dataset("actions").read(as: Float.self), truth = try shard.root.dataset("actions").read(as: Float.self)
        for v in 0..<4 { for s in 0..<2 {
            #expect(Array(actions[((v * 2 + s) * 16)..<((v * 2 + s + 1) * 16)]) == Array(truth[(v * 16)..<((v + 1) * 16)]), "video \(v) sample \(s)")
        } }
        let labels = try file.root.dataset("labels").read(as: Int32.self), classes = try shard.root.dataset("labels").read(as: Int32.self)
        #expect(labels == classes.flatMap { [$0, $0] })
        #expect(try file.root.attribute("guidance", as: Double.self) == 1.5)
        #expect(try file.root.attribute("conditioning", as: String.self) == "data")
        // vt inspect samples reads it back: how it was drawn, and the class measure over all 8 samples.
        let inspect = try runVT(["inspect", "samples", "out-1-3", "--synthetic", "--classes", "3", "--json"], directory: directory)
        #expect(inspect.status == 0, "\(inspect.output.suffix(600))")
        let line = try #require(inspect.output.split(separator: "\n").last { $0.hasPrefix("{") })
        let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(report["guidance"] as? Double == 1.5 && report["samples_per_video"] as? Int == 2)
        let consistency = try #require(report["class_consistency"] as? [String: Any])
        #expect(consistency["samples"] as? Int == 8 && consistency["truths"] as? Int == 4 && consistency["truth_consistent"] as? Int == 4)
        #expect(report["action_following"] != nil, "the samples were given actions")
    }

    /// `vt bench --sampling` runs a conditioned config on stand-in actions and labels (it trapped before) and,
    /// for a class-conditioned one, times guided against unguided sampling.
    @Test func benchSamplingRunsAConditionedConfigAndTimesGuidance() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = frames16Config.replacingOccurrences(of: "model:\n", with: "model:\n  actions: 4\n  classes: 3\n")
        try config.write(to: directory.appendingPathComponent("cond.yaml"), atomically: true, encoding: .utf8)
        let bench = try runVT(["bench", "--config", "cond.yaml", "--sampling", "--json"], directory: directory)
        #expect(bench.status == 0, "\(bench.output.suffix(800))")
        let line = try #require(bench.output.split(separator: "\n").last { $0.hasPrefix("{") })
        let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let guidance = try #require(report["guidance"] as? [String: Any])
        #expect(guidance["rounds"] as? Int == 3)
        for key in ["guided_subpixels_per_second", "unguided_subpixels_per_second", "time_ratio"] {
            #expect(((guidance[key] as? Double) ?? 0) > 0, "\(key)")
        }
        #expect(((report["evaluation_subpixels_per_second"] as? Double) ?? 0) > 0)
        // What sampling costs against the machine (issue 23): the product rate against the peak measured in the
        // run, the largest batch by memory (timed on a whole slice: the small model's is short), the protocols.
        let cost = try #require(report["cost"] as? [String: Any])
        let batch = try #require(report["batch"] as? Int), one = try #require(report["cached_subpixels_per_second_batch"] as? Double)
        let flops = try #require(cost["flops_per_subpixel"] as? Double), peak = try #require(cost["peak_gflops"] as? Double)
        #expect(flops > 0 && peak > 0)
        #expect(abs((cost["achieved_gflops_batch"] as? Double ?? 0) - one * flops / 1e9) <= 1e-9 * one * flops / 1e9)
        #expect(abs((cost["fraction_of_peak_batch"] as? Double ?? 0) - one * flops / 1e9 / peak) <= 1e-9)
        let largest = try #require(cost["largest_batch"] as? Int)
        #expect(largest > batch && largest <= 1024 && (cost["bytes_per_video"] as? Int ?? 0) > 0)
        #expect(cost["largest_batch_timed"] as? Int == min(largest, 256) && cost["largest_batch_positions"] as? Int == 2 * 8 * 8)
        let protocols = try #require(cost["protocols"] as? [[String: Any]])
        let best = try #require(cost["best_subpixels_per_second"] as? Double)
        #expect(protocols.map { $0["samples"] as? Int } == [25_600, 10_000])
        let bair = try #require(protocols.first?["seconds_one_node"] as? Double)
        #expect(abs(bair - 25_600 * 4 * 16 * 16 * 3 / best) <= 1e-6 * bair, "BAIR: \(bair) s at \(best) sub-pixels/s")
    }

    @Test func overridesAreRecordedAndAResumeUnderOtherConditionsIsRefused() throws {
        let directory = try prepare()
        defer { try? FileManager.default.removeItem(at: directory) }
        let moves = (0..<4).map { t in "[\(t), -1.5, 0, 0]" }.joined(separator: ", ")
        try "[\(moves)]".write(to: directory.appendingPathComponent("left.json"), atomically: true, encoding: .utf8)
        let sample = ["sample", "--checkpoint", "c/step_00000003.h5", "--data", "test.h5", "--videos", "2", "--views", "0", "--output", "o"]
        let given = try runVT(sample + ["--actions", "left.json", "--label", "orange table"], directory: directory)
        #expect(given.status == 0, "\(given.output.suffix(600))")
        let file = try HDF5File.open(directory.appendingPathComponent("o/samples.h5").path)
        #expect(try file.root.dataset("labels").read(as: Int32.self) == [1, 1])
        #expect(Array(try file.root.dataset("actions").read(as: Float.self).prefix(8)) == [0, -1.5, 0, 0, 1, -1.5, 0, 0])
        #expect(try file.root.attribute("conditioning", as: String.self).hasPrefix("label 1; actions left.json"))
        try file.close()
        let other = try runVT(sample + ["--label", "2", "--resume"], directory: directory)
        #expect(other.status != 0 && other.output.contains("conditioning label 1; actions left.json"), "\(other.output.suffix(400))")
        let unknown = try runVT(sample + ["--label", "purple table", "--output", "p"], directory: directory)
        #expect(unknown.status != 0 && unknown.output.contains("--label purple table") && unknown.output.split(separator: "\n").filter { $0.hasPrefix("error") }.count == 1)
    }

    @Test func dataWithoutTheConditioningIsRefusedNamingTheShard() throws {
        let directory = try prepare()
        defer { try? FileManager.default.removeItem(at: directory) }
        let evaluate = try runVT(["evaluate", "--checkpoint", "c/step_00000003.h5", "--data", "plain.h5"], directory: directory)
        #expect(evaluate.status != 0 && evaluate.output.contains("plain.h5") && evaluate.output.contains("holds no actions"), "\(evaluate.output.suffix(400))")
        let train = try runVT(["train", "--config", "cond.yaml", "--data", "plain.h5", "--steps", "1", "--run-dir", "r2", "--checkpoint-dir", "c2"],
                              directory: directory)
        #expect(train.status != 0 && train.output.contains("plain.h5") && train.output.contains("holds no actions"), "\(train.output.suffix(400))")
    }
}
