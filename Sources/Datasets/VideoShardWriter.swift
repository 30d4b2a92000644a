// VideoShardWriter: writes one shard of docs/design.md §3 (layout in VideoShard.swift), crash-safely.
//
// The file is written under a hidden temporary name in the destination folder
// (`.NAME.partial-PID-RANDOM`), videos appended in batches; `finish()` writes the per-video columns kept in
// memory (labels, YouTube ids, ...) and the root attributes — `format` last, so even a renamed partial file
// is not a shard — closes, fsyncs the file, renames it to its final name and fsyncs the folder. An
// interrupted conversion leaves at most a hidden `.partial` file (which loaders ignore), never a file
// that looks finished; `abandon()` (or dropping an unfinished writer) removes it. An existing output is
// replaced only when `overwrite` is set.
//
// Not here: reading (VideoShard), what the videos are (the BAIR, Kinetics and synthetic converters).

import Foundation
import HDF5
#if canImport(Glibc)
import Glibc
private let systemRename = Glibc.rename
#elseif canImport(Darwin)
import Darwin
private let systemRename = Darwin.rename
#endif

/// What a shard holds besides `videos`.
public enum VideoShardKind: Sendable, Equatable {
    /// Videos only (e.g. the synthetic corpus).
    case plain
    /// BAIR: `actions` [N,T,4] and `endeffector_positions` [N,T,3].
    case bair
    /// Kinetics: `labels` (with `label_names`), `youtube_ids`, `time_start`, `time_end`, `annotation_lines`.
    case kinetics(labelNames: [String])
    /// Conditioned videos without Kinetics' clip fields (the synthetic `--actions` / `--classes` corpora):
    /// BAIR's `actions` [N,T,4] and `endeffector_positions` [N,T,3] when `actions`, and `labels` with
    /// `label_names` when `labelNames` is given.
    case conditioned(actions: Bool, labelNames: [String]?)

    /// Whether the shard has `actions` [N,T,4] and `endeffector_positions` [N,T,3].
    var writesActions: Bool {
        switch self {
        case .bair: return true
        case .conditioned(let actions, _): return actions
        case .plain, .kinetics: return false
        }
    }
}

/// The per-video fields of a Kinetics clip.
public struct KineticsClipFields: Sendable, Equatable {
    public var label: Int32
    public var youtubeID: String
    public var timeStart: Int32
    public var timeEnd: Int32
    public var annotationLine: Int32

    public init(label: Int32, youtubeID: String, timeStart: Int32, timeEnd: Int32, annotationLine: Int32) {
        self.label = label; self.youtubeID = youtubeID; self.timeStart = timeStart; self.timeEnd = timeEnd
        self.annotationLine = annotationLine
    }
}

public final class VideoShardWriter {
    /// The final path; the file appears there only when `finish()` succeeds.
    public let path: String
    /// The hidden file being written.
    public let temporaryPath: String
    public let frames: Int, height: Int, width: Int
    public let kind: VideoShardKind
    /// Videos appended so far.
    public private(set) var count = 0
    private let file: HDF5File
    private let videos: HDF5Dataset
    private let batchCapacity: Int
    private var pendingVideos: [UInt8] = []
    private var pendingActions: [Float] = [], pendingPositions: [Float] = []
    private var kinetics: [KineticsClipFields] = []
    private var labels: [Int32] = []
    private var attributes: [(String, HDF5AttributeValue)] = []
    private var finished = false
    private let overwrite: Bool

    public var bytesPerVideo: Int { frames * height * width * 3 }

