// `vt bench --json` in each precision (docs/design.md §7–§9): the fields outside tools read, both peaks measured in
// the same run, and memory reported as activations, state and peak resident bytes; `metrics.jsonl` rows
// carry peak_resident_bytes. tiny.yaml keeps each run to a few seconds.

import Foundation
import Kernels
import VTTestSupport
import Testing
import VideoModel
@testable import Training

@Suite(.needs(.vt))
struct BenchCommandLineTests {
    init() throws { try requireTools(.vt) }

    static let tiny = repositoryFile("Configs/tiny.yaml").path

    /// Floats in each flat buffer of tiny.yaml's model (its 1,037,408 parameters plus alignment padding).
    static func bufferCount() throws -> Int { ModelParameters(config: try RunConfig.load(path: tiny).model).table.totalCount }

    func bench(_ precision: String) throws -> [String: Any] {
        let result = try runVT(["bench", "--config", Self.tiny, "--steps", "1", "--precision", precision, "--json"])
        #expect(result.status == 0, "\(result.output)")
        let line = try #require(result.output.split(separator: "\n").last { $0.hasPrefix("{") })
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func fp32ReportsMFUAgainstTheSgemmPeakAndItsMemory() throws {
        let report = try bench("fp32")
        #expect(report["precision"] as? String == "fp32")
        #expect(report["bf16_peak_gflops"] == nil && report["isa"] == nil)
        let sgemm = try #require(report["sgemm_peak_gflops"] as? Double), achieved = try #require(report["achieved_gflops"] as? Double)
        #expect(abs(try #require(report["mfu"] as? Double) - achieved / sgemm) < 1e-9)
        // Parameters + gradients + Adam's two slots: 4 fp32 buffers of the table's size.
        #expect(report["state_bytes"] as? Int == (try Self.bufferCount()) * 16)
        let activations = try #require(report["activation_bytes"] as? Int), peak = try #require(report["peak_resident_bytes"] as? Int)
        #expect(activations > 0 && peak > activations)
    }

    @Test(.enabled(if: MatMul.bf16ProductsAvailable, Comment(rawValue: MatMul.bf16UnavailableReason))) func bf16ReportsBothPeaksTheISAAndLessActivationMemory() throws {
        let bf16 = try bench("bf16"), fp32 = try bench("fp32")
        #expect(bf16["precision"] as? String == "bf16")
        #expect(!(bf16["isa"] as? String ?? "").isEmpty)
        let peak16 = try #require(bf16["bf16_peak_gflops"] as? Double), achieved = try #require(bf16["achieved_gflops"] as? Double)
        let sgemm = try #require(bf16["sgemm_peak_gflops"] as? Double)
        #expect(peak16 > 0 && sgemm > 0)
        #expect(abs(try #require(bf16["mfu"] as? Double) - achieved / peak16) < 1e-9)
        #expect(abs(try #require(bf16["mfu_fp32_peak"] as? Double) - achieved / sgemm) < 1e-9)
        // State adds the bf16 weight copy (2 bytes a parameter); activations shrink (bf16 product inputs).
        #expect(bf16["state_bytes"] as? Int == (try Self.bufferCount()) * 18)
        let act16 = try #require(bf16["activation_bytes"] as? Int), act32 = try #require(fp32["activation_bytes"] as? Int)
        #expect(act16 < act32 * 9 / 10, "bf16 activations \(act16) vs fp32 \(act32)")
    }

    @Test func metricsRowsCarryThePeakResidentBytes() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("small.yaml")
        var small = smallRunConfig(batch: 2, steps: 2)
        small.training.logEvery = 1
        try small.resolvedJSON().write(to: config, atomically: true, encoding: .utf8)  // JSON is YAML
        let result = try runVT(["train", "--config", config.path, "--run-dir", directory.appendingPathComponent("run").path,
                                "--checkpoint-dir", directory.appendingPathComponent("checkpoints").path], directory: directory)
        #expect(result.status == 0, "\(result.output)")
        let text = try String(contentsOf: directory.appendingPathComponent("run/metrics.jsonl"), encoding: .utf8)
        let rows = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["loss"] != nil }
        #expect(!rows.isEmpty, "no step rows in \(text)")
        for row in rows { #expect((row["peak_resident_bytes"] as? Int ?? 0) > 1 << 20, "\(row)") }
    }
}
