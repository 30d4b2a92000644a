// Configs the fuzzer's run_config harness (Tests/Fuzz) flags: they loaded, but their resolved JSON — logged,
// stored in every checkpoint and decoded again by `vt evaluate` and `vt sample` — came out as "{}", because
// YAML reads `.inf`, `.nan` and 1e400 as numbers and JSON has none. Loading them must fail, naming the field.

import Foundation
import Testing
import VTTestSupport
import VideoModel
@testable import Training

@Suite struct FuzzRegressionTests {
    static let tiny = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Configs/tiny.yaml")

    @Test(arguments: [("optimizer", "learning_rate", ".inf"), ("optimizer", "epsilon", "1e400"),
                      ("optimizer", "minimum_learning_rate", ".nan"), ("optimizer", "clip_norm", ".inf"),
                      ("distribution", "bucket_mb", ".inf")])
    func nonFiniteNumbersAreRefused(section: String, field: String, value: String) throws {
        let text = try String(contentsOf: Self.tiny, encoding: .utf8)
        let edited = Self.setting(section, field, value, in: text)
        let folder = try temporaryDirectory("fuzz-config")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("edited.yaml").path
        try edited.write(toFile: path, atomically: true, encoding: .utf8)
        let error = try #require(throws: ConfigError.self) { try RunConfig.load(path: path) }
        #expect(error.message.contains("\(section).\(field): must be a finite number"), "\(error)")
    }

    /// Every shipped config still loads, and its resolved JSON decodes back to the same config.
    @Test func resolvedJSONRoundTrips() throws {
        let config = try RunConfig.load(path: Self.tiny.path)
        #expect(try ConfigFile.decode(RunConfig.self, yaml: config.resolvedJSON(), source: "resolved") == config)
    }

    /// `text` with `field: value` in its top-level `section` (replacing the field if it is there).
    static func setting(_ section: String, _ field: String, _ value: String, in text: String) -> String {
        var lines = text.components(separatedBy: "\n")
        lines.removeAll { $0.hasPrefix("  \(field):") }
        if let header = lines.firstIndex(where: { $0.hasPrefix("\(section):") }) {
            lines.insert("  \(field): \(value)", at: header + 1)
        } else {
            lines += ["\(section):", "  \(field): \(value)"]
        }
        return lines.joined(separator: "\n")
    }
}
