// The model against an independent NumPy float64 reference (golden fixtures: A–C unconditioned, D actions,
// E classes, F both), and the zero-head check.

import Foundation
import Testing
import Kernels
@testable import VideoModel

@Suite struct ReferenceTests {
    @Test(arguments: ["A", "B", "C", "D", "E", "F"])
    func everySubpixelNLLMatchesTheReference(caseName: String) throws {
        let file = try ReferenceFile.load()
        let fixture = try #require(file.cases.first { $0.name == caseName })
        let model = try VideoTransformer(config: fixture.config, maxBatch: fixture.videos.count)
        try model.load(fixture.parameters)
        let nll = fixture.withConditioning { model.fullNLL(videos: fixture.videos, conditioning: $0) }
        var worst = 0.0, worstIndex = (0, 0)
        for v in 0..<nll.count {
            for i in 0..<nll[v].count {
                let expected = fixture.nll[v][i]
                let relative = abs(nll[v][i] - expected) / max(abs(expected), 1e-3)
                if relative > worst { worst = relative; worstIndex = (v, i) }
            }
        }
        #expect(worst <= 1e-5, "case \(caseName): worst relative NLL error \(worst) at video \(worstIndex.0) sub-pixel \(worstIndex.1): swift \(nll[worstIndex.0][worstIndex.1]) vs reference \(fixture.nll[worstIndex.0][worstIndex.1])")
        // Training-mode per-slice losses agree with the reference's slice means too.
        let flat = fixture.videos.flatMap { $0 }
        for k in 0..<fixture.config.sliceCount {
            let result = fixture.withConditioning { conditioning in
                flat.withUnsafeBufferPointer {
                    model.forward(videos: $0.baseAddress!, slices: Array(repeating: k, count: fixture.videos.count),
                                  conditioning: conditioning, mode: .training)
                }
            }
            for v in 0..<fixture.videos.count {
                guard let expected = fixture.slice_loss[v][k] else { continue }
                #expect(abs(result.videoLosses[v] - expected) <= 1e-5 * expected, "case \(caseName) video \(v) slice \(k): \(result.videoLosses[v]) vs \(expected)")
            }
        }
    }

    @Test func bitsPerDimIsExactlyEightWithAZeroHead() throws {
        let file = try ReferenceFile.load()
        let fixture = try #require(file.cases.first)
        let model = try VideoTransformer(config: fixture.config, maxBatch: fixture.videos.count)
        try model.load(fixture.parameters)
        for offsets in model.layout.head {
            let weight = model.layout.table.entries.first { $0.offset == offsets.logitsWeight }!
            (model.parameters.pointer + offsets.logitsWeight).update(repeating: 0, count: weight.count)
            (model.parameters.pointer + offsets.logitsBias).update(repeating: 0, count: 256)
        }
        let nll = model.fullNLL(videos: fixture.videos)
        let subscaling = model.subscaling
        for v in 0..<nll.count {
            var bits = 0.0, count = 0
            for (i, value) in nll[v].enumerated() where !subscaling.priming.frames.contains(i / (fixture.config.height * fixture.config.width * 3)) {
                bits += value / M_LN2; count += 1
            }
            #expect(bits / Double(count) == 8, "bits/dim \(bits / Double(count))")
        }
    }
}
