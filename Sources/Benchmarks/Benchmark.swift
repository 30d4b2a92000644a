// Benchmark: times training steps of a config (median after warm-up), splits them into phases, counts
// model FLOPs analytically (FLOPCount) and measures the OpenBLAS sgemm peak in the same run, so model FLOP
// utilisation (MFU) = achieved / peak is a ratio of two numbers measured under the same conditions. A bf16
// run also measures the oneDNN bf16 matmul peak and reports its MFU against that (docs/design.md §8).

import Common
import Foundation
import Evaluation
import CBLAS
import Kernels
import OneDNN
import VideoModel
import Datasets
import Training

public struct BenchmarkReport: Codable, Sendable {
    public var config: String
    public var batch: Int
    public var steps: Int
    public var stepSecondsMedian: Double
    public var stepSecondsAll: [Double]
    public var phaseSecondsMedian: [String: Double]
    public var modelFlopsPerStep: Double
    public var achievedGflops: Double
    public var sgemmPeakGflops: Double
    public var sgemmPeakMethod: String
    public var mfu: Double
    public var parameters: Int
    public var peakResidentBytes: Int
    public var activationBytes: Int
    /// Parameters, gradients and optimizer slots this rank holds (fp32), plus the bf16 weight copy.
    public var stateBytes: Int
    public var workers: Int
    /// fp32 or bf16: the products' precision; `mfu` is against the peak of that precision.
    public var precision: String
    /// bf16 runs: the oneDNN bf16 × bf16 → fp32 matmul peak measured in the same run, and how.
    public var bf16PeakGflops: Double?
    public var bf16PeakMethod: String?
    /// The instruction set oneDNN dispatches to (bf16 runs), e.g. avx512_core_bf16.
    public var isa: String?
    /// Achieved / sgemm peak, whatever the precision (for comparing bf16 with fp32 on one scale).
    public var mfuFp32Peak: Double
    /// `training.recompute` of the run (docs/design.md §9).
    public var recompute = Recompute.none.rawValue
    /// Of `activationBytes`, what grows with depth: the attention layers' saved activations (each layer's, or
    /// recomputing the one shared set) and the residual streams.
    public var savedActivationBytes = 0
    /// Training FLOPs the §7 count includes but the kernels skip (the causal blocks' masked triangle).
    public var skippedFlopsPerStep = 0.0
    /// Training FLOPs run beyond the §7 count: attention backward's score recomputation and, with
    /// `recompute: layer`, every layer's and the head's second forward. MFU counts neither.
    public var recomputedFlopsPerStep = 0.0
}

