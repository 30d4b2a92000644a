// EvaluationReport: what `vt evaluate --json` prints (docs/design.md §10, §11, §12) as one Codable value —
// bits/dim and its breakdown, the sampling job's cost, PSNR/SSIM/LPIPS summaries, the FVD tool's results (for
// long samples two: the first window's and the unrolled one) and the protocol the numbers follow, written in
// JSONFormat (snake_case keys; an infinite or NaN score as the string "inf", "-inf" or "nan"); absent parts
// are left out.
//
// Leaves out: computing any of it (Evaluator, SamplingJob, FrameMetrics, FVDBridge, LPIPSBridge) and the text lines
// (the command prints those).

import Common
import Foundation

public struct EvaluationReport: Codable, Sendable {
    public var ranks: Int
    /// The metrics asked for, in the order bpd, psnr, ssim, lpips, fvd.
    public var metrics: [String]
    public var checkpoint: String?
    public var step: Int?
    public var precision: String?
    /// Exact bits/dim (every slice, every non-primed sub-pixel) and where they come from.
    public var bitsPerDim: Double?
    public var videos: Int?
    public var subpixels: Int?
    /// nil for a primed frame (nothing to score), or for a slice that predicts nothing.
    public var bitsPerDimPerFrame: [Double?]?
    public var bitsPerDimPerSlice: [Double?]?
    public var seconds: Double?
    public var subpixelsPerSecond: Double?
    /// Long videos (docs/design.md §12): how the bits/dim's videos were covered, e.g. "3 windows of 16 frames,
    /// stride 8, over 32 frames (starts [0, 8, 16])"; nil for the model's own clip.
    public var bitsPerDimWindows: String?
    public var sampling: SamplingCost?
    public var psnr: MetricReport?
    public var ssim: MetricReport?
    /// LPIPS (docs/design.md §11): summarised like PSNR/SSIM, best of K = the lowest mean; and where the scores
    /// came from (`source`: stored in samples.h5 or computed) with the tool's timing (tools/fvd).
    public var lpips: MetricReport?
    public var lpipsScoring: JSONValue?
    /// The FVD tool's `fvd` and `i3d` objects as it printed them (tools/fvd). Long samples (docs/design.md §12):
    /// `fvd` is the FVD of every video's first window and `fvdUnrolled` that of all its windows (each states
    /// its windows; FVDWindows), and `i3d` the I3D work of both; nil (left out) for samples of the model's clip.
    public var fvd: JSONValue?
    public var fvdUnrolled: JSONValue?
    public var i3d: JSONValue?
    public var `protocol`: EvaluationProtocol?

    public init(ranks: Int, metrics: [String]) {
        self.ranks = ranks
        self.metrics = metrics
    }

    /// The report as one line of JSON (sorted keys; JSONFormat).
    public func json() throws -> String { try JSONFormat.string(self) }

    public static func decode(_ json: Data) throws -> EvaluationReport { try JSONFormat.decoder.decode(EvaluationReport.self, from: json) }
}

/// What drawing the samples cost (`vt evaluate` drawing psnr/ssim/fvd samples itself).
public struct SamplingCost: Codable, Sendable {
    public var drawn: Int
    public var reused: Int
    public var seconds: Double
    /// Seconds of sampling and of PSNR/SSIM scoring, summed over the ranks.
    public var samplingSecondsAllRanks: Double
    public var scoringSecondsAllRanks: Double
    /// nil when nothing was drawn.
    public var scoringOverSampling: Double?

    public init(drawn: Int, reused: Int, seconds: Double, samplingSecondsAllRanks: Double, scoringSecondsAllRanks: Double) {
        self.drawn = drawn; self.reused = reused; self.seconds = seconds
        self.samplingSecondsAllRanks = samplingSecondsAllRanks; self.scoringSecondsAllRanks = scoringSecondsAllRanks
        scoringOverSampling = samplingSecondsAllRanks > 0 ? scoringSecondsAllRanks / samplingSecondsAllRanks : nil
    }
}

/// A metric's summary over videos and samples, with the generated frames it covers.
public struct MetricReport: Codable, Sendable {
    public var summary: MetricSummary
    /// The generated frames the per-frame arrays follow.
    public var frames: [Int]

    public init(_ summary: MetricSummary, frames: [Int]) { self.summary = summary; self.frames = frames }

    enum Key: String, CodingKey { case frames }

    /// The summary's fields and `frames`, side by side in one object.
    public func encode(to encoder: Encoder) throws {
        try summary.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(frames, forKey: .frames)
    }

    public init(from decoder: Decoder) throws {
        summary = try MetricSummary(from: decoder)
        frames = try decoder.container(keyedBy: Key.self).decode([Int].self, forKey: .frames)
    }
}

/// The protocol the video metrics follow, stated beside them.
public struct EvaluationProtocol: Codable, Sendable {
    public var samplesFile: String
    public var videos: Int
    public var samplesPerVideo: Int
    public var primeFrames: [Int]
    public var generatedFrames: [Int]
    public var temperature: Double?
    public var seed: Int64?
    /// Long samples (docs/design.md §12): the windows they were drawn in; nil for the model's own clip.
    public var windows: String?
    public var psnrSsimFrames = "generated frames only"
    public var psnr = "per frame, data range 255, MSE over H·W·3"
    public var ssim = "Gaussian 11×11 σ 1.5, K1 0.01, K2 0.03, data range 255, population covariances, per channel then averaged (scikit-image structural_similarity)"
    public var bestOfK = "per video, the sample with the best mean over its generated frames: the highest PSNR or SSIM, the lowest LPIPS"
    /// Where the PSNR/SSIM scores came from, and how long reading or computing them took.
    public var scores: String?
    public var scoringSeconds: Double?
    public var fvdFrames: String?
    public var fvd: String?
    /// Long samples: the frames of each video `fvd` and `fvd_unrolled` scored (FVDWindows.protocolText).
    public var fvdWindows: String?
    public var lpips: String?

    public init(samplesFile: String, videos: Int, samplesPerVideo: Int, primeFrames: [Int], generatedFrames: [Int],
                temperature: Double?, seed: Int64?) {
        self.samplesFile = samplesFile; self.videos = videos; self.samplesPerVideo = samplesPerVideo
        self.primeFrames = primeFrames; self.generatedFrames = generatedFrames
        self.temperature = temperature; self.seed = seed
    }
}

/// Any JSON value: what an outside tool printed, carried through unchanged.
public enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int.self) { self = .integer(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var double: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .number(let value): return value
        default: return nil
        }
    }

    public var int: Int? {
        if case .integer(let value) = self { return value }
        return nil
    }
}
