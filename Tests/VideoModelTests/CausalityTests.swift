// Causality: a sub-pixel's prediction never depends on itself or later sub-pixels of its slice, and the
// encoder never sees pixels that are invisible to the slice. Compared bitwise.

import Testing
import Kernels
@testable import VideoModel

@Suite struct CausalityTests {
    func makeModel() throws -> (VideoTransformer, [UInt8]) {
        let file = try ReferenceFile.load()
        let fixture = try #require(file.cases.first { $0.name == "A" })
        let model = try VideoTransformer(config: fixture.config, maxBatch: 1)
        try model.load(fixture.parameters)
        return (model, fixture.videos[0])
    }

    func logits(_ model: VideoTransformer, _ video: [UInt8], slice: Int) -> [[Float]] {
        video.withUnsafeBufferPointer { _ = model.forward(videos: $0.baseAddress!, slices: [slice], mode: .evaluation) }
        return model.head.logits.map { Array(UnsafeBufferPointer(start: $0.pointer, count: model.positions * 256)) }
    }

    @Test func predictionsIgnoreTheirOwnAndLaterSubpixels() throws {
        let (model, video) = try makeModel()
        let s = model.subscaling, shape = s.sliceShape, config = model.config
        var random = Xoshiro256(seed: 3)
        var changedSomething = 0
        for k in [1, 5, 11] {
            let base = logits(model, video, slice: k)
            for _ in 0..<12 {
                // Primed pixels are given (visible to every slice, docs/design.md §2), so both the predicted sub-pixel
                // and the changed one are non-primed; the changed one is at or after (i, ch).
                let predicted = (0..<model.positions).filter { !s.isPrimed(slice: k, position: $0) }
                let i = predicted[random.nextInt(below: predicted.count)], ch = random.nextInt(below: 3)
                let later = predicted.filter { $0 >= i }
                let j = later[random.nextInt(below: later.count)]
                let c2 = j == i ? ch + random.nextInt(below: 3 - ch) : random.nextInt(below: 3)
                let origin = s.offset(ofSlice: k)
                let pixel = s.pixel(slice: origin, i: j / (shape.h * shape.w), j: (j / shape.w) % shape.h, l: j % shape.w)
                var changed = video
                let index = ((pixel.t * config.height + pixel.h) * config.width + pixel.w) * 3 + c2
                changed[index] &+= 77
                let after = logits(model, changed, slice: k)
                #expect(Array(after[ch][(i * 256)..<((i + 1) * 256)]) == Array(base[ch][(i * 256)..<((i + 1) * 256)]),
                        "slice \(k): changing sub-pixel (\(j), \(c2)) moved the prediction of (\(i), \(ch))")
                // Teeth: the changed sub-pixel does move some later prediction when one exists.
                if j + 1 < model.positions && after[0][((j + 1) * 256)..<((j + 2) * 256)] != base[0][((j + 1) * 256)..<((j + 2) * 256)] {
                    changedSomething += 1
                }
            }
        }
        #expect(changedSomething > 0, "no perturbation changed any later prediction: the test has no teeth")
    }

    @Test func theEncoderIgnoresInvisiblePixels() throws {
        let (model, video) = try makeModel()
        let s = model.subscaling, config = model.config
        for k in [0, 4, 9] {
            video.withUnsafeBufferPointer { _ = model.forward(videos: $0.baseAddress!, slices: [k], mode: .evaluation) }
            let base = model.encoder.output.fp32!.array
            var visibleChanges = 0
            for t in 0..<config.frames { for h in 0..<config.height { for w in 0..<config.width {
                var changed = video
                changed[((t * config.height + h) * config.width + w) * 3] &+= 101
                changed.withUnsafeBufferPointer { _ = model.forward(videos: $0.baseAddress!, slices: [k], mode: .evaluation) }
                let after = model.encoder.output.fp32!.array
                if s.isVisible(t: t, h: h, w: w, toSlice: k) {
                    if after != base { visibleChanges += 1 }
                } else {
                    #expect(after == base, "slice \(k): invisible pixel (\(t), \(h), \(w)) changed the encoder output")
                }
            } } }
            #expect(visibleChanges > 0 || k == 0)
        }
    }
}
