// MetricSummary: how per-frame scores of K samples per test video are reported (docs/design.md §10, §11) —
// the mean over samples and the best of K (per video, the sample with the best mean over its generated
// frames: the highest for PSNR and SSIM, the lowest for LPIPS, as `better` says), per generated frame and
// overall, each as the mean over videos with its standard deviation over videos (population, ddof 0).
// PSNR of an identical frame is +∞; a mean containing it is +∞ and `infiniteFrames` says how many there
// were (JSON writes "inf"). Encoded with snake_case keys (EvaluationReport's encoder).

import Foundation

/// Which way a metric improves: PSNR and SSIM are better higher, LPIPS lower. Written "higher" / "lower".
public enum MetricDirection: String, Codable, Sendable {
    case higher, lower
}

public struct MetricSummary: Codable, Equatable, Sendable {
    /// Which way is better; it decides the best of K.
    public var better: MetricDirection
    /// Mean over videos of each video's mean over samples and frames.
    public var mean: Double
    /// Mean over videos of each video's best sample's mean over frames (highest or lowest, per `better`).
    public var bestOfK: Double
    /// Standard deviations over videos of the two.
    public var std: Double
    public var stdBestOfK: Double
    /// Per generated frame: mean over videos of the mean over samples, and of the best sample's score.
    public var perFrame: [Double]
    public var perFrameBestOfK: [Double]
    /// Frames whose score is +∞ (PSNR of a frame equal to the real one).
    public var infiniteFrames: Int
    public var videos: Int
    public var samplesPerVideo: Int

    /// `scores[video][sample][frame]`: one score per generated frame; every video has the same K and frames.
    /// `better`: `.higher` (PSNR, SSIM) or `.lower` (LPIPS).
    public init(scores: [[[Double]]], better: MetricDirection = .higher) {
        precondition(!scores.isEmpty && !scores[0].isEmpty && !scores[0][0].isEmpty, "MetricSummary: no scores")
        let samples = scores[0].count, frames = scores[0][0].count
        precondition(scores.allSatisfy { $0.count == samples && $0.allSatisfy { $0.count == frames } },
                     "MetricSummary: every video needs \(samples) samples of \(frames) frames")
        func average(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
        func deviation(_ values: [Double]) -> Double {
            let m = average(values)
            if !m.isFinite { return m.isNaN ? .nan : 0 }
            return (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count)).squareRoot()
        }
        // Per video: mean over samples per frame; the best sample (highest or lowest mean over frames, per
        // `better`; the first on ties).
        let meanFrames = scores.map { video in (0..<frames).map { f in average(video.map { $0[f] }) } }
        let bestFrames = scores.map { video in
            better == .higher ? video.max { average($0) < average($1) }! : video.min { average($0) < average($1) }!
        }
        let videoMeans = meanFrames.map(average), videoBest = bestFrames.map(average)
        mean = average(videoMeans); bestOfK = average(videoBest)
        std = deviation(videoMeans); stdBestOfK = deviation(videoBest)
        perFrame = (0..<frames).map { f in average(meanFrames.map { $0[f] }) }
        perFrameBestOfK = (0..<frames).map { f in average(bestFrames.map { $0[f] }) }
        infiniteFrames = scores.joined().joined().filter { $0 == .infinity }.count
        videos = scores.count; samplesPerVideo = samples
        self.better = better
    }
}
