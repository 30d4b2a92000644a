// `vt prepare`, `vt inspect data` and `vt train --data` end to end, through the built binary: outputs are
// shards with the expected pixels, bad input exits non-zero with one message naming the file (and record
// and byte offset), nothing is overwritten without --overwrite, and under mpirun the ranks split the work
// and produce the same files as one process.

import Datasets
import Foundation
import VTTestSupport
import Testing

/// Tests/DatasetsTests/Fixtures, found from this file (no resource bundle).
private let datasetFixtures = repositoryFile("Tests/DatasetsTests/Fixtures")

/// A softmotion30_44k folder with the 2-video, 3-frame BAIR fixture as train/ and test/ files.
private func bairCorpus(in directory: URL, corruptTrain: Bool = false) throws -> URL {
    let root = directory.appendingPathComponent("bair/softmotion30_44k")
    var bytes = [UInt8](try Data(contentsOf: datasetFixtures.appendingPathComponent("bair_seed7_2x3.tfrecords")))
    for split in ["test", "train"] {
        try FileManager.default.createDirectory(at: root.appendingPathComponent(split), withIntermediateDirectories: true)
        if split == "train" && corruptTrain { bytes[74171 + 12 + 300] ^= 0x04 }   // record 1's data
        try Data(bytes).write(to: root.appendingPathComponent("\(split)/traj_0_to_1.tfrecords"))
    }
    return directory.appendingPathComponent("bair")
}

/// Runs `mpirun -np ranks vt arguments` in `directory`; returns (exit status, stdout + stderr).
private func runMPI(_ ranks: Int, _ arguments: [String], directory: URL) throws -> (status: Int32, output: String) {
    try runVTRanks(ranks, arguments, directory: directory, timeout: 120, wrapper: ranks == 1 ? "exec \"$0\" \"$@\"" : nil)
}

@Suite(.needs(.vt))
struct DataCommandLineTests {
    init() throws { try requireTools(.vt) }

