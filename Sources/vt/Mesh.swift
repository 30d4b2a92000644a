// vt mesh simulate: predicted step time, collective times, memory per chip and scaling efficiency of a config
// on meshes of TPU-v3-like chips (MeshSimulator), sweeping layouts and α; `--calibrate` puts this machine in
// the chip's place (α, β, sgemm peak and MFU measured now) and prints predicted vs measured. The memory
// features (--precision, --recompute, --shard-optimizer) default to the config's and are set on the run
// config, so --calibrate's trainer runs with them too.
//
// `vt mesh` is a command group so that later mesh tools (e.g. a placement viewer) sit beside `simulate`.

import Benchmarks
import ArgumentParser
import Distribution
import Common
import Foundation
import Kernels
import MeshSimulation
import Training
import VideoModel

struct Mesh: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Device-mesh tools: simulate a config on a TPU-like pod.",
        subcommands: [MeshSimulate.self])
}

struct MeshSimulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Predict step time, all-reduce times, memory per chip and scaling efficiency on a 2-D torus of TPU-like chips.",
        discussion: """
        Sweeps every data×model layout of each --mesh (or the --layout ones) and α over 0.5, 1, 2, 5 µs. \
        Published chip figures and assumed ones are printed apart. Memory per chip and the fits / does-not-fit \
        verdict follow --precision, --recompute and --shard-optimizer (default: the config's). With --calibrate \
        (under mpirun) it measures this machine's α, β, sgemm peak and MFU instead, training with those settings, \
        and prints predicted vs measured local step times.
        """)

    @Option(help: "The YAML run config to simulate.") var config: String
    @Option(help: "Torus shape(s) X×Y of chips, comma-separated, e.g. 8x8 or 4x4,8x8,32x32.") var mesh: String?
    @Option(name: .customLong("layout"), help: "A data=D,model=M layout (repeatable); default: every factorisation of each mesh.")
    var layouts: [String] = []
    @Option(help: "The chip (known: tpu-v3).") var chip: String = "tpu-v3"
    @Flag(help: "Print one JSON object instead of tables.") var json = false
    @Option(name: .customLong("alpha-us"), help: "Per-hop latency α in µs, comma-separated (not published; default sweep 0.5,1,2,5).")
    var alphaUs: String?
    @Option(help: "Achievable model FLOP utilisation (assumed; default 0.5; with --calibrate, default: measured).")
    var mfu: Double?
    @Option(help: "Precision of the products: fp32 or bf16 (bf16 stores product inputs in 2 bytes and adds a bf16 weight copy; default: the config's training.precision).")
    var precision: Precision?
    @Option(help: "What backward keeps: none (every layer's activations) or layer (re-run each layer's forward; default: the config's training.recompute).",
            transform: { text in
                guard let value = Recompute(rawValue: text) else {
                    throw ValidationError("--recompute must be one of \(Recompute.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(text)')")
                }
                return value
            })
    var recompute: Recompute?
    @Flag(inversion: .prefixedNo,
          help: "ZeRO-1 over the data axis: reduce-scatter the gradients, all-gather the parameters, optimizer slots / D (default: the config's distribution.shard_optimizer).")
    var shardOptimizer: Bool?
    @Option(help: "With --shard-optimizer: what the parameter all-gather carries, fp32 (the trainer's flat buffer) or bf16 (bf16 runs; fp32 master weights / D too).")
    var gatherPrecision: Precision = .fp32
    @Option(help: "What attention keeps for backward: statistics (flash-style, 2 floats per row and head) or probabilities (heads × Nb² per block, as the stored-probability kernel keeps).")
    var attentionMemory: AttentionMemory = .statistics
    @Option(help: "Bytes per gradient value in memory and on the wire: 4 (fp32, as the trainer) or 2 (bf16).") var gradientBytes: Int = 4
    @Option(help: "Bytes per value of the model-axis activation all-reduces: 4 (the trainer's fp32) or 2 (bf16). Stored activations follow --precision.")
    var activationBytes: Int = 4
    @Option(help: "Override the config's global batch (e.g. to fill a larger pod).") var batch: Int?
    @Option(help: "Override the config's accumulation steps.") var accumulationSteps: Int?
    @Flag(help: "Model one gradient all-reduce after backward instead of buckets overlapped with it (as the trainer runs).")
    var noOverlap = false
    @Flag(help: "Measure this machine (α, β, sgemm peak, MFU; run under mpirun) and print predicted vs measured local runs.")
    var calibrate = false
    @Option(help: "With --calibrate: timed training steps after one warm-up.") var steps: Int = 3
    @Option(help: "With --calibrate: a JSON array of measured steps {data, model, step_seconds, communication_seconds, peak_resident_bytes, source} to compare too.")
    var measured: String?

    func validate() throws {
        if !calibrate && mesh == nil { throw ValidationError("give --mesh XxY (e.g. --mesh 8x8), or --calibrate to measure this machine") }
        if calibrate && (mesh != nil || !layouts.isEmpty || alphaUs != nil) {
            throw ValidationError("--calibrate measures this machine's own layouts; drop --mesh, --layout and --alpha-us (or run them without --calibrate)")
        }
        if let mfu, !(mfu > 0 && mfu <= 1) { throw ValidationError("--mfu must be in (0, 1] (got \(mfu))") }
        if ![2, 4].contains(gradientBytes) { throw ValidationError("--gradient-bytes must be 4 (fp32) or 2 (bf16) (got \(gradientBytes))") }
        if ![2, 4].contains(activationBytes) { throw ValidationError("--activation-bytes must be 4 (fp32) or 2 (bf16) (got \(activationBytes))") }
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1 (got \(batch))") }
        if let accumulationSteps, accumulationSteps < 1 { throw ValidationError("--accumulation-steps must be at least 1") }
        if steps < 1 { throw ValidationError("--steps must be at least 1 (got \(steps))") }
        if gatherPrecision == .bf16 && (shardOptimizer == false || precision == .fp32) {
            throw ValidationError("--gather-precision bf16 needs --shard-optimizer and bf16 precision")
        }
    }

    /// The config with this command's overrides: batch, accumulation and the memory features.
    func loadConfig() throws -> RunConfig {
        var runConfig = try RunConfig.load(path: config)
        if let batch { runConfig.training.batchSize = batch }
        if let accumulationSteps { runConfig.training.accumulationSteps = accumulationSteps }
        if let precision { runConfig.training.precision = precision }
        if let recompute { runConfig.training.recompute = recompute }
        if let shardOptimizer { runConfig.distribution.shardOptimizer = shardOptimizer }
        return runConfig
    }

    func run() throws {
        if calibrate { return try runCalibration() }
        do {
            let runConfig = try loadConfig()
            let meshes = try TorusShape.parseList(mesh!)
            let chosen = try layouts.map { text -> MeshLayout in
                meshes.count == 1 ? try MeshLayout.parse(text, on: meshes[0]) : try MeshLayout.parse(text)
            }
            let alphas = try alphaUs.map(Self.parseAlphas) ?? SimulationSettings.defaultAlphas
            var settings = SimulationSettings(chip: try ChipSpec.named(chip), mfu: mfu ?? 0.5, mfuProvenance: .assumed,
                                              alphas: alphas, gradientBytes: gradientBytes, activationBytes: activationBytes,
                                              globalBatch: runConfig.training.batchSize,
                                              accumulationSteps: runConfig.training.accumulationSteps)
            settings.overlapGradients = !noOverlap
            settings.follow(runConfig)
            settings.attentionMemory = attentionMemory
            settings.allGatherPrecision = gatherPrecision
            let simulator = try MeshSimulator(config: runConfig.model, settings: settings)
            let (predictions, rejected) = try simulator.sweep(meshes: meshes, layouts: chosen)
            if json {
                let report = SimulationReport(config: config, chip: settings.chip.name, globalBatch: settings.globalBatch,
                                              accumulationSteps: settings.accumulationSteps,
                                              features: SimulationFeatures(settings), figures: simulator.figures,
                                              parameters: simulator.cost.parameterCount,
                                              shardedParameters: simulator.cost.shardedParameterCount,
                                              forwardFlopsPerVideo: simulator.cost.forwardFlopsPerVideo,
                                              trainingFlopsPerStep: FLOPCount.trainingStep(runConfig.model, batch: settings.globalBatch),
                                              singleChipSeconds: simulator.singleChipSeconds,
                                              predictions: predictions, rejected: rejected)
                print(try Self.jsonText(report))
            } else {
                printTables(simulator, runConfig, predictions, rejected)
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            throw fail(error)
        }
    }

    static func parseAlphas(_ text: String) throws -> [Double] {
        let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil && $0! >= 0 }) else {
            throw MeshSimulationError("--alpha-us '\(text)' is not a comma-separated list of µs ≥ 0 (e.g. 0.5,1,2,5)")
        }
        return values.map { $0! * 1e-6 }
    }

    static func jsonText<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONFormat.encoder
        return String(data: try encoder.encode(value), encoding: .utf8)!
    }
}

