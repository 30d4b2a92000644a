// MeshSimulator+Calibration: the simulator's cost model with this machine as the "chip" — α and β fitted
// to MPI_Allreduce times measured now (OSU-style sweep, `measureAllReduce`), the per-rank sgemm peak measured
// now (all ranks at once, so each rank's share of the cores; the better of a run before and one after),
// and the model's MFU (measured by a few data-parallel training steps, or given with --mfu) — then
// predicted vs measured step time, communication time and memory of the local layouts of this world.
//
// Fit: t(n) = a + b·n by least squares weighted by 1/t² (relative error, so 4 KB and 64 MB count alike);
// then, by the ring formula for the p ranks measured, α = a / 2(p−1) and β = b / (2(p−1)/p). One fit over all
// sizes is reported; predictions use fits over consecutive ranges of 3 sizes (LinkModel), because on shared
// memory the bus bandwidth rises to a peak near 1 MB and falls several-fold beyond the caches.
// Measured steps come from `Trainer` on every layout of the world that can run the config (data = p,
// model = 1 first: it calibrates the MFU; then data = p/M, model = M), each in its own peak-memory window.
// More measurements can be added: `MeasuredStep` records read from a JSON file
// (`vt mesh simulate --calibrate --measured FILE`) are matched by (data, model).
// The trainer is built from the run config, so `training.precision`, `training.recompute` and
// `distribution.shard_optimizer` (set by `vt mesh simulate --precision/--recompute/--shard-optimizer`) are
// what it runs, and the predictions follow the same three (`SimulationSettings.follow`). With recompute the
// measured MFU is of the FLOPs run (recomputed forwards included), as the simulator applies it; a reduce-
// scatter and an all-gather are costed from the all-reduce fit (half of its ring formula each).
// Left out: fitting α and β per communicator size (one fit for the world is applied to every group), and
// a bf16 peak for the local chip (the sgemm peak is the reference in both precisions; MFU absorbs it).

