// `vt mesh simulate --precision/--recompute/--shard-optimizer/--gather-precision`: defaults from the config,
// the verdict and the JSON fields follow them, bad values are one clear error. Runs the vt binary (one process).

import Foundation
import VTTestSupport
import Testing

@Suite(.needs(.vt))
struct MemoryFeaturesCommandLineTests {
    init() throws { try requireTools(.vt) }

    func simulate(_ arguments: [String]) throws -> (status: Int32, output: String, json: [String: Any]?) {
        let config = repositoryFile("Configs/bair-large-1m.yaml").path
        let result = try runVT(["mesh", "simulate", "--config", config] + arguments)
        let json = try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        return (result.status, result.output, json)
    }

    @Test func featuresDefaultToTheConfigAndChangeTheVerdict() throws {
        // bair-large-1m.yaml says precision bf16, recompute none (default), shard_optimizer false (default).
        let plain = try simulate(["--mesh", "1x1,2x2", "--layout", "data=1,model=1", "--layout", "data=4,model=1", "--json"])
        #expect(plain.status == 0, "\(plain.output)")
        let features = try #require(plain.json?["features"] as? [String: Any])
        #expect(features["precision"] as? String == "bf16" && features["recompute"] as? String == "none")
        #expect(features["shard_optimizer"] as? Bool == false && features["attention_memory"] as? String == "statistics")
        let predictions = try #require(plain.json?["predictions"] as? [[String: Any]])
        #expect((predictions[0]["memory"] as? [String: Any])?["fits"] as? Bool == false, "1x1: 36.8 GiB")
        #expect(predictions[1]["gradient_collective"] as? String == "all-reduce")

        let features2 = try simulate(["--mesh", "1x1,2x2", "--layout", "data=1,model=1", "--layout", "data=4,model=1",
                                      "--recompute", "layer", "--shard-optimizer", "--precision", "fp32", "--json"])
        #expect(features2.status == 0, "\(features2.output)")
        let set = try #require(features2.json?["features"] as? [String: Any])
        #expect(set["precision"] as? String == "fp32" && set["recompute"] as? String == "layer" && set["shard_optimizer"] as? Bool == true)
        let after = try #require(features2.json?["predictions"] as? [[String: Any]])
        #expect((after[0]["memory"] as? [String: Any])?["fits"] as? Bool == true, "1x1 with recomputation")
        #expect(after[1]["gradient_collective"] as? String == "reduce-scatter")
        let alpha = try #require((after[1]["alphas"] as? [[String: Any]])?.first)
        #expect((alpha["parameter_allgather_seconds"] as? Double ?? 0) > 0)
        #expect((after[1]["memory"] as? [String: Any])?["bf16_weights"] as? Double == 0)
    }

    @Test func badFeatureValuesAreClearErrors() throws {
        let recompute = try simulate(["--mesh", "2x2", "--recompute", "sometimes"])
        #expect(recompute.status != 0 && recompute.output.contains("--recompute must be one of none, layer (got 'sometimes')"), "\(recompute.output)")
        let gather = try simulate(["--mesh", "2x2", "--gather-precision", "bf16"])
        #expect(gather.status != 0 && gather.output.contains("needs --shard-optimizer and bf16 precision"), "\(gather.output)")
        let table = try simulate(["--mesh", "2x2", "--shard-optimizer", "--recompute", "layer", "--alpha-us", "1"])
        #expect(table.status == 0 && table.output.contains("grad reduce-scatter") && table.output.contains("param all-gather"), "\(table.output)")
    }

    @Test func calibrateTrainsWithTheFeaturesItPredicts() throws {
        // --calibrate sets the fields on the run config it builds the Trainer from and predicts with the same.
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try smallDistributedConfig.write(to: directory.appendingPathComponent("small.yaml"), atomically: true, encoding: .utf8)
        let result = try runVT(["mesh", "simulate", "--calibrate", "--config", "small.yaml", "--steps", "1", "--json",
                                "--recompute", "layer", "--shard-optimizer", "--precision", "fp32"], directory: directory)
        #expect(result.status == 0, "\(result.output.suffix(1500))")
        let start = try #require(result.output.firstIndex(of: "{"))
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.output[start...].utf8)) as? [String: Any])
        let features = try #require(report["features"] as? [String: Any])
        #expect(features["recompute"] as? String == "layer" && features["shard_optimizer"] as? Bool == true
                && features["precision"] as? String == "fp32")
        let calibration = try #require(report["calibration"] as? [String: Any])
        let figures = try #require(calibration["figures"] as? [[String: Any]])
        #expect(figures.contains { ($0["source"] as? String)?.contains("recomputed forwards included") == true })
        let row = try #require((calibration["comparisons"] as? [[String: Any]])?.first)
        #expect(abs(row["step_error"] as? Double ?? 1) < 1e-9)   // 1 rank: compute calibrated on the same FLOPs
    }
}
