// `vt train` checkpoint and resume flags and `vt inspect checkpoint`, on the real binary: the JSON report
// (model hyper-parameters under docs/design.md §2's names), a damaged file named with its dataset and a non-zero
// exit, resuming (or starting fresh, saying so), and a mismatched architecture refused by field name.

import Foundation
import VTTestSupport
import Testing

@Suite(.needs(.vt))
struct CheckpointCommandLineTests {
    init() throws { try requireTools(.vt) }

    /// The small model (Tests/Scripts/tiny-model.yaml) with a checkpoint schedule.
    static let config = smallModelYAML() + """
    optimizer:
      name: rmsprop
      learning_rate: 1.0e-3
    training:
      batch_size: 4
      steps: 6
      seed: 3
    data:
      synthetic_videos: 12
      synthetic_seed: 2
    checkpoint:
      every: 2
      keep_last: 2
      milestones: [2]

    """

    /// A folder with `run.yaml`; `vt` runs inside it, so default paths (Checkpoints/run) land there.
    func folder(_ text: String = config) throws -> URL {
        let directory = try temporaryDirectory()
        try text.write(to: directory.appendingPathComponent("run.yaml"), atomically: true, encoding: .utf8)
        return directory
    }

    @Test func trainSavesOnScheduleAndInspectReportsTheDesignNames() throws {
        let directory = try folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let train = try runVT(["train", "--config", "run.yaml"], directory: directory)
        #expect(train.status == 0, "\(train.output)")
        let checkpoints = directory.appendingPathComponent("Checkpoints/run")
        #expect(try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).sorted()
                == ["latest", "step_00000002.h5", "step_00000004.h5", "step_00000006.h5"])
        #expect(try String(contentsOf: checkpoints.appendingPathComponent("latest"), encoding: .utf8) == "step_00000006.h5\n")

        let inspect = try runVT(["inspect", "checkpoint", "Checkpoints/run/step_00000006.h5", "--json"], directory: directory)
        #expect(inspect.status == 0, "\(inspect.output)")
        let start = try #require(inspect.output.firstIndex(of: "{"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(inspect.output[start...].utf8)) as? [String: Any])
        let model = try #require(object["model"] as? [String: Any])
        #expect(Set(model.keys) == ["frames", "height", "width", "subscale", "prime_frames", "embedding_size", "hidden_size",
                                    "heads", "head_size", "ffn_size", "encoder_layers", "decoder_layers", "encoder_kernel", "blocks"])
        #expect(model["hidden_size"] as? Int == 16 && model["subscale"] as? [Int] == [2, 2, 2])
        #expect(object["step"] as? Int == 6)
        #expect(object["format"] as? String == "vt-checkpoint")
        #expect((object["checksums"] as? [String: Any])?["status"] as? String == "ok")
        let tensors = try #require(object["tensors"] as? [[String: Any]])
        #expect(tensors.contains { $0["name"] as? String == "params/encoder/layer_0/attention/query" && $0["shape"] as? [Int] == [16, 16] })
        #expect(tensors.contains { $0["name"] as? String == "optimizer/momentum/decoder/condition" })
        let parameters = tensors.filter { ($0["name"] as? String)?.hasPrefix("params/") == true }
            .reduce(0) { $0 + (($1["shape"] as? [Int]) ?? []).reduce(1, *) }
        #expect(object["parameter_count"] as? Int == parameters)

        let text = try runVT(["inspect", "checkpoint", "Checkpoints/run/step_00000006.h5"], directory: directory)
        #expect(text.status == 0 && text.output.contains("checksums    ok: all"), "\(text.output)")
    }

    @Test func aFlippedByteFailsInspectNamingTheDataset() throws {
        let directory = try folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try runVT(["train", "--config", "run.yaml", "--steps", "2"], directory: directory).status == 0)
        let path = directory.appendingPathComponent("Checkpoints/run/step_00000002.h5")
        var bytes = [UInt8](try Data(contentsOf: path))
        bytes[bytes.count / 2] ^= 0x01  // inside params/encoder/embedding's data, the largest tensor
        try Data(bytes).write(to: path)
        let inspect = try runVT(["inspect", "checkpoint", "Checkpoints/run/step_00000002.h5"], directory: directory)
        #expect(inspect.status != 0)
        #expect(inspect.output.contains("error: checkpoint Checkpoints/run/step_00000002.h5: /"), "\(inspect.output)")
        #expect(inspect.output.contains("fails its CRC-32C check"), "\(inspect.output)")
        #expect(!inspect.output.contains("Fatal error"))
    }

    @Test func resumeContinuesOrStartsFreshSayingSo() throws {
        let directory = try folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fresh = try runVT(["train", "--config", "run.yaml", "--steps", "3", "--resume"], directory: directory)
        #expect(fresh.status == 0 && fresh.output.contains("no checkpoint in"), "\(fresh.output)")
        let resumed = try runVT(["train", "--config", "run.yaml", "--resume"], directory: directory)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(resumed.output.contains("resume: ") && resumed.output.contains("step_00000003.h5 (step 3"), "\(resumed.output)")
        let lines = try String(contentsOf: directory.appendingPathComponent("runs/run/metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        #expect(lines.count == 6)
        let explicit = try runVT(["train", "--config", "run.yaml", "--resume-from", "Checkpoints/run/step_00000006.h5"], directory: directory)
        #expect(explicit.status == 0 && explicit.output.contains("nothing to train"), "\(explicit.output)")
        let both = try runVT(["train", "--config", "run.yaml", "--resume", "--resume-from", "x.h5"], directory: directory)
        #expect(both.status != 0 && both.output.contains("exclude each other"), "\(both.output)")
    }

    @Test func anotherArchitectureIsRefusedByFieldName() throws {
        let directory = try folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try runVT(["train", "--config", "run.yaml", "--steps", "2"], directory: directory).status == 0)
        let wider = Self.config.replacingOccurrences(of: "ffn_size: 32", with: "ffn_size: 64")
        try wider.write(to: directory.appendingPathComponent("run.yaml"), atomically: true, encoding: .utf8)
        let result = try runVT(["train", "--config", "run.yaml", "--resume"], directory: directory)
        #expect(result.status != 0)
        #expect(result.output.contains("model.ffn_size is 32 in the checkpoint but 64 in run.yaml"), "\(result.output)")
        #expect(!result.output.contains("Fatal error"))
        // Nothing was destroyed.
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("Checkpoints/run/step_00000002.h5").path))
    }
}
