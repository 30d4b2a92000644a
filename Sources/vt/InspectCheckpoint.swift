// vt inspect checkpoint FILE [--json]: what a checkpoint holds — step, config, model hyper-parameters,
// optimizer and data cursor, parameter count, every tensor's shape and norm — after checking every
// dataset's CRC-32C. Exits non-zero (after printing the report) when a checksum fails, so scripts can use
// it as a verifier; an unreadable file or a non-checkpoint is one error line naming the file.

import ArgumentParser
import Checkpointing
import Foundation
import Training
import VideoModel

struct InspectCheckpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Show and verify a checkpoint: step, config, parameter count, tensor shapes and norms, checksums.")

    @Argument(help: "The checkpoint file (e.g. Checkpoints/tiny/step_00000600.h5).") var file: String
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func run() throws {
        let report: CheckpointReport
        do {
            report = try CheckpointReport(path: file)
        } catch {
            throw fail(error)
        }
        if json {
            print(report.jsonText())
        } else {
            print(report.text())
        }
        if let first = report.failed.first {
            throw fail(CheckpointError(.damaged, file: file, object: first.path,
                                       "fails its CRC-32C check (stored \(first.storedChecksum.map(hexText) ?? "missing"), computed \(hexText(first.computedChecksum)))"
                                       + (report.failed.count > 1 ? "; \(report.failed.count) datasets fail in all" : "")))
        }
    }
}

private func hexText(_ value: UInt32) -> String { String(format: "0x%08x", value) }

/// Everything `vt inspect checkpoint` shows, read and verified once.
struct CheckpointReport {
    let path: String
    let bytes: Int
    let file: CheckpointFile
    let tensors: [TensorReport]
    /// The stored config as a JSON object (nil if it is not JSON).
    let config: [String: Any]?
    /// The model hyper-parameters under docs/design.md §2's names.
    let model: [String: Any]?

    static let modelKeys = ["frames", "height", "width", "subscale", "prime_frames", "embedding_size", "hidden_size", "heads",
                            "head_size", "ffn_size", "encoder_layers", "decoder_layers", "encoder_kernel", "blocks"]

