// Fuzz harness `video_shard`: a prepared shard (HDF5) opened as training and `vt inspect data` open it —
// VideoShard(path:) with its layout checks, ShardVideoSource over it — then its metadata (datasets, root
// attributes, skipped report, labels, YouTube ids, the Int32 columns) and its videos, whole and as clips,
// with their actions and end-effector positions, and the source's per-clip actions and labels. Mutations
// are file-level: the fuzzer's bytes are the file.

import Datasets

/// Videos read per input: the first and last few (a shard may claim millions).
private let videosPerInput = 3

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVideoShard(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = FuzzInput.file(data, size, name: "shard.h5")
    FuzzInput.tolerate {
        let shard = try VideoShard(path: path)
        FuzzInput.tolerate { _ = try shard.datasetNames() }
        FuzzInput.tolerate { _ = try shard.attributes() }
        FuzzInput.tolerate { _ = try shard.skipped() }
        if shard.labelNames != nil {
            FuzzInput.tolerate { _ = try shard.labels() }
            FuzzInput.tolerate { _ = try shard.youtubeIDs() }
            for name in ["time_start", "time_end", "annotation_lines"] { FuzzInput.tolerate { _ = try shard.integers(name) } }
        }
        let indices = Set(Array(0..<min(shard.count, videosPerInput)) + Array(max(0, shard.count - videosPerInput)..<shard.count))
        for index in indices.sorted() {
            FuzzInput.tolerate { _ = try shard.video(index) }
            if shard.hasActions {
                FuzzInput.tolerate { _ = try shard.actions(index) }
                FuzzInput.tolerate { _ = try shard.endEffectorPositions(index) }
            }
            if shard.frames > 1 {
                FuzzInput.tolerate {
                    var clip = [UInt8](repeating: 0, count: shard.bytesPerFrame)
                    try clip.withUnsafeMutableBufferPointer {
                        try shard.readClip(index: index, startFrame: shard.frames - 1, frameCount: 1, into: $0.baseAddress!)
                    }
                }
            }
        }
        let source = try ShardVideoSource(paths: [path])
        _ = source.summary
        // The conditioning a training step reads with a clip: its actions and its video's label.
        for index in indices.sorted() {
            if source.actionWidth > 0 && source.frames > 1 {
                FuzzInput.tolerate {
                    var actions = [Float](repeating: 0, count: 2 * source.actionWidth)
                    try actions.withUnsafeMutableBufferPointer {
                        try source.readActions(index: index, startFrame: source.frames - 2, frameCount: 2, into: $0.baseAddress!)
                    }
                }
            }
            if source.labelNames != nil { FuzzInput.tolerate { _ = try source.label(index: index) } }
        }
    }
    return 0
}
