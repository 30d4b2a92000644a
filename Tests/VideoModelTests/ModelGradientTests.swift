// Whole-model gradient check: for every parameter tensor of a tiny config, the analytic directional
// derivative g·u matches a central difference of the training loss along u (unit norm, mixing the
// gradient's own direction with a random one so that errors orthogonal to g are seen too).
// ReLU kinks make central differences wrong wherever the step flips a unit, so the step is halved until
// every ReLU input keeps its sign at θ ± εu (the loss is then smooth on the segment).

import Foundation
import Testing
import Kernels
@testable import VideoModel

@Suite struct ModelGradientTests {
    /// Case A (the unconditioned model's 107 tensors) and F (actions and classes: the conditioning tensors of
    /// both stacks; video 0 labelled, video 1 "no label", so both class rows get gradients).
    @Test(arguments: [("A", [3, 7], 107), ("F", [1, 2], 68)])
    func everyParameterTensorMatchesFiniteDifferences(caseName: String, slices: [Int], tensors: Int) throws {
        let file = try ReferenceFile.load()
        let fixture = try #require(file.cases.first { $0.name == caseName })
        let model = try VideoTransformer(config: fixture.config, maxBatch: 2)
        try model.load(fixture.parameters)
        let videos = fixture.videos.flatMap { $0 }
        func loss() -> Double {
            fixture.withConditioning { conditioning in
                videos.withUnsafeBufferPointer {
                    model.forward(videos: $0.baseAddress!, slices: slices, conditioning: conditioning, mode: .training).loss
                }
            }
        }
        /// Signs of every ReLU input of the last forward.
        func reluSigns() -> [Bool] {
            let rows = slices.count * model.positions
            var signs: [Bool] = []
            for layer in model.encoder.layers + model.decoder.layers {
                signs += (0..<(rows * model.ffnWidth)).map { layer.saved.hidden.fp32![$0] > 0 }
            }
            for channel in 0..<3 { signs += (0..<(rows * model.hiddenSize)).map { model.head.hidden[channel].fp32![$0] > 0 } }
            return signs
        }
        _ = loss()
        model.gradients.zero()
        model.backward()
        var random = Xoshiro256(seed: 11)
        var failures: [String] = []
        var worst = (error: 0.0, name: ""), smallestStep = 1.0
        for entry in model.layout.table.entries {
            let g = (0..<entry.count).map { Double(model.gradients[entry.offset + $0]) }
            let gNorm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if gNorm == 0 { failures.append("\(entry.name): zero gradient (not touched)"); continue }
            var u = (0..<entry.count).map { g[$0] / gNorm + 0.5 * random.nextNormal() / Double(entry.count).squareRoot() }
            let uNorm = u.reduce(0) { $0 + $1 * $1 }.squareRoot()
            u = u.map { $0 / uNorm }
            let analytic = zip(g, u).reduce(0) { $0 + $1.0 * $1.1 }
            let saved = (0..<entry.count).map { model.parameters[entry.offset + $0] }
            _ = loss()
            let baseSigns = reluSigns()
            var epsilon = 1e-2, numeric = 0.0, smooth = false
            while true {
                for i in 0..<entry.count { model.parameters[entry.offset + i] = Float(Double(saved[i]) + epsilon * u[i]) }
                let plus = loss(), plusSigns = reluSigns()
                for i in 0..<entry.count { model.parameters[entry.offset + i] = Float(Double(saved[i]) - epsilon * u[i]) }
                let minus = loss(), minusSigns = reluSigns()
                for i in 0..<entry.count { model.parameters[entry.offset + i] = saved[i] }
                numeric = (plus - minus) / (2 * epsilon)
                smooth = plusSigns == baseSigns && minusSigns == baseSigns
                if smooth || epsilon < 1e-4 { break }
                epsilon /= 2
            }
            let error = abs(numeric - analytic) / max(abs(analytic), 1e-4)
            if error > worst.error { worst = (error, entry.name) }
            smallestStep = min(smallestStep, epsilon)
            if error > 2e-2 { failures.append("\(entry.name): numeric \(numeric) vs analytic \(analytic) (relative \(error), ε \(epsilon), smooth \(smooth))") }
        }
        #expect(model.layout.table.entries.count == tensors)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        print("gradient check \(caseName): worst relative error \(worst.error) (\(worst.name)); smallest step \(smallestStep)")
    }