    init(path: String) throws {
        self.path = path
        file = try CheckpointFile(path: path)
        tensors = try file.verify().sorted { ($0.path.hasPrefix("/params/") ? 0 : 1, $0.path) < ($1.path.hasPrefix("/params/") ? 0 : 1, $1.path) }
        bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let text = file.string("config") ?? ""
        var config = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
        if config == nil, let decoded = try? ConfigFile.decode(RunConfig.self, yaml: text, source: path),
           let data = try? JSONEncoder().encode(decoded) {
            config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]  // YAML text from another writer
        }
        self.config = config
        model = (config?["model"] as? [String: Any]).map { model in model.filter { Self.modelKeys.contains($0.key) } }
    }

    var failed: [TensorReport] { tensors.filter { !$0.isIntact } }
    var parameterTensors: [TensorReport] { tensors.filter { $0.path.hasPrefix("/params/") } }
    var parameterCount: Int { parameterTensors.reduce(0) { $0 + $1.count } }

    /// Root attributes other than the config text, as JSON values.
    var attributeObject: [String: Any] {
        var result: [String: Any] = [:]
        for (name, value) in file.attributes where name != "config" {
            switch value {
            case .string(let s): result[name] = s
            case .strings(let s): result[name] = s
            case .int64(let i): result[name] = i
            case .int64s(let i): result[name] = i
            case .double(let d): result[name] = jsonNumber(d)
            case .doubles(let d): result[name] = d.map(jsonNumber)
            }
        }
        return result
    }

    func jsonText() -> String {
        let object: [String: Any] = [
            "file": path,
            "bytes": bytes,
            "format": file.string("format") ?? "",
            "format_version": file.formatVersion,
            "step": file.step,
            "created": file.string("created") ?? "",
            "world_size": file.int("world_size") ?? NSNull(),
            "mesh": file.string("mesh") ?? NSNull(),
            "model": model ?? NSNull(),
            "config": config ?? (file.string("config") as Any? ?? NSNull()),
            "parameter_count": parameterCount,
            "optimizer": [
                "name": file.string("optimizer") ?? NSNull(),
                "step": file.int("optimizer_step") ?? NSNull(),
                "slots": file.strings("optimizer_slots") ?? [],
            ] as [String: Any],
            "data": [
                "epoch": file.int("data_epoch") ?? NSNull(),
                "offset": file.int("data_offset") ?? NSNull(),
                "position": file.int("data_position") ?? NSNull(),
                "seed": file.int("seed") ?? NSNull(),
            ] as [String: Any],
            "attributes": attributeObject,
            "checksums": [
                "algorithm": "crc32c",
                "status": failed.isEmpty ? "ok" : "failed",
                "verified": tensors.count,
                "failed": failed.map(\.path),
            ] as [String: Any],
            "tensors": tensors.map { tensor -> [String: Any] in
                [
                    "name": String(tensor.path.dropFirst()),
                    "shape": tensor.shape,
                    "norm": jsonNumber(tensor.norm),
                    "crc32c": hexText(tensor.computedChecksum),
                    "checksum": tensor.isIntact ? "ok" : "failed",
                ]
            },
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    func text() -> String {
        var lines: [String] = []
        func row(_ label: String, _ value: String) { lines.append(label.padding(toLength: 13, withPad: " ", startingAt: 0) + value) }
        row("checkpoint", "\(path) (\(file.string("format") ?? "?") v\(file.formatVersion), \(String(format: "%.1f MB", Double(bytes) / 1e6)))")
        row("step", "\(file.step), created \(file.string("created") ?? "?"), world size \(file.int("world_size").map(String.init) ?? "?"), mesh \(file.string("mesh") ?? "?")")
        if let name = file.string("optimizer") {
            row("optimizer", "\(name), step \(file.int("optimizer_step").map(String.init) ?? "?"), slots \((file.strings("optimizer_slots") ?? []).joined(separator: ", "))"
                + (file.double("learning_rate").map { String(format: "; next learning rate %.3e", $0) } ?? ""))
        }
        if let epoch = file.int("data_epoch") {
            row("data", "epoch \(epoch), offset \(file.int("data_offset") ?? 0) (stream position \(file.int("data_position") ?? 0)), seed \(file.int("seed") ?? 0)")
        }
        if let model {
            row("model", Self.modelKeys.compactMap { key in model[key].map { "\(key) \(compactJSON($0))" } }.joined(separator: ", "))
        }
        row("parameters", "\(parameterCount.formatted()) in \(parameterTensors.count) tensors")
        row("checksums", failed.isEmpty ? "ok: all \(tensors.count) datasets match their CRC-32C"
                                        : "FAILED: \(failed.count) of \(tensors.count) datasets (\(failed.map(\.path).joined(separator: ", ")))")
        lines.append("tensors")
        let width = (tensors.map(\.path.count).max() ?? 0) + 2
        for tensor in tensors {
            let shape = "[" + tensor.shape.map(String.init).joined(separator: ", ") + "]"
            lines.append("  " + String(tensor.path.dropFirst()).padding(toLength: width, withPad: " ", startingAt: 0)
                         + shape.padding(toLength: 26, withPad: " ", startingAt: 0)
                         + String(format: "norm %-12.6g ", tensor.norm) + (tensor.isIntact ? "ok" : "CHECKSUM FAILED"))
        }
        lines.append("config")
        lines.append(contentsOf: (file.string("config") ?? "(none)").split(separator: "\n").map { "  " + $0 })
        return lines.joined(separator: "\n")
    }
}

/// JSON cannot hold NaN or ±∞; they become strings.
private func jsonNumber(_ value: Double) -> Any { value.isFinite ? value : "\(value)" }

private func compactJSON(_ value: Any) -> String {
    guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]) else { return "\(value)" }
    return String(decoding: data, as: UTF8.self)
}
