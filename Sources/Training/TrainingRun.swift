// TrainingRun: the loop around Trainer — progress on the terminal and metrics.jsonl (rank 0), checkpoints
// on the schedule, and a clean stop on SIGTERM/SIGINT: the signal is noticed at the next step boundary
// (all ranks agree through one small all-reduce per step), a checkpoint is written, and `run` returns
// with `stoppedBySignal` set. At the end a final checkpoint is written (unless that step is saved already).
// A resumed run appends to metrics.jsonl after dropping the lines of steps past the checkpoint (those
// steps are trained again).

import Common
import Foundation
import Evaluation
import Datasets

public final class TrainingRun {
    public let trainer: Trainer
    public let runDirectory: URL
    /// Nil: no checkpoints at all (benchmarks, tests of the loop alone).
    public let checkpoints: RunCheckpoints?
    /// Where stop requests come from (nil: none). `vt train` installs SIGTERM and SIGINT handlers.
    public var stopSignals: StopSignals?
    /// The signal that stopped the last `run`, if one did.
    public private(set) var stoppedBySignal: Int32?
    let metrics: MetricsLog?
    let tensorBoard: TensorBoardWriter?
    let log: (String) -> Void
    /// Shards for periodic exact evaluation (`training.eval_every`); nil: none.
    public var evaluationSource: VideoSource?
    /// Per-rank compute/communication spans of every step trained, when requested (`vt train --timeline DIR`).
    public var timeline: Timeline?

    /// `resumedFrom`: the step the trainer was restored to, if it was (metrics.jsonl is then continued).
    public init(trainer: Trainer, runDirectory: URL, checkpoints: RunCheckpoints? = nil, resumedFrom: Int? = nil,
                log: @escaping (String) -> Void) throws {
        self.trainer = trainer
        self.runDirectory = runDirectory
        self.checkpoints = checkpoints
        self.log = log
        let url = runDirectory.appendingPathComponent("metrics.jsonl")
        if trainer.isLeader, let resumedFrom {
            try Self.dropMetrics(after: resumedFrom, in: url)
        }
        metrics = trainer.isLeader ? try MetricsLog(url: url, append: resumedFrom != nil) : nil
        tensorBoard = trainer.isLeader ? try TensorBoardWriter(directory: runDirectory) : nil
    }

    deinit { try? tensorBoard?.close() }

