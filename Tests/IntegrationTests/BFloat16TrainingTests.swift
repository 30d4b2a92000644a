// bf16 training on the vt binary and at length: `vt train` refuses an unknown precision (config or
// --precision) naming it and trains with --precision bf16; tiny.yaml trained 600 steps in bf16 ends within
// 2% of the fp32 run's exact bits/dim (two long runs, about 8 minutes: skipped when VT_QUICK=1); where oneDNN
// builds no bf16 products, bf16 is refused in one line. In one process, in milliseconds:
// TrainingTests/BFloat16TrainingTests.swift.

import Foundation
import Evaluation
import VTTestSupport
import Testing
import Datasets
import Distribution
import Kernels
import VideoModel
@testable import Training

private let shippedConfigs = repositoryFile("Configs")

@Suite(.enabled(if: MatMul.bf16ProductsAvailable, Comment(rawValue: MatMul.bf16UnavailableReason)), .needs(.vt))
struct BFloat16CommandLineTests {
    init() throws { try requireTools(.vt) }

    /// `vt train` with an unknown precision in the config or on the command line: refused naming it; with
    /// --precision bf16 it trains. (The config rules in one process: TrainingTests' BFloat16TrainingTests
    /// anUnknownPrecisionIsRefusedNamingTheField, of which this was the second half.)
    @Test func anUnknownPrecisionIsRefusedByVTTrain() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func write(_ precision: String?) throws -> String {
            let text = smallTwoStepConfig.replacingOccurrences(of: "  steps: 2", with: "  steps: 2" + (precision.map { "\n  precision: \($0)" } ?? ""))
            let path = directory.appendingPathComponent("precision-\(precision ?? "absent").yaml").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let bad = try write("bf17")
        let result = try runVT(["train", "--config", bad, "--run-dir", directory.path, "--checkpoint-dir", directory.path])
        #expect(result.status != 0 && result.output.contains("training.precision"), "status \(result.status): \(result.output)")
        #expect(!result.output.contains("Fatal error"), "a Swift trap: \(result.output)")
        let flag = try runVT(["train", "--config", try write(nil), "--precision", "bf17", "--run-dir", directory.path,
                              "--checkpoint-dir", directory.path])
        #expect(flag.status != 0 && flag.output.contains("bf17"), "status \(flag.status): \(flag.output)")
        // --precision bf16 on the command line trains and says which products it runs.
        let good = try runVT(["train", "--config", try write(nil), "--precision", "bf16", "--run-dir", directory.appendingPathComponent("run").path,
                              "--checkpoint-dir", directory.appendingPathComponent("checkpoints").path])
        #expect(good.status == 0 && good.output.contains("precision bf16"), "status \(good.status): \(good.output)")
    }
}

/// Long training (about 8 minutes on 2 cores).
@Suite(.enabled(if: MatMul.bf16ProductsAvailable, Comment(rawValue: MatMul.bf16UnavailableReason)))
struct BFloat16LongTrainingTests {
    static let quick = ProcessInfo.processInfo.environment["VT_QUICK"] == "1"