/// The memory features a simulation assumed, as JSON.
struct SimulationFeatures: Encodable {
    var precision: String
    var recompute: String
    var shardOptimizer: Bool
    var allGatherPrecision: String?
    var attentionMemory: String

    init(precision: Precision, recompute: Recompute, shardOptimizer: Bool, allGatherPrecision: Precision,
         attentionMemory: AttentionMemory) {
        self.precision = precision.rawValue; self.recompute = recompute.rawValue
        self.shardOptimizer = shardOptimizer
        self.allGatherPrecision = shardOptimizer ? allGatherPrecision.rawValue : nil
        self.attentionMemory = attentionMemory.rawValue
    }

    init(_ settings: SimulationSettings) {
        self.init(precision: settings.precision, recompute: settings.recompute, shardOptimizer: settings.shardOptimizer,
                  allGatherPrecision: settings.allGatherPrecision, attentionMemory: settings.attentionMemory)
    }

    enum CodingKeys: String, CodingKey {
        case precision, recompute
        case shardOptimizer = "shard_optimizer", allGatherPrecision = "allgather_precision", attentionMemory = "attention_memory"
    }
}

/// The one JSON object of `vt mesh simulate --json`.
struct SimulationReport: Encodable {
    var config: String
    var chip: String
    var globalBatch: Int
    var accumulationSteps: Int
    var features: SimulationFeatures
    var figures: [Figure]
    var parameters: Int
    var shardedParameters: Int
    var forwardFlopsPerVideo: Double
    var trainingFlopsPerStep: Double
    var singleChipSeconds: Double
    var predictions: [LayoutPrediction]
    var rejected: [RejectedLayout]

