import Benchmarks
import ArgumentParser
import Common
import Foundation
import Distribution
import Training
import Datasets
import Kernels
import VideoModel

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time training steps, count model FLOPs and report utilisation against OpenBLAS sgemm measured now.")

    @Option(help: "The YAML config to benchmark.") var config: String = "Configs/bench.yaml"
    @Option(help: "Timed steps after one warm-up step (the median is reported).") var steps: Int = 5
    @Flag(help: "Print one JSON object instead of a table.") var json = false
    @Flag(help: "Instead of training steps: an OSU-style sweep of all-reduce sizes, bucketed vs one MPI_Allreduce (run under mpirun).")
    var communication = false
    @Option(help: "Bucket size in MB for --communication (default 25, as in training).") var bucketMb: Double = 25
    @Flag(help: "Instead of training steps: cached vs naive sampling speed and evaluation throughput.")
    var sampling = false
    @Flag(help: "Under mpirun: replicated vs ZeRO-1 sharded optimizer state, trained in turns step by step in one job (step times, state bytes per rank).")
    var compareShardOptimizer = false
    @Option(help: "Also time the data loader on these shards (file or folder) and compare it with what training consumes.")
    var data: String?
    @Option(help: "Precision of the matrix products: fp32 or bf16 (default: the config's training.precision).")
    var precision: Precision?
    @Option(help: "What backward keeps: none or layer (default: the config's training.recompute).")
    var recompute: Recompute?
    @Option(help: "Videos per timed step (default: the config's training.batch_size), e.g. 1 to measure one paper-scale micro-batch.")
    var batch: Int?
    @Flag(help: "Instead of training steps: the attention kernel keeping softmax statistics vs the one storing probabilities, on the config's block shapes.")
    var attention = false

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1 (got \(steps))") }
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1 (got \(batch))") }
    }

    func run() throws {
        if communication { return try runCommunication() }
        if compareShardOptimizer { return try runShardingComparison() }
        if sampling { return try runSampling() }
        if attention { return try runAttention() }
        do {
            var runConfig = try RunConfig.load(path: config)
            if let precision { runConfig.training.precision = precision }
            if let recompute { runConfig.training.recompute = recompute }
            if let batch { runConfig.training.batchSize = batch; runConfig.training.accumulationSteps = 1 }
            if let line = try PrecisionCheck.prepare(runConfig.training.precision), !json { note(line) }
            let report = try Benchmark.run(config: runConfig, configName: config, steps: steps, progress: { if !json { note($0) } })
            if json {
                let encoder = JSONFormat.encoder
                print(String(data: try encoder.encode(report), encoding: .utf8)!)
            } else {
                print(String(format: "config               %@ (batch %d, %d parameters)", report.config, report.batch, report.parameters))
                print(String(format: "step time (median)   %.3f s over %d steps", report.stepSecondsMedian, report.steps))
                for phase in ["encoder", "decoder", "head", "backward", "optimizer"] + (report.recompute == "layer" ? ["recompute"] : []) {
                    let seconds = report.phaseSecondsMedian[phase] ?? 0
                    let name = phase == "recompute" ? "  of which recompute" : phase
                    print("  " + name.padding(toLength: 19, withPad: " ", startingAt: 0)
                          + String(format: "%.3f s  (%4.1f%%)", seconds, 100 * seconds / report.stepSecondsMedian))
                }
                print(String(format: "model FLOPs / step   %.1f GFLOP (docs/design.md §7; MFU counts these)", report.modelFlopsPerStep / 1e9))
                print(String(format: "  not run            %.1f GFLOP (causal blocks' masked triangle, skipped by the tiled attention)",
                             report.skippedFlopsPerStep / 1e9))
                print(String(format: "  run again          %.1f GFLOP (attention backward's scores%@)", report.recomputedFlopsPerStep / 1e9,
                             report.recompute == "layer" ? "; recompute: layer's second forward of every layer and the head" : ""))
                print(String(format: "achieved             %.1f GFLOP/s", report.achievedGflops))
                print(String(format: "precision            %@", report.precision + (report.isa.map { " (oneDNN ISA \($0))" } ?? "")))
                print(String(format: "sgemm peak (now)     %.1f GFLOP/s  [%@]", report.sgemmPeakGflops, report.sgemmPeakMethod))
                if let bf16 = report.bf16PeakGflops, let method = report.bf16PeakMethod {
                    print(String(format: "bf16 peak (now)      %.1f GFLOP/s  [%@]", bf16, method))
                    print(String(format: "MFU                  %.3f of the bf16 peak (%.3f of the fp32 sgemm peak)", report.mfu, report.mfuFp32Peak))
                } else {
                    print(String(format: "MFU                  %.3f", report.mfu))
                }
                print(String(format: "memory               activations %.2f GiB, state %.3f GiB (parameters, gradients, optimizer slots%@), peak resident %.2f GiB",
                             Double(report.activationBytes) / 1073741824, Double(report.stateBytes) / 1073741824,
                             report.precision == "bf16" ? ", bf16 weights" : "", Double(report.peakResidentBytes) / 1073741824))
                print(String(format: "  of the activations %.2f GiB are layers' saved activations and residual streams (recompute: %@)",
                             Double(report.savedActivationBytes) / 1073741824, report.recompute))
            }
            if let data { try benchLoader(data, runConfig, consumed: Double(report.batch) / report.stepSecondsMedian) }
        } catch {
            throw fail(error)
        }
    }
}

