// SamplingOptions: the options `vt sample` and `vt evaluate --metrics psnr,ssim,fvd` share (docs/design.md §10):
// with equal values both draw the same samples. `SamplingRunner` runs the sampling job for either command
// and prints its progress line (rate and ETA) on rank 0.

import Common
import ArgumentParser
import Datasets
import Evaluation
import Foundation
import Training
import VideoModel

struct SamplingOptions: ParsableArguments {
    @Option(help: "Random seed of the samples.") var seed: UInt64 = 0
    @Option(help: "Softmax temperature (> 0; 1 samples the model's distribution).") var temperature: Double = 1
    @Option(help: ArgumentHelp("Samples drawn per test video (K; best of K and FVD trials use them).", valueName: "k"))
    var samplesPerVideo: Int = 1
    @Option(help: ArgumentHelp("Classifier-free guidance weight w of a class-conditioned model: sub-pixels are drawn from softmax(((1+w)·ℓ_cond − w·ℓ_uncond)/temperature); 0 is plain conditional sampling.", valueName: "w"))
    var guidance: Double = 0
    @Option(help: ArgumentHelp("Generate every video for this class (a name of the data's classes, or an index) instead of the video's own label.", valueName: "name|index"))
    var label: String?
    @Option(help: ArgumentHelp("Drive an action-conditioned model with this action sequence (.npy, .json or .h5, [T, A]) instead of each test video's own actions.", valueName: "file"))
    var actions: String?
    @Option(help: ArgumentHelp("Seconds between progress lines in logs, inside a round too (a terminal gets a live line).", valueName: "s"))
    var progressEvery: Double = 30

    func validate() throws {
        if !(progressEvery > 0) || !progressEvery.isFinite { throw ValidationError("--progress-every must be a positive number of seconds (got \(progressEvery))") }
        if !(temperature > 0) || !temperature.isFinite { throw ValidationError("--temperature must be a positive number (got \(temperature))") }
        if samplesPerVideo < 1 { throw ValidationError("--samples-per-video must be at least 1 (got \(samplesPerVideo))") }
        if !guidance.isFinite { throw ValidationError("--guidance must be a finite number (got \(guidance))") }
    }

    /// What the samples are conditioned on (docs/design.md §11): the overrides checked against the model and the data.
    func conditioning(model: ModelConfig, source: VideoSource, frames: Int) throws -> SamplingConditioning {
        var result = SamplingConditioning(guidance: guidance)
        if let label { result.label = try SamplingConditioning.parseLabel(label, names: source.labelNames, classes: model.classes) }
        if let actions {
            result.actions = try SamplingConditioning.readActions(path: actions, frames: frames, width: model.actions)
            result.actionsSource = URL(fileURLWithPath: actions).lastPathComponent
        }
        try result.check(model, frames: frames)
        return result
    }

    /// The protocol of samples drawn from `loaded` with these options under `conditioning`, in `windows`.
    func samplingProtocol(_ loaded: CheckpointedModel, conditioning: SamplingConditioning, windows: SlidingWindows) -> SamplingProtocol {
        let model = loaded.model, config = loaded.config.model
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: model.parameters.pointer, count: model.parameters.count * 4))
        return SamplingProtocol(seed: seed, temperature: temperature, primeFrames: config.primeFrames,
                                precision: model.precision.rawValue, parametersCRC: crc, step: loaded.step,
                                checkpoint: loaded.path, frames: windows.videoFrames, height: config.height, width: config.width,
                                guidance: conditioning.guidance, conditioning: conditioning.description,
                                modelFrames: config.frames, stride: windows.stride)
    }
}

enum SamplingRunner {
    /// Runs the job into `directory` (created and checked writable first) and returns its outcome.
    static func run(loaded: CheckpointedModel, source: VideoSource, ranks: RunWorld, directory: URL, options: SamplingOptions,
                    windows: SlidingWindows, videos: Int, batch: Int, resume: Bool) throws -> SamplingOutcome {
        try ranks.agree("preparing the output folder") { try checkWritable(directory) }
        let conditioning = try ranks.agree("checking the conditioning") {
            let conditioning = try options.conditioning(model: loaded.config.model, source: source, frames: windows.videoFrames)
            try ConditioningCheck.require(loaded.config.model, from: source, role: "the sampled data",
                                          actions: conditioning.actions == nil, labels: conditioning.label == nil)
            return conditioning
        }
        let store = SampleStore(directory: directory, protocol: options.samplingProtocol(loaded, conditioning: conditioning, windows: windows))
        let job = try ranks.agree("planning the sampling job") {
            try SamplingJob(model: loaded.model, source: source, communicator: ranks.world, store: store,
                            options: SamplingJobOptions(videos: videos, samplesPerVideo: options.samplesPerVideo, batch: batch, resume: resume),
                            conditioning: conditioning)
        }
        let live = ranks.isLeader && isatty(STDERR_FILENO) != 0
        var lastLine = Date(), started = false
        let outcome = try job.run { progress in
            guard ranks.isLeader else { return }
            if !started {   // the first call: before any sampling
                started = true
                if progress.reused > 0 { ranks.say("\(progress.reused) of \(progress.total) samples are already in \(directory.path): reusing them") }
                return
            }
            // A live line on a terminal (at most twice a second); in logs a line every --progress-every seconds, inside a
            // round too (a round of a paper-scale model takes many minutes), and at the end.
            let final = progress.done == progress.total && progress.inRound == nil
            guard final || Date().timeIntervalSince(lastLine) >= (live ? 0.5 : options.progressEvery) else { return }
            lastLine = Date()
            FileHandle.standardError.write(Data(((live ? "\r\u{1B}[K" : "") + progressLine(progress) + (live && !final ? "" : "\n")).utf8))
        }
        return outcome
    }

    /// `sampling: 3/120 samples, round 2/40 37% (window 1/7, slice 5/16, position 812/4096), 15100 sub-pixels/s, ETA 1h02m`.
    static func progressLine(_ progress: SamplingProgress) -> String {
        var line = "sampling: \(progress.done)/\(progress.total) samples"
        if let r = progress.inRound {
            line += String(format: ", round %d/%d %.0f%% (", r.round + 1, r.rounds, 100 * Double(r.step) / Double(max(1, r.steps)))
                + (r.windows > 1 ? "window \(r.window + 1)/\(r.windows), " : "")
                + String(format: "slice %d/%d, position %d/%d), %.0f sub-pixels/s", r.slice + 1, r.slices, r.position, r.positions, r.subpixelsPerSecond)
        } else {
            line += String(format: "  %.3f samples/s", progress.rate)
        }
        return line + "  ETA " + ProgressLine.duration(progress.etaSeconds)
    }

    /// Creates the folder and proves it writable before any work is done.
    static func checkWritable(_ directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let probe = directory.appendingPathComponent(".vt-write-test-\(getpid())")
            guard FileManager.default.createFile(atPath: probe.path, contents: Data()) else {
                throw TrainingError("\(directory.path): the output folder is not writable")
            }
            try FileManager.default.removeItem(at: probe)
        } catch let error as TrainingError {
            throw error
        } catch {
            throw TrainingError("\(directory.path): cannot create the output folder: \(error.localizedDescription)")
        }
    }
}
