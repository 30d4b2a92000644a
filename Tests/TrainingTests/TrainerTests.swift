// The trainer: deterministic, learns, and accumulation does not change the result.

import Foundation
import VTTestSupport
import Testing
import Datasets
import Kernels
import Optimization
import VideoModel
@testable import Training

@Suite struct TrainerTests {

    @Test func twoRunsWithTheSameSeedAreBitwiseIdentical() throws {
        let config = smallRunConfig()
        let a = try Trainer(config: config, source: syntheticSource(config)), b = try Trainer(config: config, source: syntheticSource(config))
        for _ in 0..<5 {
            let (ma, mb) = (try a.trainStep(), try b.trainStep())
            #expect(ma.loss == mb.loss && ma.gradientNorm == mb.gradientNorm)
        }
        #expect(a.model.parameters.array == b.model.parameters.array)
    }

    @Test func lossFallsOnTheSyntheticCorpus() throws {
        let config = smallRunConfig(batch: 4, steps: 60)
        let trainer = try Trainer(config: config, source: syntheticSource(config))
        var losses: [Double] = []
        for _ in 0..<60 { losses.append(try trainer.trainStep().loss) }
        let first = losses.prefix(5).reduce(0, +) / 5, last = losses.suffix(5).reduce(0, +) / 5
        #expect(first > 5.0, "an untrained model should be near uniform (ln 256 = 5.55), got \(first)")
        #expect(last < first - 1.0, "bits/dim should fall clearly: \(first / M_LN2) → \(last / M_LN2)")
    }

    @Test func accumulationMatchesOneBigBatch() throws {
        let whole = smallRunConfig(batch: 4, accumulation: 1), split = smallRunConfig(batch: 4, accumulation: 2)
        let a = try Trainer(config: whole, source: syntheticSource(whole)), b = try Trainer(config: split, source: syntheticSource(split))
        for step in 0..<6 {
            let (ma, mb) = (try a.trainStep(), try b.trainStep())
            #expect(abs(ma.loss - mb.loss) <= 1e-5 * ma.loss, "step \(step): \(ma.loss) vs \(mb.loss)")
        }
        let difference = zip(a.model.parameters.array, b.model.parameters.array).map { abs($0 - $1) }.max()!
        #expect(difference <= 1e-5, "parameters differ by \(difference)")
    }

    @Test func metricsLinesCarryTheRequiredFields() throws {
        let config = smallRunConfig(steps: 3)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try TrainingRun(trainer: try Trainer(config: config, source: syntheticSource(config)), runDirectory: directory, log: { _ in })
        try run.run(until: 3)
        let lines = try String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        #expect(lines.count == 3)
        for (index, line) in lines.enumerated() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            for key in ["step", "loss", "bits_per_dim", "learning_rate", "gradient_norm", "examples_per_second"] {
                #expect(object[key] != nil, "line \(index) lacks \(key)")
            }
            #expect(object["step"] as? Int == index + 1)
        }
    }

    @Test func sizesThatDoNotDivideAreRejected() {
        var config = smallRunConfig(batch: 6, accumulation: 4)
        #expect(throws: (any Error).self) { try config.validate() }
        config = smallRunConfig()
        config.model.blocks = [Triple(3, 4, 4)]
        do { try config.validate(); Issue.record("accepted a block that does not divide the grid") }
        catch { #expect("\(error)".contains("model.blocks[0]")) }
    }
}
