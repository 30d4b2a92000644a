// The sampling job end to end (`vt sample --all --samples-per-video K`, `vt evaluate --metrics`): the sample
// set is byte-identical for 1, 2 and 3 ranks and batch sizes 1 and 4; a kill -9 mid-run and `--resume`
// give the uninterrupted set; primed frames are the real ones bit for bit; the scores stored by the
// sampling ranks equal those recomputed from the file; FVD without its environment is one message.

import Foundation
import VTTestSupport
import Testing
import Evaluation

/// The small test model on 16×16 frames (SSIM's 11×11 window needs at least that).
let frames16Config = smallDistributedConfig.replacingOccurrences(of: "  height: 8\n  width: 8", with: "  height: 16\n  width: 16")

@Suite(.needs(.vt), .serialized)
struct SamplingJobCommandTests {
    init() throws { try requireTools(.vt) }

    /// A checkpoint trained for 4 steps and `videos` test videos of 6 frames.
    func prepare(videos: Int = 5) throws -> URL { try trainedSmallModel(videos: videos) }

    let sample = ["sample", "--checkpoint", "c/step_00000004.h5", "--data", "test.h5", "--all", "--samples-per-video", "3", "--seed", "9",
                  "--views", "1"]

    /// Every dataset of a samples.h5, as bytes, by name.
    func contents(_ path: URL) throws -> [String: [UInt8]] {
        try datasetBytes(path, ["samples", "ground_truth", "log_likelihood", "psnr", "ssim"])
    }

