import ArgumentParser
import Datasets
import Distribution
import Foundation
import HDF5
import Kernels
import Training
import VideoModel

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate videos from priming frames (continuations, or in-betweens with --prime-frames 0,15).")

    @Option(help: "The checkpoint to sample from.") var checkpoint: String
    @Option(help: "Shards whose videos give the priming frames (default: the checkpoint config's data.eval).") var data: String?
    @Option(help: "Number of videos to generate (the first N of the data).") var videos: Int = 4
    @Option(help: "Folder for samples.h5, one GIF and MP4 per video, and contact_sheet.png.") var output: String
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Softmax temperature (> 0; 1 samples the model's distribution).") var temperature: Double = 1
    @Option(help: "Frames given, not generated, e.g. 0 or 0,15 (default: the checkpoint's prime_frames).") var primeFrames: String?
    @Option(help: "Videos sampled together per rank.") var batch: Int = 16
    @Option(help: "Precision of the sampler's matrix products: fp32 (default) or bf16 (faster on bf16 CPUs).")
    var precision: Precision = .fp32

    func validate() throws {
        if videos < 1 { throw ValidationError("--videos must be at least 1 (got \(videos))") }
        if !(temperature > 0) || !temperature.isFinite { throw ValidationError("--temperature must be a positive number (got \(temperature))") }
        if batch < 1 { throw ValidationError("--batch must be at least 1 (got \(batch))") }
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
            let directory = URL(fileURLWithPath: output)
            try ranks.agree("preparing the output folder") { try Self.checkWritable(directory) }
            let perRank = min(batch, (videos + ranks.world.size - 1) / ranks.world.size)
            if let line = try ranks.agree("checking the precision", { try PrecisionCheck.prepare(precision) }) { say(line) }
            let loaded = try ranks.agree("loading the checkpoint") {
                try CheckpointedModel(path: checkpoint, maxBatch: perRank, primeFrames: try parsedPrimeFrames(), precision: precision)
            }
            let config = loaded.config.model
            let source: VideoSource = try ranks.agree("opening the data") {
                let shards = try loaded.data(data, role: "priming")
                guard shards.count >= videos else { throw TrainingError("\(shards.summary) holds \(shards.count) videos; --videos asks for \(videos)") }
                return shards
            }
            let clipBytes = config.frames * source.bytesPerFrame
            say("vt sample: \(videos) video(s) from \(checkpoint) (step \(loaded.step)), priming frames \(config.primeFrames), temperature \(temperature), seed \(seed)")
            // Rank r generates videos r, r + ranks, …, `perRank` at a time.
            let mine = Array(stride(from: ranks.world.rank, to: videos, by: ranks.world.size))
            var generated = [UInt8](repeating: 0, count: mine.count * clipBytes)
            var logLikelihoods = [Double](repeating: 0, count: mine.count)
            let random = SubpixelRandom(seed: seed)
            let totalPositions = config.sliceCount * config.positionsPerSlice
            let live = ranks.isLeader && isatty(STDERR_FILENO) != 0
            for start in stride(from: 0, to: mine.count, by: perRank) {
                let chunk = Array(mine[start..<min(mine.count, start + perRank)])
                let started = Date()
                try generated.withUnsafeMutableBufferPointer { buffer in
                    let base = buffer.baseAddress! + start * clipBytes
                    for (slot, video) in chunk.enumerated() {
                        try source.read(index: video, startFrame: 0, frameCount: config.frames, into: base + slot * clipBytes)
                    }
                    let sampler = CachedSampler(model: loaded.model, batch: chunk.count)
                    let result = sampler.sample(videos: base, videoIDs: chunk, random: random, temperature: temperature) { done, total in
                        guard live, done % 64 == 0 || done == total else { return }
                        let rate = Double(done * chunk.count * 3) / max(1e-9, Date().timeIntervalSince(started))
                        FileHandle.standardError.write(Data(String(format: "\rsampling videos %d–%d: position %d/%d  %.0f sub-pixels/s",
                                                                   chunk.first!, chunk.last!, done, totalPositions, rate).utf8))
                    }
                    for (slot, value) in result.logLikelihood.enumerated() { logLikelihoods[start + slot] = value }
                }
                if live { FileHandle.standardError.write(Data("\n".utf8)) }
            }
            // Rank 0 gathers every rank's videos in order (the others only take part in the broadcasts).
            var all = [UInt8](repeating: 0, count: videos * clipBytes), likelihoods = [Double](repeating: 0, count: videos)
            let me = ranks.world.rank
            for rank in 0..<ranks.world.size {
                let theirs = Array(stride(from: rank, to: videos, by: ranks.world.size))
                var bytes = generated, scores = logLikelihoods
                if rank != 0 {
                    bytes = try ranks.world.broadcastBytes(rank == me ? generated : [], root: rank)
                    scores = try ranks.world.broadcastBytes(rank == me ? logLikelihoods.withUnsafeBytes { Array($0) } : [], root: rank)
                        .withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
                }
                guard me == 0 else { continue }
                for (slot, video) in theirs.enumerated() {
                    all.replaceSubrange((video * clipBytes)..<((video + 1) * clipBytes), with: bytes[(slot * clipBytes)..<((slot + 1) * clipBytes)])
                    likelihoods[video] = scores[slot]
                }
            }
            guard ranks.isLeader else { return }
            var truth = [UInt8](repeating: 0, count: videos * clipBytes)
            try truth.withUnsafeMutableBufferPointer { buffer in
                for video in 0..<videos { try source.read(index: video, startFrame: 0, frameCount: config.frames, into: buffer.baseAddress! + video * clipBytes) }
            }
            try writeOutputs(all, truth: truth, likelihoods: likelihoods, config: config, loaded: loaded, directory: directory, say: say)
        } catch {
            throw failDistributed(error, world: world)
        }
    }

    func writeOutputs(_ samples: [UInt8], truth: [UInt8], likelihoods: [Double], config: ModelConfig, loaded: CheckpointedModel,
                      directory: URL, say: (String) -> Void) throws {
        let (t, h, w) = (config.frames, config.height, config.width), clipBytes = t * h * w * 3
        let final = directory.appendingPathComponent("samples.h5")
        let temporary = directory.appendingPathComponent(".samples.h5.partial-\(getpid())")
        do {
            let file = try HDF5File.create(temporary.path)
            try file.root.createDataset("videos", shape: [videos, t, h, w, 3], values: samples, chunkShape: [1, t, h, w, 3])
            try file.root.createDataset("ground_truth", shape: [videos, t, h, w, 3], values: truth, chunkShape: [1, t, h, w, 3])
            try file.root.createDataset("log_likelihood", shape: [videos], values: likelihoods)
            try file.root.setAttribute("format", "vt-samples")
            try file.root.setAttribute("seed", Int64(bitPattern: seed))
            try file.root.setAttribute("temperature", temperature)
            try file.root.setAttribute("prime_frames", config.primeFrames.map(Int64.init))
            try file.root.setAttribute("checkpoint", checkpoint)
            try file.root.setAttribute("step", Int64(loaded.step))
            try file.close()
            _ = try? FileManager.default.removeItem(at: final)
            try FileManager.default.moveItem(at: temporary, to: final)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw TrainingError("\(final.path): cannot write the samples: \(error)")
        }
        for video in 0..<videos {
            let clip = Array(samples[(video * clipBytes)..<((video + 1) * clipBytes)])
            try VideoExport.writeGIF(clip, frames: t, height: h, width: w, to: directory.appendingPathComponent("sample_\(video).gif").path)
            try VideoExport.writeMP4(clip, frames: t, height: h, width: w, to: directory.appendingPathComponent("sample_\(video).mp4").path)
        }
        try VideoExport.writeContactSheet(groundTruth: (0..<videos).map { Array(truth[($0 * clipBytes)..<(($0 + 1) * clipBytes)]) },
                                          samples: (0..<videos).map { Array(samples[($0 * clipBytes)..<(($0 + 1) * clipBytes)]) },
                                          frames: t, height: h, width: w, primeFrames: Set(config.primeFrames),
                                          to: directory.appendingPathComponent("contact_sheet.png").path)
        let meanBits = likelihoods.map { -$0 }.reduce(0, +) / M_LN2 / Double(max(1, videos))
        say(String(format: "wrote %@/samples.h5, sample_<i>.gif, sample_<i>.mp4 and contact_sheet.png (ground truth above each sample); mean −log₂ p(sample) = %.0f bits per video", directory.path, meanBits))
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
