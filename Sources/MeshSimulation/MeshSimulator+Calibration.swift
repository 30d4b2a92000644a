// MeshSimulator+Calibration: the simulator with this machine as the "chip" — the pure part. α and β are fitted
// to MPI_Allreduce times (`fitAllReduce`, `fitLinkModel`), the chip is one rank's sgemm peak and share of
// memory (`localChip`), and the records of a calibration: measured steps (`MeasuredStep`, also read from
// `vt mesh simulate --calibrate --measured FILE`), predicted-vs-measured comparisons, the whole `Calibration`.
//
// Fit: t(n) = a + b·n by least squares weighted by 1/t² (relative error, so 4 KB and 64 MB count alike);
// then, by the ring formula for the p ranks measured, α = a / 2(p−1) and β = b / (2(p−1)/p). One fit over all
// sizes is reported; predictions use fits over consecutive ranges of 3 sizes (LinkModel), because on shared
// memory the bus bandwidth rises to a peak near 1 MB and falls several-fold beyond the caches.
// Leaves out: measuring (Benchmarks/MeshCalibration.swift trains steps with the Trainer and times the
// all-reduces), fitting α and β per communicator size (one fit for the world is applied to every group).

import Common
import Foundation

/// One measured training step of a layout on this machine (the format `--measured FILE` reads: a JSON
/// array of these, e.g. `[{"data":1,"model":2,"step_seconds":3.1,"communication_seconds":0.4,
/// "exposed_communication_seconds":0.3,"peak_resident_bytes":2100000000,"source":"vt train --mesh data=1,model=2"}]`).
public struct MeasuredStep: Codable, Equatable, Sendable {
    public var data: Int
    public var model: Int
    public var stepSeconds: Double
    /// Seconds the step's collectives ran (gradient buckets and activation all-reduces), hidden or not.
    public var communicationSeconds: Double?
    /// Seconds the step waited for collectives, not hidden behind compute.
    public var exposedCommunicationSeconds: Double?
    public var peakResidentBytes: Double?
    /// Resident bytes of the process before the trainer was built (runtime, libraries, MPI's shared
    /// memory): part of the peak, not of the model's estimate.
    public var baselineResidentBytes: Double? = nil
    public var source: String

    public init(data: Int, model: Int, stepSeconds: Double, communicationSeconds: Double?, exposedCommunicationSeconds: Double? = nil,
                peakResidentBytes: Double?, source: String) {
        self.data = data; self.model = model; self.stepSeconds = stepSeconds
        self.communicationSeconds = communicationSeconds; self.exposedCommunicationSeconds = exposedCommunicationSeconds
        self.peakResidentBytes = peakResidentBytes; self.source = source
    }

    /// Reads a JSON array of measured steps from `path`.
    public static func load(path: String) throws -> [MeasuredStep] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MeshSimulationError("\(path): cannot read the measurements file")
        }
        do { return try JSONFormat.decoder.decode([MeasuredStep].self, from: data) } catch {
            throw MeshSimulationError("\(path): not a JSON array of {data, model, step_seconds, communication_seconds?, peak_resident_bytes?, source}: \(error)")
        }
    }
}

/// Predicted vs measured for one local layout.
public struct LocalComparison: Codable, Equatable, Sendable {
    public var data: Int
    public var model: Int
    public var predictedComputeSeconds: Double
    public var predictedCommunicationSeconds: Double
    public var predictedExposedCommunicationSeconds: Double
    public var predictedStepSeconds: Double
    public var predictedMemoryBytes: Double
    public var measured: MeasuredStep?

