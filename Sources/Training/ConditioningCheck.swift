// ConditioningCheck: whether a data source carries what a model is conditioned on (docs/design.md §11) —
// actions of the model's width, labels of its class count — refused in one line that names the data (the
// shard file, or the built-in corpus) before any step runs. And the built-in stand-ins: the synthetic corpus
// with its action-driven gripper and class-coloured tables, or, where the generator cannot make what a
// config asks (benchmarks of paper configs: 600 classes), the plain corpus with seeded actions and labels.
//
// Leaves out: reading actions and labels (Datasets) and using them (VideoModel).

import Datasets
import Evaluation
import Kernels
import VideoModel

public enum ConditioningCheck {
    /// Throws a TrainingError naming `role` (e.g. "data.train") and the data when `source` lacks what `model`
    /// is conditioned on or carries it in another shape.
    /// `actions`/`labels` false skip a check (the caller supplies them another way: `vt sample --actions/--label`).
    public static func require(_ model: ModelConfig, from source: VideoSource, role: String, actions: Bool = true,
                               labels: Bool = true) throws {
        let name = describe(source)
        if model.actions > 0 && actions {
            if source.actionWidth == 0 {
                throw TrainingError("\(role): model.actions is \(model.actions), but \(name) holds no actions (prepare BAIR, or `vt prepare synthetic --actions`)")
            }
            if source.actionWidth != model.actions {
                throw TrainingError("\(role): model.actions is \(model.actions), but \(name) holds actions of width \(source.actionWidth)")
            }
        }
        if model.classes > 0 && labels {
            guard let names = source.labelNames else {
                throw TrainingError("\(role): model.classes is \(model.classes), but \(name) holds no class labels (prepare Kinetics, or `vt prepare synthetic --classes K`)")
            }
            if names.count != model.classes {
                throw TrainingError("\(role): model.classes is \(model.classes), but \(name) has \(names.count) classes")
            }
        }
    }

    /// The file a source reads (its first shard), or what it is.
    public static func describe(_ source: VideoSource) -> String {
        if let shards = source as? ShardVideoSource, let first = shards.shards.first {
            return shards.shards.count == 1 ? first.path : "\(first.path) (and \(shards.shards.count - 1) more shards)"
        }
        if let prefix = source as? PrefixVideoSource { return describe(prefix.base) }
        return "the built-in synthetic corpus"
    }

    /// The built-in corpus for `model`: the synthetic generator's action-driven scene (4-d actions) and class
    /// tables (up to 6 classes) when the model asks for them; otherwise, for a model the generator cannot
    /// serve, `standIn` picks plain videos with seeded actions and labels (benchmarks) or refuses (training).
    public static func syntheticSource(for model: ModelConfig, count: Int, seed: UInt64, standIn: Bool = false) throws -> InMemoryVideoSource {
        let generatorServes = (model.actions == 0 || model.actions == SyntheticVideoGenerator.actionWidth)
            && model.classes <= SyntheticVideoGenerator.maximumClasses
        if generatorServes {
            return InMemoryVideoSource.synthetic(count: count, frames: model.frames, height: model.height, width: model.width, seed: seed,
                                                 actions: model.actions > 0, classes: model.classes)
        }
        guard standIn else {
            throw TrainingError("the built-in synthetic corpus has \(SyntheticVideoGenerator.actionWidth)-d actions and up to "
                                + "\(SyntheticVideoGenerator.maximumClasses) classes; model.actions \(model.actions), model.classes "
                                + "\(model.classes) need prepared data (data.train)")
        }
        let plain = InMemoryVideoSource.synthetic(count: count, frames: model.frames, height: model.height, width: model.width, seed: seed)
        let storage = try plain.readClips((0..<count).map { ClipRequest(video: $0, startFrame: 0) }, frameCount: model.frames)
        var random = Xoshiro256(seed: seed ^ 0xC0DE)
        let actions = model.actions > 0 ? (0..<(count * model.frames * model.actions)).map { _ in Float(random.nextNormal()) } : nil
        let labels = model.classes > 0 ? (0..<count).map { _ in random.nextInt(below: model.classes) } : nil
        return InMemoryVideoSource(count: count, frames: model.frames, height: model.height, width: model.width, storage: storage,
                                   actions: actions, actionWidth: model.actions, labels: labels,
                                   labelNames: model.classes > 0 ? (0..<model.classes).map { "class \($0)" } : nil)
    }
}
