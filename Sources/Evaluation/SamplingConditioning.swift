// SamplingConditioning: what the sampling job conditions a conditioned model on (docs/design.md §11) — by
// default each test video's own actions and label, or one action sequence (`vt sample --actions FILE`) or
// one class (`--label`) for every video — and the classifier-free guidance weight. It is part of the
// sampling protocol (`description`), so a resumed job never mixes samples drawn under other conditions.
//
// Action files: `.npy` (float32 or float64, C order, shape [T, A]), `.json` (a list of T lists of A numbers)
// or HDF5 (a dataset `actions`, or the file's only dataset, [T, A]); T at least the model's frames (the first
// T are used), A the model's action width. Each problem is one error naming the file.

import Foundation
import Common
import Datasets
import HDF5
import VideoModel

public struct SamplingConditioning: Sendable, Equatable {
    /// Classifier-free guidance weight w (0: none).
    public var guidance: Double
    /// One class for every video (nil: each video's own label).
    public var label: Int?
    /// One action sequence for every video, [frames, A] (nil: each video's own actions); `actionsSource`
    /// names where it came from.
    public var actions: [Float]?
    public var actionsSource: String?

    public init(guidance: Double = 0, label: Int? = nil, actions: [Float]? = nil, actionsSource: String? = nil) {
        self.guidance = guidance; self.label = label; self.actions = actions; self.actionsSource = actionsSource
    }

    /// How the samples were conditioned, for the protocol: "data", or the overrides (the action file's CRC-32C).
    public var description: String {
        var parts: [String] = []
        if let label { parts.append("label \(label)") }
        if let actions {
            let crc = actions.withUnsafeBytes { CRC32C.checksum($0) }
            parts.append("actions \(actionsSource ?? "given") (crc32c \(String(format: "%08x", crc)))")
        }
        return parts.isEmpty ? "data" : parts.joined(separator: "; ")
    }

    /// Checks the overrides against the model: a label needs classes, actions need the model's width, guidance
    /// needs classes.
    public func check(_ model: ModelConfig, frames: Int? = nil) throws {
        let frames = frames ?? model.frames
        if guidance != 0 && model.classes == 0 { throw EvaluationError("--guidance needs a class-conditioned model (model.classes is 0)") }
        if let label, model.classes == 0 { throw EvaluationError("--label \(label): the model has no classes (model.classes is 0)") }
        if let label, !(0...model.classes).contains(label) {
            throw EvaluationError("--label \(label) is outside the model's classes 0..<\(model.classes) (\(model.classes) is \"no label\")")
        }
        if actions != nil && model.actions == 0 { throw EvaluationError("--actions: the model takes no actions (model.actions is 0)") }
        if let actions, actions.count != frames * model.actions {
            throw EvaluationError("--actions: \(actions.count) values, but the samples need \(frames) frames × \(model.actions)")
        }
    }

    /// Video `video`'s actions [frames, A] of its first `frames` frames (default: the model's clip; nil for a
    /// model without actions).
    public func actions(video: Int, source: VideoSource, model: ModelConfig, frames: Int? = nil) throws -> [Float]? {
        guard model.actions > 0 else { return nil }
        if let actions { return actions }
        let frames = frames ?? model.frames
        var row = [Float](repeating: 0, count: frames * model.actions)
        try row.withUnsafeMutableBufferPointer {
            try source.readActions(index: video, startFrame: 0, frameCount: frames, into: $0.baseAddress!)
        }
        return row
    }

    /// Video `video`'s class (nil for a model without classes).
    public func label(video: Int, source: VideoSource, model: ModelConfig) throws -> Int? {
        guard model.classes > 0 else { return nil }
        return try label ?? source.label(index: video)
    }

    /// `--label NAME|INDEX` against the data's class names.
    public static func parseLabel(_ text: String, names: [String]?, classes: Int) throws -> Int {
        if let index = Int(text) { return index }
        if let names, let index = names.firstIndex(of: text) { return index }
        throw EvaluationError("--label \(text): not a class index (0..<\(classes)) nor a class name of the data\(names.map { " (\($0.prefix(8).joined(separator: ", "))\($0.count > 8 ? ", …" : ""))" } ?? "")")
    }