    public init(data: Int, model: Int, predictedComputeSeconds: Double, predictedCommunicationSeconds: Double,
                predictedExposedCommunicationSeconds: Double, predictedStepSeconds: Double, predictedMemoryBytes: Double,
                measured: MeasuredStep?) {
        self.data = data; self.model = model; self.predictedComputeSeconds = predictedComputeSeconds
        self.predictedCommunicationSeconds = predictedCommunicationSeconds
        self.predictedExposedCommunicationSeconds = predictedExposedCommunicationSeconds
        self.predictedStepSeconds = predictedStepSeconds; self.predictedMemoryBytes = predictedMemoryBytes; self.measured = measured
    }
    /// (predicted − measured) / measured, when measured.
    public var stepError: Double? { measured.map { (predictedStepSeconds - $0.stepSeconds) / $0.stepSeconds } }
    public var communicationError: Double? {
        guard let measured = measured?.communicationSeconds, measured > 0 else { return nil }
        return (predictedCommunicationSeconds - measured) / measured
    }
    public var exposedCommunicationError: Double? {
        guard let measured = measured?.exposedCommunicationSeconds, measured > 0 else { return nil }
        return (predictedExposedCommunicationSeconds - measured) / measured
    }
    /// (predicted model memory + the process's baseline) / measured peak resident memory.
    public var memoryRatio: Double? {
        measured?.peakResidentBytes.map { (predictedMemoryBytes + (measured?.baselineResidentBytes ?? 0)) / $0 }
    }

    enum CodingKeys: String, CodingKey {
        case data, model, measured
        case predictedComputeSeconds = "predicted_compute_seconds"
        case predictedCommunicationSeconds = "predicted_communication_seconds"
        case predictedExposedCommunicationSeconds = "predicted_exposed_communication_seconds"
        case predictedStepSeconds = "predicted_step_seconds", predictedMemoryBytes = "predicted_memory_bytes"
        case stepError = "step_error", communicationError = "communication_error"
        case exposedCommunicationError = "exposed_communication_error", memoryRatio = "predicted_over_measured_memory"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(data, forKey: .data); try c.encode(model, forKey: .model)
        try c.encodeIfPresent(measured, forKey: .measured)
        try c.encode(predictedComputeSeconds, forKey: .predictedComputeSeconds)
        try c.encode(predictedCommunicationSeconds, forKey: .predictedCommunicationSeconds)
        try c.encode(predictedExposedCommunicationSeconds, forKey: .predictedExposedCommunicationSeconds)
        try c.encode(predictedStepSeconds, forKey: .predictedStepSeconds)
        try c.encode(predictedMemoryBytes, forKey: .predictedMemoryBytes)
        try c.encodeIfPresent(stepError, forKey: .stepError)
        try c.encodeIfPresent(communicationError, forKey: .communicationError)
        try c.encodeIfPresent(exposedCommunicationError, forKey: .exposedCommunicationError)
        try c.encodeIfPresent(memoryRatio, forKey: .memoryRatio)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        data = try c.decode(Int.self, forKey: .data); model = try c.decode(Int.self, forKey: .model)
        measured = try c.decodeIfPresent(MeasuredStep.self, forKey: .measured)
        predictedComputeSeconds = try c.decode(Double.self, forKey: .predictedComputeSeconds)
        predictedCommunicationSeconds = try c.decode(Double.self, forKey: .predictedCommunicationSeconds)
        predictedExposedCommunicationSeconds = try c.decode(Double.self, forKey: .predictedExposedCommunicationSeconds)
        predictedStepSeconds = try c.decode(Double.self, forKey: .predictedStepSeconds)
        predictedMemoryBytes = try c.decode(Double.self, forKey: .predictedMemoryBytes)
    }
}

/// Everything `vt mesh simulate --calibrate` measured and predicted.
public struct Calibration: Codable, Sendable {
    public var ranks: Int
    /// All-reduce sizes (bytes) and median MPI_Allreduce times (s, slowest rank); empty with 1 rank.
    public var allReduceBytes: [Int]
    public var allReduceSeconds: [Double]
    public var link: LinkModel?
    public var sgemmPeakFlopsPerRank: Double
    public var sgemmMethod: String
    public var mfu: Double
    public var mfuProvenance: Provenance
    public var baselineResidentBytes: Double
    public var comparisons: [LocalComparison]
    public var figures: [Figure]

    public init(ranks: Int, allReduceBytes: [Int], allReduceSeconds: [Double], link: LinkModel?, sgemmPeakFlopsPerRank: Double,
                sgemmMethod: String, mfu: Double, mfuProvenance: Provenance, baselineResidentBytes: Double,
                comparisons: [LocalComparison], figures: [Figure]) {
        self.ranks = ranks; self.allReduceBytes = allReduceBytes; self.allReduceSeconds = allReduceSeconds; self.link = link
        self.sgemmPeakFlopsPerRank = sgemmPeakFlopsPerRank; self.sgemmMethod = sgemmMethod; self.mfu = mfu
        self.mfuProvenance = mfuProvenance; self.baselineResidentBytes = baselineResidentBytes
        self.comparisons = comparisons; self.figures = figures
    }