extension Bench {
    /// Sizes from 4 KB to 64 MB; bus bandwidth = bytes/time · 2(p−1)/p (what a ring all-reduce moves).
    func runCommunication() throws {
        do {
            let world = try MPIRuntime.world()
            if world.size < 2 && world.rank == 0 {
                note("note: a world of 1 rank moves nothing; run under mpirun, e.g. mpirun -np 2 vt bench --communication")
            }
            let sizes = (12...26).map { 1 << $0 }
            let results = try measureAllReduce(communicator: world, sizes: sizes, iterations: max(3, steps),
                                               bucketBytes: Int(bucketMb * 1_000_000))
            guard world.rank == 0 else { return }
            if json {
                let rows = results.map { result -> [String: Any] in
                    ["bytes": result.bytes, "ranks": result.ranks, "allreduce_seconds": result.plainSeconds,
                     "bucketed_seconds": result.bucketedSeconds, "buckets": result.bucketCount,
                     "allreduce_bus_gbps": result.plainBusBandwidth / 1e9, "bucketed_bus_gbps": result.bucketedBusBandwidth / 1e9,
                     "bucketed_fraction": result.plainSeconds / max(result.bucketedSeconds, 1e-12)]
                }
                let data = try JSONSerialization.data(withJSONObject: ["ranks": world.size, "sizes": rows], options: [.sortedKeys])
                print(String(data: data, encoding: .utf8)!)
            } else {
                print("all-reduce on \(world.size) ranks (median of \(max(3, steps)); bus bandwidth = bytes/time·2(p−1)/p)")
                print("       bytes   MPI_Allreduce            bucketed (buckets)        bucketed/allreduce bandwidth")
                for result in results {
                    print(String(format: "%12d   %9.1f µs %6.2f GB/s   %9.1f µs %6.2f GB/s (%d)   %5.1f%%",
                                 result.bytes, result.plainSeconds * 1e6, result.plainBusBandwidth / 1e9,
                                 result.bucketedSeconds * 1e6, result.bucketedBusBandwidth / 1e9, result.bucketCount,
                                 100 * result.plainSeconds / max(result.bucketedSeconds, 1e-12)))
                }
            }
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            if MPIRuntime.isLaunchedUnderMPI { MPIRuntime.abort(code: 1) }
            throw ExitCode.failure
        }
    }
}

