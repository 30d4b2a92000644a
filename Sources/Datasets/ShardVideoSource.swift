// ShardVideoSource: the VideoSource training and evaluation read — one or more shard files, or folders of
// them, concatenated in a fixed order into one indexable set of videos.
//
// A folder contributes every `*.h5` file below it (at any depth) whose name does not start with '.', so the
// hidden `.partial` files of an interrupted conversion are never read; files are ordered by path with
// numbers compared numerically (`traj_256_to_511` before `traj_1024_to_1279`), so the index of a video
// does not depend on the file system. Every shard must have the same frames × height × width, the same
// action width A (0 for shards without actions) and the same `label_names` (or none); a mismatch is one
// error naming the file and what differs. Reads are HDF5 block reads of just the requested frames (and
// their actions), safe from any thread (the HDF5 module serialises calls into the library); a damaged
// shard's error names the file and the video.
//
// Not here: choosing which videos and frames to read (ExampleSchedule, EvaluationSchedule), prefetching
// (ClipPrefetcher).

import Foundation

public final class ShardVideoSource: VideoSource, @unchecked Sendable {
    public let shards: [VideoShard]
    public let count: Int, frames: Int, height: Int, width: Int
    /// A of every shard's `actions` [N, T, A] (0: the shards have none).
    public let actionWidth: Int
    /// Every shard's `label_names` (nil: the shards are unlabelled).
    public let labelNames: [String]?
    /// Global index of the first video of each shard, plus the total at the end.
    private let starts: [Int]

    /// Opens every shard named by `paths` (files or folders), in the given order (folders expanded in
    /// path order). Throws if a path is missing, a file is not a shard, shapes disagree or there are no videos.
    public init(paths: [String]) throws {
        var shards: [VideoShard] = []
        for path in paths {
            for file in try Self.shardFiles(at: path) { shards.append(try VideoShard(path: file)) }
        }
        guard let first = shards.first else {
            throw DatasetError(.invalidRequest("no shards given"))
        }
        for shard in shards.dropFirst() where (shard.frames, shard.height, shard.width) != (first.frames, first.height, first.width) {
            throw DatasetError(.notAShard(reason: "its videos are \(shard.frames)×\(shard.height)×\(shard.width) but "
                                          + "\(first.path) has \(first.frames)×\(first.height)×\(first.width); "
                                          + "one data set must have one video shape"), file: shard.path)
        }
        func describe(_ shard: VideoShard) -> String {
            shard.hasActions ? "actions [N, T, \(shard.actionWidth)]" : "no actions"
        }
        for shard in shards.dropFirst() where shard.actionWidth != first.actionWidth {
            throw DatasetError(.notAShard(reason: "it has \(describe(shard)) but \(first.path) has \(describe(first)); "
                                          + "the videos of one data set carry actions of one width or none"), file: shard.path)
        }
        func describe(_ names: [String]?) -> String {
            guard let names else { return "no labels" }
            let shown = names.prefix(6).map { "'\($0)'" }.joined(separator: ", ")
            return "\(names.count) label names [\(shown)\(names.count > 6 ? ", …" : "")]"
        }
        for shard in shards.dropFirst() where shard.labelNames != first.labelNames {
            var difference = ""
            if let names = shard.labelNames, let firstNames = first.labelNames,
               let position = zip(names, firstNames).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                difference = ": class \(position) is '\(names[position])' in it and '\(firstNames[position])' in \(first.path)"
            }
            throw DatasetError(.notAShard(reason: "it has \(describe(shard.labelNames)) but \(first.path) has "
                                          + "\(describe(first.labelNames))\(difference); the videos of one data set share "
                                          + "one list of classes or have none"), file: shard.path)
        }
        var starts = [0]
        for shard in shards { starts.append(starts.last! + shard.count) }
        guard starts.last! > 0 else {
            throw DatasetError(.invalidRequest("the shards hold no videos"), file: paths.joined(separator: ", "))
        }
        self.shards = shards
        self.starts = starts
        count = starts.last!
        (frames, height, width) = (first.frames, first.height, first.width)
        actionWidth = first.actionWidth
        labelNames = first.labelNames
    }

    public convenience init(path: String) throws { try self.init(paths: [path]) }

    /// The shard files at `path`: the file itself, or every visible `*.h5` below a folder, in path order.
    public static func shardFiles(at path: String) throws -> [String] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw DatasetError(.cannotOpen(reason: "no such file or folder"), file: path)
        }
        guard isFolder.boolValue else { return [path] }
        let root = URL(fileURLWithPath: path)
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey],
                                                          options: [.skipsHiddenFiles]) else {
            throw DatasetError(.cannotOpen(reason: "cannot list the folder"), file: path)
        }
        var files: [String] = []
        for case let url as URL in walker where url.pathExtension == VideoShardFormat.fileExtension {
            guard !url.lastPathComponent.hasPrefix(".") else { continue }
            files.append(url.path)
        }
        guard !files.isEmpty else {
            throw DatasetError(.cannotOpen(reason: "the folder holds no .\(VideoShardFormat.fileExtension) shards "
                                           + "(prepare them with `vt prepare`)"), file: path)
        }
        return files.sorted { $0.compare($1, options: .numeric) == .orderedAscending }
    }

    /// The shard holding global video `index`, and the video's index inside it.
    public func locate(_ index: Int) -> (shard: VideoShard, index: Int) {
        var low = 0, high = shards.count - 1
        while low < high {   // the last shard whose start is ≤ index
            let middle = (low + high + 1) / 2
            if starts[middle] <= index { low = middle } else { high = middle - 1 }
        }
        return (shards[low], index - starts[low])
    }

    public func read(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<UInt8>) throws {
        guard (0..<count).contains(index) else {
            throw DatasetError(.invalidRequest("video \(index) is outside the \(count) videos of \(shards.count) shard(s)"))
        }
        let (shard, local) = locate(index)
        try shard.readClip(index: local, startFrame: startFrame, frameCount: frameCount, into: buffer)
    }

    public func readActions(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<Float>) throws {
        guard actionWidth > 0 else { throw noActions(index: index) }
        guard (0..<count).contains(index) else {
            throw DatasetError(.invalidRequest("video \(index) is outside the \(count) videos of \(shards.count) shard(s)"))
        }
        let (shard, local) = locate(index)
        try shard.readActions(index: local, startFrame: startFrame, frameCount: frameCount, into: buffer)
    }

    public func label(index: Int) throws -> Int {
        guard labelNames != nil else { throw noLabels(index: index) }
        guard (0..<count).contains(index) else {
            throw DatasetError(.invalidRequest("video \(index) is outside the \(count) videos of \(shards.count) shard(s)"))
        }
        let (shard, local) = locate(index)
        return try shard.label(local)
    }

    /// "3 shards, 768 videos of 30×64×64 (bair, train)": one line for logs.
    public var summary: String {
        let sources = Set(shards.map(\.source)).sorted().joined(separator: "+")
        let splits = Set(shards.map(\.split)).sorted().joined(separator: "+")
        var conditioning = ""
        if actionWidth > 0 { conditioning += ", actions ×\(actionWidth)" }
        if let labelNames { conditioning += ", \(labelNames.count) classes" }
        return "\(shards.count) shard\(shards.count == 1 ? "" : "s"), \(count) videos of \(frames)×\(height)×\(width) "
            + "(\(sources), \(splits)\(conditioning))"
    }
}