public enum Benchmark {
    public static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : 0.5 * (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2])
    }

    /// Peak fp32 matrix-multiply rate of this machine now: the better of OpenBLAS's own threading and our
    /// row-split over all workers, on square products of size `size`, median of `repeats`.
    public static func sgemmPeak(size: Int = 2048, repeats: Int = 5) -> (gflops: Double, method: String) {
        let a = FloatBuffer(count: size * size), b = FloatBuffer(count: size * size), c = FloatBuffer(count: size * size)
        var random = Xoshiro256(seed: 1)
        for i in 0..<(size * size) { a[i] = Float(random.nextUniform()); b[i] = Float(random.nextUniform()) }
        let flops = 2 * Double(size) * Double(size) * Double(size)
        func time(_ body: () -> Void) -> Double {
            body()
            var samples: [Double] = []
            for _ in 0..<repeats { var clock = Stopwatch(); body(); samples.append(clock.lap()) }
            return flops / median(samples) / 1e9
        }
        let split = time {
            MatMul.gemm(m: size, n: size, k: size, a: a.pointer, lda: size, b: b.pointer, ldb: size, c: c.pointer, ldc: size)
        }
        openblas_set_num_threads(Int32(Parallel.workers))
        let native = time {
            MatMul.gemmSerial(m: size, n: size, k: size, a: a.pointer, lda: size, b: b.pointer, ldb: size, c: c.pointer, ldc: size)
        }
        MatMul.configureThreads()
        return native > split
            ? (native, "OpenBLAS sgemm \(size)³, \(Parallel.workers) OpenBLAS threads")
            : (split, "OpenBLAS sgemm \(size)³, split over \(Parallel.workers) workers")
    }

    /// Peak bf16 × bf16 → fp32 rate of oneDNN on this machine now (2048³ by default): the better of vt's
    /// split over all workers (single-threaded primitives, as training runs them) and oneDNN's own OpenMP
    /// threading over the same cores, median of `repeats`.
    public static func bf16Peak(size: Int = 2048, repeats: Int = 5) throws -> (gflops: Double, method: String) {
        let a = BFloat16Buffer(count: size * size), b = BFloat16Buffer(count: size * size), c = FloatBuffer(count: size * size)
        var random = Xoshiro256(seed: 1)
        for i in 0..<(size * size) { a.pointer[i] = BFloat16(Float(random.nextUniform())); b.pointer[i] = BFloat16(Float(random.nextUniform())) }
        let flops = 2 * Double(size) * Double(size) * Double(size)
        func time(_ body: () throws -> Void) rethrows -> Double {
            try body()
            var samples: [Double] = []
            for _ in 0..<repeats { var clock = Stopwatch(); try body(); samples.append(clock.lap()) }
            return flops / median(samples) / 1e9
        }
        let split = time {
            MatMul.gemmBF16(m: size, n: size, k: size, a: a.pointer, lda: size, b: b.pointer, ldb: size, c: c.pointer, ldc: size)
        }
        let shape = MatmulShape(m: size, n: size, k: size, transA: false, transB: false, lda: size, ldb: size, ldc: size,
                                alpha: 1, accumulate: false, threads: Parallel.workers)
        let native = try time { try OneDNN.gemm(shape, a: a.pointer, b: b.pointer, c: c.pointer) }
        let implementation = (try? OneDNN.implementation(of: shape)) ?? "unknown"
        return native > split
            ? (native, "oneDNN \(implementation) \(size)³, \(Parallel.workers) OpenMP threads")
            : (split, "oneDNN \(implementation) \(size)³, split over \(Parallel.workers) workers")
    }

    /// Runs `warmup` + `steps` training steps of `config` on synthetic videos.
    public static func run(config: RunConfig, configName: String, steps: Int, warmup: Int = 1,
                           progress: (String) -> Void = { _ in }) throws -> BenchmarkReport {
        MatMul.configureThreads()
        let precision = config.training.precision
        let batch = config.training.batchSize
        let source = try ConditioningCheck.syntheticSource(for: config.model, count: batch, seed: 7, standIn: true)
        var benchConfig = config
        benchConfig.training.accumulationSteps = 1
        let trainer = try Trainer(config: benchConfig, source: source)
        var stepTimes: [Double] = [], phases: [String: [Double]] = [:]
        for index in 0..<(warmup + steps) {
            let metrics = try trainer.trainStep()
            progress("step \(index + 1)/\(warmup + steps)\(index < warmup ? " (warm-up)" : ""): \(String(format: "%.3f", metrics.stepSeconds)) s")
            guard index >= warmup else { continue }
            stepTimes.append(metrics.stepSeconds)
            for (name, value) in [("encoder", metrics.phases.encoder), ("decoder", metrics.phases.decoder),
                                  ("head", metrics.phases.head), ("backward", metrics.phases.backward),
                                  ("optimizer", metrics.optimizerSeconds)]
                + (config.training.recompute == .layer ? [("recompute", metrics.phases.recompute)] : []) {
                phases[name, default: []].append(value)
            }
        }
        let activationBytes = trainer.model.activationBytes, parameters = trainer.model.layout.table.parameterCount
        let stateBytes = trainer.model.parameters.bytes + trainer.model.gradients.bytes
            + trainer.optimizer.slots.reduce(0) { $0 + $1.bytes } + trainer.model.lowPrecisionWeightBytes
        let peakResident = ResidentMemory.peakBytes()
        progress("measuring the sgemm peak")
        let peak = sgemmPeak()
        var bf16: (gflops: Double, method: String)? = nil
        if precision == .bf16 {
            progress("measuring the oneDNN bf16 peak")
            bf16 = try bf16Peak()
        }
        let flops = FLOPCount.trainingStep(config.model, batch: batch)
        let stepMedian = median(stepTimes)
        let achieved = flops / stepMedian / 1e9
        var report = BenchmarkReport(config: configName, batch: batch, steps: steps, stepSecondsMedian: stepMedian,
                               stepSecondsAll: stepTimes, phaseSecondsMedian: phases.mapValues(median),
                               modelFlopsPerStep: flops, achievedGflops: achieved, sgemmPeakGflops: peak.gflops,
                               sgemmPeakMethod: peak.method, mfu: achieved / (bf16?.gflops ?? peak.gflops),
                               parameters: parameters, peakResidentBytes: peakResident, activationBytes: activationBytes,
                               stateBytes: stateBytes,
                               workers: Parallel.workers, precision: precision.rawValue, bf16PeakGflops: bf16?.gflops,
                               bf16PeakMethod: bf16?.method, isa: precision == .bf16 ? OneDNN.isa : nil,
                               mfuFp32Peak: achieved / peak.gflops)
        report.recompute = config.training.recompute.rawValue
        report.savedActivationBytes = trainer.model.savedActivationBytes
        report.skippedFlopsPerStep = FLOPCount.skippedPerVideo(config.model) * Double(batch)
        report.recomputedFlopsPerStep = FLOPCount.recomputedPerVideo(config.model, recompute: config.training.recompute) * Double(batch)
        return report
    }
}

