// BAIRConversion: BAIR robot-pushing TFRecords (`softmotion30_44k/{train,test}/traj_A_to_B.tfrecords`)
// → shards, one per TFRecord file, mirroring the folders: `OUT/train/traj_A_to_B.h5`, records in file order.
//
// Each shard holds `videos` UInt8 [N,T,64,64,3] (one camera), `actions` [N,T,4], `endeffector_positions`
// [N,T,3], root attributes `source = "bair"`, `split` (the folder name), `camera`, `source_file`. Pixels are
// copied byte for byte from the records (BAIR images are raw RGB, nothing is decoded).
//
// Bad input: the first bad record (truncated, bad length or data CRC, missing key, wrong byte count) stops
// the file with its DatasetError (file, record index, byte offset) and no output appears. With
// `skipCorrupt` it is skipped and listed instead (attribute `skipped`): a record with a bad data CRC or a
// bad Example is stepped over; after a truncated record or a bad length CRC the rest of the file cannot be
// framed, so it is skipped as a whole.
//
// Not here: the command line and the split of files across MPI ranks (vt prepare bair).

import Foundation

public struct BAIRConversionOptions: Sendable {
    public var frames: Int
    public var camera: BAIRCamera
    public var skipCorrupt: Bool
    public var overwrite: Bool

    public init(frames: Int = BAIRVideo.framesPerRecord, camera: BAIRCamera = .aux1, skipCorrupt: Bool = false,
                overwrite: Bool = false) {
        self.frames = frames; self.camera = camera; self.skipCorrupt = skipCorrupt; self.overwrite = overwrite
    }
}

/// One TFRecord file to convert: where it is, which split folder it is in, where its shard goes.
public struct BAIRSourceFile: Sendable, Equatable {
    public var path: String
    /// The folder below the corpus root ("train", "test"), "" for files directly in the root.
    public var split: String
    /// The shard's path: OUT/split/NAME.h5.
    public var output: String
}

public struct BAIRConversionResult: Sendable {
    public var file: BAIRSourceFile
    public var videos: Int
    /// One line per skipped record (or skipped rest of file), each naming file, record and offset.
    public var skipped: [String]
    public var seconds: Double
    /// False if nothing readable was left (with `skipCorrupt`), so no shard was written.
    public var wroteShard: Bool
}

public enum BAIRConversion {
    /// The TFRecord files of a `softmotion30_44k` folder (or of a folder containing one), each with its
    /// split and output path under `output`, ordered by path (numbers compared numerically).
    public static func sourceFiles(in directory: String, output: String) throws -> [BAIRSourceFile] {
        var root = URL(fileURLWithPath: directory)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw DatasetError(.cannotOpen(reason: "no such folder (expected a softmotion30_44k folder or its parent)"),
                               file: directory)
        }
        let nested = root.appendingPathComponent("softmotion30_44k")
        if FileManager.default.fileExists(atPath: nested.path, isDirectory: &isFolder), isFolder.boolValue { root = nested }
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil,
                                                          options: [.skipsHiddenFiles]) else {
            throw DatasetError(.cannotOpen(reason: "cannot list the folder"), file: root.path)
        }
        let rootComponents = root.standardizedFileURL.pathComponents
        var files: [BAIRSourceFile] = []
        for case let url as URL in walker where url.pathExtension == "tfrecords" {
            let components = url.standardizedFileURL.pathComponents
            let relative = Array(components.dropFirst(rootComponents.count))
            let folders = relative.dropLast()
            let name = url.deletingPathExtension().lastPathComponent + ".h5"
            let out = URL(fileURLWithPath: output).appendingPathComponent((folders + [name]).joined(separator: "/")).path
            files.append(BAIRSourceFile(path: url.path, split: folders.joined(separator: "/"), output: out))
        }
        guard !files.isEmpty else {
            throw DatasetError(.cannotOpen(reason: "no .tfrecords files below this folder "
                                           + "(expected softmotion30_44k/{train,test}/traj_A_to_B.tfrecords)"),
                               file: root.path)
        }
        return files.sorted { $0.path.compare($1.path, options: .numeric) == .orderedAscending }
    }

    /// Converts one TFRecord file into its shard (creating the output folder).
    public static func convert(_ source: BAIRSourceFile, options: BAIRConversionOptions) throws -> BAIRConversionResult {
        let start = Date()
        guard options.frames >= 1 else {
            throw DatasetError(.invalidRequest("--frames must be at least 1 (got \(options.frames))"))
        }
        let folder = URL(fileURLWithPath: source.output).deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw DatasetError(.cannotOpen(reason: "cannot create the output folder: \(error.localizedDescription)"),
                               file: folder.path)
        }
        let records = try TFRecordReader(path: source.path)
        let writer = try VideoShardWriter(path: source.output, frames: options.frames, height: BAIRVideo.height,
                                          width: BAIRVideo.width, kind: .bair, source: "bair",
                                          split: source.split.isEmpty ? "all" : source.split, overwrite: options.overwrite)
        var skipped: [String] = []
        reading: while true {
            let record: TFRecord
            do {
                guard let next = try records.next() else { break }
                record = next
            } catch let error as DatasetError {
                guard options.skipCorrupt else { throw error }
                switch error.problem {
                case .badDataCRC:
                    // The header (and so the length) is sound: step over this record.
                    let offset = records.nextOffset
                    guard let length = try? records.readHeader(at: offset) else {
                        skipped.append("\(error) — the rest of the file is skipped")
                        break reading
                    }
                    skipped.append(error.description)
                    records.seek(toRecord: records.nextIndex + 1, offset: offset + TFRecord.framingBytes + Int(length))
                    continue reading
                default:
                    skipped.append("\(error) — the rest of the file is skipped (its records cannot be framed)")
                    break reading
                }
            }
            let video: BAIRVideo
            do {
                video = try BAIRVideo(record: record, file: source.path, frames: options.frames, camera: options.camera)
            } catch let error as DatasetError {
                guard options.skipCorrupt else { throw error }
                skipped.append(error.description)
                continue
            }
            try writer.append(video: video.pixels, actions: video.actions, endEffectorPositions: video.endEffectorPositions)
        }
        let seconds = { Date().timeIntervalSince(start) }
        guard writer.count > 0 else {
            writer.abandon()
            if skipped.isEmpty {
                throw DatasetError(.invalidRequest("the file holds no records"), file: source.path)
            }
            return BAIRConversionResult(file: source, videos: 0, skipped: skipped, seconds: seconds(), wroteShard: false)
        }
        writer.setAttribute("camera", options.camera.rawValue)
        writer.setAttribute("source_file", source.path)
        writer.setAttribute("skipped", skipped)
        let videos = try writer.finish()
        return BAIRConversionResult(file: source, videos: videos, skipped: skipped, seconds: seconds(), wroteShard: true)
    }
}
