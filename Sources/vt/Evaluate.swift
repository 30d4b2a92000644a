import ArgumentParser
import Datasets
import Distribution
import Foundation
import Kernels
import Training
import VideoModel

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exact bits per dimension of a checkpoint on a data set (every slice, every non-primed sub-pixel).")

    @Option(help: "The checkpoint to evaluate (a step_NNNNNNNN.h5 file).") var checkpoint: String
    @Option(help: "Evaluation shards (a .h5 file or a folder of them); default: the checkpoint config's data.eval.")
    var data: String?
    @Option(help: "Evaluate only the first N videos.") var videos: Int?
    @Option(help: "Videos per rank per forward pass.") var batch: Int = 4
    @Flag(help: "Print one JSON object (bits_per_dim, videos, subpixels, per-frame and per-slice values).") var json = false
    @Option(help: "Precision of the matrix products: fp32 (default: the exact, reference-checked number) or bf16.")
    var precision: Precision = .fp32

    func validate() throws {
        if let videos, videos < 1 { throw ValidationError("--videos must be at least 1 (got \(videos))") }
        if batch < 1 { throw ValidationError("--batch must be at least 1 (got \(batch))") }
    }

    func run() throws {
        var world: (any Communicator)? = nil
        do {
            MatMul.configureThreads()
            let ranks = try RunWorld()
            world = ranks.world
            let say = ranks.say
            if let line = try ranks.agree("checking the precision", { try PrecisionCheck.prepare(precision) }) { say(line) }
            let loaded = try ranks.agree("loading the checkpoint") {
                try CheckpointedModel(path: checkpoint, maxBatch: batch, precision: precision)
            }
            let source: VideoSource = try ranks.agree("opening the data") {
                let shards = try loaded.data(data, role: "evaluation")
                return videos.map { PrefixVideoSource(shards, count: $0) } ?? shards
            }
            let config = loaded.config.model
            say("vt evaluate: \(checkpoint) (step \(loaded.step)) on \(source.count) videos, \(ranks.world.size) rank(s) × batch \(batch)")
            let progress = ProgressLine(total: 1, every: 1, isTerminal: ranks.isLeader && isatty(STDERR_FILENO) != 0)
            var clock = Stopwatch()
            let totals = try EvaluationRun.run(model: loaded.model, source: source, communicator: ranks.world, batchPerRank: batch) { done, total in
                guard ranks.isLeader && progress.isTerminal else { return }
                let fraction = Double(done) / Double(total)
                FileHandle.standardError.write(Data(String(format: "\revaluating: batch %d/%d (%.0f%%)", done, total, 100 * fraction).utf8))
            }
            let seconds = clock.lap()
            if progress.isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
            guard ranks.isLeader else { return }
            let rate = Double(totals.subpixels) / max(seconds, 1e-9)
            if json {
                let object: [String: Any] = [
                    "checkpoint": checkpoint, "step": loaded.step, "bits_per_dim": totals.bitsPerDim, "videos": totals.videos,
                    "subpixels": totals.subpixels, "ranks": ranks.world.size,
                    "bits_per_dim_per_frame": totals.framesBitsPerDim.map { $0 as Any? ?? NSNull() },
                    "bits_per_dim_per_slice": totals.slicesBitsPerDim.map { $0 as Any? ?? NSNull() },
                    "seconds": seconds, "subpixels_per_second": rate, "precision": precision.rawValue,
                ]
                print(String(data: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), encoding: .utf8)!)
            } else {
                print(String(format: "bits/dim %.5f over %d videos (%d sub-pixels, %d primed frame(s) excluded), %.0f sub-pixels/s",
                             totals.bitsPerDim, totals.videos, totals.subpixels, config.primeFrames.count, rate))
                print("per frame: " + totals.framesBitsPerDim.enumerated().map { "\($0.offset):" + ($0.element.map { String(format: "%.3f", $0) } ?? "primed") }.joined(separator: " "))
                print("per slice: " + totals.slicesBitsPerDim.enumerated().map { "\($0.offset):" + ($0.element.map { String(format: "%.3f", $0) } ?? "-") }.joined(separator: " "))
            }
        } catch {
            throw failDistributed(error, world: world)
        }
    }
}
