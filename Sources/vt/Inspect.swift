// vt inspect data PATH: what a prepared data set holds — per shard its source, split, count and shape, the
// datasets present, labels and skipped inputs; over all of it pixel statistics from a sample of videos and a
// PNG contact sheet (one row per video, frames spread over it) written with ffmpeg.
//
// `vt inspect` is a command group: `data` lives here, `checkpoint` (InspectCheckpoint) and `samples`
// (InspectSamples) beside it.

import ArgumentParser
import Datasets
import Foundation

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe prepared data, a checkpoint or a samples.h5.",
        subcommands: [InspectData.self, InspectCheckpoint.self, InspectSamples.self])
}

struct InspectData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Counts, shapes, splits, pixel statistics and a PNG contact sheet of prepared shards.")

    @Argument(help: "A shard file or a folder of shards.") var path: String
    @Option(help: "Videos sampled (evenly) for the pixel statistics.") var sample: Int = 64
    @Option(help: "Where to write the contact sheet (default: <name>.contact.png in the current folder).")
    var contactSheet: String?
    @Flag(help: "Do not write a contact sheet.") var noContactSheet = false
    @Option(help: "Videos (rows) in the contact sheet.") var rows: Int = 4
    @Option(help: "Frames (columns) per video in the contact sheet.") var columns: Int = 8

    func validate() throws {
        if sample < 1 { throw ValidationError("--sample must be at least 1 (got \(sample))") }
        if rows < 1 || columns < 1 { throw ValidationError("--rows and --columns must be at least 1") }
    }

    func run() throws {
        do {
            let files = try ShardVideoSource.shardFiles(at: path)
            let shards = try files.map { try VideoShard(path: $0) }
            var splits: [String: Int] = [:]
            for shard in shards {
                splits[shard.split, default: 0] += shard.count
                let datasets = try shard.datasetNames().joined(separator: ", ")
                print("\(shard.path)")
                print("  \(shard.source) / \(shard.split), format v\(shard.formatVersion): \(shard.count) videos × "
                      + "\(shard.frames)×\(shard.height)×\(shard.width)×3; datasets: \(datasets)")
                if let names = shard.labelNames {
                    var counts = [Int](repeating: 0, count: names.count)
                    for label in try shard.labels() where (0..<names.count).contains(Int(label)) { counts[Int(label)] += 1 }
                    print("  labels: " + zip(names, counts).map { "\($0) \($1)" }.joined(separator: ", "))
                }
                let skipped = try shard.skipped()
                if !skipped.isEmpty {
                    print("  skipped when prepared: \(skipped.count)")
                    for line in skipped.prefix(10) { print("    " + line) }
                    if skipped.count > 10 { print("    … (\(skipped.count - 10) more in the attribute 'skipped')") }
                }
            }
            let source = try ShardVideoSource(paths: files)
            print("total: \(source.summary); splits: "
                  + splits.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            let indices = ShardStatistics.sample(count: source.count, limit: sample)
            let stats = try ShardStatistics.pixels(of: source, indices: indices)
            func three(_ values: [Double]) -> String {
                zip(["R", "G", "B"], values).map { String(format: "%@ %.2f", $0, $1) }.joined(separator: "  ")
            }
            print("pixels (\(stats.videos) of \(source.count) videos): mean \(three(stats.mean)); std \(three(stats.standardDeviation)); "
                  + "min \(stats.minimum), max \(stats.maximum); mean change between frames \(String(format: "%.2f", stats.meanFrameChange))")
            guard !noContactSheet else { return }
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            let sheetPath = contactSheet ?? "\(name).contact.png"
            let chosen = ShardStatistics.sample(count: source.count, limit: rows)
            let sheet = try ShardStatistics.contactSheet(of: source, indices: chosen, columns: columns)
            try FFmpeg.writePNG(sheet.pixels, width: sheet.width, height: sheet.height, to: sheetPath)
            print("contact sheet: \(sheetPath) (\(chosen.count) videos × \(min(columns, source.frames)) frames, "
                  + "\(sheet.width)×\(sheet.height) pixels; videos \(chosen.map(String.init).joined(separator: ", ")))")
        } catch {
            throw fail(error)
        }
    }
}
