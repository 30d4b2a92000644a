// Cached sampling against the naive oracle, its log-likelihood against teacher forcing, primed frames.

import Foundation
import Testing
import Kernels
@testable import VideoModel

@Suite struct CachedSamplerTests {
    func setUp(_ name: String) throws -> (VideoTransformer, [UInt8], ReferenceFile.Case) {
        let file = try ReferenceFile.load()
        let fixture = try #require(file.cases.first { $0.name == name })
        let model = try VideoTransformer(config: fixture.config, maxBatch: 2)
        try model.load(fixture.parameters)
        return (model, fixture.videos.flatMap { $0 }, fixture)
    }

    @Test(arguments: ["A", "B"])
    func cachedSamplingEqualsNaiveRerunning(caseName: String) throws {
        let (model, priming, _) = try setUp(caseName)
        let random = SubpixelRandom(seed: 42)
        var cached = priming, naive = priming
        let fast = CachedSampler(model: model, batch: 2)
        let a = cached.withUnsafeMutableBufferPointer {
            fast.sample(videos: $0.baseAddress!, videoIDs: [0, 1], random: random, temperature: 1)
        }
        let b = naive.withUnsafeMutableBufferPointer {
            NaiveSampler.sample(model: model, videos: $0.baseAddress!, videoIDs: [0, 1], random: random, temperature: 1)
        }
        #expect(cached == naive, "case \(caseName): \(zip(cached, naive).filter { $0 != $1 }.count) sub-pixels differ")
        #expect(a.subpixels == b.subpixels)
        for v in 0..<2 { #expect(abs(a.logLikelihood[v] - b.logLikelihood[v]) <= 1e-5 * abs(b.logLikelihood[v])) }
        #expect(cached != priming, "sampling changed nothing")
    }

    @Test(arguments: ["A", "B"])
    func sampledLogLikelihoodIsTheTeacherForcedOne(caseName: String) throws {
        let (model, priming, fixture) = try setUp(caseName)
        var videos = priming
        let result = videos.withUnsafeMutableBufferPointer {
            CachedSampler(model: model, batch: 2).sample(videos: $0.baseAddress!, videoIDs: [7, 8], random: SubpixelRandom(seed: 5), temperature: 1)
        }
        let size = priming.count / 2
        let nll = model.fullNLL(videos: [Array(videos[0..<size]), Array(videos[size...])])
        for v in 0..<2 {
            let teacherForced = -nll[v].reduce(0, +)
            #expect(abs(result.logLikelihood[v] - teacherForced) <= 1e-4 * abs(teacherForced),
                    "video \(v): sampling \(result.logLikelihood[v]) vs teacher forcing \(teacherForced)")
        }
        // Primed frames are copied bit for bit.
        let frameSize = fixture.config.height * fixture.config.width * 3
        for v in 0..<2 { for frame in fixture.config.primeFrames {
            let range = (v * size + frame * frameSize)..<(v * size + (frame + 1) * frameSize)
            #expect(Array(videos[range]) == Array(priming[range]), "video \(v) primed frame \(frame) changed")
        } }
    }

    @Test func aVideoDoesNotDependOnItsBatchMates() throws {
        let (model, priming, _) = try setUp("A")
        let size = priming.count / 2
        var pair = priming, single = Array(priming[0..<size])
        let random = SubpixelRandom(seed: 3)
        pair.withUnsafeMutableBufferPointer { _ = CachedSampler(model: model, batch: 2).sample(videos: $0.baseAddress!, videoIDs: [0, 1], random: random, temperature: 0.8) }
        single.withUnsafeMutableBufferPointer { _ = CachedSampler(model: model, batch: 1).sample(videos: $0.baseAddress!, videoIDs: [0], random: random, temperature: 0.8) }
        #expect(Array(pair[0..<size]) == single)
    }
}
