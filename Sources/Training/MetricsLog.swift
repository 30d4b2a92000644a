// MetricsLog: one JSON object per line in `metrics.jsonl`, flushed as it is written so a crash loses
// nothing already logged. Values keep their types (integers stay integers, non-finite floats become null).

import Foundation

public enum MetricValue: Sendable {
    case int(Int), double(Double), string(String)

    var json: String {
        switch self {
        case .int(let value): return String(value)
        case .double(let value): return value.isFinite ? "\(value)" : "null"
        case .string(let value):
            let data = try? JSONSerialization.data(withJSONObject: [value], options: [])
            let array = data.flatMap { String(data: $0, encoding: .utf8) } ?? "[\"\"]"
            return String(array.dropFirst().dropLast())
        }
    }
}

public final class MetricsLog {
    public let url: URL
    private let handle: FileHandle

    public init(url: URL, append: Bool = false) throws {
        self.url = url
        let manager = FileManager.default
        try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !append || !manager.fileExists(atPath: url.path) {
            guard manager.createFile(atPath: url.path, contents: nil) else {
                throw TrainingError("cannot create the metrics file \(url.path)")
            }
        }
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    /// Writes one line; keys keep the given order.
    public func write(_ fields: [(String, MetricValue)]) throws {
        let body = fields.map { "\"\($0.0)\":\($0.1.json)" }.joined(separator: ",")
        try handle.write(contentsOf: Data(("{" + body + "}\n").utf8))
    }
}

public struct TrainingError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
