// KineticsAnnotations: the annotation CSVs of Kinetics (K400/K600/K700), the class subset, and where each
// clip's file is.
//
// CSV: a header line naming the columns, then one clip per line; fields may be quoted ("baking cookies",
// with "" for a quote), lines end in LF or CRLF. Columns: `label`, `youtube_id`, `time_start`, `time_end`
// (required), `split` and K400's `is_cc` (optional), in any order. Any other column is rejected — a file
// that is not a Kinetics annotation file should fail loudly, not train on garbage. Errors name the file
// and the line.
//
// Clip files are `{youtube_id}_{time_start:06d}_{time_end:06d}.mp4` (or .mkv/.webm), either flat in the
// videos folder or one folder per label (the label as written, or with spaces as underscores); YouTube ids
// are 11 characters of [A-Za-z0-9_-] and may start with '-' or contain '_', so names are matched whole,
// never split on '_'.
//
// Not here: decoding (KineticsClipDecoder), writing shards (KineticsConversion).

import Foundation

/// One annotated clip.
public struct KineticsClip: Sendable, Equatable {
    /// 1-based line of the CSV (the header is line 1).
    public var line: Int
    public var label: String
    public var youtubeID: String
    public var timeStart: Int
    public var timeEnd: Int
    /// The `split` column, nil if the file has none.
    public var split: String?

    public init(line: Int, label: String, youtubeID: String, timeStart: Int, timeEnd: Int, split: String? = nil) {
        self.line = line; self.label = label; self.youtubeID = youtubeID
        self.timeStart = timeStart; self.timeEnd = timeEnd; self.split = split
    }

    /// `{youtube_id}_{start:06d}_{end:06d}`, the file name without extension.
    public var baseName: String {
        func six(_ value: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, 6 - digits.count)) + digits
        }
        return "\(youtubeID)_\(six(timeStart))_\(six(timeEnd))"
    }
}

public struct KineticsAnnotations: Sendable {
    public static let requiredColumns = ["label", "youtube_id", "time_start", "time_end"]
    public static let optionalColumns = ["split", "is_cc"]

    public let path: String
    public let columns: [String]
    public let clips: [KineticsClip]

    public init(path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw DatasetError(.cannotOpen(reason: FileManager.default.fileExists(atPath: path)
                                           ? "cannot read the file" : "no such file"), file: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DatasetError(.malformedAnnotations(line: 1, reason: "the file is not UTF-8 text"), file: path)
        }
        try self.init(text: text, path: path)
    }

