// KineticsConversion: annotation CSV + clip folder → one Kinetics shard (layout in VideoShard.swift).
//
// The selected clips (the class subset, in CSV order) are found, decoded by ffmpeg `jobs` at a time, and
// written in CSV order; labels index `label_names` (the class list's order, or all labels sorted).
// Missing and undecodable clips are skipped and listed — in the returned report and in the shard's root
// attribute `skipped` (one line each: CSV line, label, clip name, reason) — never silently.
//
// Several processes (MPI ranks) can each convert every D-th clip into a part file (`convert(...,
// part:)`); `merge` then joins the parts into the one shard, ordered by CSV line, so the result is the
// same file whatever the number of ranks.
//
// Not here: the command line, MPI itself (vt prepare kinetics).

import Foundation

public struct KineticsSelection: Sendable {
    /// The clips to convert, in CSV order.
    public var clips: [KineticsClip]
    /// Class names; a clip's label index is its label's position here.
    public var labelNames: [String]
    /// The shard's `split` attribute: the CSV's split value(s), "+"-joined, or "unknown".
    public var split: String

    /// Chooses the clips of `classes` (all labels, sorted, when nil). A class the file never mentions is an
    /// error (a typo would otherwise silently drop a class).
    public init(annotations: KineticsAnnotations, classes: [String]?) throws {
        let present = Set(annotations.clips.map(\.label))
        if let classes {
            for name in classes where !present.contains(name) {
                throw DatasetError(.invalidRequest("the class '\(name)' does not occur in the annotations "
                                                   + "(labels there include: \(present.sorted().prefix(5).joined(separator: ", "))…)"),
                                   file: annotations.path)
            }
            labelNames = classes
        } else {
            labelNames = present.sorted()
        }
        let wanted = Set(labelNames)
        clips = annotations.clips.filter { wanted.contains($0.label) }
        guard !clips.isEmpty else {
            throw DatasetError(.invalidRequest("no clips are selected"), file: annotations.path)
        }
        let splits = Set(clips.compactMap(\.split)).sorted()
        split = splits.isEmpty ? "unknown" : splits.joined(separator: "+")
    }

    public func labelIndex(of clip: KineticsClip) -> Int32 { Int32(labelNames.firstIndex(of: clip.label)!) }
}

public struct KineticsReport: Sendable {
    /// Clips written.
    public var written: Int
    /// One line per skipped clip: "line L (label, name): reason".
    public var skipped: [String]

    public init(written: Int, skipped: [String]) { self.written = written; self.skipped = skipped }
}

