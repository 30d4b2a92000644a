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

    /// Conditioned models (D actions, E classes, F both), with and without classifier-free guidance: the
    /// cached sampler draws exactly what re-running the whole forward draws.
    @Test(arguments: [("D", 0.0), ("E", 0.0), ("E", 1.5), ("F", 2.0)])
    func conditionedCachedSamplingEqualsNaiveRerunning(caseName: String, guidance: Double) throws {
        let (model, priming, fixture) = try setUp(caseName)
        let random = SubpixelRandom(seed: 17)
        var cached = priming, naive = priming
        let (a, b) = fixture.withConditioning { conditioning in
            (cached.withUnsafeMutableBufferPointer {
                CachedSampler(model: model, batch: 2, guidance: guidance).sample(videos: $0.baseAddress!, videoIDs: [0, 1], random: random,
                                                                                  temperature: 1, conditioning: conditioning)
            },
             naive.withUnsafeMutableBufferPointer {
                NaiveSampler.sample(model: model, videos: $0.baseAddress!, videoIDs: [0, 1], random: random, temperature: 1,
                                    conditioning: conditioning, guidance: guidance)
            })
        }
        #expect(cached == naive, "case \(caseName) w \(guidance): \(zip(cached, naive).filter { $0 != $1 }.count) sub-pixels differ")
        for v in 0..<2 { #expect(abs(a.logLikelihood[v] - b.logLikelihood[v]) <= 1e-5 * abs(b.logLikelihood[v])) }
        #expect(cached != priming, "sampling changed nothing")
    }

    /// Guidance changes the draws (w = 2 on a labelled video), and w = 0 is the unguided sampler exactly.
    @Test func guidanceChangesTheDrawsAndZeroIsUnguided() throws {
        let (model, priming, fixture) = try setUp("E")
        func draw(_ guidance: Double?) -> [UInt8] {
            var videos = priming
            fixture.withConditioning { conditioning in
                _ = videos.withUnsafeMutableBufferPointer {
                    let sampler = guidance.map { CachedSampler(model: model, batch: 2, guidance: $0) } ?? CachedSampler(model: model, batch: 2)
                    return sampler.sample(videos: $0.baseAddress!, videoIDs: [4, 5], random: SubpixelRandom(seed: 9), temperature: 1,
                                          conditioning: conditioning)
                }
            }
            return videos
        }
        let plain = draw(nil)
        #expect(draw(0) == plain)
        let guided = draw(2)
        let size = priming.count / 2
        #expect(Array(guided[0..<size]) != Array(plain[0..<size]), "guidance changed nothing on the labelled video")
    }

    @Test(arguments: ["A", "B", "F"])
    func sampledLogLikelihoodIsTheTeacherForcedOne(caseName: String) throws {
        let (model, priming, fixture) = try setUp(caseName)
        var videos = priming
        let size = priming.count / 2
        let (result, nll) = fixture.withConditioning { conditioning in
            let result = videos.withUnsafeMutableBufferPointer {
                CachedSampler(model: model, batch: 2).sample(videos: $0.baseAddress!, videoIDs: [7, 8], random: SubpixelRandom(seed: 5),
                                                             temperature: 1, conditioning: conditioning)
            }
            return (result, model.fullNLL(videos: [Array(videos[0..<size]), Array(videos[size...])], conditioning: conditioning))
        }
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
