// PSNR and SSIM against scikit-image (docs/design.md §10) on committed frame pairs: smooth vs noisy, random,
// shifted, non-square, the 11-pixel minimum, identical frames (PSNR +∞, SSIM 1) and constant frames. The
// fixture is written by tools/make_metric_fixtures.py with scikit-image itself; agreement to 1e-6.
// And the summary over samples and videos on scores worked out by hand.

import Foundation
import Testing
import Evaluation

struct MetricFixture: Decodable {
    struct Case: Decodable {
        var name: String, height: Int, width: Int, real: [UInt8], generated: [UInt8]
        var psnr: PSNRValue, ssim: Double
    }
    /// A number, or "inf" for identical frames.
    struct PSNRValue: Decodable {
        var value: Double
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self), text == "inf" { value = .infinity } else { value = try container.decode(Double.self) }
        }
    }
    var scikitImage: String
    var cases: [Case]
    enum CodingKeys: String, CodingKey { case cases, scikitImage = "scikit_image" }

    static func load() throws -> MetricFixture {
        let url = try #require(Bundle.module.url(forResource: "metrics", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(MetricFixture.self, from: Data(contentsOf: url))
    }
}

@Suite struct FrameMetricsTests {
    @Test func psnrAndSSIMEqualScikitImage() throws {
        let fixture = try MetricFixture.load()
        #expect(fixture.cases.count >= 8)
        for c in fixture.cases {
            let (psnr, ssim) = c.real.withUnsafeBufferPointer { real in
                c.generated.withUnsafeBufferPointer { generated in
                    (FrameMetrics.psnr(real.baseAddress!, generated.baseAddress!, height: c.height, width: c.width),
                     FrameMetrics.ssim(real.baseAddress!, generated.baseAddress!, height: c.height, width: c.width))
                }
            }
            if c.psnr.value.isInfinite {
                #expect(psnr == .infinity, "\(c.name): PSNR \(psnr), scikit-image +∞")
            } else {
                #expect(abs(psnr - c.psnr.value) <= 1e-6, "\(c.name): PSNR \(psnr) vs scikit-image \(c.psnr.value)")
            }
            #expect(abs(ssim - c.ssim) <= 1e-6, "\(c.name): SSIM \(ssim) vs scikit-image \(c.ssim)")
        }
        print("PSNR/SSIM equal scikit-image \(fixture.scikitImage) on \(fixture.cases.count) frame pairs to 1e-6")
    }

    @Test func theSummaryTakesTheMeanAndTheBestOfKOverVideos() {
        // 2 videos × 2 samples × 2 frames. Video 0: samples (10, 20) and (30, 0): means 15 and 15 → best is
        // the first (ties keep the first); video 1: (1, 3) and (5, 7): best the second.
        let summary = MetricSummary(scores: [[[10, 20], [30, 0]], [[1, 3], [5, 7]]])
        let perFrame: [Double] = [11.5, 7.5], perFrameBest: [Double] = [7.5, 13.5]   // (20+3)/2, (10+5)/2; (10+5)/2, (20+7)/2
        #expect(summary.mean == 9.5)       // (15 + 4) / 2
        #expect(summary.bestOfK == 10.5)   // (15 + 6) / 2
        #expect(summary.perFrame == perFrame)
        #expect(summary.perFrameBestOfK == perFrameBest)
        #expect(summary.std == 5.5 && summary.stdBestOfK == 4.5)
        #expect(summary.videos == 2 && summary.samplesPerVideo == 2 && summary.infiniteFrames == 0)
        // An identical frame: PSNR +∞ makes its means +∞, is counted, and wins the best of K.
        let infinite = MetricSummary(scores: [[[20, .infinity], [25, 25]]])
        #expect(infinite.mean == .infinity && infinite.bestOfK == .infinity && infinite.infiniteFrames == 1)
        let infiniteBest: [Double] = [20, .infinity]
        #expect(infinite.perFrameBestOfK == infiniteBest)
    }
}