    /// Starts a shard at `path` (its folder must exist) for videos of `frames` × `height` × `width`.
    /// `source` and `split` become root attributes; `batch` videos are buffered per HDF5 write.
    public init(path: String, frames: Int, height: Int, width: Int, kind: VideoShardKind = .plain,
                source: String, split: String, overwrite: Bool = false, batch: Int = 16) throws {
        guard frames >= 1, height >= 1, width >= 1 else {
            throw DatasetError(.invalidRequest("a shard needs frames, height and width of at least 1 "
                                               + "(got \(frames)×\(height)×\(width))"), file: path)
        }
        if case .conditioned(_, let names?) = kind, names.isEmpty {
            throw DatasetError(.invalidRequest("a labelled shard needs at least one label name"), file: path)
        }
        if !overwrite && FileManager.default.fileExists(atPath: path) {
            throw DatasetError(.cannotOpen(reason: "the output already exists (pass --overwrite to replace it)"), file: path)
        }
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw DatasetError(.cannotOpen(reason: "the folder \(folder) does not exist"), file: path)
        }
        self.path = path
        temporaryPath = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        self.frames = frames; self.height = height; self.width = width; self.kind = kind
        self.overwrite = overwrite
        batchCapacity = max(1, batch)
        do {
            file = try HDF5File.create(temporaryPath, exclusive: true)
            videos = try file.root.createDataset("videos", elementType: .uint8, shape: [0, frames, height, width, 3],
                                                 chunkShape: [1, frames, height, width, 3], growable: true)
            if kind.writesActions {
                try file.root.createDataset("actions", elementType: .float32, shape: [0, frames, 4],
                                            chunkShape: [64, frames, 4], growable: true)
                try file.root.createDataset("endeffector_positions", elementType: .float32, shape: [0, frames, 3],
                                            chunkShape: [64, frames, 3], growable: true)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: temporaryPath)
            throw DatasetError(.ioFailed(reason: "\(error)"), file: path)
        }
        pendingVideos.reserveCapacity(batchCapacity * bytesPerVideo)
        attributes = [("source", .string(source)), ("split", .string(split)),
                      ("frames", .int64(Int64(frames))), ("height", .int64(Int64(height))), ("width", .int64(Int64(width)))]
    }

    deinit {
        if !finished { abandon() }
    }

    /// Appends one video (UInt8 [T, H, W, 3]); BAIR shards (and conditioned ones with actions) also take its
    /// actions [T,4] and end-effector positions [T,3], Kinetics shards its clip fields, conditioned shards with
    /// labels its `label`.
    public func append(video: UnsafeRawBufferPointer, actions: [Float]? = nil, endEffectorPositions: [Float]? = nil,
                       clip: KineticsClipFields? = nil, label: Int? = nil) throws {
        guard !finished else { throw DatasetError(.invalidRequest("the shard is already finished"), file: path) }
        guard video.count == bytesPerVideo else {
            throw DatasetError(.invalidRequest("a video of \(video.count) bytes does not fit "
                                               + "[\(frames), \(height), \(width), 3] (\(bytesPerVideo) bytes)"), file: path)
        }
        switch kind {
        case .plain:
            guard actions == nil, endEffectorPositions == nil, clip == nil, label == nil else {
                throw DatasetError(.invalidRequest("a plain shard takes videos only"), file: path)
            }
        case .bair:
            guard let actions, let endEffectorPositions, actions.count == frames * 4,
                  endEffectorPositions.count == frames * 3, clip == nil, label == nil else {
                throw DatasetError(.invalidRequest("a BAIR shard needs \(frames)×4 actions and \(frames)×3 "
                                                   + "end-effector positions per video"), file: path)
            }
            pendingActions += actions
            pendingPositions += endEffectorPositions
        case .kinetics(let names):
            guard let clip, actions == nil, endEffectorPositions == nil, label == nil,
                  (0..<Int32(names.count)).contains(clip.label) else {
                throw DatasetError(.invalidRequest("a Kinetics shard needs the clip's fields with a label in "
                                                   + "0..<\(names.count)"), file: path)
            }
            kinetics.append(clip)
        case .conditioned(let hasActions, let names):
            if hasActions {
                guard let actions, let endEffectorPositions, actions.count == frames * 4, endEffectorPositions.count == frames * 3 else {
                    throw DatasetError(.invalidRequest("this shard needs \(frames)×4 actions and \(frames)×3 "
                                                       + "end-effector positions per video"), file: path)
                }
                pendingActions += actions
                pendingPositions += endEffectorPositions
            } else if actions != nil || endEffectorPositions != nil {
                throw DatasetError(.invalidRequest("this shard has no actions"), file: path)
            }
            guard clip == nil else { throw DatasetError(.invalidRequest("only Kinetics shards take clip fields"), file: path) }
            if let names {
                guard let label, (0..<names.count).contains(label) else {
                    throw DatasetError(.invalidRequest("this shard needs a label in 0..<\(names.count) per video"), file: path)
                }
                labels.append(Int32(label))
            } else if label != nil {
                throw DatasetError(.invalidRequest("this shard has no labels"), file: path)
            }
        }
        pendingVideos.append(contentsOf: video)
        count += 1
        if pendingVideos.count >= batchCapacity * bytesPerVideo { try flushPending() }
    }

    public func append(video: [UInt8], actions: [Float]? = nil, endEffectorPositions: [Float]? = nil,
                       clip: KineticsClipFields? = nil, label: Int? = nil) throws {
        try video.withUnsafeBytes {
            try append(video: $0, actions: actions, endEffectorPositions: endEffectorPositions, clip: clip, label: label)
        }
    }

    /// Sets an extra root attribute (written at `finish()`), e.g. `source_file`, `camera`, `skipped`.
    public func setAttribute<Value: HDF5AttributeConvertible>(_ name: String, _ value: Value) {
        attributes.removeAll { $0.0 == name }
        attributes.append((name, value.hdf5AttributeValue))
    }

    /// Writes everything still buffered and the attributes, makes the file durable and gives it its final
    /// name. Returns the number of videos.
    @discardableResult
    public func finish() throws -> Int {
        guard !finished else { return count }
        do {
            try flushPending()
            if case .kinetics(let names) = kind {
                let labels = try file.root.createDataset("labels", shape: [count], values: kinetics.map(\.label))
                try labels.setAttribute("label_names", names)
                try file.root.createDataset("youtube_ids", strings: kinetics.map(\.youtubeID))
                try file.root.createDataset("time_start", shape: [count], values: kinetics.map(\.timeStart))
                try file.root.createDataset("time_end", shape: [count], values: kinetics.map(\.timeEnd))
                try file.root.createDataset("annotation_lines", shape: [count], values: kinetics.map(\.annotationLine))
            }
            if case .conditioned(_, let names?) = kind {
                let labelSet = try file.root.createDataset("labels", shape: [count], values: labels)
                try labelSet.setAttribute("label_names", names)
            }
            var all = attributes
            all.append(("videos", .int64(Int64(count))))
            all.append(("created", .string(ISO8601DateFormatter().string(from: Date()))))
            all.append(("format_version", .int64(VideoShardFormat.version)))
            all.append(("format", .string(VideoShardFormat.name)))
            for (name, value) in all { try file.root.setAttribute(name, value) }
            try file.close()
        } catch let error as DatasetError {
            abandon()
            throw error
        } catch {
            abandon()
            throw DatasetError(.ioFailed(reason: "\(error)"), file: path)
        }
        if !overwrite && FileManager.default.fileExists(atPath: path) {
            abandon()
            throw DatasetError(.cannotOpen(reason: "the output appeared while it was being written; not replacing it"),
                               file: path)
        }
        do {
            try DurableFile.sync(temporaryPath)
            try DurableFile.rename(temporaryPath, to: path)
        } catch {
            abandon()
            throw DatasetError(.ioFailed(reason: "\(error)"), file: path)
        }
        finished = true
        return count
    }

    /// Stops writing and deletes the temporary file; nothing appears at `path`.
    public func abandon() {
        finished = true
        try? file.close()
        try? FileManager.default.removeItem(atPath: temporaryPath)
    }

    private func flushPending() throws {
        guard !pendingVideos.isEmpty else { return }
        try videos.appendRows(pendingVideos)
        pendingVideos.removeAll(keepingCapacity: true)
        if kind.writesActions {
            try file.root.dataset("actions").appendRows(pendingActions)
            try file.root.dataset("endeffector_positions").appendRows(pendingPositions)
            pendingActions.removeAll(keepingCapacity: true)
            pendingPositions.removeAll(keepingCapacity: true)
        }
    }
}

/// fsync of files and folders, and rename followed by a folder fsync: how a finished file becomes durable.
public enum DurableFile {
    /// Flushes `path` (a file or a folder) to stable storage.
    public static func sync(_ path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw DatasetError(.ioFailed(reason: "open for fsync: \(systemErrorDescription())"), file: path)
        }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw DatasetError(.ioFailed(reason: "fsync: \(systemErrorDescription())"), file: path)
        }
    }

    /// Renames `source` to `destination` (atomically replacing it) and fsyncs the destination's folder.
    public static func rename(_ source: String, to destination: String) throws {
        guard systemRename(source, destination) == 0 else {
            throw DatasetError(.ioFailed(reason: "rename from \(source): \(systemErrorDescription())"), file: destination)
        }
        try sync(URL(fileURLWithPath: destination).deletingLastPathComponent().path)
    }
}
