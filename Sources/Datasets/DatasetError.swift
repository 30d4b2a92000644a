// DatasetError: the one error type of the Datasets module. Every error says which file, which record
// (index and byte offset of its length field) and which key it is about, when those are known, and
// what is wrong, in one line suitable for a command-line message.
//
// Low-level decoders (the protobuf reader) throw without file context; the layer that knows the file
// adds it with `adding(file:recordIndex:offset:)`.

/// An error reading or decoding dataset files, with the file, record and key it concerns.
public struct DatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong.
    public enum Problem: Equatable, Sendable {
        /// The file could not be opened/created (the operating system's reason).
        case cannotOpen(reason: String)
        /// A read or write failed (the operating system's reason).
        case ioFailed(reason: String)
        /// Fewer than the 12 header bytes (uint64 length + uint32 masked CRC) remain.
        case truncatedHeader(available: Int)
        /// The header promises `length` data bytes + a 4-byte CRC, but fewer remain.
        case truncatedData(length: UInt64, available: Int)
        /// The masked CRC-32C of the 8 length bytes does not match the stored one.
        case badLengthCRC(stored: UInt32, computed: UInt32)
        /// The masked CRC-32C of the data does not match the stored one.
        case badDataCRC(stored: UInt32, computed: UInt32)
        /// Malformed protobuf wire format; `offset` is the byte within the record's data.
        case malformedExample(reason: String, offset: Int)
        /// A feature key the format requires is absent.
        case missingKey(String)
        /// A feature holds the wrong kind of list (e.g. floats where bytes were expected).
        case wrongFeatureKind(key: String, expected: String, found: String)
        /// A bytes value has the wrong length (e.g. an image that is not 64×64×3 raw bytes).
        case wrongByteCount(key: String, expected: Int, found: Int)
        /// A list has the wrong number of values (e.g. an action that is not 4 floats).
        case wrongValueCount(key: String, expected: Int, found: Int)
        /// A request that cannot be satisfied (e.g. more frames than the record holds).
        case invalidRequest(String)
        /// An HDF5 file that is not a video shard of docs/design.md §3, or one whose layout is broken.
        case notAShard(reason: String)
        /// A malformed annotation file (e.g. a Kinetics CSV); `line` is 1-based (the header is line 1).
        case malformedAnnotations(line: Int, reason: String)
        /// A video clip that is missing or that ffmpeg cannot decode.
        case undecodableClip(reason: String)
    }

    public var problem: Problem
    /// The file, as the caller named it.
    public var file: String?
    /// Index (0-based) of the record in its file.
    public var recordIndex: Int?
    /// Byte offset in the file of the record's first byte (its length field).
    public var offset: Int?

    public init(_ problem: Problem, file: String? = nil, recordIndex: Int? = nil, offset: Int? = nil) {
        self.problem = problem
        self.file = file
        self.recordIndex = recordIndex
        self.offset = offset
    }

    /// The same error with the file/record context filled in where it was missing.
    public func adding(file: String? = nil, recordIndex: Int? = nil, offset: Int? = nil) -> DatasetError {
        var error = self
        if error.file == nil { error.file = file }
        if error.recordIndex == nil { error.recordIndex = recordIndex }
        if error.offset == nil { error.offset = offset }
        return error
    }

    /// The feature key the error is about, if any.
    public var key: String? {
        switch problem {
        case .missingKey(let key), .wrongFeatureKind(let key, _, _), .wrongByteCount(let key, _, _),
             .wrongValueCount(let key, _, _):
            return key
        default:
            return nil
        }
    }

    public var description: String {
        var location: [String] = []
        if let recordIndex { location.append("record \(recordIndex)") }
        if let offset { location.append("at byte offset \(offset)") }
        var text = file ?? "<data>"
        if !location.isEmpty { text += ": " + location.joined(separator: " ") }
        return text + ": " + problemDescription
    }

    var problemDescription: String {
        func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16, uppercase: false) }
        switch problem {
        case .cannotOpen(let reason):
            return "cannot open: \(reason)"
        case .ioFailed(let reason):
            return "I/O error: \(reason)"
        case .truncatedHeader(let available):
            return "truncated record header: \(available) of 12 bytes present (file cut short?)"
        case .truncatedData(let length, let available):
            return "truncated record data: the header promises \(length) data bytes + 4 CRC bytes, " +
                "only \(available) bytes remain (file cut short?)"
        case .badLengthCRC(let stored, let computed):
            return "bad length CRC: stored \(hex(stored)), computed \(hex(computed)) (corrupt record header)"
        case .badDataCRC(let stored, let computed):
            return "bad data CRC: stored \(hex(stored)), computed \(hex(computed)) (corrupt record data)"
        case .malformedExample(let reason, let offset):
            var text = "malformed tf.train.Example at byte \(offset) of the record data"
            if let recordOffset = self.offset { text += " (file byte \(recordOffset + 12 + offset))" }
            return text + ": " + reason
        case .missingKey(let key):
            return "missing key '\(key)'"
        case .wrongFeatureKind(let key, let expected, let found):
            return "key '\(key)' holds \(found), expected \(expected)"
        case .wrongByteCount(let key, let expected, let found):
            return "key '\(key)' has \(found) bytes, expected \(expected)"
        case .wrongValueCount(let key, let expected, let found):
            return "key '\(key)' has \(found) values, expected \(expected)"
        case .invalidRequest(let reason):
            return reason
        case .notAShard(let reason):
            return reason
        case .malformedAnnotations(let line, let reason):
            return "line \(line): \(reason)"
        case .undecodableClip(let reason):
            return reason
        }
    }
}