    /// Reads an action sequence file; returns its first `frames` rows of width `width`.
    public static func readActions(path: String, frames: Int, width: Int) throws -> [Float] {
        func fail(_ reason: String) -> EvaluationError { EvaluationError("\(path): \(reason)") }
        guard FileManager.default.fileExists(atPath: path) else { throw fail("no such file") }
        let rows: [[Double]]
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "json":
            guard let data = FileManager.default.contents(atPath: path),
                  let parsed = try? JSONDecoder().decode([[Double]].self, from: data) else {
                throw fail("not a JSON list of lists of numbers ([[a0, a1, …], …], one row per frame)")
            }
            rows = parsed
        case "npy":
            rows = try readNPY(path: path, fail: fail)
        case "h5", "hdf5":
            do {
                let file = try HDF5File.open(path)
                defer { try? file.close() }
                let names = try file.root.datasetPaths().map { String($0.dropFirst()) }
                guard let name = names.contains("actions") ? "actions" : (names.count == 1 ? names[0] : nil) else {
                    throw fail("holds no dataset 'actions' (datasets: \(names.joined(separator: ", ")))")
                }
                let shape = try file.root.dataset(name).shape()
                guard shape.count == 2 else { throw fail("dataset \(name) has shape \(shape), not [T, A]") }
                let values = try file.root.dataset(name).read(as: Float.self)
                rows = (0..<shape[0]).map { t in (0..<shape[1]).map { Double(values[t * shape[1] + $0]) } }
            } catch let error as EvaluationError { throw error } catch { throw fail("cannot read it as HDF5: \(error)") }
        default:
            throw fail("unknown kind: give a .npy, .json or .h5 file of [T, A] actions")
        }
        guard rows.count >= frames else { throw fail("holds \(rows.count) frames of actions; the model needs \(frames)") }
        for (t, row) in rows.prefix(frames).enumerated() {
            guard row.count == width else { throw fail("row \(t) has \(row.count) values; the model's actions have \(width)") }
            if let bad = row.first(where: { !$0.isFinite }) { throw fail("row \(t) holds \(bad)") }
        }
        return rows.prefix(frames).flatMap { $0.map(Float.init) }
    }

    /// A 2-D little-endian float32/float64 C-order NumPy array.
    static func readNPY(path: String, fail: (String) -> EvaluationError) throws -> [[Double]] {
        guard let data = FileManager.default.contents(atPath: path), data.count >= 10,
              data.prefix(6) == Data([0x93] + Array("NUMPY".utf8)) else { throw fail("not a .npy file") }
        let major = data[6]
        let headerLength = major == 1 ? Int(data[8]) | Int(data[9]) << 8
            : (data.count >= 12 ? Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24 : -1)
        let start = major == 1 ? 10 : 12
        guard headerLength >= 0, data.count >= start + headerLength,
              let header = String(data: data[start..<(start + headerLength)], encoding: .ascii) else { throw fail("damaged .npy header") }
        let size: Int
        if header.contains("'<f4'") { size = 4 } else if header.contains("'<f8'") { size = 8 } else {
            throw fail("holds \(header.trimmingCharacters(in: .whitespacesAndNewlines)); actions must be little-endian float32 or float64")
        }
        guard header.contains("'fortran_order': False") else { throw fail("is in Fortran order; save it in C order") }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw fail("damaged .npy header (no shape)")
        }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard shape.count == 2, shape.allSatisfy({ $0 >= 0 }) else { throw fail("has shape \(shape), not [T, A]") }
        let (count, body) = (shape[0] * shape[1], start + headerLength)
        guard data.count - body == count * size else { throw fail("holds \(data.count - body) data bytes, not \(count) × \(size)") }
        let values: [Double] = data[body...].withUnsafeBytes { raw in
            (0..<count).map { i in
                size == 4 ? Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))))
                    : Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
            }
        }
        return (0..<shape[0]).map { t in Array(values[(t * shape[1])..<((t + 1) * shape[1])]) }
    }
}