/// Sampling and evaluation throughput (issue targets: cached ≥ 50× naive; evaluation vs training forward).
public struct SamplingBenchmarkReport: Codable, Sendable {
    public var config: String
    public var cachedSubpixelsPerSecondOneVideo: Double
    public var cachedSubpixelsPerSecondBatch: Double
    public var batch: Int
    public var naiveSubpixelsPerSecond: Double
    public var cachedOverNaive: Double
    public var evaluationSubpixelsPerSecond: Double
    public var trainingForwardSubpixelsPerSecond: Double
    public var precision: String
    /// Class-conditioned configs: classifier-free guidance's cost — `batch` videos sampled guided (w = 1)
    /// and unguided in alternating rounds, the medians' rates and the time ratio guided / unguided.
    public var guidance: GuidanceCost?
    /// What sampling costs against the machine (issue 23): the sampler's product rate against the peak
    /// measured in this run, the largest batch that fits, and the protocols' time.
    public var cost: SamplerCost?
}

public struct SamplerCost: Codable, Sendable {
    /// Model FLOPs per decoded sub-pixel: a cached sample does, per slice, the products of one training forward of
    /// that slice (FLOPCount.forwardPerVideo / (positions per slice · 3)), primed positions included.
    public var flopsPerSubpixel: Double
    /// GFLOP/s of the sampler at batch 1, `batch` and `largestBatch` (products of the model's precision).
    public var achievedGflopsOneVideo: Double, achievedGflopsBatch: Double
    /// The peak of the products' precision measured in this run (oneDNN bf16, or OpenBLAS sgemm), and how.
    public var peakGflops: Double, peakMethod: String
    public var fractionOfPeakBatch: Double
    /// The largest batch whose sampler buffers fit in 80% of this machine's memory beside the model (built for
    /// one video; up to 1,024), the sampler's bytes per video, and the rate at min(largest, 256) videos: the
    /// slice's encoder pass timed whole, its first `largestBatchPositions` positions timed and extrapolated to
    /// the slice (nil when that batch is `batch`).
    public var largestBatch: Int, bytesPerVideo: Int
    public var largestBatchTimed: Int?, largestBatchPositions: Int?, largestBatchSubpixelsPerSecond: Double?
    public var bestSubpixelsPerSecond: Double
    public var protocols: [ProtocolEstimate]
}

