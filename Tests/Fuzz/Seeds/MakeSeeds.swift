// MakeSeeds: writes the committed seed corpus of every harness (Tests/Fuzz/corpus/<harness>/) with vt's
// own writers — TFRecordWriter and BAIRVideo.example for BAIR records, VideoShardWriter for shards,
// CheckpointWriter for checkpoints — plus hand-made edge cases. Run by make-seeds.sh; the output is
// deterministic except for the `created` timestamps the shard and checkpoint writers store.
//
// Usage: MakeSeeds CORPUS_FOLDER REPOSITORY_ROOT

import Checkpointing
import Datasets
import Foundation
import HDF5
import Kernels

@main
struct MakeSeeds {
    static func main() throws {
        let arguments = CommandLine.arguments
        precondition(arguments.count == 3, "usage: MakeSeeds CORPUS_FOLDER REPOSITORY_ROOT")
        let corpus = URL(fileURLWithPath: arguments[1]), root = URL(fileURLWithPath: arguments[2])
        func folder(_ name: String) throws -> URL {
            let url = corpus.appendingPathComponent(name)
            try? FileManager.default.removeItem(at: url)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            return url
        }
        func save(_ bytes: [UInt8], _ url: URL) throws { try Data(bytes).write(to: url) }

        // A one-frame BAIR video with recognisable values.
        let pixels = (0..<BAIRVideo.bytesPerFrame).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let bair = BAIRVideo(frameCount: 1, pixels: pixels, actions: [0.25, -0.5, 1, 0], endEffectorPositions: [0.1, 0.2, 0.3])
        let bairExample = bair.example().encoded()
        let kinds = TFExample(features: ["bytes": .bytes([[1, 2, 3], []]), "floats": .floats([1.5, -0.0, .infinity]),
                                         "ints": .int64s([0, -1, Int64.max, 300]), "none": .unset])

        // tfexample: serialised Examples.
        let examples = try folder("tfexample")
        try save(bairExample, examples.appendingPathComponent("bair-1-frame.pb"))
        try save(kinds.encoded(packed: true), examples.appendingPathComponent("all-kinds-packed.pb"))
        try save(kinds.encoded(packed: false), examples.appendingPathComponent("all-kinds-unpacked.pb"))
        try save([], examples.appendingPathComponent("empty.pb"))
        // An unknown field of every wire type before the features (skipped by the decoder).
        try save([0x10, 0x96, 0x01, 0x19] + [UInt8](repeating: 0, count: 8) + [0x25, 0, 0, 0, 0, 0x2a, 0x01, 0x00]
                 + kinds.encoded(), examples.appendingPathComponent("unknown-fields.pb"))

        // tfrecord: framed files.
        let records = try folder("tfrecord")
        func recordFile(_ name: String, _ payloads: [[UInt8]]) throws {
            let writer = try TFRecordWriter(path: records.appendingPathComponent(name).path)
            for payload in payloads { try writer.write(payload) }
            try writer.close()
        }
        try recordFile("bair-1-frame.tfrecords", [bairExample])
        try recordFile("two-small.tfrecords", [kinds.encoded(), TFExample().encoded()])
        try recordFile("empty-record.tfrecords", [[]])
        try save([], records.appendingPathComponent("empty.tfrecords"))
        // The committed fixture's first record (cut at a record boundary: a complete file).
        let fixture = try [UInt8](Data(contentsOf: root.appendingPathComponent("Tests/DatasetsTests/Fixtures/bair_seed7_2x3.tfrecords")))
        let firstLength = fixture[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        try save(Array(fixture[0..<(firstLength + TFRecord.framingBytes)]), records.appendingPathComponent("fixture-record-0.tfrecords"))

        // kinetics_csv: annotation files and class lists.
        let csv = try folder("kinetics_csv")
        try save(Array(#"""
            label,youtube_id,time_start,time_end,split,is_cc
            "baking cookies",--07WQ2iBlw,1,11,train,0
            "cooking ""egg""",a_b-c1D2e3F,14.0,24.0,val,1

            """#.utf8), csv.appendingPathComponent("k400.csv"))
        try save(Array("\u{FEFF}youtube_id,label,time_end,time_start\r\nabcdefghijk,\"multi\nline\",20,10\r\n".utf8),
                 csv.appendingPathComponent("bom-crlf-reordered.csv"))
        try save(Array("label,youtube_id,time_start,time_end\n".utf8), csv.appendingPathComponent("header-only.csv"))
        try save(Array("# cooking classes\nbaking cookies\nfrying eggs\n".utf8), csv.appendingPathComponent("classes.txt"))

        // run_config: the committed configs.
        let configs = try folder("run_config")
        for source in ["Configs/tiny.yaml", "Configs/bair-base-300k.yaml", "Configs/kinetics-large-1m.yaml",
                       "Configs/bair-inbetween.yaml", "Tests/Scripts/tiny-model.yaml"] {
            let url = root.appendingPathComponent(source)
            try FileManager.default.copyItem(at: url, to: configs.appendingPathComponent(url.lastPathComponent))
        }

        // An edge case: a number YAML reads as infinity, which JSON (the resolved config) cannot hold.
        let tiny = try String(contentsOf: root.appendingPathComponent("Configs/tiny.yaml"), encoding: .utf8)
        try save(Array(tiny.replacingOccurrences(of: "learning_rate: 2.0e-3", with: "learning_rate: .inf").utf8),
                 configs.appendingPathComponent("infinite-learning-rate.yaml"))

        // video_shard: shards of each kind, small videos.
        let shards = try folder("video_shard")
        func shard(_ name: String, kind: VideoShardKind, videos: Int, frames: Int = 2, side: Int = 4) throws {
            let writer = try VideoShardWriter(path: shards.appendingPathComponent(name).path, frames: frames, height: side,
                                              width: side, kind: kind, source: "fuzz", split: "train", batch: 1)
            for v in 0..<videos {
                let video = (0..<frames * side * side * 3).map { UInt8(truncatingIfNeeded: $0 + 31 * v) }
                switch kind {
                case .plain: try writer.append(video: video)
                case .bair:
                    try writer.append(video: video, actions: (0..<frames * 4).map { Float($0) },
                                      endEffectorPositions: (0..<frames * 3).map { Float(-$0) })
                case .kinetics:
                    try writer.append(video: video, clip: KineticsClipFields(label: Int32(v % 2), youtubeID: "abcdefghij\(v)",
                                                                               timeStart: Int32(v), timeEnd: Int32(v + 10),
                                                                               annotationLine: Int32(v + 2)))
                case .conditioned(let actions, let names):
                    try writer.append(video: video, actions: actions ? (0..<frames * 4).map { Float($0) } : nil,
                                      endEffectorPositions: actions ? (0..<frames * 3).map { Float(-$0) } : nil,
                                      label: names.map { v % $0.count })
                }
            }
            if name.hasPrefix("bair") { writer.setAttribute("skipped", ["record 3: bad data CRC"]) }
            try writer.finish()
        }
        try shard("plain.h5", kind: .plain, videos: 1)
        try shard("bair.h5", kind: .bair, videos: 2)
        try shard("kinetics.h5", kind: .kinetics(labelNames: ["baking cookies", "frying eggs"]), videos: 2, frames: 1, side: 2)
        try shard("conditioned.h5", kind: .conditioned(actions: true, labelNames: ["red table", "blue table"]), videos: 2)

        // Edge cases: shapes that no video shard has, which the reader must refuse before allocating. Chunked
        // and never written, so the files stay a few kilobytes whatever the shape says.
        func sparseShard(_ name: String, count: Int, frames: Int, side: Int, labels: Bool) throws {
            let file = try HDF5File.create(shards.appendingPathComponent(name).path)
            try file.root.createDataset("videos", elementType: .uint8, shape: [count, frames, side, side, 3],
                                        chunkShape: [1, 1, min(side, 64), min(side, 64), 3])
            if labels {
                let column = try file.root.createDataset("labels", elementType: .int32, shape: [count], chunkShape: [1024])
                try column.setAttribute("label_names", ["a", "b"])
            }
            for (name, value) in [("format", "video-shard"), ("source", "fuzz"), ("split", "train")] {
                try file.root.setAttribute(name, value)
            }
            try file.root.setAttribute("format_version", Int64(1))
            try file.close()
        }
        try sparseShard("huge-video.h5", count: 1, frames: 1 << 20, side: 1 << 20, labels: false)
        try sparseShard("huge-count.h5", count: 1 << 40, frames: 1, side: 2, labels: true)

        // checkpoint: a small checkpoint (params + one optimizer slot), and an HDF5 file that is not one.
        let checkpoints = try folder("checkpoint")
        var table = ParameterTable()
        _ = table.add("encoder/embedding", [2, 3])
        _ = table.add("head/bias", [5])
        func buffer(_ seed: Float) -> FloatBuffer {
            let values = FloatBuffer(count: table.totalCount)
            for i in 0..<table.totalCount { values[i] = seed + Float(i) * 0.25 }
            return values
        }
        let contents = CheckpointContents(step: 7, attributes: [("config", .string("{\"model\": {\"hidden_size\": 6}}")),
                                                                ("optimizer_slots", .strings(["m"])), ("learning_rate", .double(1e-3))],
                                          tensors: [CheckpointTensors(group: "params", table: table, buffer: buffer(1)),
                                                    CheckpointTensors(group: "optimizer/m", table: table, buffer: buffer(2))])
        try CheckpointWriter.write(contents, to: checkpoints.appendingPathComponent("step_00000007.h5").path)
        // The fuzzer's first find: an index header claiming a file of more than 2^63 bytes.
        try save(Array(Data(base64Encoded: "VlRDS1BUSVgAAQAABAAAADMsnp6enp6enp6enp6enp6enp7MVg==")!),
                 checkpoints.appendingPathComponent("index-impossible-size.h5"))
        let other = try HDF5File.create(checkpoints.appendingPathComponent("not-a-checkpoint.h5").path)
        try other.root.setAttribute("format", "video-shard")
        try other.root.setAttribute("step", Int64(3))
        try other.root.createDataset("params/x", shape: [2], values: [Float(1), 2])
        try other.close()
    }
}
