// Kinetics through ffmpeg, on tiny lossless clips made here from known frames: exact pixels for an unscaled
// clip and a centre crop, the mean of each 2×2 block for an area downsample, missing / broken / short clips
// skipped and reported, per-rank parts merged into the same shard as one process writes. The annotation CSV
// and finding clips: DatasetsTests/KineticsTests.swift.

import Datasets
import Foundation
import Testing
import VTTestSupport

/// Frame t of a test clip, UInt8 [height, width, 3]; `block` makes the value constant over block×block squares.
private func pattern(t: Int, width: Int, height: Int, block: Int = 1, seed: Int = 0) -> [UInt8] {
    var pixels: [UInt8] = []
    pixels.reserveCapacity(width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            let by = y / block, bx = x / block
            let red: Int = (bx * 9 + t * 5 + seed) % 256
            let green: Int = (by * 11 + seed * 3) % 256
            let blue: Int = (bx * 3 + by * 7 + t * 13) % 256
            pixels.append(UInt8(red)); pixels.append(UInt8(green)); pixels.append(UInt8(blue))
        }
    }
    return pixels
}

/// Encodes frames losslessly (H.264 RGB, qp 0) into an mp4 at `path`.
private func makeClip(_ path: String, width: Int, height: Int, frames: Int, block: Int = 1, seed: Int = 0) throws {
    let raw = (0..<frames).flatMap { pattern(t: $0, width: width, height: height, block: block, seed: seed) }
    let result = try FFmpeg.run(["-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "\(width)x\(height)",
                                 "-r", "25", "-i", "-", "-c:v", "libx264rgb", "-qp", "0", "-preset", "ultrafast", path],
                                input: Data(raw))
    #expect(result.status == 0, "ffmpeg: \(result.standardError)")
}

private func crop(_ frame: [UInt8], width: Int, x0: Int, y0: Int, size: Int) -> [UInt8] {
    var out: [UInt8] = []
    for y in y0..<(y0 + size) {
        let start: Int = (y * width + x0) * 3
        out.append(contentsOf: frame[start..<(start + size * 3)])
    }
    return out
}

@Suite(.needs(.ffmpeg))
struct KineticsPipelineTests {
    init() throws { try requireTools(.ffmpeg) }

    /// Clips and CSV in a fresh folder: rows 2–8 of the CSV; rows 6 (missing), 7 (broken) and 8 (short) fail.
    private func makeCorpus() throws -> (root: URL, table: KineticsAnnotations) {
        let root = try temporaryDirectory("kinetics")
        let videos = root.appendingPathComponent("videos")
        let pizza = videos.appendingPathComponent("making pizza")
        try FileManager.default.createDirectory(at: pizza, withIntermediateDirectories: true)
        try makeClip(videos.appendingPathComponent("-IgP_58waM-_000014_000024.mp4").path, width: 16, height: 16, frames: 10)
        try makeClip(videos.appendingPathComponent("idNo_CDBwb2_000001_000011.mp4").path, width: 24, height: 16, frames: 10, seed: 1)
        try makeClip(pizza.appendingPathComponent("k_yE9fz1Wuv_000002_000012.mp4").path, width: 16, height: 24, frames: 10, seed: 2)
        try makeClip(pizza.appendingPathComponent("sdc6lC1MXlP_000003_000013.mp4").path, width: 32, height: 32, frames: 10, block: 2, seed: 3)
        try Data("this is not an mp4 file".utf8).write(to: videos.appendingPathComponent("t6iAxQa2H9u_000005_000015.mp4"))
        try makeClip(videos.appendingPathComponent("v-D8FnyVVdB_000006_000016.mp4").path, width: 16, height: 16, frames: 3)
        let csv = """
            label,youtube_id,time_start,time_end,split
            baking cookies,-IgP_58waM-,14,24,train
            baking cookies,idNo_CDBwb2,1,11,train
            making pizza,k_yE9fz1Wuv,2,12,train
            making pizza,sdc6lC1MXlP,3,13,train
            making pizza,deleted_vid,4,14,train
            baking cookies,t6iAxQa2H9u,5,15,train
            making pizza,v-D8FnyVVdB,6,16,train
            surfing,zzzzzzzzzzz,7,17,train

            """
        let path = root.appendingPathComponent("train.csv").path
        try Data(csv.utf8).write(to: URL(fileURLWithPath: path))
        return (root, try KineticsAnnotations(path: path))
    }

