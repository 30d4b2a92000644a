// ShardVideoSource: the VideoSource training and evaluation read — one or more shard files, or folders of
// them, concatenated in a fixed order into one indexable set of videos.
//
// A folder contributes every `*.h5` file below it (at any depth) whose name does not start with '.', so the
// hidden `.partial` files of an interrupted conversion are never read; files are ordered by path with
// numbers compared numerically (`traj_256_to_511` before `traj_1024_to_1279`), so the index of a video
// does not depend on the file system. Every shard must have the same frames × height × width; a
// mismatch names both files. Reads are HDF5 block reads of just the requested frames, safe from any
// thread (the HDF5 module serialises calls into the library).
//
// Not here: choosing which videos and frames to read (ExampleSchedule, EvaluationSchedule), prefetching
// (ClipPrefetcher).

import Foundation

public final class ShardVideoSource: VideoSource, @unchecked Sendable {
    public let shards: [VideoShard]
    public let count: Int, frames: Int, height: Int, width: Int
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
        var starts = [0]
        for shard in shards { starts.append(starts.last! + shard.count) }
        guard starts.last! > 0 else {
            throw DatasetError(.invalidRequest("the shards hold no videos"), file: paths.joined(separator: ", "))
        }
        self.shards = shards
        self.starts = starts
        count = starts.last!
        (frames, height, width) = (first.frames, first.height, first.width)
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

    /// "3 shards, 768 videos of 30×64×64 (bair, train)": one line for logs.
    public var summary: String {
        let sources = Set(shards.map(\.source)).sorted().joined(separator: "+")
        let splits = Set(shards.map(\.split)).sorted().joined(separator: "+")
        return "\(shards.count) shard\(shards.count == 1 ? "" : "s"), \(count) videos of \(frames)×\(height)×\(width) "
            + "(\(sources), \(splits))"
    }
}
