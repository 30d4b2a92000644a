// VideoShard: reading the prepared HDF5 shards of docs/design.md §3, the files training and evaluation read.
//
// Layout (written by VideoShardWriter, checked here on open):
//     videos                 UInt8   [N, T, H, W, 3]   chunked one video per chunk
//     actions                Float32 [N, T, A]         BAIR (A = 4), synthetic --actions (A = 4); row t: the
//                                                      action taken at frame t; A is read from the shape
//     endeffector_positions  Float32 [N, T, 3]         with actions only (BAIR, synthetic --actions)
//     labels                 Int32   [N]               Kinetics, synthetic --classes; attribute `label_names`
//     youtube_ids            UTF-8 strings [N]         Kinetics only (variable length)
//     time_start, time_end   Int32   [N]               Kinetics only: the clip's window in its YouTube video
//     annotation_lines       Int32   [N]               Kinetics only: the clip's line in the annotation CSV
//     root attributes        format = "video-shard", format_version, source, split (+ what the writer adds:
//                            frames, height, width, created, source_file, skipped, ...)
//
// Every problem — not HDF5, HDF5 but not a shard (e.g. a checkpoint), a newer format version, a missing or
// mis-shaped dataset — is one DatasetError naming the file and what is wrong.
//
// Not here: writing (VideoShardWriter), the multi-file loader (ShardVideoSource).

import Foundation
import HDF5

/// The constants of the shard format.
public enum VideoShardFormat {
    /// The root attribute `format` of every shard.
    public static let name = "video-shard"
    /// The root attribute `format_version` this code writes and the newest it reads.
    public static let version: Int64 = 1
    /// The file extension of shards; a folder is searched for files with it.
    public static let fileExtension = "h5"
    /// The widest action a shard may hold (A of `actions` [N, T, A]); BAIR's is 4. Like the video size, the
    /// width comes from the file and sizes the loader's buffers, so a damaged shape is refused on open.
    public static let maximumActionWidth = 1024
    /// The largest video (T × H × W × 3 bytes) a shard may hold: 1 GiB, thousands of times the paper's 16×64×64
    /// clips. Sizes come from the file, so they are checked before anything is allocated from them.
    public static let maximumVideoBytes = 1 << 30
}

/// One open shard file: its shape and metadata, and row reads of its videos and per-video data.
/// Immutable after opening; every read goes through the HDF5 module's lock, so it is safe to share
/// between the training thread and a loader thread.
public final class VideoShard: @unchecked Sendable {
    public let path: String
    /// N, T, H, W of `videos`.
    public let count: Int, frames: Int, height: Int, width: Int
    /// Root attributes `source` ("bair", "kinetics", "synthetic", ...) and `split` ("train", "test", ...).
    public let source: String, split: String
    public let formatVersion: Int
    /// Width A of `actions` [N, T, A] (BAIR: 4), 0 when the shard has no actions.
    public let actionWidth: Int
    /// Whether the shard has `actions` (BAIR, synthetic --actions).
    public var hasActions: Bool { actionWidth > 0 }
    /// Whether the shard has `endeffector_positions` [N, T, 3] (only with actions).
    public let hasEndEffectorPositions: Bool
    /// The class names of a labelled shard (attribute `label_names` of `labels`: Kinetics, synthetic
    /// --classes), nil without labels.
    public let labelNames: [String]?
    let file: HDF5File
    let videos: HDF5Dataset

    public var bytesPerFrame: Int { height * width * 3 }
    public var bytesPerVideo: Int { frames * bytesPerFrame }