    @Test func synthesisInspectionAndTrainingOnShards() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let shard = directory.appendingPathComponent("data/synthetic.h5").path
        var result = try runVT(["prepare", "synthetic", "--videos", "6", "--output", shard, "--frames", "6", "--height", "8",
                                "--width", "8", "--seed", "3"])
        #expect(result.status == 0, "\(result.output)")
        let read = try VideoShard(path: shard)
        let generator = SyntheticVideoGenerator(frames: 6, height: 8, width: 8, seed: 3)
        #expect(read.count == 6 && read.source == "synthetic" && read.split == "train")
        for index in [0, 5] { #expect(try read.video(index) == generator.video(index: index)) }
        // Again without --overwrite: refused, the file untouched; with it: replaced.
        result = try runVT(["prepare", "synthetic", "--videos", "2", "--output", shard, "--frames", "6", "--height", "8", "--width", "8"])
        #expect(result.status != 0 && result.output.contains("error: \(shard): cannot open: the output already exists (pass --overwrite"))
        #expect(try VideoShard(path: shard).count == 6)

        let sheet = directory.appendingPathComponent("sheet.png").path
        result = try runVT(["inspect", "data", shard, "--contact-sheet", sheet])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("synthetic / train, format v1: 6 videos × 6×8×8×3"))
        #expect(result.output.contains("pixels (6 of 6 videos): mean R"))
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: sheet)).prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])

        // Training reads the shard (`--data` overrides the config's data section); 4-frame clips from 6-frame videos.
        let config = directory.appendingPathComponent("micro.yaml")
        try smallTwoStepConfig.write(to: config, atomically: true, encoding: .utf8)
        result = try runVT(["train", "--config", config.path, "--data", shard, "--run-dir", directory.appendingPathComponent("run").path],
                           directory: directory)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("data: \(shard): 1 shard, 6 videos of 6×8×8 (synthetic, train)"), "\(result.output)")
        let metrics = try String(contentsOf: directory.appendingPathComponent("run/metrics.jsonl"), encoding: .utf8)
        #expect(metrics.split(separator: "\n").count == 2)
        // A missing data path, and shards of the wrong frame size, are named before training starts.
        result = try runVT(["train", "--config", config.path, "--data", "nowhere/train.h5"], directory: directory)
        #expect(result.status != 0 && result.output.contains("data.train: nowhere/train.h5 does not exist"), "\(result.output)")
        let big = directory.appendingPathComponent("big.h5").path
        #expect(try runVT(["prepare", "synthetic", "--videos", "1", "--output", big, "--height", "16", "--width", "16"]).status == 0)
        result = try runVT(["train", "--config", config.path, "--data", shard, "--eval-data", big], directory: directory)
        #expect(result.status != 0 && result.output.contains("data.eval (\(big)): its videos are 16×16×16"), "\(result.output)")
    }

    @Test func conditionedSyntheticCorpora() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let shard = directory.appendingPathComponent("data/conditioned.h5").path
        var result = try runVT(["prepare", "synthetic", "--videos", "5", "--output", shard, "--frames", "6", "--height", "16",
                                "--width", "16", "--seed", "3", "--actions", "--classes", "3"])
        #expect(result.status == 0 && result.output.contains("seed 3, with actions, 3 classes"), "\(result.output)")
        let read = try VideoShard(path: shard)
        let generator = SyntheticVideoGenerator(frames: 6, height: 16, width: 16, seed: 3, actions: true, classes: 3)
        #expect(read.count == 5 && read.actionWidth == 4 && read.labelNames == generator.labelNames)
        for index in [0, 4] {
            #expect(try read.video(index) == generator.video(index: index))
            #expect(try read.actions(index) == generator.gripperPath(index: index).actions!)
            #expect(try read.label(index) == generator.label(index: index))
        }
        result = try runVT(["inspect", "data", shard, "--no-contact-sheet"])
        #expect(result.status == 0 && result.output.contains("datasets: actions, endeffector_positions, labels, videos"), "\(result.output)")
        #expect(result.output.contains("actions ×4, 3 classes"), "\(result.output)")
        result = try runVT(["prepare", "synthetic", "--videos", "1", "--output", shard, "--classes", "9", "--overwrite"])
        #expect(result.status != 0 && result.output.contains("--classes must be"), "\(result.output)")
    }

    @Test func bairConversionAndItsErrors() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try bairCorpus(in: directory)
        let output = directory.appendingPathComponent("prepared").path
        var result = try runVT(["prepare", "bair", "--source", source.path, "--output", output, "--frames", "3"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("prepared 4 videos in 2 shard(s)"), "\(result.output)")
        for split in ["train", "test"] {
            let shard = try VideoShard(path: "\(output)/\(split)/traj_0_to_1.h5")
            #expect(shard.count == 2 && shard.split == split && shard.hasActions)
            #expect(try sha256(try shard.video(0)) == "04fad45412eeddd00e05765a84f7af26905cf04c48a0cbff7c6f01a7704e08a6")
        }
        result = try runVT(["inspect", "data", output, "--no-contact-sheet"])
        #expect(result.status == 0 && result.output.contains("splits: test 2, train 2"), "\(result.output)")

        // A corrupt record: one message with file, record and offset; non-zero; no shard for that file.
        let broken = try bairCorpus(in: directory.appendingPathComponent("broken"), corruptTrain: true)
        let brokenOutput = directory.appendingPathComponent("broken-out").path
        result = try runVT(["prepare", "bair", "--source", broken.path, "--output", brokenOutput, "--frames", "3"])
        let file = broken.appendingPathComponent("softmotion30_44k/train/traj_0_to_1.tfrecords").path
        #expect(result.status != 0)
        #expect(result.output.contains("error: \(file): record 1 at byte offset 74171: bad data CRC"), "\(result.output)")
        #expect(!result.output.contains("Fatal error"))
        #expect(!FileManager.default.fileExists(atPath: "\(brokenOutput)/train/traj_0_to_1.h5"))
        // --skip-corrupt: skipped, listed, and the rest converted.
        result = try runVT(["prepare", "bair", "--source", broken.path, "--output", brokenOutput, "--frames", "3", "--skip-corrupt",
                            "--overwrite"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("skipped: \(file): record 1 at byte offset 74171: bad data CRC"))
        #expect(try VideoShard(path: "\(brokenOutput)/train/traj_0_to_1.h5").count == 1)

        // Not shards, not BAIR: named and refused.
        result = try runVT(["inspect", "data", file])
        #expect(result.status != 0 && result.output.contains("error: \(file): not an HDF5 file"), "\(result.output)")
        result = try runVT(["prepare", "bair", "--source", directory.appendingPathComponent("nothing").path, "--output", output])
        #expect(result.status != 0 && result.output.contains("no such folder"))
        result = try runVT(["prepare", "bair", "--source", source.path, "--output", output, "--camera", "left"])
        #expect(result.status != 0 && result.output.contains("--camera must be aux1 or main"))
    }

    @Test func kineticsBadAnnotationsAreNamed() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let videos = directory.appendingPathComponent("clips")
        try FileManager.default.createDirectory(at: videos, withIntermediateDirectories: true)
        let csv = directory.appendingPathComponent("train.csv")
        try "label,youtube_id,time_start,time_end,split,views\nbaking cookies,-IgP_58waM-,14,24,train,3\n"
            .write(to: csv, atomically: true, encoding: .utf8)
        let output = directory.appendingPathComponent("kinetics.h5").path
        let result = try runVT(["prepare", "kinetics", "--annotations", csv.path, "--videos", videos.path, "--output", output])
        #expect(result.status != 0)
        #expect(result.output.contains("error: \(csv.path): line 1: unknown column 'views'"), "\(result.output)")
    }

    /// `clips/` with one good clip (made by ffmpeg), one broken and one missing, and `train.csv` naming the three.
    func kineticsClips(in directory: URL) throws -> (videos: URL, csv: URL) {
        let videos = directory.appendingPathComponent("clips")
        try FileManager.default.createDirectory(at: videos, withIntermediateDirectories: true)
        let csv = directory.appendingPathComponent("train.csv")
        let good = videos.appendingPathComponent("-IgP_58waM-_000014_000024.mp4").path
        let made = try FFmpeg.run(["-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=48x32:rate=10", "-frames:v", "6",
                                   "-pix_fmt", "yuv420p", "-c:v", "libx264", good])
        #expect(made.status == 0, "\(made.standardError)")
        try Data("garbage".utf8).write(to: videos.appendingPathComponent("idNo_CDBwb2_000001_000011.mp4"))
        try "label,youtube_id,time_start,time_end,split\nbaking cookies,-IgP_58waM-,14,24,train\n"
            .appending("baking cookies,idNo_CDBwb2,1,11,train\nmaking pizza,k_yE9fz1Wuv,2,12,train\n")
            .write(to: csv, atomically: true, encoding: .utf8)
        return (videos, csv)
    }

    @Test(.needs(.ffmpeg))
    func kineticsBrokenClipsAreSkippedOrRefused() throws {
        try requireTools(.ffmpeg)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // One good clip (made by ffmpeg), one broken, one missing: two reported, the shard written.
        let (videos, csv) = try kineticsClips(in: directory)
        let output = directory.appendingPathComponent("kinetics.h5").path
        var result = try runVT(["prepare", "kinetics", "--annotations", csv.path, "--videos", videos.path, "--output", output,
                                "--frames", "4", "--size", "16", "--classes", "baking cookies,making pizza"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("skipped 2 of 3 clips"))
        #expect(result.output.contains("line 3 (baking cookies, idNo_CDBwb2_000001_000011): "))
        #expect(result.output.contains("line 4 (making pizza, k_yE9fz1Wuv_000002_000012): missing"))
        let shard = try VideoShard(path: output)
        #expect(try shard.count == 1 && shard.labelNames == ["baking cookies", "making pizza"] && shard.skipped().count == 2)
        // --strict: the same input fails and writes nothing new.
        let strict = directory.appendingPathComponent("strict.h5").path
        result = try runVT(["prepare", "kinetics", "--annotations", csv.path, "--videos", videos.path, "--output", strict,
                            "--frames", "4", "--size", "16", "--strict"])
        #expect(result.status != 0 && result.output.contains("2 of 3 selected clips are missing or undecodable"), "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: strict))
    }

    @Test(.needs(.ffmpeg, .mpirun))
    func kineticsRanksSplitTheClips() throws {
        try requireTools(.ffmpeg, .mpirun)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (videos, csv) = try kineticsClips(in: directory)
        // The 1-process shard to compare with (its own checks: kineticsBrokenClipsAreSkippedOrRefused).
        let output = directory.appendingPathComponent("kinetics.h5").path
        var result = try runVT(["prepare", "kinetics", "--annotations", csv.path, "--videos", videos.path, "--output", output,
                                "--frames", "4", "--size", "16", "--classes", "baking cookies,making pizza"])
        #expect(result.status == 0, "\(result.output)")
        let shard = try VideoShard(path: output)

        // Under mpirun: 2 ranks split the clips, rank 0 merges; the shard equals the 1-process one.
        let merged = directory.appendingPathComponent("merged.h5").path
        result = try runMPI(2, ["prepare", "kinetics", "--annotations", csv.path, "--videos", videos.path, "--output", merged,
                                "--frames", "4", "--size", "16", "--classes", "baking cookies,making pizza"], directory: directory)
        #expect(result.status == 0, "\(result.output)")
        let two = try VideoShard(path: merged)
        #expect(try two.count == 1 && two.video(0) == shard.video(0) && two.skipped() == shard.skipped())
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix(".") }.isEmpty)
    }

    @Test(.needs(.mpirun))
    func bairRanksSplitTheFiles() throws {
        try requireTools(.mpirun)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try bairCorpus(in: directory)
        let output = directory.appendingPathComponent("prepared").path
        let result = try runMPI(2, ["prepare", "bair", "--source", source.path, "--output", output, "--frames", "3"], directory: directory)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("prepared 4 videos in 2 shard(s)"), "\(result.output)")
        for split in ["train", "test"] { #expect(try VideoShard(path: "\(output)/\(split)/traj_0_to_1.h5").count == 2) }
    }
}

/// SHA-256 hex of `bytes` through the system's sha256sum (only for comparing with the fixture's hashes).
private func sha256(_ bytes: [UInt8]) throws -> String {
    let directory = try temporaryDirectory("sha")
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("bytes")
    try? Data(bytes).write(to: file)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    process.arguments = [file.path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try? process.run()
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return String(text.prefix(64))
}