    @Test func gradientsAccumulateAndAreDeterministic() throws {
        let config = ModelConfig(frames: 4, height: 8, width: 8, subscale: Triple(2, 2, 2), primeFrames: [0],
                                 embeddingSize: 8, hiddenSize: 16, heads: 2, headSize: 8, ffnSize: 32, encoderLayers: 1,
                                 decoderLayers: 2, encoderKernel: Triple(3, 3, 3), blocks: [Triple(2, 2, 2), Triple(1, 4, 4)])
        let model = try VideoTransformer(config: config, maxBatch: 3)
        model.layout.initialize(model.parameters, seed: 5)
        var random = Xoshiro256(seed: 1)
        let videos = (0..<(3 * 4 * 8 * 8 * 3)).map { _ in UInt8(random.nextInt(below: 256)) }
        func run() -> [Float] {
            model.gradients.zero()
            videos.withUnsafeBufferPointer { _ = model.forward(videos: $0.baseAddress!, slices: [1, 4, 6], mode: .training) }
            model.backward()
            return model.gradients.array
        }
        let first = run(), second = run()
        #expect(first == second, "two identical steps must give bitwise-identical gradients")
        videos.withUnsafeBufferPointer { _ = model.forward(videos: $0.baseAddress!, slices: [1, 4, 6], mode: .training) }
        model.backward()   // accumulates on top of `second`
        let doubled = model.gradients.array
        #expect(zip(doubled, second).allSatisfy { abs($0 - 2 * $1) <= 1e-6 * max(1, abs($1)) })
    }
}

@Suite struct GradientReadinessTests {
    /// Every tensor is reported exactly once, and only after its gradient stopped changing.
    @Test func everyTensorIsReportedOnceWithItsFinalGradient() throws {
        let file = try ReferenceFile.load()
        let fixture = try #require(file.cases.first { $0.name == "A" })
        let model = try VideoTransformer(config: fixture.config, maxBatch: 2)
        try model.load(fixture.parameters)
        let videos = fixture.videos.flatMap { $0 }
        videos.withUnsafeBufferPointer { _ = model.forward(videos: $0.baseAddress!, slices: [2, 9], mode: .training) }
        model.gradients.zero()
        var reported: [Int: [Float]] = [:], order: [Int] = []
        model.onGradientsReady = { indices in
            for index in indices {
                let entry = model.layout.table.entries[index]
                reported[index] = (0..<entry.count).map { model.gradients[entry.offset + $0] }
                order.append(index)
            }
        }
        model.backward()
        #expect(order.count == model.layout.table.entries.count && Set(order).count == order.count)
        for (index, snapshot) in reported {
            let entry = model.layout.table.entries[index]
            #expect(snapshot == (0..<entry.count).map { model.gradients[entry.offset + $0] }, "\(entry.name) changed after it was reported")
        }
        #expect(model.layout.table.entries[order.first!].name.hasPrefix("head/"))
        #expect(model.layout.table.entries[order.last!].name.hasPrefix("encoder/"))
    }
}

/// Conditioning tensors start at 0 and draw nothing (ModelParameters.initialize): a conditioned model starts
/// as the unconditioned model of the same seed, every shared tensor the same draw, and gives the same
/// likelihood before training, whatever actions and labels it is given.
@Suite struct ConditioningInitialisationTests {
    @Test func aConditionedModelStartsAsTheUnconditionedOne() throws {
        let plain = ModelConfig(frames: 4, height: 8, width: 8, subscale: Triple(2, 2, 2), primeFrames: [0],
                                embeddingSize: 8, hiddenSize: 16, heads: 2, headSize: 8, ffnSize: 32, encoderLayers: 1,
                                decoderLayers: 1, encoderKernel: Triple(3, 3, 3), blocks: [Triple(2, 2, 2), Triple(1, 4, 4)])
        var conditioned = plain
        conditioned.actions = 4
        conditioned.classes = 3
        let a = try VideoTransformer(config: plain, maxBatch: 2), b = try VideoTransformer(config: conditioned, maxBatch: 2)
        a.layout.initialize(a.parameters, seed: 9)
        b.layout.initialize(b.parameters, seed: 9)
        let named = Dictionary(uniqueKeysWithValues: a.layout.table.entries.map { ($0.name, $0) })
        var conditioningTensors = 0
        for entry in b.layout.table.entries {
            let values = Array(UnsafeBufferPointer(start: b.parameters.pointer + entry.offset, count: entry.count))
            if let same = named[entry.name] {
                #expect(values == Array(UnsafeBufferPointer(start: a.parameters.pointer + same.offset, count: same.count)), "\(entry.name)")
            } else {
                conditioningTensors += 1
                #expect(values.allSatisfy { $0 == 0 }, "\(entry.name) does not start at 0")
            }
        }
        #expect(conditioningTensors == 6)
        var random = Xoshiro256(seed: 2)
        let videos = (0..<(2 * 4 * 8 * 8 * 3)).map { _ in UInt8(random.nextInt(below: 256)) }
        let actions = (0..<(2 * 4 * 4)).map { _ in Float(random.nextNormal() * 3) }
        let lossA = videos.withUnsafeBufferPointer { a.forward(videos: $0.baseAddress!, slices: [2, 5], mode: .training) }
        let lossB = videos.withUnsafeBufferPointer { pixels in
            actions.withUnsafeBufferPointer {
                b.forward(videos: pixels.baseAddress!, slices: [2, 5],
                          conditioning: Conditioning(actions: $0.baseAddress!, labels: [1, 3]), mode: .training)
            }
        }
        #expect(lossA.videoLosses == lossB.videoLosses && lossA.subpixels == lossB.subpixels)
    }
}
