// Every config in Configs/ loads and validates, and its comments' numbers are what the code computes:
// bench.yaml is DESIGN §7's 6,340,176 parameters and 34.63 GFLOP of forward per video.

import Foundation
import Testing
import VideoModel
@testable import Training

@Suite struct ShippedConfigTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Configs")

    @Test func everyShippedConfigLoads() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 5, "\(files)")
        for file in files { _ = try RunConfig.load(path: Self.directory.appendingPathComponent(file).path) }
    }

    @Test(arguments: [("bench.yaml", 6_340_176, 34.63), ("bair-base-300k.yaml", 57_763_840, 453.12),
                      ("bair-large-1m.yaml", 213_763_328, 1748.05), ("kinetics-large-1m.yaml", 213_763_328, 1748.05)])
    func parameterCountsAndFLOPsMatchTheComments(file: String, parameters: Int, gigaflops: Double) throws {
        let config = try RunConfig.load(path: Self.directory.appendingPathComponent(file).path)
        #expect(ModelParameters(config: config.model).table.parameterCount == parameters)
        #expect(abs(FLOPCount.forwardPerVideo(config.model) / 1e9 - gigaflops) < 0.005)
    }

    @Test func benchStepIsDesignsFLOPCount() throws {
        let config = try RunConfig.load(path: Self.directory.appendingPathComponent("bench.yaml").path)
        #expect(abs(FLOPCount.trainingStep(config.model, batch: config.training.batchSize) / 1e9 - 415.5) < 0.05)
    }
}
