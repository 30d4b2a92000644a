// SamplingJob: K samples of each of the first N test videos, split over the ranks, as a job that can be
// stopped at any moment and resumed (docs/design.md §10).
//
// The work is the list of (video, sample) items not yet in the output folder, in (video, sample) order;
// rank r of R takes items r, r + R, … and samples them `batch` at a time. A round is one batch on every
// rank: the finished samples (with their per-frame PSNR and SSIM against the real video, computed by the
// rank that drew them) are gathered on rank 0, which writes them as one part file (SampleStore). After
// the last round rank 0 assembles samples.h5. Every sample is drawn from its own random stream
// (SampleItem.stream), and a video's sample does not depend on its batch mates, so the result is the same
// for any number of ranks, any batch size and any number of interruptions. A conditioned model (docs/design.md
// §11) is given each video's actions and label (or the overrides of `SamplingConditioning`), with guidance
// if asked; samples.h5 then records them (`actions`, `labels`). Samples longer than the model's clip are drawn
// in sliding windows (WindowedSampler, docs/design.md §12), scored over every generated frame.

import Foundation
import Datasets
import Distribution
import VideoModel

public struct SamplingJobOptions: Sendable {
    public var videos: Int
    public var samplesPerVideo: Int
    /// Samples drawn together per rank.
    public var batch: Int
    /// Reuse the samples the folder already holds (parts of an interrupted job, a previous samples.h5).
    public var resume: Bool

    public init(videos: Int, samplesPerVideo: Int, batch: Int, resume: Bool) {
        self.videos = videos; self.samplesPerVideo = samplesPerVideo; self.batch = batch; self.resume = resume
    }
}

public struct SamplingProgress: Sendable {
    public var done: Int, total: Int, reused: Int
    public var seconds: Double
    /// Where rank 0 is inside the job: the round (one batch on every rank) and how far through it, by the
    /// positions decoded (`step` of `steps`: windows × slices × positions per slice). nil before sampling starts.
    public var inRound: RoundProgress?

    public struct RoundProgress: Sendable {
        public var round: Int, rounds: Int
        public var step: Int, steps: Int
        public var window: Int, windows: Int, slice: Int, slices: Int, position: Int, positions: Int
        /// Sub-pixels decoded per second by all ranks this run (primed ones included: they cost the same).
        public var subpixelsPerSecond: Double
        /// Rounds done, counting the current one's fraction.
        public var roundsDone: Double { Double(round) + Double(step) / Double(max(1, steps)) }
    }

    public init(done: Int, total: Int, reused: Int, seconds: Double, inRound: RoundProgress? = nil) {
        self.done = done; self.total = total; self.reused = reused; self.seconds = seconds; self.inRound = inRound
    }

    /// Samples per second over this run so far (all ranks).
    public var rate: Double { seconds > 0 ? Double(done - reused) / seconds : 0 }
    /// From the rounds (finer than finished samples when a round takes minutes), else from the samples.
    public var etaSeconds: Double {
        if let inRound, inRound.roundsDone > 0 { return seconds * (Double(inRound.rounds) - inRound.roundsDone) / inRound.roundsDone }
        return rate > 0 ? Double(total - done) / rate : .infinity
    }
}

public struct SamplingOutcome: Sendable {
    /// Samples drawn by this run, and samples found finished in the folder.
    public var drawn: Int, reused: Int
    /// Summed over ranks: seconds spent sampling, and seconds spent scoring (PSNR and SSIM).
    public var samplingSeconds: Double, scoringSeconds: Double
    /// Wall-clock seconds of the whole job (rank 0), assembly included.
    public var seconds: Double
}

public final class SamplingJob {
    public let model: VideoTransformer
    public let source: VideoSource
    public let communicator: any Communicator
    public let store: SampleStore
    public let options: SamplingJobOptions
    public let conditioning: SamplingConditioning
    /// The windows each sample is drawn in (one for an ordinary sample).
    public let windows: SlidingWindows