    /// tiny.yaml (the README's main job) trained for its 600 steps with the same seed in fp32 and in bf16,
    /// on the built-in synthetic corpus (512 videos of 16 frames, seed 1); exact bits/dim of each final model
    /// in its own precision on 32 held-out videos (seed 2): bf16 within 2% of fp32. Measured on the 2-core
    /// machine: fp32 255 s, bf16 191 s for the 600 steps, 7.8 min for the whole test (bits/dim 1.0305 and
    /// 1.0300) — far over the suite's budget, so VT_QUICK=1 skips it.
    @Test(.disabled(if: quick, "VT_QUICK=1 skips the two 600-step tiny.yaml runs (≈ 8 min on 2 cores)"))
    func tinyYAMLTrainedInBF16EndsWithinTwoPercentOfFP32() throws {
        // As `vt train` does: OpenBLAS single-threaded, all parallelism from vt's workers (else OpenBLAS's own
        // threads fight the workers and the fp32 run takes several times longer).
        MatMul.configureThreads()
        var config = try RunConfig.load(path: shippedConfigs.appendingPathComponent("tiny.yaml").path)
        config.training.evalEvery = 0
        let train = InMemoryVideoSource.synthetic(count: 512, frames: 16, height: 32, width: 32, seed: 1)
        let test = InMemoryVideoSource.synthetic(count: 32, frames: 16, height: 32, width: 32, seed: 2)
        var results: [Precision: (bitsPerDim: Double, seconds: Double, lastLoss: Double, model: VideoTransformer)] = [:]
        for precision in [Precision.fp32, .bf16] {
            config.training.precision = precision
            let trainer = try Trainer(config: config, source: train)
            #expect(trainer.model.precision == precision)
            let start = Date()
            var losses: [Double] = []
            for _ in 0..<config.training.steps { losses.append(try trainer.trainStep().loss) }
            let seconds = Date().timeIntervalSince(start)
            let totals = try EvaluationRun.run(model: trainer.model, source: test, communicator: LocalCommunicator(),
                                               batchPerRank: trainer.model.maxBatch)
            let last = losses.suffix(10).reduce(0, +) / 10
            results[precision] = (totals.bitsPerDim, seconds, last, trainer.model)
            print("tiny.yaml \(precision): " + String(format: "%d steps in %.1f s, last-10 loss %.4f nats, exact bits/dim %.5f over %d videos",
                                                        config.training.steps, seconds, last, totals.bitsPerDim, totals.videos))
        }
        let fp32 = try #require(results[.fp32]), bf16 = try #require(results[.bf16])
        let relative = abs(bf16.bitsPerDim - fp32.bitsPerDim) / fp32.bitsPerDim
        #expect(relative <= 0.02, "bits/dim bf16 \(bf16.bitsPerDim) vs fp32 \(fp32.bitsPerDim): \(relative) relative")
        #expect(fp32.bitsPerDim < 2.5, "fp32 did not learn (bits/dim \(fp32.bitsPerDim)); the comparison would say nothing")
        // For the record: the bf16-trained parameters evaluated with fp32 products.
        let check = try VideoTransformer(config: config.model, maxBatch: bf16.model.maxBatch)
        check.parameters.copy(from: bf16.model.parameters)
        let inFP32 = try EvaluationRun.run(model: check, source: test, communicator: LocalCommunicator(), batchPerRank: check.maxBatch)
        print(String(format: "tiny.yaml: bf16 within %.4f of fp32 bits/dim; bf16-trained model evaluated in fp32: %.5f; %.1f s + %.1f s",
                     relative, inFP32.bitsPerDim, fp32.seconds, bf16.seconds))
    }
}

/// Where oneDNN builds no bf16 products (an AVX2-only CPU), bf16 is refused before anything runs: one
/// line naming the reason and the way out, exit 1, nothing written.
@Suite struct BFloat16RefusalTests {
    @Test(.disabled(if: MatMul.bf16ProductsAvailable, "this CPU builds bf16 products"), .needs(.vt))
    func bf16IsRefusedInOneLineWhereOneDNNCannot() throws {
        try requireTools(.vt)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try smallDistributedConfig.write(to: directory.appendingPathComponent("small.yaml"), atomically: true, encoding: .utf8)
        let run = try runVT(["train", "--config", "small.yaml", "--precision", "bf16", "--run-dir", "run", "--checkpoint-dir", "c"],
                            directory: directory)
        let errors = run.output.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        #expect(run.status == 1 && errors.count == 1, "status \(run.status): \(run.output)")
        #expect(errors.first?.hasPrefix("error: precision bf16: ") == true && errors.first?.hasSuffix("use --precision fp32") == true,
                "\(run.output)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("c").path), "a checkpoint folder was made")
    }
}