    /// Opens and validates the shard at `path`.
    public init(path: String) throws {
        func invalid(_ reason: String) -> DatasetError { DatasetError(.notAShard(reason: reason), file: path) }
        self.path = path
        do {
            file = try HDF5File.open(path)
        } catch let error as HDF5Error {
            switch error.kind {
            case .notFound: throw DatasetError(.cannotOpen(reason: "no such file"), file: path)
            case .notHDF5File:
                throw invalid("not an HDF5 file, so not a video shard (prepare shards with `vt prepare bair|kinetics|synthetic`)")
            default: throw DatasetError(.cannotOpen(reason: error.description), file: path)
            }
        }
        let root = file.root
        guard try root.hasAttribute("format") else {
            throw invalid("an HDF5 file, but not a video shard: it has no root attribute 'format' "
                          + "(expected '\(VideoShardFormat.name)'; prepare shards with `vt prepare`)")
        }
        guard let format = try? root.attribute("format", as: String.self), format == VideoShardFormat.name else {
            let found = (try? root.attribute("format", as: String.self)).map { "'\($0)'" } ?? "a non-string value"
            throw invalid("an HDF5 file, but not a video shard: root attribute 'format' is \(found), "
                          + "expected '\(VideoShardFormat.name)'")
        }
        guard let version = try? root.attribute("format_version", as: Int64.self) else {
            throw invalid("root attribute 'format_version' is missing or not an integer")
        }
        guard version >= 1, version <= VideoShardFormat.version else {
            throw invalid("format_version \(version) is not one this vt reads (1...\(VideoShardFormat.version)); "
                          + "a newer vt wrote it")
        }
        formatVersion = Int(version)
        source = (try? root.attribute("source", as: String.self)) ?? "unknown"
        split = (try? root.attribute("split", as: String.self)) ?? "unknown"

        guard try root.kind(of: "videos") == .dataset else { throw invalid("the dataset 'videos' is missing") }
        videos = try root.dataset("videos")
        guard try !videos.holdsStrings(), try videos.elementType() == .uint8 else {
            throw invalid("'videos' must hold UInt8 pixels")
        }
        let shape = try videos.shape()
        guard shape.count == 5, shape[4] == 3, shape[1] >= 1, shape[2] >= 1, shape[3] >= 1 else {
            throw invalid("'videos' has shape \(shape), expected [N, T, H, W, 3]")
        }
        (count, frames, height, width) = (shape[0], shape[1], shape[2], shape[3])
        // Reads allocate from these sizes; refuse shapes no shard has before a read tries (a damaged file can
        // claim any shape, and HDF5 reads chunks that were never written as zeros).
        var videoBytes = 3, tooLarge = false
        for size in [frames, height, width] {
            let (product, overflow) = videoBytes.multipliedReportingOverflow(by: size)
            tooLarge = tooLarge || overflow || product > VideoShardFormat.maximumVideoBytes
            videoBytes = product
        }
        guard !tooLarge else {
            throw invalid("'videos' has shape \(shape): a video of \(frames)×\(height)×\(width)×3 bytes is over the limit "
                          + "of \(VideoShardFormat.maximumVideoBytes >> 30) GiB per video (damaged metadata?)")
        }
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard count <= fileBytes else {
            throw invalid("'videos' has shape \(shape): \(count) videos cannot be stored in a file of \(fileBytes) bytes "
                          + "(damaged metadata, or videos that were never written)")
        }

        func check(_ name: String, _ type: HDF5ElementType?, _ expected: [Int]) throws -> Bool {
            guard try root.kind(of: name) != nil else { return false }
            guard try root.kind(of: name) == .dataset else { throw invalid("'\(name)' is a group, expected a dataset") }
            let dataset = try root.dataset(name)
            let found = try dataset.shape()
            if let type {
                guard try !dataset.holdsStrings(), try dataset.elementType() == type else {
                    throw invalid("'\(name)' must hold \(type) values")
                }
            } else if try !dataset.holdsStrings() {
                throw invalid("'\(name)' must hold strings")
            }
            guard found == expected else { throw invalid("'\(name)' has shape \(found), expected \(expected)") }
            return true
        }
        // actions [N, T, A]: A from the file, within limits, so that a lying shape cannot size the loader's buffers.
        var width = 0
        if try root.kind(of: "actions") == .dataset {
            let found = try root.dataset("actions").shape()
            guard found.count == 3, (1...VideoShardFormat.maximumActionWidth).contains(found[2]) else {
                throw invalid("'actions' has shape \(found), expected [\(count), \(frames), A] with A in "
                              + "1...\(VideoShardFormat.maximumActionWidth)")
            }
            width = found[2]
            _ = try check("actions", .float32, [count, frames, width])
        } else {
            _ = try check("actions", .float32, [count, frames, 4])   // a group named 'actions': refused
        }
        actionWidth = width
        hasEndEffectorPositions = try check("endeffector_positions", .float32, [count, frames, 3])
        guard !hasEndEffectorPositions || width > 0 else {
            throw invalid("'endeffector_positions' without 'actions': the positions are the actions' result, "
                          + "so a shard has both or only 'actions'")
        }
        if try check("labels", .int32, [count]) {
            let labels = try root.dataset("labels")
            guard let names = try? labels.attribute("label_names", as: [String].self) else {
                throw invalid("'labels' has no string attribute 'label_names'")
            }
            guard !names.isEmpty || count == 0 else {
                throw invalid("'labels' has an empty 'label_names': no class a video could have")
            }
            labelNames = names
        } else {
            labelNames = nil
        }
        _ = try check("youtube_ids", nil, [count])
        for name in ["time_start", "time_end", "annotation_lines"] { _ = try check(name, .int32, [count]) }
    }

    /// Copies frames `startFrame ..< startFrame + frameCount` of video `index` into `buffer`
    /// (UInt8 [frameCount, H, W, 3]); reads only those frames.
    public func readClip(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<UInt8>) throws {
        guard (0..<count).contains(index), startFrame >= 0, frameCount >= 0, startFrame + frameCount <= frames else {
            throw DatasetError(.invalidRequest("video \(index) frames \(startFrame)..<\(startFrame + frameCount) is outside "
                                               + "\(count) videos × \(frames) frames"), file: path)
        }
        try videos.readBlock(start: [index, startFrame, 0, 0, 0], count: [1, frameCount, height, width, 3],
                             into: UnsafeMutableRawBufferPointer(start: buffer, count: frameCount * bytesPerFrame))
    }