    /// Trains until global step `steps` (or a stop signal); returns the metrics of every step trained.
    @discardableResult
    public func run(until steps: Int) throws -> [StepMetrics] {
        let isLeader = trainer.isLeader
        let progress = ProgressLine(total: steps, every: trainer.config.training.logEvery)
        var history: [StepMetrics] = []
        var smoothedRate = 0.0
        stoppedBySignal = nil
        if isLeader && trainer.step >= steps {
            log("already at step \(trainer.step), which reaches --steps \(steps): nothing to train")
        }
        while trainer.step < steps {
            if let signal = try agreedStopSignal() {
                stoppedBySignal = signal
                break
            }
            let metrics = try trainer.trainStep()
            timeline?.record(metrics.trace)
            history.append(metrics)
            let rate = 1 / max(metrics.stepSeconds, 1e-9)
            smoothedRate = smoothedRate == 0 ? rate : 0.9 * smoothedRate + 0.1 * rate
            if isLeader {
                let communicationFraction = (metrics.communicationSeconds + metrics.modelAxisSeconds) / max(metrics.stepSeconds, 1e-12)
                var fields: [(String, MetricValue)] = [
                    ("step", .int(metrics.step)), ("loss", .double(metrics.loss)), ("bits_per_dim", .double(metrics.bitsPerDim)),
                    ("learning_rate", .double(metrics.learningRate)), ("gradient_norm", .double(metrics.gradientNorm)),
                    ("examples_per_second", .double(metrics.examplesPerSecond)), ("step_seconds", .double(metrics.stepSeconds)),
                    ("communication_fraction", .double(communicationFraction)),
                    ("data_wait_seconds", .double(metrics.dataWaitSeconds)),
                    ("peak_resident_bytes", .int(ResidentMemory.peakBytes())),  // this process (rank 0), docs/design.md §9
                ]
                if trainer.communicator.size > 1 {  // the data axis's gradient all-reduce
                    fields.append(("communication_busy_seconds", .double(metrics.communicationBusySeconds)))
                }
                if trainer.modelAxis.size > 1 {  // activation all-reduces, all on the critical path
                    fields.append(("model_axis_seconds", .double(metrics.modelAxisSeconds)))
                }
                if let checksum = metrics.parameterChecksum {
                    fields.append(("parameter_checksum", .string(String(format: "%016llx", checksum))))
                }
                try self.metrics?.write(fields)
                try tensorBoard?.write(step: metrics.step, scalars: [
                    ("train/loss", metrics.loss), ("train/bits_per_dim", metrics.bitsPerDim),
                    ("train/learning_rate", metrics.learningRate), ("train/gradient_norm", metrics.gradientNorm),
                    ("train/examples_per_second", metrics.examplesPerSecond), ("train/communication_fraction", communicationFraction),
                ])
                progress.update(step: metrics.step,
                                text: String(format: "loss %.4f  bits/dim %.4f  lr %.2e", metrics.loss, metrics.bitsPerDim, metrics.learningRate),
                                stepsPerSecond: smoothedRate)
            }
            let every = trainer.config.training.evalEvery
            if every > 0, metrics.step % every == 0, let source = evaluationSource {
                if isLeader { progress.interrupt() }
                try evaluate(source, step: metrics.step)
            }
            if let checkpoints, checkpoints.isDue {
                if isLeader { progress.interrupt() }
                try checkpoints.save(reason: "scheduled")
            }
        }
        if stoppedBySignal == nil, trainer.step >= steps, let signal = try agreedStopSignal() {
            stoppedBySignal = signal  // arrived during the last step: the final checkpoint covers it
        }
        if let checkpoints {
            if isLeader { progress.interrupt() }
            try checkpoints.save(reason: stoppedBySignal.map { "\(StopSignals.name($0)) received" } ?? "final")
        }
        return history
    }

    /// Exact bits/dim on `source` (every slice), split over the data ranks; logged by rank 0.
    func evaluate(_ source: VideoSource, step: Int) throws {
        var clock = Stopwatch()
        let videos = trainer.config.training.evalVideos.map { PrefixVideoSource(source, count: $0) } ?? source
        let totals = try EvaluationRun.run(model: trainer.model, source: videos, communicator: trainer.communicator,
                                           batchPerRank: trainer.model.maxBatch) { done, _ in self.trainer.watchdog.beat("evaluation batch \(done)") }
        let seconds = clock.lap()
        guard trainer.isLeader else { return }
        log(String(format: "eval at step %d: bits/dim %.4f over %d videos (%d sub-pixels) in %.1f s", step, totals.bitsPerDim,
                   totals.videos, totals.subpixels, seconds))
        try metrics?.write([("step", .int(step)), ("eval_bits_per_dim", .double(totals.bitsPerDim)),
                            ("eval_videos", .int(totals.videos)), ("eval_subpixels", .int(totals.subpixels)),
                            ("eval_seconds", .double(seconds))])
        try tensorBoard?.write(step: step, scalars: [("eval/bits_per_dim", totals.bitsPerDim)])
    }

    /// The stop signal any rank received (the same answer on every rank), or nil.
    private func agreedStopSignal() throws -> Int32? {
        let local = Int(stopSignals?.receivedSignal ?? 0)
        let agreed = trainer.world.size > 1 ? try trainer.world.allReduceMax(local) : local
        return agreed == 0 ? nil : Int32(agreed)
    }

    /// Keeps the lines of metrics.jsonl whose step is at most `step` (a resumed run retrains the rest).
    static func dropMetrics(after step: Int, in url: URL) throws {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        let kept = lines.filter { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let lineStep = object["step"] as? Int else { return false }
            return lineStep <= step
        }
        guard kept.count != lines.count else { return }
        do {
            try (kept.map { $0 + "\n" }.joined()).write(to: url, atomically: true, encoding: .utf8)
        } catch {
            throw TrainingError("cannot rewrite the metrics file \(url.path): \(error.localizedDescription)")
        }
    }
}
