// The `vt` binary on bad input: one clear message, non-zero exit, never a trap.

import Foundation
import VTTestSupport
import Testing

@Suite(.needs(.vt))
struct CommandLineTests {
    init() throws { try requireTools(.vt) }

    @Test func aMissingConfigFileIsNamed() throws {
        let result = try runVT(["train", "--config", "/nonexistent/x.yaml"])
        #expect(result.status != 0)
        #expect(result.output.contains("error: /nonexistent/x.yaml: cannot read the config file"), "\(result.output)")
    }

    @Test(arguments: [
        ("heads: 2", "heads: 3", ""),   // a legal change: the run must start and finish
        ("ffn_size: 32", "ffn_size: 32\n  colour: red", "unknown key 'model.colour'"),
        ("encoder_kernel: [3, 3, 3]", "encoder_kernel: [3, 2, 3]", "model.encoder_kernel: sizes must be odd"),
        ("subscale: [2, 2, 2]", "subscale: [3, 2, 2]", "model.subscale: factor 3 along t does not divide"),
        ("batch_size: 4", "batch_size: 0", "training.batch_size: must be at least 1"),
    ])
    func badConfigsExitNonZeroNamingTheField(original: String, replacement: String, expected: String) throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let text = Self.config.replacingOccurrences(of: original, with: replacement)
        let path = directory.appendingPathComponent("bad.yaml")
        try text.write(to: path, atomically: true, encoding: .utf8)
        let result = try runVT(["train", "--config", path.path, "--run-dir", directory.path, "--checkpoint-dir", directory.path])
        if original == "heads: 2" {
            // 3 heads are a legal change: the run must start and finish.
            #expect(result.status == 0, "\(result.output)")
        } else {
            #expect(result.status != 0)
            #expect(result.output.contains(expected), "\(result.output)")
            #expect(!result.output.contains("Fatal error"), "a Swift trap: \(result.output)")
        }
    }

    /// The small model (Tests/Scripts/tiny-model.yaml, one block shape) trained 2 steps with Adam.
    static let config = smallTwoStepConfig
}