    /// Video `index`, UInt8 [T, H, W, 3].
    public func video(_ index: Int) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: bytesPerVideo) { buffer, initialised in
            try readClip(index: index, startFrame: 0, frameCount: frames, into: buffer.baseAddress!)
            initialised = bytesPerVideo
        }
    }

    /// Float32 [T, A] actions of video `index` (BAIR and synthetic --actions shards).
    public func actions(_ index: Int) throws -> [Float] {
        guard hasActions else { throw DatasetError(.notAShard(reason: "this shard has no 'actions'"), file: path) }
        return try [Float](unsafeUninitializedCapacity: frames * actionWidth) { buffer, initialised in
            try readActions(index: index, startFrame: 0, frameCount: frames, into: buffer.baseAddress!)
            initialised = frames * actionWidth
        }
    }

    /// Float32 [T, 3] end-effector positions of video `index` (BAIR and synthetic --actions shards).
    public func endEffectorPositions(_ index: Int) throws -> [Float] {
        guard hasEndEffectorPositions else {
            throw DatasetError(.notAShard(reason: "this shard has no 'endeffector_positions'"), file: path)
        }
        guard (0..<count).contains(index) else {
            throw DatasetError(.invalidRequest("video \(index) is outside the shard's \(count) videos"), file: path)
        }
        do {
            return try file.root.dataset("endeffector_positions").readRows(index..<index + 1, as: Float.self)
        } catch {
            throw DatasetError(.ioFailed(reason: "video \(index): reading 'endeffector_positions': \(error)"), file: path)
        }
    }

    /// Copies the actions of frames `startFrame ..< startFrame + frameCount` of video `index` into `buffer`
    /// (Float32 [frameCount, A]; row t: the action taken at frame startFrame + t); reads only those rows. A
    /// non-finite action is an error naming the video and frame: a damaged file never reaches the model.
    public func readActions(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<Float>) throws {
        guard hasActions else { throw DatasetError(.notAShard(reason: "this shard has no 'actions'"), file: path) }
        guard (0..<count).contains(index), startFrame >= 0, frameCount >= 0, startFrame <= frames - frameCount else {
            throw DatasetError(.invalidRequest("the actions of video \(index) frames \(startFrame)..<\(startFrame + frameCount) "
                                               + "are outside \(count) videos × \(frames) frames"), file: path)
        }
        let values = frameCount * actionWidth
        do {
            try file.root.dataset("actions").readBlock(
                start: [index, startFrame, 0], count: [1, frameCount, actionWidth],
                into: UnsafeMutableRawBufferPointer(start: buffer, count: values * MemoryLayout<Float>.stride))
        } catch {
            throw DatasetError(.ioFailed(reason: "video \(index): reading 'actions': \(error)"), file: path)
        }
        for offset in 0..<values where !buffer[offset].isFinite {
            throw DatasetError(.notAShard(reason: "video \(index): 'actions' frame \(startFrame + offset / actionWidth) "
                                          + "holds \(buffer[offset]) (damaged data?)"), file: path)
        }
    }

    /// The class of video `index`, checked against `label_names` (Kinetics and synthetic --classes shards).
    public func label(_ index: Int) throws -> Int {
        guard let labelNames else { throw DatasetError(.notAShard(reason: "this shard has no 'labels'"), file: path) }
        guard (0..<count).contains(index) else {
            throw DatasetError(.invalidRequest("video \(index) is outside the shard's \(count) videos"), file: path)
        }
        let value: Int32
        do {
            value = try file.root.dataset("labels").readRows(index..<index + 1, as: Int32.self)[0]
        } catch {
            throw DatasetError(.ioFailed(reason: "video \(index): reading 'labels': \(error)"), file: path)
        }
        guard (0..<labelNames.count).contains(Int(value)) else {
            throw DatasetError(.notAShard(reason: "video \(index): label \(value) is outside the \(labelNames.count) "
                                          + "classes of 'label_names' (damaged data?)"), file: path)
        }
        return Int(value)
    }

    /// The class index of every video (Kinetics shards).
    public func labels() throws -> [Int32] { try file.root.dataset("labels").read(as: Int32.self) }
    /// The YouTube id of every video (Kinetics shards).
    public func youtubeIDs() throws -> [String] { try file.root.dataset("youtube_ids").readStrings() }
    /// An Int32 [N] column: `labels`, `time_start`, `time_end`, `annotation_lines` (Kinetics shards).
    public func integers(_ name: String) throws -> [Int32] { try file.root.dataset(name).read(as: Int32.self) }
    /// The names of the shard's datasets, e.g. ["actions", "endeffector_positions", "videos"].
    public func datasetNames() throws -> [String] { try file.root.datasetPaths().map { String($0.dropFirst()) } }
    /// Every root attribute by name.
    public func attributes() throws -> [String: HDF5AttributeValue] {
        var values: [String: HDF5AttributeValue] = [:]
        for name in try file.root.attributeNames() { values[name] = try file.root.attribute(name) }
        return values
    }
    /// The report of skipped inputs the writer stored (root attribute `skipped`), empty if none.
    public func skipped() throws -> [String] {
        try file.root.hasAttribute("skipped") ? try file.root.attribute("skipped", as: [String].self) : []
    }
}