    public init(model: VideoTransformer, source: VideoSource, communicator: any Communicator, store: SampleStore,
                options: SamplingJobOptions, conditioning: SamplingConditioning = SamplingConditioning()) throws {
        guard options.videos >= 1, options.videos <= source.count else {
            throw EvaluationError("the data holds \(source.count) videos; the job asks for \(options.videos)")
        }
        guard options.samplesPerVideo >= 1, options.batch >= 1 else {
            throw EvaluationError("samples per video (\(options.samplesPerVideo)) and batch (\(options.batch)) must be at least 1")
        }
        try conditioning.check(model.config, frames: store.sampling.frames)
        guard store.sampling.modelFrames == model.config.frames else {
            throw EvaluationError("the samples' windows are \(store.sampling.modelFrames) frames; the model's clip is \(model.config.frames)")
        }
        guard source.frames >= store.sampling.frames else {
            throw EvaluationError("the data's videos have \(source.frames) frames; the samples need \(store.sampling.frames) (the real video to prime from and score against)")
        }
        windows = try store.sampling.windows()
        self.model = model; self.source = source; self.communicator = communicator; self.store = store; self.options = options
        self.conditioning = conditioning
    }

    /// What `videos` are conditioned on: actions [count, T, A] and labels, as the model needs them.
    func conditions(_ videos: [Int]) throws -> (actions: [Float]?, labels: [Int]?) {
        let config = model.config
        let actions = config.actions > 0
            ? try videos.flatMap { try conditioning.actions(video: $0, source: source, model: config, frames: sampling.frames)! } : nil
        let labels = config.classes > 0 ? try videos.map { try conditioning.label(video: $0, source: source, model: config)! } : nil
        return (actions, labels)
    }

    public var sampling: SamplingProtocol { store.sampling }

