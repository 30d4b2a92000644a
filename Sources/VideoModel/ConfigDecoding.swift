// ConfigDecoding: strict YAML/JSON decoding for config structs — unknown keys, missing fields and type
// errors become one `ConfigError` naming the file, the dotted field path and the rule.

import Foundation
import Yams

public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A coding key that accepts any string, used to list the keys actually present.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.stringValue = String(intValue); self.intValue = intValue }
}

extension Decoder {
    /// Throws if the current object has keys that `Keys` does not list.
    public func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type) throws {
        let container = try self.container(keyedBy: AnyCodingKey.self)
        let known = Set(Keys.allCases.map(\.stringValue))
        for key in container.allKeys where !known.contains(key.stringValue) {
            let path = (codingPath + [key]).map(\.stringValue).joined(separator: ".")
            throw ConfigError("unknown key '\(path)' (known keys here: \(known.sorted().joined(separator: ", ")))")
        }
    }
}

public enum ConfigFile {
    /// Yams is not documented as thread-safe; configs are decoded rarely, so one lock costs nothing.
    private static let lock = NSLock()

    /// Decodes `T` from YAML text; `source` names the file in messages.
    public static func decode<T: Decodable>(_ type: T.Type, yaml text: String, source: String) throws -> T {
        do {
            return try lock.withLock { try YAMLDecoder().decode(T.self, from: text) }
        } catch let error as ConfigError {
            throw ConfigError("\(source): \(error.message)")
        } catch let error as DecodingError {
            throw ConfigError("\(source): \(describe(error))")
        } catch {
            throw ConfigError("\(source): not valid YAML: \(error)")
        }
    }

    public static func load<T: Decodable>(_ type: T.Type, path: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("\(path): cannot read the config file (missing or unreadable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError("\(path): the config file is not UTF-8 text")
        }
        return try decode(T.self, yaml: text, source: path)
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field '\(path(context.codingPath + [key]))'"
        case .typeMismatch(let type, let context):
            return "field '\(path(context.codingPath))' has the wrong type (expected \(type))"
        case .valueNotFound(let type, let context):
            return "field '\(path(context.codingPath))' is empty (expected \(type))"
        case .dataCorrupted(let context):
            // A rule our own decoders enforce (Yams wraps it as "not valid YAML"): its message names the field.
            if let rule = context.underlyingError as? ConfigError { return rule.message }
            let location = context.codingPath.isEmpty ? "" : "field '\(path(context.codingPath))': "
            let cause = context.underlyingError.map { ": \($0)" } ?? ""
            return "\(location)\(context.debugDescription)\(cause)"
        @unknown default:
            return "\(error)"
        }
    }
}