import Foundation
import Kernels
import VideoModel
import Datasets
import Distribution
import Training

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

    enum CodingKeys: String, CodingKey {
        case data, model, source
        case stepSeconds = "step_seconds", communicationSeconds = "communication_seconds"
        case exposedCommunicationSeconds = "exposed_communication_seconds", peakResidentBytes = "peak_resident_bytes"
        case baselineResidentBytes = "baseline_resident_bytes"
    }

    /// Reads a JSON array of measured steps from `path`.
    public static func load(path: String) throws -> [MeasuredStep] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MeshSimulationError("\(path): cannot read the measurements file")
        }
        do { return try JSONDecoder().decode([MeasuredStep].self, from: data) } catch {
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

    init(data: Int, model: Int, predictedComputeSeconds: Double, predictedCommunicationSeconds: Double,
         predictedExposedCommunicationSeconds: Double, predictedStepSeconds: Double, predictedMemoryBytes: Double,
         measured: MeasuredStep?) {
        self.data = data; self.model = model; self.predictedComputeSeconds = predictedComputeSeconds
        self.predictedCommunicationSeconds = predictedCommunicationSeconds
        self.predictedExposedCommunicationSeconds = predictedExposedCommunicationSeconds; self.predictedStepSeconds = predictedStepSeconds
        self.predictedMemoryBytes = predictedMemoryBytes; self.measured = measured
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

    /// Predictions for every legal layout of `ranks` local ranks, each matched with a measurement when one
    /// of `measurements` has its (data, model). Pure: the measuring is in `MeshCalibration.run`.
    /// The config's precision, recompute and optimizer sharding are the trainer's (`SimulationSettings.follow`);
    /// `attentionMemory` and `allGatherPrecision` are what the simulator assumes the trainer does.
    public static func compareLocal(config: RunConfig, chip: ChipSpec, mfu: Double, mfuProvenance: Provenance, ranks: Int,
                                    measurements: [MeasuredStep], attentionMemory: AttentionMemory = .statistics,
                                    allGatherPrecision: Precision = .fp32) throws -> [LocalComparison] {
        var settings = SimulationSettings(chip: chip, mfu: mfu, mfuProvenance: mfuProvenance, alphas: [0], gradientBytes: 4,
                                          activationBytes: 4, globalBatch: config.training.batchSize,
                                          accumulationSteps: config.training.accumulationSteps)
        settings.follow(config)
        settings.attentionMemory = attentionMemory
        settings.allGatherPrecision = allGatherPrecision
        let simulator = try MeshSimulator(config: config.model, settings: settings)
        return MeshLayout.factorisations(of: ranks).compactMap { layout -> LocalComparison? in
            guard simulator.illegality(layout) == nil,
                  let prediction = try? simulator.predict(Placement(layout: layout, on: TorusShape(x: 1, y: ranks))) else { return nil }
            let alpha = prediction.alphas[0]
            return LocalComparison(data: layout.data, model: layout.model, predictedComputeSeconds: prediction.computeSeconds,
                                   predictedCommunicationSeconds: alpha.gradientAllReduceSeconds + alpha.parameterAllGatherSeconds
                                       + alpha.activationAllReduceSeconds,
                                   predictedExposedCommunicationSeconds: alpha.gradientExposedSeconds + alpha.parameterAllGatherSeconds
                                       + alpha.activationAllReduceSeconds,
                                   predictedStepSeconds: alpha.stepSeconds, predictedMemoryBytes: prediction.memory.total,
                                   measured: measurements.last { $0.data == layout.data && $0.model == layout.model })
        }
    }
}

public enum MeshCalibration {
    /// All-reduce sizes of the sweep: every power of two from 4 KB to 64 MB.
    public static let defaultSizes = (12...26).map { 1 << $0 }

    /// Measures on every rank of `communicator` (collective: all ranks call it with the same arguments):
    /// `steps` timed training steps after one warm-up (the fastest is kept) of every layout that can run,
    /// the all-reduce sweep, the sgemm peak before and after.
    /// `mfu` nil measures it from the steps; a value (e.g. a 1-rank `vt bench` MFU) makes the step a prediction.
    /// The trainer runs with the config's `training.precision`, `training.recompute` and
    /// `distribution.shard_optimizer`, and the predictions follow the same three.
    public static func run(config: RunConfig, communicator: any Communicator, steps: Int, mfu: Double?,
                           sizes: [Int] = defaultSizes, iterations: Int = 9, sgemmSize: Int = 2048, measurements: [MeasuredStep] = [],
                           attentionMemory: AttentionMemory = .statistics, allGatherPrecision: Precision = .fp32,
                           progress: (String) -> Void = { _ in }) throws -> Calibration {
        let ranks = communicator.size
        let baseline = try communicator.allReduceMax(Double(Benchmark.peakResidentBytes()))
        // The sgemm peak of one rank while every rank runs it (its share of the cores), before and after the
        // rest; the better of the two, so a neighbour's burst on a shared machine does not halve it.
        progress("measuring the sgemm peak on every rank at once")
        try communicator.barrier()
        let peakBefore = Benchmark.sgemmPeak(size: sgemmSize)

        // 1. Training steps of every local layout that can run the config: data = ranks first (it calibrates
        //    the MFU), then the model-axis layouts.
        var measured: [MeasuredStep] = []
        for layout in MeshLayout.factorisations(of: ranks) {
            if let reason = layoutProblem(config: config, layout: layout) {
                progress("skipping data=\(layout.data),model=\(layout.model): \(reason)")
                continue
            }
            measured.append(try measure(config: config, layout: layout, communicator: communicator, steps: steps, progress: progress))
        }
        guard let measuredStep = measured.first else {
            throw MeshSimulationError("no layout of \(ranks) rank(s) can train this config (see the reasons above)")
        }

        // 2. α and β from MPI_Allreduce times.
        var link: LinkModel? = nil, points: [(Int, Double)] = []
        if ranks > 1 {
            progress("all-reduce sweep over \(sizes.count) sizes, \(sizes.first! / 1024) KB to \(sizes.last! / 1048576) MB")
            let results = try measureAllReduce(communicator: communicator, sizes: sizes, iterations: iterations)
            points = results.map { ($0.bytes, $0.plainSeconds) }
            link = try MeshSimulator.fitLinkModel(bytes: points.map { Double($0.0) }, seconds: points.map(\.1), ranks: ranks)
        }

        // 3. The sgemm peak again.
        progress("measuring the sgemm peak on every rank at once, again")
        try communicator.barrier()
        let peakAfter = Benchmark.sgemmPeak(size: sgemmSize)
        let peak = peakAfter.gflops >= peakBefore.gflops ? peakAfter : peakBefore
        let peakFlops = try communicator.allReduceSum(peak.gflops * 1e9) / Double(ranks)

        let chip = MeshSimulator.localChip(sgemmPeakFlops: peakFlops, ranks: ranks, link: link,
                                           memoryBytes: Double(ProcessInfo.processInfo.physicalMemory))
        let flopsPerRank = ModelCost(config: config.model).trainingFlopsPerChip(
            videos: config.training.batchSize / measuredStep.data, model: measuredStep.model, recompute: config.training.recompute)
        let computeSeconds = measuredStep.stepSeconds - (measuredStep.exposedCommunicationSeconds ?? 0)
        let measuredMFU = flopsPerRank / max(computeSeconds, 1e-12) / peakFlops
        let usedMFU = mfu ?? measuredMFU
        let provenance: Provenance = mfu == nil ? .measured : .assumed
        let comparisons = try MeshSimulator.compareLocal(config: config, chip: chip, mfu: usedMFU, mfuProvenance: provenance,
                                                         ranks: ranks, measurements: measured + measurements,
                                                         attentionMemory: attentionMemory, allGatherPrecision: allGatherPrecision)
        var figures = chip.figures
        let flopsRun = config.training.recompute == .layer ? "FLOPs run (recomputed forwards included)" : "FLOPs"
        figures.append(Figure("achievable MFU", String(format: "%.3f", usedMFU), provenance,
                              mfu == nil ? "this run: \(flopsRun) / ((step − exposed communication) × sgemm peak); compute is calibrated, not predicted"
                                         : String(format: "--mfu (this run measured %.3f)", measuredMFU)))
        if let fit = link?.global {
            figures.append(Figure("α (one fit, all sizes)", String(format: "%.2f µs", fit.alpha * 1e6), .measured,
                                  String(format: "a/2(p−1), a = %.1f µs", fit.intercept * 1e6)))
            figures.append(Figure("β (one fit, all sizes)", String(format: "1/%.2f GB/s", 1 / fit.beta / 1e9), .measured,
                                  String(format: "b/(2(p−1)/p), b = %.3f ns/B; max residual %.0f%%", fit.slope * 1e9, fit.maxRelativeResidual * 100)))
            for piece in link!.pieces {
                figures.append(Figure("α, β for \(byteSize(piece.minBytes))–\(byteSize(piece.maxBytes))",
                                      String(format: "%.2f µs, 1/%.2f GB/s", piece.alpha * 1e6, 1 / piece.beta / 1e9), .measured,
                                      String(format: "fit over 3 sizes (max residual %.0f%%); used for messages in this range", piece.maxRelativeResidual * 100)))
            }
        }
        return Calibration(ranks: ranks, allReduceBytes: points.map(\.0), allReduceSeconds: points.map(\.1), link: link,
                           sgemmPeakFlopsPerRank: peakFlops, sgemmMethod: peak.method, mfu: usedMFU, mfuProvenance: provenance,
                           baselineResidentBytes: baseline, comparisons: comparisons, figures: figures)
    }

    /// Why `layout` cannot train `config` here (nil when it can): the simulator's rules, and MPI's thread level.
    static func layoutProblem(config: RunConfig, layout: MeshLayout) -> String? {
        if let problem = MeshSimulator.illegality(layout, config: config.model, globalBatch: config.training.batchSize,
                                                  accumulationSteps: config.training.accumulationSteps) { return problem }
        if layout.model > 1 && layout.data > 1 && !MPIRuntime.allowsConcurrentCalls {
            return "needs MPI_THREAD_MULTIPLE"
        }
        return nil
    }

    /// Times 1 + `steps` training steps of `layout` (collective over `communicator`); keeps the fastest.
    /// Step: the slowest rank. Communication: the rank that reached the collectives last (it waits least
    /// for the others' compute), gradient buckets plus the model axis's activation all-reduces. Peak
    /// resident memory: the largest rank's, from a window opened just before the trainer is built.
    static func measure(config: RunConfig, layout: MeshLayout, communicator: any Communicator, steps: Int,
                        progress: (String) -> Void) throws -> MeasuredStep {
        let name = "data=\(layout.data),model=\(layout.model)"
        progress("timing 1 + \(steps) training steps on \(name)")
        let mesh = try DeviceMesh(shape: MeshShape(data: layout.data, model: layout.model), communicator: communicator)
        try communicator.barrier()
        Benchmark.resetPeakResident()
        let baseline = try communicator.allReduceMax(Double(Benchmark.peakResidentBytes()))
        var stepTimes: [Double] = [], communicationTimes: [Double] = [], exposedTimes: [Double] = []
        do {
            MatMul.configureThreads()
            let batch = config.training.batchSize
            let source = InMemoryVideoSource.synthetic(count: batch, frames: config.model.frames, height: config.model.height,
                                                       width: config.model.width, seed: 7)
            let trainer = try Trainer(config: config, source: source, communicator: mesh.dataAxis, modelAxis: mesh.modelAxis,
                                      world: mesh.all)
            for index in 0..<(1 + steps) {
                let metrics = try trainer.trainStep()
                let step = try communicator.allReduceMax(metrics.stepSeconds)
                let communication = try communicator.allReduceMin(metrics.communicationBusySeconds + metrics.modelAxisSeconds)
                let exposed = try communicator.allReduceMin(metrics.communicationSeconds + metrics.modelAxisSeconds)
                progress(String(format: "  step %d%@: %.3f s (all-reduces ran %.1f ms, %.1f ms of it exposed)", index + 1,
                                index == 0 ? " (warm-up)" : "", step, communication * 1e3, exposed * 1e3))
                if index > 0 { stepTimes.append(step); communicationTimes.append(communication); exposedTimes.append(exposed) }
            }
        }
        let peakResident = try communicator.allReduceMax(Double(Benchmark.peakResidentBytes()))
        let fastest = stepTimes.indices.min { stepTimes[$0] < stepTimes[$1] }!
        var result = MeasuredStep(data: layout.data, model: layout.model, stepSeconds: stepTimes[fastest],
                            communicationSeconds: communicationTimes[fastest], exposedCommunicationSeconds: exposedTimes[fastest],
                            peakResidentBytes: peakResident,
                            source: "this calibration (Trainer on \(name), fastest of \(steps) steps; step: slowest rank, communication: the rank that arrived last)")
        result.baselineResidentBytes = baseline
        return result
    }
}

/// `4 KB`, `1 MB`, `64 MB` (powers of 1024).
func byteSize(_ bytes: Double) -> String {
    if bytes >= 1048576 { return String(format: "%g MB", bytes / 1048576) }
    if bytes >= 1024 { return String(format: "%g KB", bytes / 1024) }
    return String(format: "%g B", bytes)
}
