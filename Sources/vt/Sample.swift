import ArgumentParser
import Datasets
import Distribution
import Evaluation
import Foundation
import Kernels
import Training

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate K samples per test video from its priming frames, as a resumable job over the ranks of mpirun (continuations, or in-betweens with --prime-frames 0,15).")

    @Option(help: "The checkpoint to sample from.") var checkpoint: String
    @Option(help: "Shards whose videos give the priming frames (default: the checkpoint config's data.eval).") var data: String?
    @Option(help: "Number of videos to generate (the first N of the data; default 4).") var videos: Int?
    @Flag(help: "Generate for every video of the data (the evaluation protocol).") var all = false
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var window: WindowOptions
    @Option(help: "Folder for samples.h5, GIF and MP4 views and contact_sheet.png.") var output: String
    @Option(help: "Frames given, not generated, e.g. 0 or 0,15 (default: the checkpoint's prime_frames).") var primeFrames: String?
    @Option(help: "Samples drawn together per rank.") var batch: Int = 16
    @Option(help: "Precision of the sampler's matrix products: fp32 (default) or bf16 (faster on bf16 CPUs).")
    var precision: Precision = .fp32
    @Flag(help: "Continue an interrupted job in --output: samples already finished there (same checkpoint, seed, temperature, precision) are kept.")
    var resume = false
    @Option(help: ArgumentHelp("Videos exported as sample_<video>.gif/.mp4 (their first sample) and shown in contact_sheet.png (with up to 4 samples).", valueName: "n"))
    var views: Int = 16

    func validate() throws {
        if let videos, videos < 1 { throw ValidationError("--videos must be at least 1 (got \(videos))") }
        if all && videos != nil { throw ValidationError("--all and --videos exclude each other") }
        if batch < 1 { throw ValidationError("--batch must be at least 1 (got \(batch))") }
        if views < 0 { throw ValidationError("--views must be at least 0 (got \(views))") }
        _ = try parsedPrimeFrames()
    }

    func parsedPrimeFrames() throws -> [Int]? {
        guard let primeFrames else { return nil }
        let parts = primeFrames.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else {
            throw ValidationError("--prime-frames must be frame numbers separated by commas, e.g. 0,15 (got \(primeFrames))")
        }
        return parts.map { $0! }
    }

    func run() throws {
        var world: (any Communicator)? = nil
        do {
            MatMul.configureThreads()
            let ranks = try RunWorld()
            world = ranks.world
            let say = ranks.say
            if let line = try ranks.agree("checking the precision", { try PrecisionCheck.prepare(precision) }) { say(line) }
            // The data first: the model is sized for the batch each rank can fill.
            let config = try ranks.agree("loading the checkpoint") { try CheckpointedModel.storedConfig(path: checkpoint) }
            let source: VideoSource = try ranks.agree("opening the data") {
                let shards = try CheckpointedModel.data(data, config: config, checkpoint: checkpoint, role: "priming")
                if let videos, shards.count < videos { throw TrainingError("\(shards.summary) holds \(shards.count) videos; --videos asks for \(videos)") }
                return shards
            }
            let count = all ? source.count : (videos ?? min(4, source.count))
            let items = count * sampling.samplesPerVideo
            let perRank = max(1, min(batch, (items + ranks.world.size - 1) / ranks.world.size))
            let loaded = try ranks.agree("loading the checkpoint") {
                // Built for one video: the sampler runs the encoder a video at a time and holds the batch itself.
                try CheckpointedModel(path: checkpoint, maxBatch: 1, primeFrames: try parsedPrimeFrames(), precision: precision)
            }
            let directory = URL(fileURLWithPath: output)
            let windows = try ranks.agree("planning the windows") { try window.windows(loaded, warn: { say($0) }) }
            say("vt sample: \(count) video(s) × \(sampling.samplesPerVideo) sample(s) from \(checkpoint) (step \(loaded.step)), priming frames \(loaded.config.model.primeFrames), \(windows.count > 1 ? windows.description + ", " : "")temperature \(sampling.temperature), seed \(sampling.seed), \(ranks.world.size) rank(s) × batch \(perRank)")
            let outcome = try SamplingRunner.run(loaded: loaded, source: source, ranks: ranks, directory: directory, options: sampling,
                                                 windows: windows, videos: count, batch: perRank, resume: resume)
            guard ranks.isLeader else { return }
            let file = try SampleFile(path: directory.appendingPathComponent("samples.h5").path)
            try export(file, directory: directory)
            let scores = try file.storedScores(videos: file.videos, samples: file.samplesPerVideo)
            let psnr = MetricSummary(scores: scores.psnr), ssim = MetricSummary(scores: scores.ssim)
            say(String(format: "wrote %@/samples.h5 (%d videos × %d samples; %d drawn, %d reused) in %@; sampling %.1f s, scoring %.2f s (summed over ranks)",
                       directory.path, file.videos, file.samplesPerVideo, outcome.drawn, outcome.reused, ProgressLine.duration(outcome.seconds),
                       outcome.samplingSeconds, outcome.scoringSeconds))
            say(String(format: "PSNR %.2f dB (best of %d: %.2f), SSIM %.4f (best of %d: %.4f) over generated frames %@",
                       psnr.mean, file.samplesPerVideo, psnr.bestOfK, ssim.mean, file.samplesPerVideo, ssim.bestOfK, "\(file.generatedFrames)"))
        } catch {
            throw failDistributed(error, world: world)
        }
    }

    /// GIF and MP4 of the first `views` videos' first samples, and one contact sheet with up to 4 samples each.
    /// Long samples (more than one window) show the real video beside the sample in the GIF and MP4, frame
    /// numbers, and where each window's new frames begin (VideoExport.sideBySide, VideoExport.contactSheet).
    /// The sheet labels each sample row with its mean PSNR over the generated frames, from the stored scores.
    func export(_ file: SampleFile, directory: URL) throws {
        let shown = min(views, file.videos), perVideo = min(4, file.samplesPerVideo)
        guard shown > 0 else { return }
        let (t, h, w, clip) = (file.frames, file.height, file.width, file.clipBytes)
        let long = file.windows.flatMap { $0.count > 1 ? $0 : nil }
        let primed = Set(file.primeFrames)
        var truths: [[UInt8]] = [], rows: [[[UInt8]]] = []
        for v in 0..<shown {
            let (real, samples) = try file.pixels(video: v)
            let clips = (0..<perVideo).map { Array(samples[($0 * clip)..<(($0 + 1) * clip)]) }
            let gif = directory.appendingPathComponent("sample_\(v).gif").path, mp4 = directory.appendingPathComponent("sample_\(v).mp4").path
            if let long {
                // At most 512 pixels a side: 64×64 frames side by side (134×73) play 3× enlarged, at 402×219.
                let view = VideoExport.sideBySide(real: real, sample: clips[0], frames: t, height: h, width: w, primeFrames: primed, windows: long)
                let scale = VideoExport.viewScale(width: view.width, height: view.height)
                try VideoExport.writeGIF(view.video, frames: t, height: view.height, width: view.width, to: gif, scale: scale)
                try VideoExport.writeMP4(view.video, frames: t, height: view.height, width: view.width, to: mp4, scale: scale)
            } else {
                let scale = VideoExport.viewScale(width: w, height: h)
                try VideoExport.writeGIF(clips[0], frames: t, height: h, width: w, to: gif, scale: scale)
                try VideoExport.writeMP4(clips[0], frames: t, height: h, width: w, to: mp4, scale: scale)
            }
            truths.append(real); rows.append(clips)
        }
        let psnr = try Self.meanPSNR(file, videos: shown, samples: perVideo)
        try VideoExport.writeContactSheet(groundTruth: truths, samples: rows, frames: t, height: h, width: w,
                                          primeFrames: primed, windows: long, psnr: psnr, to: directory.appendingPathComponent("contact_sheet.png").path)
        if let long {
            let strips = VideoExport.strips(frames: t, framesPerStrip: VideoExport.framesPerStrip)
            // Windows w ≥ 1 begin adding at T, T + k, ...: a long list is said by its ends and step.
            let firsts = VideoExport.firstNewFrames(long), steps = Set(zip(firsts, firsts.dropFirst()).map { $1 - $0 })
            let listed = firsts.count > 4 && steps.count == 1
                ? "\(firsts[0]), \(firsts[1]), ..., \(firsts.last!), every \(steps.first!)" : firsts.map(String.init).joined(separator: ", ")
            let wrap = strips.count > 1 ? ", in \(strips.count) strips of up to \(strips[0].count) frames" : ""
            note("views in \(directory.path): sample_<video>.gif/.mp4 (sample 0 of \(shown) video(s); real left, sample right, frame number below) and contact_sheet.png (each real video above \(perVideo) sample(s)\(wrap), rows labelled real and s<k> with the sample's mean PSNR, frames headed by t and p/g for primed/generated); magenta marks the frame where each later window begins adding (\(listed)): a line and number on the sheet, a border in the GIF/MP4; white marks the primed frames \(file.primeFrames)")
        } else {
            note("views in \(directory.path): sample_<video>.gif/.mp4 (sample 0) of \(shown) video(s); contact_sheet.png shows each real video above \(perVideo) sample(s), rows labelled real and s<k> with the sample's mean PSNR over generated frames, frames headed by t and p (primed \(file.primeFrames), also underlined white) or g (generated)")
        }
    }

    /// Each shown sample's mean PSNR over its generated frames, [video][sample], from the scores stored in the
    /// file; nil when it holds none (the sheet's rows are then labelled without them).
    static func meanPSNR(_ file: SampleFile, videos: Int, samples: Int) throws -> [[Double]]? {
        guard file.hasStoredScores, !file.generatedFrames.isEmpty else { return nil }
        return try file.storedScores(videos: videos, samples: samples).psnr.map { $0.map { $0.reduce(0, +) / Double($0.count) } }
    }
}