/// The time of a sampling protocol at the best measured rate, on one node like this one and on 64.
public struct ProtocolEstimate: Codable, Sendable {
    public var name: String
    public var samples: Int
    public var secondsOneNode: Double, secondsOn64Nodes: Double
}

public struct GuidanceCost: Codable, Sendable {
    public var rounds: Int
    public var unguidedSubpixelsPerSecond: Double
    public var guidedSubpixelsPerSecond: Double
    /// Median guided time / median unguided time for the same sub-pixels.
    public var timeRatio: Double
}

extension Benchmark {
    /// Times cached sampling of one whole slice without primed pixels (encoder pass included, as in a
    /// real run) for 1 video and for `batch` videos, a few naive sub-pixels (one full forward each), and
    /// one exact evaluation pass over every slice. A conditioned config runs on stand-in actions and
    /// labels (ConditioningCheck.syntheticSource); a class-conditioned one also times guided sampling
    /// against unguided in `guidanceRounds` alternating rounds.
    public static func sampling(config: RunConfig, configName: String, batch: Int = 16,
                                naiveSubpixels: Int = 3, guidanceRounds: Int = 3,
                                progress: (String) -> Void = { _ in }) throws -> SamplingBenchmarkReport {
        MatMul.configureThreads()
        // Sampling and evaluation keep nothing for a backward: no recomputation (NaiveSampler reads every channel).
        let model = try VideoTransformer(config: config.model, maxBatch: batch, precision: config.training.precision)
        model.layout.initialize(model.parameters, seed: 1)
        let frames = config.model.frames, width = config.model.actions
        let videos = try ConditioningCheck.syntheticSource(for: config.model, count: batch, seed: 3, standIn: true)
        let size = frames * videos.bytesPerFrame
        let clips = (0..<batch).map { ClipRequest(video: $0, startFrame: 0) }
        let buffer = try videos.readClips(clips, frameCount: frames)
        var actions = [Float](repeating: 0, count: batch * frames * width)
        if width > 0 {
            try actions.withUnsafeMutableBufferPointer { a in
                for v in 0..<batch { try videos.readActions(index: v, startFrame: 0, frameCount: frames, into: a.baseAddress! + v * frames * width) }
            }
        }
        let labels = config.model.classes > 0 ? try (0..<batch).map { try videos.label(index: $0) } : nil
        /// The first `count` videos' conditioning (actions point into `actions`, alive for the call).
        func conditioned<R>(_ count: Int, _ body: (Conditioning) -> R) -> R {
            actions.withUnsafeBufferPointer { a in
                body(Conditioning(actions: width > 0 ? a.baseAddress! : nil, labels: labels.map { Array($0.prefix(count)) }))
            }
        }
        let subscaling = model.subscaling
        let slice = (0..<config.model.sliceCount).first { subscaling.predictedPositions(slice: $0) == config.model.positionsPerSlice } ?? 0
        func cachedRate(_ count: Int, guidance: Double = 0) -> Double {
            let sampler = CachedSampler(model: model, batch: count, guidance: guidance)
            var copy = Array(buffer[0..<(count * size)])
            var clock = Stopwatch()
            let result = conditioned(count) { conditioning in
                copy.withUnsafeMutableBufferPointer {
                    sampler.sample(videos: $0.baseAddress!, videoIDs: Array(0..<count), random: SubpixelRandom(seed: 1), temperature: 1,
                                   conditioning: conditioning, onlySlices: slice..<(slice + 1))
                }
            }
            return Double(result.subpixels) / clock.lap()
        }
        progress("cached sampling, 1 video")
        let one = cachedRate(1)
        progress("cached sampling, \(batch) videos")
        let many = cachedRate(batch)
        var guidance: GuidanceCost?
        if config.model.classes > 0 {
            var unguided: [Double] = [], guided: [Double] = []
            for round in 1...guidanceRounds {
                progress("guided (w = 1) and unguided sampling, \(batch) videos, round \(round) of \(guidanceRounds)")
                guided.append(cachedRate(batch, guidance: 1))
                unguided.append(cachedRate(batch))
            }
            func median(_ values: [Double]) -> Double { let s = values.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
            let u = median(unguided), g = median(guided)
            guidance = GuidanceCost(rounds: guidanceRounds, unguidedSubpixelsPerSecond: u, guidedSubpixelsPerSecond: g, timeRatio: u / g)
        }
        progress("naive sampling (one full forward per sub-pixel)")
        var copy = Array(buffer[0..<size])
        var clock = Stopwatch()
        let naive = conditioned(1) { conditioning in
            copy.withUnsafeMutableBufferPointer {
                NaiveSampler.sample(model: model, videos: $0.baseAddress!, videoIDs: [0], random: SubpixelRandom(seed: 1),
                                    temperature: 1, conditioning: conditioning, limit: naiveSubpixels)
            }
        }
        let naiveRate = Double(naive.subpixels) / clock.lap()
        progress("evaluation pass (every slice) and training forward")
        let evaluator = Evaluator(model: model)
        let evalVideos = min(batch, 4)
        clock = Stopwatch()
        let totals = conditioned(evalVideos) { conditioning in
            buffer.withUnsafeBufferPointer {
                evaluator.evaluate(videos: $0.baseAddress!, conditioning: conditioning, mask: Array(repeating: true, count: evalVideos))
            }
        }
        let evaluationRate = Double(totals.subpixels) / clock.lap()
        clock = Stopwatch()
        let forward = conditioned(evalVideos) { conditioning in
            buffer.withUnsafeBufferPointer {
                model.forward(videos: $0.baseAddress!, slices: Array(repeating: 5 % config.model.sliceCount, count: evalVideos),
                              conditioning: conditioning, mode: .training)
            }
        }
        let forwardRate = Double(forward.subpixels) / clock.lap()
        var report = SamplingBenchmarkReport(config: configName, cachedSubpixelsPerSecondOneVideo: one, cachedSubpixelsPerSecondBatch: many,
                                             batch: batch, naiveSubpixelsPerSecond: naiveRate, cachedOverNaive: one / naiveRate,
                                             evaluationSubpixelsPerSecond: evaluationRate, trainingForwardSubpixelsPerSecond: forwardRate,
                                             precision: config.training.precision.rawValue, guidance: guidance)
        report.cost = try samplingCost(config: config, one: one, many: many, batch: batch, buffer: buffer, size: size, slice: slice,
                                       progress: progress)
        return report
    }
}

extension Benchmark {
    /// The sampler against the machine: its product rate against the peak of its precision measured now, the
    /// largest batch that fits (timed on a slice's first positions, at most 256 videos), and the BAIR protocol
    /// (256 test videos × 100 samples) and 10,000 samples at the best rate, here and on 64 such nodes.
    static func samplingCost(config: RunConfig, one: Double, many: Double, batch: Int, buffer: [UInt8], size: Int, slice: Int,
                             progress: (String) -> Void) throws -> SamplerCost {
        let model = config.model, precision = config.training.precision
        let subpixelsPerVideo = Double(model.frames * model.height * model.width * ModelConfig.channels)
        let flops = FLOPCount.forwardPerVideo(model) / Double(model.positionsPerSlice * ModelConfig.channels)
        progress("measuring the \(precision == .bf16 ? "oneDNN bf16" : "sgemm") peak")
        let peak = precision == .bf16 ? try bf16Peak() : sgemmPeak()
        // What a sampling job of batch b holds: the model (built for one video) and b rows of sampler buffers.
        let parameters = ModelParameters(config: model).table.parameterCount * (precision == .bf16 ? 6 : 4)
            + VideoTransformer.plannedActivationBytes(config: model, maxBatch: 1, precision: precision, recompute: .none)
        let sizing = try VideoTransformer(config: model, maxBatch: 1, precision: precision)
        let perRow = CachedSampler(model: sizing, batch: 2).allocatedBytes - CachedSampler(model: sizing, batch: 1).allocatedBytes
        func bytes(_ b: Int) -> Int { parameters + b * perRow }
        let budget = Int(Double(ProcessInfo.processInfo.physicalMemory) * 0.8)
        var largest = 1, above = 1025   // bytes grows with b: the largest b in 1...1024 that fits (1 if none does)
        while above - largest > 1 { let middle = (largest + above) / 2; if bytes(middle) <= budget { largest = middle } else { above = middle } }
        let perVideo = perRow
        var timed: Int? = nil, positions: Int? = nil, largestRate: Double? = nil
        let target = min(largest, 256)
        if target > batch {
            // The whole slice when it is at most 2^19 row-positions; else its first positions, extrapolated (optimistic:
            // attention grows along each block, and the first positions in raster order sit early in their blocks).
            let n = model.positionsPerSlice, count = min(n, max(8, (1 << 19) / target))
            progress("cached sampling, \(target) videos (the first \(count) positions of a slice)")
            let big = try VideoTransformer(config: model, maxBatch: 1, precision: precision)
            big.layout.initialize(big.parameters, seed: 1)
            let sampler = CachedSampler(model: big, batch: target)
            var videos = [UInt8](repeating: 0, count: target * size)
            for v in 0..<target { videos.replaceSubrange((v * size)..<((v + 1) * size), with: buffer[((v % batch) * size)..<((v % batch + 1) * size)]) }
            let labels = model.classes > 0 ? Array(repeating: 0, count: target) : nil
            var actions = [Float](repeating: 0, count: target * model.frames * model.actions)
            func run(_ positions: Int) -> Double {
                var clock = Stopwatch()
                _ = actions.withUnsafeMutableBufferPointer { a in
                    videos.withUnsafeMutableBufferPointer {
                        sampler.sample(videos: $0.baseAddress!, videoIDs: Array(0..<target), random: SubpixelRandom(seed: 1), temperature: 1,
                                       conditioning: Conditioning(actions: model.actions > 0 ? UnsafePointer(a.baseAddress!) : nil, labels: labels),
                                       onlySlices: slice..<(slice + 1), onlyPositions: positions)
                    }
                }
                return clock.lap()
            }
            let encoder = run(0), partial = run(count)
            let sliceSeconds = encoder + Double(n) / Double(count) * max(0, partial - encoder)
            largestRate = Double(target * n * ModelConfig.channels) / sliceSeconds
            timed = target; positions = count
        }
        let best = max(one, many, largestRate ?? 0)
        let secondsPerSample = subpixelsPerVideo / best
        let protocols = [("BAIR: 256 test videos × 100 samples", 25_600), ("10,000 samples (e.g. Kinetics: videos × samples per video)", 10_000)]
            .map { ProtocolEstimate(name: $0.0, samples: $0.1, secondsOneNode: Double($0.1) * secondsPerSample,
                                    secondsOn64Nodes: Double($0.1) * secondsPerSample / 64) }
        return SamplerCost(flopsPerSubpixel: flops, achievedGflopsOneVideo: one * flops / 1e9, achievedGflopsBatch: many * flops / 1e9,
                            peakGflops: peak.gflops, peakMethod: peak.method, fractionOfPeakBatch: many * flops / 1e9 / peak.gflops,
                            largestBatch: largest, bytesPerVideo: perVideo, largestBatchTimed: timed, largestBatchPositions: positions,
                            largestBatchSubpixelsPerSecond: largestRate, bestSubpixelsPerSecond: best, protocols: protocols)
    }
}
