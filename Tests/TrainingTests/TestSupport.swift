import Foundation
import VideoModel
import Optimization
import Datasets
import Checkpointing
@testable import Training

/// The config's synthetic corpus in memory (`data.synthetic_videos` videos of the model's size): the
/// action-driven, class-coloured one when the model is conditioned (4-d actions, up to 6 classes).
func syntheticSource(_ config: RunConfig) -> InMemoryVideoSource {
    InMemoryVideoSource.synthetic(count: config.data.syntheticVideos, frames: config.model.frames,
                                  height: config.model.height, width: config.model.width, seed: config.data.syntheticSeed,
                                  actions: config.model.actions > 0, classes: config.model.classes)
}

/// `config` trained on one rank in pieces (`cuts`, e.g. [(0, 3), (3, 7)]), each a new Trainer resuming from the
/// latest checkpoint in `directory` (each piece ends with one): the per-step losses of all pieces and
/// the last trainer. The resume of each piece after the first must start where the previous one stopped.
func trainResumed(_ config: RunConfig, cuts: [(from: Int, to: Int)], directory: URL, name: String) throws -> (losses: [Double], trainer: Trainer) {
    var losses: [Double] = [], trainer: Trainer!
    for (from, to) in cuts {
        trainer = try Trainer(config: config, source: syntheticSource(config))
        let checkpoints = try RunCheckpoints(trainer: trainer, settings: config.checkpoint, directory: directory,
                                             hooks: CheckpointWriteHooks(), log: { _ in })
        let resumed = try checkpoints.resume(.latest, configName: name)
        guard resumed == (from == 0 ? nil : from) else {
            throw TrainingError("resumed at \(resumed.map(String.init) ?? "the start"), expected \(from)")
        }
        let run = try TrainingRun(trainer: trainer, runDirectory: directory, checkpoints: checkpoints, resumedFrom: resumed, log: { _ in })
        losses += try run.run(until: to).map(\.loss)
    }
    return (losses, trainer)
}
