import Foundation
import VideoModel
import Optimization
import Datasets
@testable import Training

/// The config's synthetic corpus in memory (`data.synthetic_videos` videos of the model's size): the
/// action-driven, class-coloured one when the model is conditioned (4-d actions, up to 6 classes).
func syntheticSource(_ config: RunConfig) -> InMemoryVideoSource {
    InMemoryVideoSource.synthetic(count: config.data.syntheticVideos, frames: config.model.frames,
                                  height: config.model.height, width: config.model.width, seed: config.data.syntheticSeed,
                                  actions: config.model.actions > 0, classes: config.model.classes)
}