    @Test func decodesCropsDownsamplesAndReportsFailures() throws {
        let (root, table) = try makeCorpus()
        defer { try? FileManager.default.removeItem(at: root) }
        let selection = try KineticsSelection(annotations: table, classes: ["baking cookies", "making pizza"])
        #expect(selection.clips.count == 7)
        let finder = try KineticsClipFinder(directory: root.appendingPathComponent("videos").path)
        let output = root.appendingPathComponent("out/train.h5").path
        try FileManager.default.createDirectory(atPath: root.appendingPathComponent("out").path, withIntermediateDirectories: true)
        let options = KineticsDecodeOptions(frames: 8, size: 16)
        var progress: [Int] = []
        let report = try KineticsConversion.convert(selection, finder: finder, options: options, output: output, jobs: 2,
                                                    progress: { done, _ in progress.append(done) })
        #expect(progress == Array(1...7))
        #expect(report.written == 4 && report.skipped.count == 3)
        #expect(report.skipped[0].hasPrefix("line 6 (making pizza, deleted_vid_000004_000014): missing: no deleted_vid_000004_000014"))
        #expect(report.skipped[1].hasPrefix("line 7 (baking cookies, t6iAxQa2H9u_000005_000015): ")
                && report.skipped[1].contains("t6iAxQa2H9u_000005_000015.mp4: ffmpeg exited with status"))
        #expect(report.skipped[2].contains("v-D8FnyVVdB_000006_000016.mp4: only 3 of 8 frames decoded"))

        let shard = try VideoShard(path: output)
        #expect((shard.count, shard.frames, shard.height, shard.width) == (4, 8, 16, 16))
        #expect(shard.labelNames == ["baking cookies", "making pizza"])
        #expect(try shard.labels() == [0, 0, 1, 1])
        #expect(try shard.youtubeIDs() == ["-IgP_58waM-", "idNo_CDBwb2", "k_yE9fz1Wuv", "sdc6lC1MXlP"])
        #expect(try shard.skipped() == report.skipped)
        #expect(try shard.integers("annotation_lines") == [2, 3, 4, 5])
        #expect(try shard.integers("time_start") == [14, 1, 2, 3])
        let frameBytes = 16 * 16 * 3
        for t in 0..<8 {
            func frame(_ video: Int) throws -> [UInt8] { Array(try shard.video(video)[(t * frameBytes)..<((t + 1) * frameBytes)]) }
            // Already 16×16: untouched. 24×16 and 16×24: the centre 16×16, exactly.
            #expect(try frame(0) == pattern(t: t, width: 16, height: 16))
            #expect(try frame(1) == crop(pattern(t: t, width: 24, height: 16, seed: 1), width: 24, x0: 4, y0: 0, size: 16))
            #expect(try frame(2) == crop(pattern(t: t, width: 16, height: 24, seed: 2), width: 16, x0: 0, y0: 4, size: 16))
            // 32×32 made of 2×2 blocks → 16×16 by area averaging: each block's value (±1 for rounding).
            let small = pattern(t: t, width: 16, height: 16, block: 1, seed: 3)
            let got = try frame(3)
            let worst = zip(got, small).map { abs(Int($0) - Int($1)) }.max() ?? 0
            #expect(worst <= 1, "area downsample differs by up to \(worst)")
        }

        // --strict: the same input is an error listing every failure, and nothing is written.
        let strictOutput = root.appendingPathComponent("out/strict.h5").path
        let strict = try #require(throws: DatasetError.self) {
            try KineticsConversion.convert(selection, finder: finder, options: options, output: strictOutput, jobs: 2, strict: true,
                                           annotationsPath: table.path)
        }
        #expect(strict.file == table.path && strict.description.contains("3 of 7 selected clips are missing or undecodable"))
        #expect(strict.description.contains("deleted_vid") && strict.description.contains("t6iAxQa2H9u"))
        #expect(!FileManager.default.fileExists(atPath: strictOutput))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("out").path) == ["train.h5"])
    }

    @Test func rankPartsMergeIntoTheSameShard() throws {
        let (root, table) = try makeCorpus()
        defer { try? FileManager.default.removeItem(at: root) }
        let selection = try KineticsSelection(annotations: table, classes: ["baking cookies", "making pizza"])
        let finder = try KineticsClipFinder(directory: root.appendingPathComponent("videos").path)
        let options = KineticsDecodeOptions(frames: 4, size: 8, framesPerSecond: 12.5)
        let whole = root.appendingPathComponent("whole.h5").path
        _ = try KineticsConversion.convert(selection, finder: finder, options: options, output: whole, jobs: 1)
        // Two "ranks": every other clip each; rank 1's part holds only failures but for one clip.
        var parts: [String] = []
        for rank in 0..<2 {
            let part = root.appendingPathComponent(".whole.h5.rank-\(rank)-of-2.h5").path
            _ = try KineticsConversion.convert(selection, indices: Array(stride(from: rank, to: 7, by: 2)), finder: finder,
                                               options: options, output: part, jobs: 1, allowEmpty: true)
            parts.append(part)
        }
        let mergedPath = root.appendingPathComponent("merged.h5").path
        let merged = try KineticsConversion.merge(parts: parts, into: mergedPath)
        let a = try VideoShard(path: whole), b = try VideoShard(path: mergedPath)
        #expect(a.count == 4 && b.count == 4 && merged.written == 4)
        #expect(try a.youtubeIDs() == b.youtubeIDs() && a.labels() == b.labels())
        for index in 0..<4 { #expect(try a.video(index) == b.video(index)) }
        #expect(try a.skipped() == b.skipped() && merged.skipped.count == 3)
        #expect(try b.attributes()["frame_rate"] == .string("12.5"))
    }
}