public enum KineticsConversion {
    /// Converts the clips at `indices` of `selection` (all when nil) into a shard at `output`.
    /// `progress(done, total)` is called after each clip. With `strict`, any missing or undecodable clip is an
    /// error (listing them all) and nothing is written; unless `allowEmpty` (a rank's part may be empty), so is
    /// a conversion in which no clip could be read.
    public static func convert(_ selection: KineticsSelection, indices: [Int]? = nil, finder: KineticsClipFinder,
                               options: KineticsDecodeOptions, output: String, overwrite: Bool = false,
                               jobs: Int = ProcessInfo.processInfo.activeProcessorCount, strict: Bool = false,
                               allowEmpty: Bool = false, annotationsPath: String = "annotations",
                               attributes: [(String, String)] = [],
                               progress: (Int, Int) -> Void = { _, _ in }) throws -> KineticsReport {
        guard options.frames >= 1, options.size >= 1 else {
            throw DatasetError(.invalidRequest("--frames and --size must be at least 1"))
        }
        if let fps = options.framesPerSecond, !(fps > 0) {
            throw DatasetError(.invalidRequest("--fps must be positive (got \(fps))"))
        }
        _ = try FFmpeg.executable()
        let chosen = indices ?? Array(selection.clips.indices)
        let writer = try VideoShardWriter(path: output, frames: options.frames, height: options.size, width: options.size,
                                          kind: .kinetics(labelNames: selection.labelNames), source: "kinetics",
                                          split: selection.split, overwrite: overwrite, batch: 8)
        var skipped: [String] = []
        let window = max(1, jobs) * 2
        var done = 0
        for windowStart in stride(from: 0, to: chosen.count, by: window) {
            let part = Array(chosen[windowStart..<min(windowStart + window, chosen.count)])
            final class Results: @unchecked Sendable {
                var values: [Result<[UInt8], Error>?]
                init(count: Int) { values = Array(repeating: nil, count: count) }
            }
            let results = Results(count: part.count)
            let lock = NSLock()
            let workers = min(max(1, jobs), part.count)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                for slot in stride(from: worker, to: part.count, by: workers) {
                    let clip = selection.clips[part[slot]]
                    let result: Result<[UInt8], Error>
                    if let path = finder.path(of: clip) {
                        result = Result { try KineticsClipDecoder.decode(path, options: options) }
                    } else {
                        result = .failure(DatasetError(.undecodableClip(reason: "missing: " + finder.searchDescription(of: clip))))
                    }
                    lock.lock(); results.values[slot] = result; lock.unlock()
                }
            }
            for (slot, index) in part.enumerated() {
                let clip = selection.clips[index]
                switch results.values[slot]! {
                case .success(let pixels):
                    try writer.append(video: pixels, clip: KineticsClipFields(
                        label: selection.labelIndex(of: clip), youtubeID: clip.youtubeID, timeStart: Int32(clip.timeStart),
                        timeEnd: Int32(clip.timeEnd), annotationLine: Int32(clip.line)))
                case .failure(let error):
                    let reason = (error as? DatasetError).map { $0.file == nil ? $0.problemDescription : $0.description } ?? "\(error)"
                    skipped.append("line \(clip.line) (\(clip.label), \(clip.baseName)): \(reason)")
                }
                done += 1
                progress(done, chosen.count)
            }
        }
        if strict && !skipped.isEmpty || writer.count == 0 && !allowEmpty {
            writer.abandon()
            let what = writer.count == 0 ? "none of the \(chosen.count) selected clips could be read"
                                         : "\(skipped.count) of \(chosen.count) selected clips are missing or undecodable"
            throw DatasetError(.undecodableClip(reason: what + (strict ? " (--strict: nothing written)" : "") + ":\n  "
                                                + skipped.joined(separator: "\n  ")), file: annotationsPath)
        }
        for (name, value) in attributes { writer.setAttribute(name, value) }
        writer.setAttribute("skipped", skipped)
        writer.setAttribute("frame_rate", options.framesPerSecond.map { "\($0)" } ?? "native")
        writer.setAttribute("size", options.size)
        let written = try writer.finish()
        return KineticsReport(written: written, skipped: skipped)
    }

    /// Joins part shards (same shape and class names) into one shard at `output`, ordered by CSV line; the
    /// skipped lists are joined too. The parts are left in place (the caller removes them).
    public static func merge(parts: [String], into output: String, overwrite: Bool = false,
                             attributes: [(String, String)] = []) throws -> KineticsReport {
        let shards = try parts.map { try VideoShard(path: $0) }
        guard let first = shards.first, let names = first.labelNames else {
            throw DatasetError(.invalidRequest("no Kinetics part shards to merge"))
        }
        var entries: [(line: Int32, shard: Int, index: Int)] = []
        var skipped: [(Int, String)] = []
        var columns: [[KineticsClipFields]] = []
        for (s, shard) in shards.enumerated() {
            guard shard.labelNames == names, (shard.frames, shard.height, shard.width) == (first.frames, first.height, first.width) else {
                throw DatasetError(.notAShard(reason: "this part does not match \(first.path) (shape or class names)"), file: shard.path)
            }
            let root = shard.file.root
            let labels = try shard.labels(), ids = try shard.youtubeIDs()
            let starts = try root.dataset("time_start").read(as: Int32.self)
            let ends = try root.dataset("time_end").read(as: Int32.self)
            let lines = try root.dataset("annotation_lines").read(as: Int32.self)
            columns.append((0..<shard.count).map {
                KineticsClipFields(label: labels[$0], youtubeID: ids[$0], timeStart: starts[$0], timeEnd: ends[$0],
                                   annotationLine: lines[$0])
            })
            for index in 0..<shard.count { entries.append((lines[index], s, index)) }
            for line in try shard.skipped() {
                // "line L (...)": order the report by CSV line too.
                let number = Int(line.dropFirst(5).prefix { $0.isNumber }) ?? Int.max
                skipped.append((number, line))
            }
        }
        entries.sort { ($0.line, $0.shard, $0.index) < ($1.line, $1.shard, $1.index) }
        let writer = try VideoShardWriter(path: output, frames: first.frames, height: first.height, width: first.width,
                                          kind: .kinetics(labelNames: names), source: "kinetics", split: first.split,
                                          overwrite: overwrite, batch: 8)
        for entry in entries {
            let pixels = try shards[entry.shard].video(entry.index)
            try writer.append(video: pixels, clip: columns[entry.shard][entry.index])
        }
        guard !entries.isEmpty else {
            throw DatasetError(.undecodableClip(reason: "none of the selected clips could be read:\n  "
                                                + skipped.sorted { $0.0 < $1.0 }.map(\.1).joined(separator: "\n  ")),
                               file: output)
        }
        let report = skipped.sorted { $0.0 < $1.0 }.map(\.1)
        for name in ["frame_rate", "size", "annotations", "videos_folder"] {
            if let value = try first.attributes()[name] { writer.setAttribute(name, value) }
        }
        for (name, value) in attributes { writer.setAttribute(name, value) }
        writer.setAttribute("skipped", report)
        return KineticsReport(written: try writer.finish(), skipped: report)
    }
}