extension Bench {
    /// The loader's clips/s on `path` (the config's clip length and batch) against the videos/s training consumes.
    func benchLoader(_ path: String, _ config: RunConfig, consumed: Double) throws {
        let source = try ShardVideoSource(path: path)
        let loader = try LoaderBenchmark.run(source: source, clipFrames: config.model.frames, batch: config.training.batchSize)
        let line = String(format: "data loader          %.0f videos/s (%.0f MB/s; %d-frame clips from %@) = %.0f× the %.2f videos/s training consumes",
                          loader.videosPerSecond, loader.megabytesPerSecond, config.model.frames, source.summary,
                          loader.videosPerSecond / consumed, consumed)
        if json { note(line) } else { print(line) }
    }
}

extension Bench {
    func runSampling() throws {
        do {
            var runConfig = try RunConfig.load(path: config)
            if let precision { runConfig.training.precision = precision }
            if let line = try PrecisionCheck.prepare(runConfig.training.precision), !json { note(line) }
            let report = try Benchmark.sampling(config: runConfig, configName: config, progress: { if !json { note($0) } })
            if json {
                let encoder = JSONFormat.encoder
                print(String(data: try encoder.encode(report), encoding: .utf8)!)
            } else {
                print(String(format: "cached sampling, 1 video        %10.0f sub-pixels/s", report.cachedSubpixelsPerSecondOneVideo))
                print(String(format: "cached sampling, %2d videos      %10.0f sub-pixels/s", report.batch, report.cachedSubpixelsPerSecondBatch))
                print(String(format: "naive re-running, 1 video       %10.2f sub-pixels/s", report.naiveSubpixelsPerSecond))
                print(String(format: "cached / naive (1 video)        %10.0f×", report.cachedOverNaive))
                print(String(format: "evaluation (exact, all slices)  %10.0f sub-pixels/s", report.evaluationSubpixelsPerSecond))
                print(String(format: "training forward (one slice)    %10.0f sub-pixels/s", report.trainingForwardSubpixelsPerSecond))
                if let g = report.guidance {
                    print(String(format: "guided sampling (w = 1), %2d videos %7.0f sub-pixels/s: %.2f× the unguided time (%.0f sub-pixels/s; medians of %d alternating rounds)",
                                 report.batch, g.guidedSubpixelsPerSecond, g.timeRatio, g.unguidedSubpixelsPerSecond, g.rounds))
                }
                if let c = report.cost {
                    if let timed = c.largestBatchTimed, let rate = c.largestBatchSubpixelsPerSecond {
                        let positions = c.largestBatchPositions ?? 0, whole = runConfig.model.positionsPerSlice
                        print(String(format: "cached sampling, %3d videos     %10.0f sub-pixels/s (%@)", timed, rate,
                                     positions >= whole ? "a whole slice" : "a slice's first \(positions) of \(whole) positions, extrapolated: optimistic"))
                    }
                    print(String(format: "largest batch that fits         %10d videos (%.1f MiB per video; 80%% of this machine's memory, at most 1,024)",
                                 c.largestBatch, Double(c.bytesPerVideo) / 1_048_576))
                    print(String(format: "sampler products, %2d videos     %10.1f GFLOP/s = %.3f of the %@ peak %.1f GFLOP/s measured now (%.0f FLOP per sub-pixel; 1 video: %.1f GFLOP/s)",
                                 report.batch, c.achievedGflopsBatch, c.fractionOfPeakBatch, report.precision == "bf16" ? "bf16" : "sgemm",
                                 c.peakGflops, c.flopsPerSubpixel, c.achievedGflopsOneVideo))
                    for p in c.protocols {
                        print("\(p.name): \(ProgressLine.duration(p.secondsOneNode)) on this machine, \(ProgressLine.duration(p.secondsOn64Nodes)) on 64 like it (at \(Int(c.bestSubpixelsPerSecond)) sub-pixels/s)")
                    }
                }
            }
        } catch {
            throw fail(error)
        }
    }
}

