import ArgumentParser
import Foundation
import Training

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time training steps, count model FLOPs and report utilisation against OpenBLAS sgemm measured now.")

    @Option(help: "The YAML config to benchmark.") var config: String = "Configs/bench.yaml"
    @Option(help: "Timed steps after one warm-up step (the median is reported).") var steps: Int = 5
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1 (got \(steps))") }
    }

    func run() throws {
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