    enum CodingKeys: String, CodingKey {
        case ranks, link, mfu, comparisons, figures
        case allReduceBytes = "allreduce_bytes", allReduceSeconds = "allreduce_seconds"
        case sgemmPeakFlopsPerRank = "sgemm_peak_flops_per_rank", sgemmMethod = "sgemm_method"
        case mfuProvenance = "mfu_provenance", baselineResidentBytes = "baseline_resident_bytes"
    }
}

extension MeshSimulator {
    /// Least-squares fit of t = a + b·n weighted by 1/t² (a clamped at ≥ 0), and α, β for `ranks` by the
    /// ring formula. Needs ≥ 2 distinct sizes and ranks ≥ 2.
    public static func fitAllReduce(bytes: [Double], seconds: [Double], ranks: Int) throws -> LinkFit {
        guard ranks >= 2 else { throw MeshSimulationError("fitting α and β needs at least 2 ranks (run under mpirun -np 2 or more)") }
        guard bytes.count == seconds.count, Set(bytes).count >= 2, seconds.allSatisfy({ $0 > 0 }) else {
            throw MeshSimulationError("fitting α and β needs at least 2 distinct sizes with positive times")
        }
        var s = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0
        for (n, t) in zip(bytes, seconds) {
            let w = 1 / (t * t)
            s += w; sx += w * n; sy += w * t; sxx += w * n * n; sxy += w * n * t
        }
        var slope = (s * sxy - sx * sy) / (s * sxx - sx * sx)
        var intercept = (sy - slope * sx) / s
        if intercept < 0 { intercept = 0; slope = sxy / sxx }
        let residual = zip(bytes, seconds).map { abs($1 - intercept - slope * $0) / $1 }.max() ?? 0
        let p = Double(ranks)
        return LinkFit(ranks: ranks, minBytes: bytes.min()!, maxBytes: bytes.max()!, intercept: intercept, slope: slope,
                       alpha: intercept / (2 * (p - 1)), beta: slope / (2 * (p - 1) / p), maxRelativeResidual: residual)
    }

    /// The global fit plus fits over windows of `window` consecutive sizes (sorted) that share their end
    /// sizes: [s0, s1, s2], [s2, s3, s4], …; a last window shorter than 2 sizes joins the one before it.
    public static func fitLinkModel(bytes: [Double], seconds: [Double], ranks: Int, window: Int = 3) throws -> LinkModel {
        let global = try fitAllReduce(bytes: bytes, seconds: seconds, ranks: ranks)
        let points = zip(bytes, seconds).sorted { $0.0 < $1.0 }
        guard window >= 2, points.count > window else { return LinkModel(global: global) }
        var pieces: [LinkFit] = [], start = 0
        while start < points.count - 1 {
            var end = min(start + window - 1, points.count - 1)
            if points.count - 1 - end == 1 { end = points.count - 1 }
            let slice = points[start...end]
            pieces.append(try fitAllReduce(bytes: slice.map(\.0), seconds: slice.map(\.1), ranks: ranks))
            start = end
        }
        return LinkModel(global: global, pieces: pieces)
    }

    /// This machine as a chip: one rank's sgemm peak and share of memory, the fitted flat interconnect.
    public static func localChip(sgemmPeakFlops: Double, ranks: Int, link: LinkModel?, memoryBytes: Double) -> ChipSpec {
        ChipSpec(name: "local", peakFlops: sgemmPeakFlops, memoryBytes: memoryBytes / Double(ranks), memoryBandwidth: 0,
                 interconnect: .flat(link ?? .single(alpha: 0, beta: 0)), chipsPerPod: ranks,
                 podAllReduceBandwidth: nil,
                 figures: [Figure("peak compute", String(format: "%.1f GFLOP/s fp32 per rank", sgemmPeakFlops / 1e9), .measured,
                                  "OpenBLAS sgemm, all ranks at once"),
                           Figure("memory", String(format: "%.1f GiB per rank", memoryBytes / Double(ranks) / 1073741824), .measured,
                                  "physical memory / ranks")])
    }
}
