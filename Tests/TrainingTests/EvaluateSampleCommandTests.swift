// vt evaluate and vt sample end to end: exact bits/dim independent of rank count and batch size,
// samples written as HDF5 + GIF + MP4 + PNG with primed frames copied bit for bit, and bad input refused.

import Foundation
import VTTestSupport
import Testing
import HDF5

@Suite(.enabled(if: vtBinary != nil, "needs the vt binary"), .serialized)
struct EvaluateSampleCommandTests {
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

    @Test func samplesAreRealFilesWithPrimedFramesCopied() throws {
        let directory = try prepare()
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try runVTRanks(2, ["sample", "--checkpoint", "c/step_00000004.h5", "--data", "test.h5", "--videos", "3",
                                     "--output", "out", "--seed", "7", "--prime-frames", "0,3"], directory: directory)
        #expect(run.status == 0, "\(run.output.suffix(800))")
        let out = directory.appendingPathComponent("out")
        for name in ["samples.h5", "contact_sheet.png"] + (0..<3).flatMap { ["sample_\($0).gif", "sample_\($0).mp4"] } {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "\(name) missing")
        }
        let file = try HDF5File.open(out.appendingPathComponent("samples.h5").path)
        let videos = try file.root.dataset("videos").read(as: UInt8.self), truth = try file.root.dataset("ground_truth").read(as: UInt8.self)
        #expect(try file.root.dataset("videos").shape() == [3, 4, 8, 8, 3])
        #expect(try file.root.attribute("prime_frames", as: [Int64].self) == [0, 3])
        #expect(try file.root.attribute("seed", as: Int64.self) == 7)
        try file.close()
        let frame = 8 * 8 * 3, clip = 4 * frame
        for v in 0..<3 {
            for primed in [0, 3] {
                let range = (v * clip + primed * frame)..<(v * clip + (primed + 1) * frame)
                #expect(Array(videos[range]) == Array(truth[range]), "video \(v) primed frame \(primed) differs")
            }
            #expect(Array(videos[(v * clip + frame)..<(v * clip + 3 * frame)]) != Array(truth[(v * clip + frame)..<(v * clip + 3 * frame)]))
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
