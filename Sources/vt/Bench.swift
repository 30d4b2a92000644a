import ArgumentParser
import Foundation
import Distribution
import Training

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time training steps, count model FLOPs and report utilisation against OpenBLAS sgemm measured now.")

    @Option(help: "The YAML config to benchmark.") var config: String = "Configs/bench.yaml"
    @Option(help: "Timed steps after one warm-up step (the median is reported).") var steps: Int = 5
    @Flag(help: "Print one JSON object instead of a table.") var json = false
    @Flag(help: "Instead of training steps: an OSU-style sweep of all-reduce sizes, bucketed vs one MPI_Allreduce (run under mpirun).")
    var communication = false
    @Option(help: "Bucket size in MB for --communication (default 25, as in training).") var bucketMb: Double = 25

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1 (got \(steps))") }
    }

    func run() throws {
        if communication { return try runCommunication() }
        do {
            let runConfig = try RunConfig.load(path: config)
            let report = try Benchmark.run(config: runConfig, configName: config, steps: steps, progress: { if !json { note($0) } })
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(data: try encoder.encode(report), encoding: .utf8)!)
            } else {
                print(String(format: "config               %@ (batch %d, %d parameters)", report.config, report.batch, report.parameters))
                print(String(format: "step time (median)   %.3f s over %d steps", report.stepSecondsMedian, report.steps))
                for phase in ["encoder", "decoder", "head", "backward", "optimizer"] {
                    let seconds = report.phaseSecondsMedian[phase] ?? 0
                    print("  " + phase.padding(toLength: 19, withPad: " ", startingAt: 0)
                          + String(format: "%.3f s  (%4.1f%%)", seconds, 100 * seconds / report.stepSecondsMedian))
                }
                print(String(format: "model FLOPs / step   %.1f GFLOP", report.modelFlopsPerStep / 1e9))
                print(String(format: "achieved             %.1f GFLOP/s", report.achievedGflops))
                print(String(format: "sgemm peak (now)     %.1f GFLOP/s  [%@]", report.sgemmPeakGflops, report.sgemmPeakMethod))
                print(String(format: "MFU                  %.3f", report.mfu))
                print(String(format: "peak resident memory %.2f GiB (activations %.2f GiB)", Double(report.peakResidentBytes) / 1073741824, Double(report.activationBytes) / 1073741824))
            }
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
