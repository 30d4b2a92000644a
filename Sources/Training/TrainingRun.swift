// TrainingRun: the loop around Trainer — progress on the terminal and metrics.jsonl, written by rank 0.

import Foundation
import Datasets
import Distribution
import VideoModel

public final class TrainingRun {
    public let trainer: Trainer
    public let runDirectory: URL
    let metrics: MetricsLog?
    let log: (String) -> Void

    public init(trainer: Trainer, runDirectory: URL, log: @escaping (String) -> Void) throws {
        self.trainer = trainer
        self.runDirectory = runDirectory
        self.log = log
        metrics = trainer.communicator.rank == 0
            ? try MetricsLog(url: runDirectory.appendingPathComponent("metrics.jsonl"))
            : nil
    }

    /// Trains until global step `steps`; returns the metrics of every step.
    @discardableResult
    public func run(until steps: Int) throws -> [StepMetrics] {
        let isLeader = trainer.communicator.rank == 0
        let progress = ProgressLine(total: steps, every: trainer.config.training.logEvery)
        var history: [StepMetrics] = []
        var smoothedRate = 0.0
        while trainer.step < steps {
            let metrics = try trainer.trainStep()
            history.append(metrics)
            let rate = 1 / max(metrics.stepSeconds, 1e-9)
            smoothedRate = smoothedRate == 0 ? rate : 0.9 * smoothedRate + 0.1 * rate
            guard isLeader else { continue }
            try self.metrics?.write([
                ("step", .int(metrics.step)), ("loss", .double(metrics.loss)), ("bits_per_dim", .double(metrics.bitsPerDim)),
                ("learning_rate", .double(metrics.learningRate)), ("gradient_norm", .double(metrics.gradientNorm)),
                ("examples_per_second", .double(metrics.examplesPerSecond)), ("step_seconds", .double(metrics.stepSeconds)),
                ("communication_fraction", .double(metrics.communicationSeconds / max(metrics.stepSeconds, 1e-12))),
            ])
            progress.update(step: metrics.step,
                            text: String(format: "loss %.4f  bits/dim %.4f  lr %.2e", metrics.loss, metrics.bitsPerDim, metrics.learningRate),
                            stepsPerSecond: smoothedRate)
        }
        return history
    }
}