extension Bench {
    func runAttention() throws {
        do {
            var runConfig = try RunConfig.load(path: config)
            if let precision { runConfig.training.precision = precision }
            if let batch { runConfig.training.batchSize = batch }
            if let line = try PrecisionCheck.prepare(runConfig.training.precision), !json { note(line) }
            let report = Benchmark.attention(config: runConfig, configName: config, repeats: max(3, steps),
                                             progress: { if !json { note($0) } })
            if json {
                let encoder = JSONFormat.encoder
                print(String(data: try encoder.encode(report), encoding: .utf8)!)
                return
            }
            print("attention of \(report.config) (\(report.precision)): \(report.rows) rows, \(report.heads) heads of \(report.headSize); "
                  + "medians of \(report.repeats) alternating rounds, one layer each")
            print("  Nb  mask    layers  forward stored → statistics   backward stored → statistics   kept for backward      computed")
            for shape in report.shapes {
                print(String(format: "%4d  %@  %6d  %8.1f ms → %6.1f ms (%4.2f×)  %8.1f ms → %6.1f ms (%4.2f×)  %7.1f MB → %5.2f MB  %5.1f%%",
                             shape.blockLength, shape.causal ? "causal" : "none  ", shape.layers,
                             1e3 * shape.storedForwardSeconds, 1e3 * shape.statisticsForwardSeconds,
                             shape.statisticsForwardSeconds / shape.storedForwardSeconds,
                             1e3 * shape.storedBackwardSeconds, 1e3 * shape.statisticsBackwardSeconds,
                             shape.statisticsBackwardSeconds / shape.storedBackwardSeconds,
                             Double(shape.storedBytes) / 1e6, Double(shape.statisticsBytes) / 1e6, 100 * shape.computedFraction))
            }
        } catch {
            throw fail(error)
        }
    }
}

extension Bench {
    /// `--compare-shard-optimizer`: both optimizer layouts in one job, in turns (Benchmark+OptimizerSharding.swift).
    func runShardingComparison() throws {
        do {
            let world = try MPIRuntime.world()
            var runConfig = try RunConfig.load(path: config)
            if let precision { runConfig.training.precision = precision }
            if let line = try PrecisionCheck.prepare(runConfig.training.precision), !json, world.rank == 0 { note(line) }
            let report = try Benchmark.compareOptimizerSharding(config: runConfig, configName: config, world: world, steps: steps,
                                                                progress: { if !json && world.rank == 0 { note($0) } })
            guard world.rank == 0 else { return }
            if json {
                let encoder = JSONFormat.encoder
                print(String(data: try encoder.encode(report), encoding: .utf8)!)
                return
            }
            func mb(_ bytes: Int) -> String { String(format: "%.2f MB", Double(bytes) / 1e6) }
            print("config               \(report.config) on \(report.ranks) data ranks, \(report.precision), \(report.steps) steps each, in turns")
            for (name, side) in [("replicated", report.replicated), ("ZeRO-1", report.sharded)] {
                print(name.padding(toLength: 21, withPad: " ", startingAt: 0)
                      + String(format: "step %.4f s (median), exposed communication %.4f s; ", side.stepSecondsMedian, side.exposedCommunicationSecondsMedian)
                      + "optimizer slots \(mb(side.optimizerSlotBytes)) + master weights \(mb(side.masterWeightBytes)) per rank, state \(mb(side.stateBytes))")
            }
            print(String(format: "ZeRO-1 / replicated  step time %.4f (medians), %.4f (median of step pairs); optimizer state %.4f",
                         report.stepTimeRatio, report.stepTimeRatioOfPairs, report.optimizerStateRatio))
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            if MPIRuntime.isLaunchedUnderMPI { MPIRuntime.abort(code: 1) }
            throw ExitCode.failure
        }
    }
}
