// The direction of a metric (docs/design.md §10, §11): for LPIPS best of K is the LOWEST mean, for PSNR and
// SSIM the highest; the report's `lpips` object is shaped like `psnr`'s and says which way is better.

import Foundation
import Testing
import Evaluation

struct MetricDirectionTests {
    // 2 videos × 3 samples × 2 frames (dyadic values: every mean is exact). Video 0: sample means 0.5, 0.125,
    // 0.375 → lowest sample 1, highest sample 0. Video 1: 0.375, 0.375, 0.625 → lowest sample 0 (a tie with
    // sample 1, whose frames differ: the first wins), highest sample 2.
    let scores: [[[Double]]] = [[[0.25, 0.75], [0.125, 0.125], [0.5, 0.25]],
                                [[0.5, 0.25], [0.25, 0.5], [0.75, 0.5]]]

    @Test func lowerIsBetterTakesTheSampleWithTheLowestMean() {
        let lpips = MetricSummary(scores: scores, better: .lower)
        #expect(lpips.better == .lower)
        #expect(lpips.bestOfK == 0.25)                               // (0.125 + 0.375) / 2
        #expect(lpips.perFrameBestOfK == [0.3125, 0.1875])           // video 0 sample 1, video 1 sample 0
        #expect(lpips.stdBestOfK == 0.125)
        #expect(lpips.bestOfK < lpips.mean)
    }

    @Test func higherIsBetterStaysTheDefault() {
        let psnr = MetricSummary(scores: scores)
        #expect(psnr.better == .higher)
        #expect(psnr.bestOfK == 0.5625)                              // (0.5 + 0.625) / 2
        #expect(psnr.perFrameBestOfK == [0.5, 0.625])                // video 0 sample 0, video 1 sample 2
        // The mean over samples does not depend on the direction.
        let lpips = MetricSummary(scores: scores, better: .lower)
        #expect(psnr.mean == lpips.mean && psnr.std == lpips.std && psnr.perFrame == lpips.perFrame)
    }

    @Test func theReportCarriesLPIPSLikePSNR() throws {
        var report = EvaluationReport(ranks: 1, metrics: ["psnr", "lpips"])
        report.psnr = MetricReport(MetricSummary(scores: scores), frames: [1, 2])
        report.lpips = MetricReport(MetricSummary(scores: scores, better: .lower), frames: [1, 2])
        report.lpipsScoring = .object(["source": .string("stored in samples.h5 (lpips)"), "pairs_computed": .integer(0)])
        var protocolReport = EvaluationProtocol(samplesFile: "s/samples.h5", videos: 2, samplesPerVideo: 3, primeFrames: [0],
                                                generatedFrames: [1, 2], temperature: 1, seed: 0)
        protocolReport.lpips = "AlexNet LPIPS v0.1; best of K = the sample with the lowest mean"
        report.protocol = protocolReport
        let text = try report.json()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let lpips = try #require(object["lpips"] as? [String: Any]), psnr = try #require(object["psnr"] as? [String: Any])
        #expect(Set(lpips.keys) == Set(psnr.keys), "lpips \(lpips.keys.sorted()) vs psnr \(psnr.keys.sorted())")
        for key in ["mean", "best_of_k", "std", "std_best_of_k", "per_frame", "per_frame_best_of_k", "frames", "better", "videos",
                    "samples_per_video", "infinite_frames"] {
            #expect(lpips[key] != nil, "lpips has no \(key)")
        }
        #expect(lpips["better"] as? String == "lower" && psnr["better"] as? String == "higher")
        #expect(lpips["best_of_k"] as? Double == 0.25 && psnr["best_of_k"] as? Double == 0.5625)
        #expect(lpips["frames"] as? [Int] == [1, 2])
        #expect((object["lpips_scoring"] as? [String: Any])?["source"] as? String == "stored in samples.h5 (lpips)")
        #expect(((object["protocol"] as? [String: Any])?["lpips"] as? String)?.contains("lowest") == true)
        let decoded = try EvaluationReport.decode(Data(text.utf8))
        #expect(decoded.lpips?.summary == report.lpips?.summary && decoded.lpips?.frames == [1, 2])
    }
}
