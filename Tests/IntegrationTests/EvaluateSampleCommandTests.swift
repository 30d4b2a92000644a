// vt evaluate and vt sample end to end: exact bits/dim independent of rank count and batch size, and bad
// input refused with one message (the sampling job's own tests: SamplingJobCommandTests).

import Foundation
import VTTestSupport
import Testing
import HDF5

@Suite(.needs(.vt), .serialized)
struct EvaluateSampleCommandTests {
    init() throws { try requireTools(.vt) }

    /// A trained-for-a-few-steps checkpoint and matching test shards in a fresh folder.
    func prepare() throws -> URL {
        let directory = try temporaryDirectory()
        try smallDistributedConfig.write(to: directory.appendingPathComponent("small.yaml"), atomically: true, encoding: .utf8)
        let train = try runVTRanks(1, ["train", "--config", "small.yaml", "--steps", "4", "--run-dir", "r", "--checkpoint-dir", "c"], directory: directory)
        #expect(train.status == 0, "\(train.output.suffix(800))")
        let shards = try runVTRanks(1, ["prepare", "synthetic", "--videos", "5", "--frames", "6", "--height", "8", "--width", "8",
                                        "--seed", "4", "--split", "test", "--output", "test.h5"], directory: directory)
        #expect(shards.status == 0, "\(shards.output)")
        return directory
    }

    func bits(_ output: String) throws -> (bits: Double, subpixels: Int) {
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("{") })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        return (object["bits_per_dim"] as! Double, object["subpixels"] as! Int)
    }

    @Test func evaluationDoesNotDependOnRanksOrBatch() throws {
        let directory = try prepare()
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = ["evaluate", "--checkpoint", "c/step_00000004.h5", "--data", "test.h5", "--json"]
        let one = try runVTRanks(1, arguments + ["--batch", "4"], directory: directory)
        #expect(one.status == 0, "\(one.output)")
        let reference = try bits(one.output)
        #expect(reference.subpixels == 5 * 3 * 64 * 3, "5 videos × 3 predicted frames (4-frame clips, frame 0 primed) × 8×8×3")
        for (ranks, batch) in [(1, 1), (2, 2), (3, 1)] {
            let run = try runVTRanks(ranks, arguments + ["--batch", "\(batch)"], directory: directory)
            #expect(run.status == 0, "\(run.output)")
            let result = try bits(run.output)
            #expect(result.subpixels == reference.subpixels)
            #expect(abs(result.bits - reference.bits) <= 1e-6 * reference.bits, "\(ranks) ranks × batch \(batch): \(result.bits) vs \(reference.bits)")
        }
    }

    @Test func badInputIsRefusedWithOneMessage() throws {
        let directory = try prepare()
        defer { try? FileManager.default.removeItem(at: directory) }
        try "not a folder".write(to: directory.appendingPathComponent("file"), atomically: true, encoding: .utf8)
        let wrongSize = try runVTRanks(1, ["prepare", "synthetic", "--videos", "2", "--frames", "4", "--height", "16", "--width", "16",
                                           "--output", "big.h5"], directory: directory)
        #expect(wrongSize.status == 0)
        let sample = ["sample", "--checkpoint", "c/step_00000004.h5", "--data", "test.h5", "--videos", "1"]
        for (arguments, expected) in [
            (sample + ["--output", "o", "--temperature", "0"], "--temperature must be a positive number"),
            (sample + ["--output", "o", "--prime-frames", "0,9"], "frame 9 is outside the video"),
            (sample + ["--output", "file/sub"], "cannot create the output folder"),
            (["evaluate", "--checkpoint", "c/step_00000004.h5", "--data", "big.h5"], "needs 4-frame 8×8 clips"),
            (["evaluate", "--checkpoint", "test.h5", "--data", "test.h5"], "test.h5"),
        ] {
            let run = try runVTRanks(1, arguments, directory: directory)
            #expect(run.status != 0, "\(arguments): \(run.output)")
            #expect(run.output.contains(expected), "\(arguments): \(run.output)")
            #expect(!run.output.contains("Fatal error"))
        }
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("o/samples.h5").path))
    }
}
