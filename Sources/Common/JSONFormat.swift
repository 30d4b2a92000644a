// JSONFormat: how vt writes and reads its JSON reports (`--json` of bench, evaluate and mesh simulate,
// measured-step files): keys are the Swift property names in snake_case (the coder's key strategy, so types
// need no CodingKeys that only rename), sorted; an infinite or NaN number is the string "inf", "-inf" or
// "nan" (plain JSON has no such numbers).
// Leaves out: configs (YAML through Yams, with their own strict decoding) and metrics.jsonl (MetricsLog).

import Foundation

public enum JSONFormat {
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }

    /// `value` as one line of JSON.
    public static func string<Value: Encodable>(_ value: Value) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
