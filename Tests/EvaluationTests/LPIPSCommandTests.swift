// LPIPS end to end (docs/design.md §11): `vt evaluate --metrics psnr,ssim,lpips` scores a tiny trained model's
// 32×32 samples, stores `lpips` in samples.h5, re-scores from the stored values (through --samples and
// through the same checkpoint options); frames under 31 px and a missing environment are one line each,
// before any sampling.

import Foundation
import VTTestSupport
import Testing
import Evaluation
import HDF5

private func lastJSON(_ output: String) throws -> [String: Any] {
    let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") })
    return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
}

/// The checks that need no Python environment: they come before it is looked for.
@Suite(.enabled(if: vtBinary != nil, "needs the vt binary"), .serialized)
struct LPIPSRefusalTests {
    @Test func framesUnder31PixelsAreRefusedBeforeAnySampling() throws {
        let directory = try trainedSmallModel(size: 16, steps: 2, videos: 1, videoFrames: 4)
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try runVT(["evaluate", "--checkpoint", "c/step_00000002.h5", "--data", "test.h5", "--metrics", "psnr,ssim,lpips", "--output", "o"],
                            directory: directory)
        #expect(run.status != 0)
        #expect(run.output.contains("LPIPS needs frames of at least 31×31 pixels") && run.output.contains("16×16"), "\(run.output)")
        #expect(run.output.split(separator: "\n").count == 1, "\(run.output)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("o").path))
        // A samples file of 30×64 frames, scored directly.
        try writeSamplesFile(directory.appendingPathComponent("small.h5").path, videos: 1, k: 1, frames: 2, height: 30, width: 64)
        let file = try runVT(["evaluate", "--samples", "small.h5", "--metrics", "lpips"], directory: directory)
        #expect(file.status != 0 && file.output.contains("30×64") && file.output.split(separator: "\n").count == 1, "\(file.output)")
    }

    @Test func aMissingEnvironmentIsOneLineNamingTheSetup() throws {
        let directory = try trainedSmallModel(size: 32, steps: 2, videos: 1, videoFrames: 4)
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try runVT(["evaluate", "--checkpoint", "c/step_00000002.h5", "--data", "test.h5", "--metrics", "lpips",
                             "--fvd-python", "/nonexistent/python", "--output", "o"], directory: directory)
        #expect(run.status != 0)
        #expect(run.output.contains("LPIPS needs its Python environment") && run.output.contains("bash scripts/setup-fvd.sh"), "\(run.output)")
        #expect(run.output.split(separator: "\n").count == 1, "\(run.output)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("o").path))
    }
}

/// LPIPS end to end through the pinned environment (`bash scripts/setup-fvd.sh`; the test command sets it up).
let lpipsEnvironment: String? = {
    let python = FVDBridge.python()
    return (try? LPIPSBridge.check(python: python)) != nil ? python : nil
}()

@Suite(.enabled(if: vtBinary != nil && lpipsEnvironment != nil, "needs the vt binary and the LPIPS environment (bash scripts/setup-fvd.sh)"),
       .serialized)
struct LPIPSCommandTests {
    @Test func lpipsIsScoredStoredAndReusedFromSamplesFile() throws {
        let directory = try trainedSmallModel(size: 32, steps: 2, videos: 3, videoFrames: 4)
        defer { try? FileManager.default.removeItem(at: directory) }
        let evaluate = ["evaluate", "--checkpoint", "c/step_00000002.h5", "--data", "test.h5", "--metrics", "psnr,ssim,lpips",
                        "--samples-per-video", "2", "--seed", "3", "--output", "s", "--json"]
        let first = try runVT(evaluate, directory: directory)
        #expect(first.status == 0, "\(first.output.suffix(1500))")
        let report = try lastJSON(first.output)
        #expect(report["metrics"] as? [String] == ["psnr", "ssim", "lpips"])
        let lpips = try #require(report["lpips"] as? [String: Any])
        #expect(lpips["better"] as? String == "lower" && lpips["videos"] as? Int == 3 && lpips["samples_per_video"] as? Int == 2)
        #expect(lpips["frames"] as? [Int] == [1, 2, 3] && (lpips["per_frame"] as? [Double])?.count == 3)
        let mean = try #require(lpips["mean"] as? Double), best = try #require(lpips["best_of_k"] as? Double)
        #expect(mean > 0 && mean.isFinite && best <= mean, "mean \(mean), best of K \(best)")
        #expect(report["psnr"] != nil && report["ssim"] != nil)
        let scoring = try #require(report["lpips_scoring"] as? [String: Any])
        #expect((scoring["source"] as? String)?.hasPrefix("computed") == true && scoring["stored"] as? Bool == true, "\(scoring)")
        #expect(scoring["pairs"] as? Int == 18 && (scoring["pairs_computed"] as? Int ?? 0) > 0, "\(scoring)")

        // samples.h5 holds lpips float32 [3, 2, 3]; summarised, they are the report's numbers.
        let path = directory.appendingPathComponent("s/samples.h5").path
        let file = try SampleFile(path: path)
        #expect(file.hasStoredLPIPS)
        let stored = try file.storedLPIPS(videos: 3, samples: 2)
        let summary = MetricSummary(scores: stored, better: .lower)
        func close(_ value: Any?, _ expected: Double) -> Bool { abs((value as? Double ?? .nan) - expected) <= 1e-12 * max(1, abs(expected)) }
        #expect(close(lpips["mean"], summary.mean) && close(lpips["best_of_k"], summary.bestOfK) && close(lpips["std"], summary.std))
        #expect(stored.joined().joined().allSatisfy { $0.isFinite && $0 > 0 })
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("s").path).sorted()
        #expect(left == ["lpips_scores.h5", "samples.h5"], "\(left)")

        // Re-scoring the file reads the stored values: no environment needed, the same numbers.
        let direct = try runVT(["evaluate", "--samples", "s/samples.h5", "--metrics", "lpips", "--fvd-python", "/nonexistent/python", "--json"],
                               directory: directory)
        #expect(direct.status == 0, "\(direct.output.suffix(800))")
        let again = try lastJSON(direct.output)
        #expect((again["lpips"] as? [String: Any])?["mean"] as? Double == mean)
        #expect(((again["lpips_scoring"] as? [String: Any])?["source"] as? String)?.hasPrefix("stored") == true)
        // Re-scoring through the checkpoint draws nothing, keeps samples.h5 (and its lpips) and reads them.
        let rerun = try runVT(evaluate, directory: directory)
        #expect(rerun.status == 0, "\(rerun.output.suffix(800))")
        let rerunReport = try lastJSON(rerun.output)
        #expect((rerunReport["sampling"] as? [String: Any])?["drawn"] as? Int == 0)
        #expect((rerunReport["lpips"] as? [String: Any])?["mean"] as? Double == mean)
        #expect(((rerunReport["lpips_scoring"] as? [String: Any])?["source"] as? String)?.hasPrefix("stored") == true, "\(rerunReport)")
        // Text output: the LPIPS line says lowest.
        let text = try runVT(["evaluate", "--samples", "s/samples.h5", "--metrics", "psnr,lpips"], directory: directory)
        #expect(text.output.contains("LPIPS: mean ") && text.output.contains("best of 2 (lowest)"), "\(text.output)")
    }
}