    /// Parses CSV `text`; `path` names it in errors.
    public init(text: String, path: String) throws {
        self.path = path
        func fail(_ line: Int, _ reason: String) -> DatasetError {
            DatasetError(.malformedAnnotations(line: line, reason: reason), file: path)
        }
        let rows = try Self.parseCSV(text, fail: fail)
        guard let header = rows.first, header.fields.contains(where: { !$0.isEmpty }) else {
            throw fail(1, "the file is empty (expected a header line: label,youtube_id,time_start,time_end,split)")
        }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        for name in names where !(Self.requiredColumns + Self.optionalColumns).contains(name) {
            throw fail(header.line, "unknown column '\(name)' in the header \(names.joined(separator: ",")); a Kinetics "
                       + "annotation file has the columns \((Self.requiredColumns + Self.optionalColumns).joined(separator: ", "))")
        }
        for name in Self.requiredColumns where !names.contains(name) {
            throw fail(header.line, "the header \(names.joined(separator: ",")) lacks the column '\(name)'")
        }
        if let duplicate = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
            throw fail(header.line, "the column '\(duplicate)' appears twice in the header")
        }
        columns = names
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        var clips: [KineticsClip] = []
        for row in rows.dropFirst() {
            if row.fields.count == 1 && row.fields[0].trimmingCharacters(in: .whitespaces).isEmpty { continue }
            guard row.fields.count == names.count else {
                throw fail(row.line, "\(row.fields.count) fields, but the header has \(names.count) columns")
            }
            func field(_ name: String) -> String { row.fields[index[name]!].trimmingCharacters(in: .whitespaces) }
            func integer(_ name: String) throws -> Int {
                // Some releases write seconds as "14.0".
                let text = field(name)
                if let value = Int(text) { return value }
                if let value = Double(text), value == value.rounded(), value >= 0, value < 1e9 { return Int(value) }
                throw fail(row.line, "\(name) '\(text)' is not a whole number of seconds")
            }
            let id = field("youtube_id")
            guard !id.isEmpty, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                throw fail(row.line, "youtube_id '\(id)' is not a YouTube id ([A-Za-z0-9_-])")
            }
            let label = field("label")
            guard !label.isEmpty else { throw fail(row.line, "the label is empty") }
            let start = try integer("time_start"), end = try integer("time_end")
            guard start >= 0, end >= start else { throw fail(row.line, "time_start \(start) / time_end \(end) is not a window") }
            clips.append(KineticsClip(line: row.line, label: label, youtubeID: id, timeStart: start, timeEnd: end,
                                      split: index["split"].map { _ in field("split") }))
        }
        self.clips = clips
    }

    /// RFC 4180 fields per record, each with its starting line (quoted fields may span lines).
    static func parseCSV(_ text: String, fail: (Int, String) -> DatasetError) throws -> [(line: Int, fields: [String])] {
        var rows: [(line: Int, fields: [String])] = []
        var fields: [String] = [], field = "", quoted = false, fieldWasQuoted = false
        var line = 1, rowLine = 1
        var characters = Array(text.unicodeScalars)
        if characters.first == "\u{FEFF}" { characters.removeFirst() }   // a byte-order mark
        var i = 0
        func endRow() {
            fields.append(field)
            rows.append((rowLine, fields))
            fields = []; field = ""; fieldWasQuoted = false
        }
        while i < characters.count {
            let c = characters[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < characters.count && characters[i + 1] == "\"" { field.unicodeScalars.append("\""); i += 1 } else { quoted = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else {
                switch c {
                case "\"":
                    guard field.isEmpty && !fieldWasQuoted else { throw fail(line, "a quote inside an unquoted field") }
                    quoted = true; fieldWasQuoted = true
                case ",":
                    fields.append(field); field = ""; fieldWasQuoted = false
                case "\r" where i + 1 < characters.count && characters[i + 1] == "\n":
                    break
                case "\n", "\r":
                    endRow(); line += 1; rowLine = line
                default:
                    guard !fieldWasQuoted else { throw fail(line, "text after a closing quote") }
                    field.unicodeScalars.append(c)
                }
            }
            i += 1
        }
        if quoted { throw fail(rowLine, "a quoted field is not closed before the end of the file") }
        if !field.isEmpty || !fields.isEmpty || fieldWasQuoted { endRow() }
        return rows
    }

    /// The class names every label of the file belongs to, sorted.
    public var labels: [String] { Set(clips.map(\.label)).sorted() }
}

/// The class subset: `--classes` is a file (one class per line, '#' comments) or a comma-separated list.
public enum KineticsClasses {
    public static func parse(_ argument: String) throws -> [String] {
        var isFolder: ObjCBool = false
        let names: [String]
        if FileManager.default.fileExists(atPath: argument, isDirectory: &isFolder), !isFolder.boolValue {
            guard let text = try? String(contentsOfFile: argument, encoding: .utf8) else {
                throw DatasetError(.cannotOpen(reason: "cannot read the class list as UTF-8 text"), file: argument)
            }
            names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        } else {
            names = argument.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        guard !names.isEmpty else { throw DatasetError(.invalidRequest("the class list '\(argument)' names no classes")) }
        var seen = Set<String>()
        for name in names where !seen.insert(name).inserted {
            throw DatasetError(.invalidRequest("the class list names '\(name)' twice"))
        }
        return names
    }
}

/// Finds clip files under a videos folder (flat, or one folder per label), from one scan of the folder.
public struct KineticsClipFinder: Sendable {
    public static let extensions = ["mp4", "mkv", "webm", "avi", "mov"]
    public let directory: String
    /// Base name → paths, each with the name of the folder it is in (relative to `directory`).
    private let files: [String: [(folder: String, path: String)]]

    public init(directory: String) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isFolder), isFolder.boolValue else {
            throw DatasetError(.cannotOpen(reason: "no such folder (expected the folder of the clips)"), file: directory)
        }
        self.directory = directory
        let root = URL(fileURLWithPath: directory).standardizedFileURL
        var files: [String: [(folder: String, path: String)]] = [:]
        if let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil, options: [.skipsHiddenFiles]) {
            for case let url as URL in walker where Self.extensions.contains(url.pathExtension.lowercased()) {
                let components = url.standardizedFileURL.pathComponents.dropFirst(root.pathComponents.count)
                let folder = components.dropLast().joined(separator: "/")
                files[url.deletingPathExtension().lastPathComponent, default: []].append((folder, url.path))
            }
        }
        self.files = files
    }

    /// The file of `clip`: preferably in its label's folder, else anywhere; nil if there is none.
    public func path(of clip: KineticsClip) -> String? {
        guard let candidates = files[clip.baseName], !candidates.isEmpty else { return nil }
        let labelFolders = [clip.label, clip.label.replacingOccurrences(of: " ", with: "_")]
        func matches(_ folder: String) -> Bool {
            guard let last = folder.split(separator: "/").last else { return false }
            return labelFolders.contains(String(last))
        }
        let preferred = candidates.filter { matches($0.folder) } + candidates.filter { !matches($0.folder) }
        // Among equals, .mp4 first, then by path, so the choice does not depend on the file system's order.
        return preferred.min { a, b in
            let aLabel = matches(a.folder), bLabel = matches(b.folder)
            if aLabel != bLabel { return aLabel }
            let aMP4 = a.path.hasSuffix(".mp4"), bMP4 = b.path.hasSuffix(".mp4")
            if aMP4 != bMP4 { return aMP4 }
            return a.path < b.path
        }?.path
    }

    /// Where a missing clip was looked for, for the report.
    public func searchDescription(of clip: KineticsClip) -> String {
        "no \(clip.baseName).{\(Self.extensions.joined(separator: ","))} in \(directory) or its label folders"
    }
}
