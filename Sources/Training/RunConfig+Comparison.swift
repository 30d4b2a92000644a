// RunConfig+Comparison: a checkpoint's stored config against the config a run continues with. The model
// (architecture) and the optimizer kind must match — their tensors and slots would not fit — and a
// difference throws naming the first differing field; every other differing field becomes one note for
// the log (checkpoint settings excepted: where and how often to save never affects the run), with a
// warning where the data order will differ from the original run.
//
// Leaves out: tensor names and shapes (Checkpointing checks those when reading), the optimizer's slots and
// step (TrainerCheckpoint.swift).

import Foundation
import Checkpointing
import VideoModel

extension RunConfig {
    /// The stored config text (JSON, or YAML from another writer) as a RunConfig, if it decodes.
    static func decodeStored(_ text: String) -> RunConfig? {
        if let data = text.data(using: .utf8), let config = try? JSONDecoder().decode(RunConfig.self, from: data) { return config }
        return try? ConfigFile.decode(RunConfig.self, yaml: text, source: "stored config")
    }

    /// Throws `.mismatch` naming the first differing field when the model (architecture) or the optimizer
    /// kind differ; returns one note per other differing field (checkpoint settings excepted).
    static func compare(stored: RunConfig, current: RunConfig, file: String, configName: String) throws -> [String] {
        let before = stored.flattened, after = current.flattened
        let fields = Set(before.keys).union(after.keys).sorted()
        for field in fields where field.hasPrefix("model.") && before[field] != after[field] {
            throw CheckpointError(.mismatch, file: file,
                                  "was written for a different architecture: \(field) is \(before[field] ?? "absent") in the checkpoint but \(after[field] ?? "absent") in \(configName)")
        }
        if stored.optimizer.name != current.optimizer.name {
            throw CheckpointError(.mismatch, file: file,
                                  "was written with optimizer.name \(stored.optimizer.name.rawValue) but \(configName) uses \(current.optimizer.name.rawValue); its optimizer state cannot continue")
        }
        return fields.filter { !$0.hasPrefix("model.") && !$0.hasPrefix("checkpoint.") && before[$0] != after[$0] }.map { field in
            let consequence = field.hasPrefix("training.batch_size") || field.hasPrefix("training.seed") || field.hasPrefix("data.")
                ? " (the data order will differ from the original run)" : ""
            return "\(field) differs: \(before[field] ?? "absent") in the checkpoint, \(after[field] ?? "absent") now\(consequence)"
        }
    }

    /// `model.hidden_size` → `64`: every leaf of the encoded config as compact JSON text.
    var flattened: [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        var result: [String: String] = [:]
        func walk(_ value: Any, _ path: String) {
            if let dictionary = value as? [String: Any] {
                for (key, child) in dictionary { walk(child, path.isEmpty ? key : path + "." + key) }
            } else if let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) {
                result[path] = String(decoding: data, as: UTF8.self)
            }
        }
        walk(object, "")
        return result
    }
}