    enum CodingKeys: String, CodingKey {
        case config, chip, features, figures, parameters, predictions, rejected
        case globalBatch = "global_batch", accumulationSteps = "accumulation_steps"
        case shardedParameters = "sharded_parameters", forwardFlopsPerVideo = "forward_flops_per_video"
        case trainingFlopsPerStep = "training_flops_per_step", singleChipSeconds = "single_chip_compute_seconds"
    }
}

// MARK: - Tables

/// `12.3 µs`, `4.56 ms`, `1.23 s` (zero is `0`).
func duration(_ seconds: Double) -> String {
    if seconds == 0 { return "0" }
    if seconds < 1e-3 { return String(format: "%.1f µs", seconds * 1e6) }
    if seconds < 1 { return String(format: "%.2f ms", seconds * 1e3) }
    return String(format: "%.3f s", seconds)
}

func gibibytes(_ bytes: Double) -> String { String(format: "%.2f GiB", bytes / 1073741824) }

func padded(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

extension MeshSimulate {
    func printFigures(_ figures: [Figure]) {
        print("figures (published = vendor/paper numbers; ASSUMED = chosen here, change with the flag named)")
        for figure in figures {
            let label = figure.provenance == .assumed ? "ASSUMED" : figure.provenance.rawValue
            print("  " + padded(label, 10) + padded(figure.name, 36) + padded(figure.value, 46) + figure.source)
        }
    }

    func printTables(_ simulator: MeshSimulator, _ runConfig: RunConfig, _ predictions: [LayoutPrediction],
                     _ rejected: [RejectedLayout]) {
        let cost = simulator.cost, settings = simulator.settings
        let batch = settings.globalBatch
        print("vt mesh simulate: \(config) on \(settings.chip.name) chips (global batch \(batch), accumulation \(settings.accumulationSteps))")
        var work = String(format: "model: %@ parameters (%@ split by the model axis); forward %.2f TFLOP per video; training step %.1f TFLOP (docs/design.md §7)",
                          cost.parameterCount.formatted(), cost.shardedParameterCount.formatted(), cost.forwardFlopsPerVideo / 1e12,
                          FLOPCount.trainingStep(runConfig.model, batch: batch) / 1e12)
        if settings.recompute == .layer {
            work += String(format: ", %.1f TFLOP run with recomputation", cost.trainingFlopsPerChip(videos: batch, model: 1, recompute: .layer) / 1e12)
        }
        print(work + String(format: "; causal blocks skip %.1f TFLOP of it (still counted)",
                            cost.causalSkippedFlopsPerChip(videos: batch, model: 1, recompute: settings.recompute) / 1e12))
        let optimizer = settings.shardOptimizer
            ? "optimizer sharded over data (ZeRO-1: slots / D\(settings.allGatherPrecision == .bf16 ? ", fp32 master / D" : ""), parameters all-gathered in \(settings.allGatherPrecision))"
            : "optimizer replicated"
        print("features: precision \(settings.precision), recompute \(settings.recompute), \(optimizer), attention keeps "
              + (settings.attentionMemory == .statistics ? "softmax statistics (flash-style)" : "block probabilities"))
        print("one chip, compute only (the efficiency reference): " + duration(simulator.singleChipSeconds) + " per step")
        print("")
        printFigures(simulator.figures)
        print("")
        let bf16 = settings.precision == .bf16 ? " + bf16 weights" : ""
        print("memory per chip: state (parameters\(bf16) + gradients + optimizer slots) + activations of one micro-batch, against "
              + gibibytes(settings.chip.memoryBytes) + "; act/video = activations / micro-batch; times per optimizer step")
        let sharded = settings.shardOptimizer
        let widths = [7, 19, 12, 8, 10, 28, 14, 11, 7, 27] + (sharded ? [18] : []) + [17, 11]
        func row(_ cells: [String]) -> String {
            zip(cells, widths + [0]).map { $1 == 0 ? $0 : padded($0, $1) }.joined()
        }
        print(row(["mesh", "layout", "grid D/M", "videos", "act/video", "memory/chip (GiB)", "verdict", "compute", "α µs",
                   sharded ? "grad reduce-scatter (exp.)" : "grad all-reduce (exposed)"]
                  + (sharded ? ["param all-gather"] : []) + ["act all-reduces", "step", "efficiency"]))
        for prediction in predictions {
            let m = prediction.memory
            let memory = String(format: "%.2f + %.2f = %.2f", m.state / 1073741824, m.activations / 1073741824, m.total / 1073741824)
            let grids = "\(prediction.dataGrid[0])x\(prediction.dataGrid[1])/\(prediction.modelGrid[0])x\(prediction.modelGrid[1])"
            for (index, alpha) in prediction.alphas.enumerated() {
                let lead = index == 0
                    ? [prediction.mesh, "data=\(prediction.data),model=\(prediction.model)", grids, "\(prediction.videosPerChip)",
                       gibibytes(prediction.activationsPerVideo), memory, m.fits ? "fits" : "DOES NOT FIT", duration(prediction.computeSeconds)]
                    : Array(repeating: "", count: 8)
                let gradient = alpha.gradientAllReduceSeconds == 0 ? "0"
                    : "\(duration(alpha.gradientAllReduceSeconds)) (\(duration(alpha.gradientExposedSeconds)))"
                print(row(lead + [String(format: "%g", alpha.alphaMicroseconds), gradient]
                          + (sharded ? [duration(alpha.parameterAllGatherSeconds)] : [])
                          + [duration(alpha.activationAllReduceSeconds), duration(alpha.stepSeconds),
                             String(format: "%.3f", alpha.scalingEfficiency)]))
            }
        }
        if predictions.isEmpty { print("(no legal layout; see below — e.g. raise --batch or pick another --mesh)") }
        if !rejected.isEmpty {
            print("")
            print("not legal for this config:")
            for item in rejected { print("  \(item.mesh) \(item.layout): \(item.reason)") }
        }
        print("")
        print("grid D/M = the sub-torus of the data group (gradient \(sharded ? "reduce-scatter, parameter all-gather" : "all-reduce")) / of the model group (activation all-reduces);"
              + " efficiency = one chip's compute time / (chips × step time)")
    }
}

// MARK: - Calibration

extension MeshSimulate {
    func runCalibration() throws {
        do {
            let runConfig = try loadConfig()
            let measurements = try measured.map(MeasuredStep.load) ?? []
            let world = try MPIRuntime.world()
            let quiet = json || world.rank != 0
            if world.size == 1 {
                if !quiet { note("note: 1 rank: no communication to fit; run under mpirun -np 2 (or 4) to measure α and β") }
            }
            let calibration = try MeshCalibration.run(config: runConfig, communicator: world, steps: steps, mfu: mfu,
                                                      measurements: measurements, attentionMemory: attentionMemory,
                                                      allGatherPrecision: gatherPrecision, progress: { if !quiet { note($0) } })
            guard world.rank == 0 else { return }
            if json {
                let features = SimulationFeatures(precision: runConfig.training.precision, recompute: runConfig.training.recompute,
                                                  shardOptimizer: runConfig.distribution.shardOptimizer,
                                                  allGatherPrecision: gatherPrecision, attentionMemory: attentionMemory)
                print(try Self.jsonText(CalibrationReport(config: config, features: features, calibration: calibration)))
            } else {
                printCalibration(calibration, runConfig)
            }
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            if MPIRuntime.isLaunchedUnderMPI { MPIRuntime.abort(code: 1) }
            throw ExitCode.failure
        }
    }

    func printCalibration(_ calibration: Calibration, _ runConfig: RunConfig) {
        print("vt mesh simulate --calibrate: \(config) on this machine, \(calibration.ranks) rank\(calibration.ranks == 1 ? "" : "s")"
              + " (global batch \(runConfig.training.batchSize), accumulation \(runConfig.training.accumulationSteps))")
        print("trainer and predictions: precision \(runConfig.training.precision), recompute \(runConfig.training.recompute), "
              + "shard_optimizer \(runConfig.distribution.shardOptimizer); predicted attention memory: \(attentionMemory)")
        if !calibration.allReduceBytes.isEmpty {
            let link = calibration.link!
            print("MPI_Allreduce on \(calibration.ranks) ranks (median, slowest rank) and t = a + b·n fitted by least squares weighted by 1/t²")
            print("  " + padded("bytes", 12) + padded("measured", 12) + padded("one fit", 20) + "fit over its size range (used)")
            for (bytes, seconds) in zip(calibration.allReduceBytes, calibration.allReduceSeconds) {
                let n = Double(bytes), global = link.global.intercept + link.global.slope * n
                let piece = link.fit(forBytes: n), local = piece.intercept + piece.slope * n
                print("  " + padded("\(bytes)", 12) + padded(duration(seconds), 12)
                      + padded(duration(global) + String(format: " (%+.0f%%)", 100 * (global - seconds) / seconds), 20)
                      + duration(local) + String(format: " (%+.0f%%)", 100 * (local - seconds) / seconds))
            }
        }
        printFigures(calibration.figures)
        print("")
        func communication(_ total: Double?, _ exposed: Double?) -> String {
            guard let total else { return "—" }
            return total == 0 ? "0" : "\(duration(total)) (\(exposed.map(duration) ?? "—"))"
        }
        print("predicted vs measured; comm = time the all-reduces ran (exposed: not hidden behind compute)")
        print(padded("layout", 17) + padded("predicted compute", 19) + padded("comm (exposed)", 23) + padded("step", 11) + padded("memory", 11)
              + padded("measured step", 15) + padded("comm (exposed)", 23) + padded("peak RSS", 11) + "step error / comm error (exposed) / memory ratio")
        for row in calibration.comparisons {
            var line = padded("data=\(row.data),model=\(row.model)", 17) + padded(duration(row.predictedComputeSeconds), 19)
                + padded(communication(row.predictedCommunicationSeconds, row.predictedExposedCommunicationSeconds), 23)
                + padded(duration(row.predictedStepSeconds), 11) + padded(gibibytes(row.predictedMemoryBytes), 11)
            if let measured = row.measured {
                line += padded(duration(measured.stepSeconds), 15)
                    + padded(communication(measured.communicationSeconds, measured.exposedCommunicationSeconds), 23)
                    + padded(measured.peakResidentBytes.map(gibibytes) ?? "—", 11)
                    + [row.stepError.map { String(format: "%+.1f%%", 100 * $0) } ?? "—",
                       (row.communicationError.map { String(format: "%+.0f%%", 100 * $0) } ?? "—")
                           + (row.exposedCommunicationError.map { String(format: " (%+.0f%%)", 100 * $0) } ?? ""),
                       row.memoryRatio.map { String(format: "%.2f", $0) } ?? "—"].joined(separator: " / ")
            } else {
                line += "not measured (add it with --measured FILE)"
            }
            print(line)
        }
        print("")
        print("memory = parameters (+ bf16 weights) + gradients + 2 optimizer slots (/ D sharded) + activations, as --precision,"
              + " --recompute, --shard-optimizer and --attention-memory say; memory ratio = (memory + the process's own resident size"
              + " before the trainer was built, e.g. \(gibibytes(calibration.baselineResidentBytes)) at start) / peak RSS of that layout's window")
        if calibration.mfuProvenance == .measured {
            print("compute is calibrated from this run's MFU; for a prediction of it, pass --mfu from a 1-rank run (vt bench or this command without mpirun)")
        }
    }
}

struct CalibrationReport: Encodable {
    var config: String
    var features: SimulationFeatures
    var calibration: Calibration
}

extension AttentionMemory: ExpressibleByArgument {}