    /// Runs the job on every rank; rank 0 writes the files and gets `progress` after every round and, inside a
    /// round, after every position its sampler decodes (`inRound`: the caller throttles).
    public func run(progress: ((SamplingProgress) -> Void)? = nil) throws -> SamplingOutcome {
        let rank = communicator.rank, ranks = communicator.size, isRoot = rank == 0
        let (videos, k) = (options.videos, options.samplesPerVideo)
        var clock = Date()
        let started = clock
        // Rank 0 reads what the folder holds; every rank learns which items are left.
        var stored = try communicator.agree("reading the output folder") { () -> [SampleItem: StoredSample] in
            guard isRoot else { return [:] }
            if !options.resume, case let parts = try store.partFiles(), !parts.isEmpty {
                throw EvaluationError("\(store.partsDirectory.path) holds \(parts.count) part file(s) of an unfinished sampling job: pass --resume to continue it, or choose another --output")
            }
            return options.resume ? try store.scan(includeAssembled: true) : [:]
        }
        var done = [UInt8](repeating: 0, count: videos * k)
        if isRoot { for item in stored.keys where item.video < videos && item.sample < k { done[item.video * k + item.sample] = 1 } }
        done = try communicator.broadcastBytes(done, root: 0)
        let remaining = (0..<(videos * k)).filter { done[$0] == 0 }.map { SampleItem(video: $0 / k, sample: $0 % k) }
        let reused = videos * k - remaining.count
        let mine = Array(stride(from: rank, to: remaining.count, by: ranks).map { remaining[$0] })
        let perRank = (remaining.count + ranks - 1) / ranks
        let rounds = (perRank + options.batch - 1) / options.batch

        let generated = sampling.generatedFrames, clip = sampling.clipBytes
        var samplingSeconds = 0.0, scoringSeconds = 0.0, finished = reused
        var sampler: WindowedSampler? = nil
        var decodedSubpixels = 0   // by rank 0's sampler in earlier rounds (primed positions included)
        progress?(SamplingProgress(done: finished, total: videos * k, reused: reused, seconds: 0))
        for round in 0..<rounds {
            let chunk = Array(mine[min(mine.count, round * options.batch)..<min(mine.count, (round + 1) * options.batch)])
            var records: [SampleRecord] = []
            if !chunk.isEmpty {
                var pixels = [UInt8](repeating: 0, count: chunk.count * clip)
                try pixels.withUnsafeMutableBufferPointer { buffer in
                    for (slot, item) in chunk.enumerated() {
                        try source.read(index: item.video, startFrame: 0, frameCount: sampling.frames, into: buffer.baseAddress! + slot * clip)
                    }
                }
                let real = pixels
                if sampler?.batch != chunk.count {
                    sampler = WindowedSampler(sampler: CachedSampler(model: model, batch: chunk.count, guidance: conditioning.guidance),
                                              windows: windows)
                }
                let given = try conditions(chunk.map(\.video))
                clock = Date()
                let report = isRoot && progress != nil ? { (step: Int, steps: Int) in
                    let (positions, slices) = (self.model.config.positionsPerSlice, self.model.config.sliceCount)
                    let decoded = (decodedSubpixels + step * chunk.count * ModelConfig.channels) * ranks
                    let within = step - 1
                    let inRound = SamplingProgress.RoundProgress(
                        round: round, rounds: rounds, step: step, steps: steps,
                        window: within / (slices * positions), windows: steps / (slices * positions),
                        slice: within / positions % slices, slices: slices, position: within % positions + 1, positions: positions,
                        subpixelsPerSecond: Double(decoded) / max(1e-9, Date().timeIntervalSince(started)))
                    progress?(SamplingProgress(done: finished, total: videos * k, reused: reused, seconds: Date().timeIntervalSince(started),
                                               inRound: inRound))
                } : nil
                let result = (given.actions ?? []).withUnsafeBufferPointer { actions in
                    pixels.withUnsafeMutableBufferPointer {
                        sampler!.sample(videos: $0.baseAddress!, videoIDs: chunk.map(\.stream), random: SubpixelRandom(seed: sampling.seed),
                                        temperature: sampling.temperature,
                                        conditioning: Conditioning(actions: given.actions == nil ? nil : actions.baseAddress, labels: given.labels),
                                        progress: report)
                    }
                }
                decodedSubpixels += windows.count * model.config.sliceCount * model.config.positionsPerSlice * chunk.count * ModelConfig.channels
                samplingSeconds += Date().timeIntervalSince(clock)
                clock = Date()
                for (slot, item) in chunk.enumerated() {
                    let scores = real.withUnsafeBufferPointer { real in
                        pixels.withUnsafeBufferPointer { fake in
                            FrameMetrics.clipScores(real: real.baseAddress! + slot * clip, generated: fake.baseAddress! + slot * clip,
                                                    frames: generated, height: sampling.height, width: sampling.width)
                        }
                    }
                    records.append(SampleRecord(item: item, pixels: Array(pixels[(slot * clip)..<((slot + 1) * clip)]),
                                                logLikelihood: result.logLikelihood[slot], psnr: scores.psnr, ssim: scores.ssim))
                }
                scoringSeconds += Date().timeIntervalSince(clock)
            }
            // Rank 0 collects the round and writes it; an error there aborts the job (the caller's handler).
            let gathered = try communicator.gatherBytes(SampleRecord.encode(records), root: 0)
            guard isRoot else { continue }
            let all = gathered.flatMap { SampleRecord.decode($0, generatedFrames: generated.count, clipBytes: clip) }
            stored.merge(try store.writePart(all)) { _, new in new }
            finished += all.count
            progress?(SamplingProgress(done: finished, total: videos * k, reused: reused, seconds: Date().timeIntervalSince(started)))
        }
        try communicator.agree("writing samples.h5") {
            guard isRoot else { return }
            try store.assemble(videos: videos, samplesPerVideo: k, stored: stored, groundTruth: { video, buffer in
                try source.read(index: video, startFrame: 0, frameCount: sampling.frames, into: buffer)
            }, conditions: model.config.isConditioned ? { video in try self.conditions([video]) } : nil)
        }
        var seconds = [samplingSeconds, scoringSeconds]
        try communicator.allReduceSum(&seconds)
        return SamplingOutcome(drawn: remaining.count, reused: reused, samplingSeconds: seconds[0], scoringSeconds: seconds[1],
                               seconds: Date().timeIntervalSince(started))
    }
}