    @Test func theSampleSetDoesNotDependOnRanksOrBatch() throws {
        let directory = try prepare()
        defer { try? FileManager.default.removeItem(at: directory) }
        var reference: [String: [UInt8]]? = nil
        for (ranks, batch) in [(1, 4), (1, 1), (2, 4), (3, 1), (2, 2)] {
            let out = "out-\(ranks)-\(batch)"
            let run = try runVTRanks(ranks, sample + ["--batch", "\(batch)", "--output", out], directory: directory)
            #expect(run.status == 0, "\(ranks) ranks × batch \(batch): \(run.output.suffix(800))")
            let set = try contents(directory.appendingPathComponent("\(out)/samples.h5"))
            if let reference {
                for name in reference.keys.sorted() { #expect(set[name] == reference[name], "\(name): \(ranks) ranks × batch \(batch) differ from 1 × 4") }
            } else {
                reference = set
                let file = try SampleFile(path: directory.appendingPathComponent("\(out)/samples.h5").path)
                #expect((file.videos, file.samplesPerVideo, file.frames, file.height, file.width) == (5, 3, 4, 16, 16))
                #expect(file.seed == 9 && file.primeFrames == [0] && file.generatedFrames == [1, 2, 3])
                // Primed frames are the real ones bit for bit; generated ones are not all copies.
                let frame = 16 * 16 * 3, clip = 4 * frame
                var generatedEqual = 0
                for v in 0..<5 {
                    let (real, samples) = try file.pixels(video: v)
                    for s in 0..<3 {
                        #expect(Array(samples[(s * clip)..<(s * clip + frame)]) == Array(real[0..<frame]), "video \(v) sample \(s): primed frame changed")
                        if Array(samples[(s * clip + frame)..<((s + 1) * clip)]) == Array(real[frame...]) { generatedEqual += 1 }
                    }
                    #expect(Array(samples[0..<clip]) != Array(samples[clip..<(2 * clip)]), "video \(v): samples 0 and 1 are equal")
                }
                #expect(generatedEqual == 0)
                // The scores the sampling ranks stored are those computed from the written pixels.
                let stored = try file.storedScores(videos: 5, samples: 3), computed = try file.computedScores(videos: 5, samples: 3)
                #expect(stored.psnr == computed.psnr && stored.ssim == computed.ssim)
                #expect(stored.ssim.joined().joined().allSatisfy { $0.isFinite && $0 <= 1 })
                for name in ["contact_sheet.png", "sample_0.gif", "sample_0.mp4"] {
                    #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("\(out)/\(name)").path), "\(name) missing")
                }
                #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("\(out)/parts").path), "parts left after assembly")
            }
        }
    }

    @Test func aKilledJobResumesToTheUninterruptedSet() throws {
        let directory = try prepare(videos: 40)
        defer { try? FileManager.default.removeItem(at: directory) }
        let whole = try runVT(sample + ["--batch", "2", "--output", "whole"], directory: directory)
        #expect(whole.status == 0, "\(whole.output.suffix(800))")
        // Batch 1 on one rank: 120 rounds, each a part file; kill -9 once a few are on disk.
        let process = try runVTUntilKilled(sample + ["--batch", "1", "--output", "cut"], directory: directory,
                                           parts: directory.appendingPathComponent("cut/parts"), count: 5)
        #expect(process.terminationReason == .uncaughtSignal, "the job ended before it could be killed")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("cut/samples.h5").path))
        // Without --resume the folder is refused; with it (on 2 ranks now) the job finishes the same set.
        let refused = try runVT(sample + ["--output", "cut"], directory: directory)
        #expect(refused.status != 0 && refused.output.contains("pass --resume"), "\(refused.output)")
        let otherSeed = try runVT(sample.map { $0 == "9" ? "10" : $0 } + ["--output", "cut", "--resume"], directory: directory)
        #expect(otherSeed.status != 0 && otherSeed.output.contains("seed 9, not 10"), "\(otherSeed.output)")
        let resumed = try runVTRanks(2, sample + ["--batch", "3", "--output", "cut", "--resume"], directory: directory)
        #expect(resumed.status == 0, "\(resumed.output.suffix(800))")
        #expect(resumed.output.contains("already in"), "\(resumed.output)")
        let a = try contents(directory.appendingPathComponent("whole/samples.h5")), b = try contents(directory.appendingPathComponent("cut/samples.h5"))
        for name in a.keys.sorted() { #expect(a[name] == b[name], "\(name) differs after kill -9 and --resume") }
    }

    @Test func evaluateScoresTheSamplesVtSampleDraws() throws {
        let directory = try prepare()
        defer { try? FileManager.default.removeItem(at: directory) }
        let drawn = try runVT(sample + ["--output", "drawn"], directory: directory)
        #expect(drawn.status == 0, "\(drawn.output.suffix(800))")
        let evaluate = ["evaluate", "--checkpoint", "c/step_00000004.h5", "--data", "test.h5", "--metrics", "bpd,psnr,ssim",
                        "--samples-per-video", "3", "--seed", "9", "--json"]
        let run = try runVTRanks(2, evaluate + ["--output", "scored"], directory: directory)
        #expect(run.status == 0, "\(run.output.suffix(800))")
        // The same options draw the same samples.
        let a = try contents(directory.appendingPathComponent("drawn/samples.h5")), b = try contents(directory.appendingPathComponent("scored/samples.h5"))
        #expect(a["samples"] == b["samples"])
        let report = try json(run.output)
        let psnr = try #require(report["psnr"] as? [String: Any]), ssim = try #require(report["ssim"] as? [String: Any])
        let file = try SampleFile(path: directory.appendingPathComponent("drawn/samples.h5").path)
        let scores = try file.computedScores(videos: 5, samples: 3)
        let expectedPSNR = MetricSummary(scores: scores.psnr), expectedSSIM = MetricSummary(scores: scores.ssim)
        // JSON keeps doubles to about 15 significant digits.
        func close(_ value: Any?, _ expected: Double) -> Bool { abs((value as? Double ?? .nan) - expected) <= 1e-12 * max(1, abs(expected)) }
        #expect(close(psnr["mean"], expectedPSNR.mean) && close(psnr["best_of_k"], expectedPSNR.bestOfK) && close(psnr["std"], expectedPSNR.std))
        #expect(zip(psnr["per_frame"] as? [Double] ?? [], expectedPSNR.perFrame).allSatisfy { close($0, $1) })
        #expect(close(ssim["mean"], expectedSSIM.mean) && close(ssim["best_of_k"], expectedSSIM.bestOfK))
        #expect((ssim["best_of_k"] as? Double ?? 0) >= (ssim["mean"] as? Double ?? 1))
        #expect(report["bits_per_dim"] is Double)
        let protocolReport = try #require(report["protocol"] as? [String: Any])
        #expect(protocolReport["samples_per_video"] as? Int == 3 && protocolReport["seed"] as? Int == 9)
        #expect(protocolReport["generated_frames"] as? [Int] == [1, 2, 3] && protocolReport["temperature"] as? Double == 1)
        // Re-scoring draws nothing; scoring the file directly gives the same numbers from its pixels.
        let again = try runVT(evaluate + ["--output", "scored"], directory: directory)
        #expect((try json(again.output)["sampling"] as? [String: Any])?["drawn"] as? Int == 0, "\(again.output.suffix(400))")
        let direct = try runVT(["evaluate", "--samples", "drawn/samples.h5", "--metrics", "psnr,ssim", "--json"], directory: directory)
        #expect(direct.status == 0, "\(direct.output.suffix(800))")
        #expect(close((try json(direct.output)["psnr"] as? [String: Any])?["mean"], expectedPSNR.mean))
    }

    @Test func fvdWithoutItsEnvironmentIsOneMessageBeforeAnySampling() throws {
        let directory = try prepare()
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try runVT(["evaluate", "--checkpoint", "c/step_00000004.h5", "--data", "test.h5", "--metrics", "fvd",
                             "--fvd-python", "/nonexistent/python", "--output", "o"], directory: directory)
        #expect(run.status != 0)
        #expect(run.output.contains("bash scripts/setup-fvd.sh"), "\(run.output)")
        #expect(run.output.split(separator: "\n").count == 1, "\(run.output)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("o").path))
        let notSamples = try runVT(["evaluate", "--samples", "test.h5", "--metrics", "psnr"], directory: directory)
        #expect(notSamples.status != 0 && notSamples.output.contains("test.h5: has no dataset samples"), "\(notSamples.output)")
        #expect(!notSamples.output.contains("Fatal error"))
    }

    func json(_ output: String) throws -> [String: Any] {
        let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") })
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
}

/// FVD end to end through the pinned environment (`bash scripts/setup-fvd.sh`; the test command sets it up).

@Suite(.needs(.vt, .fvd), .serialized)
struct FVDCommandTests {
    init() throws { try requireTools(.vt, .fvd) }

    @Test func fvdIsScoredOncePerSampleIndexAndCachedForRescoring() throws {
        // 12 frames: I3D needs at least 9.
        let directory = try trainedSmallModel(frames: 12, steps: 2, videos: 4, videoFrames: 12)
        defer { try? FileManager.default.removeItem(at: directory) }
        let evaluate = ["evaluate", "--checkpoint", "c/step_00000002.h5", "--data", "test.h5", "--metrics", "fvd", "--samples-per-video", "2",
                        "--output", "s", "--json"]
        let first = try runVT(evaluate, directory: directory)
        #expect(first.status == 0, "\(first.output.suffix(1500))")
        let report = try json(first.output)
        let fvd = try #require(report["fvd"] as? [String: Any])
        #expect(fvd["trials"] as? Int == 2 && fvd["videos"] as? Int == 4 && fvd["frames"] as? String == "all")
        let mean = try #require(fvd["mean"] as? Double)
        #expect(mean.isFinite && mean > 0, "an untrained model's samples are far from the real videos: \(mean)")
        #expect((fvd["per_trial"] as? [Double])?.count == 2)
        #expect(((report["i3d"] as? [String: Any])?["videos_computed"] as? Int ?? 0) > 0)
        // Re-scoring draws nothing and runs no I3D: the same number from the cache.
        let again = try json(try runVT(evaluate, directory: directory).output)
        #expect((again["i3d"] as? [String: Any])?["videos_computed"] as? Int == 0)
        #expect((again["fvd"] as? [String: Any])?["mean"] as? Double == mean)
        #expect((again["sampling"] as? [String: Any])?["drawn"] as? Int == 0)
        // Too few frames is refused before any sampling.
        let short = try runVT(evaluate.map { $0 == "s" ? "t" : $0 } + ["--fvd-frames", "generated", "--fvd-trials", "1"], directory: directory)
        #expect(short.status == 0, "11 generated frames are enough: \(short.output.suffix(600))")
        #expect((try json(short.output)["fvd"] as? [String: Any])?["frames"] as? String == "generated")
    }

    @Test func tooFewFramesAreRefusedBeforeAnySampling() throws {
        let directory = try trainedSmallModel(steps: 1, videos: 1)
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try runVT(["evaluate", "--checkpoint", "c/step_00000001.h5", "--data", "missing.h5", "--metrics", "psnr,fvd", "--output", "o"],
                            directory: directory)
        #expect(run.status != 0 && run.output.contains("FVD needs at least 9 frames per video") && run.output.contains("has 4"), "\(run.output)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("o").path))
    }

    func json(_ output: String) throws -> [String: Any] {
        let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") })
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
}
