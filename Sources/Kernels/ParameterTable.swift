// ParameterTable: the one table of (name, shape, offset) that describes every parameter in a flat buffer.
// It drives initialisation, the optimizer loop, all-reduce buckets and checkpoint dataset names.

public struct ParameterEntry: Equatable, Sendable {
    /// Checkpoint name, e.g. `decoder/layer_0/attention/query` (docs/design.md §2).
    public let name: String
    public let shape: [Int]
    /// Offset in floats into the flat buffer.
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
}

public struct ParameterTable: Sendable {
    public private(set) var entries: [ParameterEntry] = []
    public private(set) var totalCount = 0
    private var indexByName: [String: Int] = [:]

    public init() {}

    /// Appends a tensor; returns its offset. Offsets are 16-float aligned so every tensor starts on a
    /// cache line (the padding is part of the buffer but belongs to no tensor and stays zero).
    @discardableResult
    public mutating func add(_ name: String, _ shape: [Int]) -> Int {
        precondition(indexByName[name] == nil, "ParameterTable: duplicate name \(name)")
        precondition(shape.allSatisfy { $0 > 0 }, "ParameterTable: \(name) has shape \(shape)")
        let offset = (totalCount + 15) / 16 * 16
        entries.append(ParameterEntry(name: name, shape: shape, offset: offset))
        indexByName[name] = entries.count - 1
        totalCount = offset + shape.reduce(1, *)
        return offset
    }

    public subscript(name: String) -> ParameterEntry? { indexByName[name].map { entries[$0] } }

    /// Number of parameters (excluding alignment padding).
    public var parameterCount: Int { entries.reduce(0) { $0 + $1.count } }
}
