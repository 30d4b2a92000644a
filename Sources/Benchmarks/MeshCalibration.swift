// MeshCalibration: measures this machine for `vt mesh simulate --calibrate` — MPI_Allreduce times (an
// OSU-style sweep), the per-rank sgemm peak (all ranks at once, so each rank's share of the cores; the better
// of a run before and one after), and the model's MFU from a few data-parallel training steps of the real
// Trainer (or given with --mfu) — then the simulator's predicted vs measured step time, communication time
// and memory for the local layouts of this world (`MeshSimulator.compareLocal`).
//
// Measured steps come from `Trainer` on every layout of the world that can run the config (data = p,
// model = 1 first: it calibrates the MFU; then data = p/M, model = M), each in its own peak-memory window.
// More measurements can be added: `MeasuredStep` records read from a JSON file are matched by (data, model).
// The trainer is built from the run config, so `training.precision`, `training.recompute` and
// `distribution.shard_optimizer` (set by `vt mesh simulate --precision/--recompute/--shard-optimizer`) are
// what it runs, and the predictions follow the same three (`SimulationSettings.follow`). With recompute the
// measured MFU is of the FLOPs run (recomputed forwards included), as the simulator applies it; a reduce-
// scatter and an all-gather are costed from the all-reduce fit (half of its ring formula each).
// Leaves out: the cost model itself (MeshSimulation), a bf16 peak for the local chip (the sgemm peak is the
// reference in both precisions; MFU absorbs it).

import Common
import Foundation
import Kernels
import Datasets
import Distribution
import MeshSimulation
import Training

extension MeshSimulator {
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
        let baseline = try communicator.allReduceMax(Double(ResidentMemory.peakBytes()))
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
        ResidentMemory.resetPeak()
        let baseline = try communicator.allReduceMax(Double(ResidentMemory.peakBytes()))
        var stepTimes: [Double] = [], communicationTimes: [Double] = [], exposedTimes: [Double] = []
        do {
            MatMul.configureThreads()
            let batch = config.training.batchSize
            let source = try ConditioningCheck.syntheticSource(for: config.model, count: batch, seed: 7, standIn: true)
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
        let peakResident = try communicator.allReduceMax(Double(ResidentMemory.peakBytes()))
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
