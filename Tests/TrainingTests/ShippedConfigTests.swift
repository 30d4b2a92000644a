// Every config in Configs/ loads and validates, and its comments' numbers are what the code computes:
// bench.yaml is docs/design.md §7's 6,340,176 parameters and 34.63 GFLOP of forward per video.

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
                      ("bair-large-1m.yaml", 213_763_328, 1748.05), ("kinetics-large-1m.yaml", 213_763_328, 1748.05),
                      ("bair-action-300k.yaml", 57_768_960, 453.12), ("kinetics-class-1m.yaml", 214_994_176, 1748.05),
                      ("tiny-action.yaml", 1_038_432, 1.728), ("tiny-class.yaml", 1_038_304, 0.864)])
    func parameterCountsAndFLOPsMatchTheComments(file: String, parameters: Int, gigaflops: Double) throws {
        let config = try RunConfig.load(path: Self.directory.appendingPathComponent(file).path)
        #expect(ModelParameters(config: config.model).table.parameterCount == parameters)
        #expect(abs(FLOPCount.forwardPerVideo(config.model) / 1e9 - gigaflops) < 0.005)
    }

    @Test func conditionedConfigsAreTheirBaseModelsPlusConditioning() throws {
        func load(_ file: String) throws -> RunConfig { try RunConfig.load(path: Self.directory.appendingPathComponent(file).path) }
        let action = try load("bair-action-300k.yaml"), bair = try load("bair-base-300k.yaml")
        #expect(action.model.actions == 4 && action.model.classes == 0)
        var unconditioned = action.model
        unconditioned.actions = 0
        #expect(unconditioned == bair.model)
        let kinetics = try load("kinetics-class-1m.yaml"), large = try load("kinetics-large-1m.yaml")
        #expect(kinetics.model.classes == 600 && kinetics.model.actions == 0 && kinetics.training.labelDropout == 0.1)
        var unlabelled = kinetics.model
        unlabelled.classes = 0
        #expect(unlabelled == large.model)
    }

    @Test func benchStepIsDesignsFLOPCount() throws {
        let config = try RunConfig.load(path: Self.directory.appendingPathComponent("bench.yaml").path)
        #expect(abs(FLOPCount.trainingStep(config.model, batch: config.training.batchSize) / 1e9 - 415.5) < 0.05)
    }
}
