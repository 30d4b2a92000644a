// SyntheticShard: writing the built-in corpus (SyntheticVideos.swift) as a video shard — what `vt prepare
// synthetic` does. The classic corpus is a plain shard (videos only); the conditioned ones (docs/design.md
// §11) add `actions` [N,T,4] with `endeffector_positions` [N,T,3] (--actions) and `labels` [N] with
// `label_names` (--classes), plus root attributes saying what they hold: `seed` always, `synthetic_actions`
// (the actions' units, in words) and `synthetic_classes` (K) when present.
//
// Not here: the scenes (SyntheticVideos.swift), the shard format (VideoShardWriter, VideoShard).

import Foundation

extension SyntheticVideoGenerator {
    /// What the root attribute `synthetic_actions` of an action-driven shard says.
    public static let actionUnits = "dx, dy, dz, dopening: the gripper's displacement from frame t to frame t+1 (x, y in "
        + "units of 1/64 of the shorter image side, x right, y down; z its height, 0 on the table to 1 raised) and the "
        + "change of its finger opening (0 closed, 1 open); endeffector_positions[t+1] = endeffector_positions[t] + "
        + "actions[t][0..<3]"

    /// Writes videos 0..<videos to a new shard at `path` (source "synthetic", split `split`), generated
    /// `batch` at a time on every core. Returns the number of videos.
    @discardableResult
    public func writeShard(videos: Int, to path: String, split: String, overwrite: Bool = false, batch: Int = 32) throws -> Int {
        let kind: VideoShardKind = isClassic ? .plain : .conditioned(actions: actions, labelNames: labelNames)
        let writer = try VideoShardWriter(path: path, frames: frames, height: height, width: width, kind: kind,
                                          source: "synthetic", split: split, overwrite: overwrite)
        writer.setAttribute("seed", Int64(bitPattern: seed))
        if actions { writer.setAttribute("synthetic_actions", Self.actionUnits) }
        if classes > 0 { writer.setAttribute("synthetic_classes", Int64(classes)) }
        let batch = max(1, batch)
        let size = bytesPerVideo
        let actionSize = frames * Self.actionWidth, positionSize = frames * 3
        var pixels = [UInt8](repeating: 0, count: batch * size)
        var actionRows = [Float](repeating: 0, count: actions ? batch * actionSize : 0)
        var positionRows = [Float](repeating: 0, count: actions ? batch * positionSize : 0)
        for first in stride(from: 0, to: videos, by: batch) {
            let count = min(batch, videos - first)
            pixels.withUnsafeMutableBufferPointer { buffer in
                actionRows.withUnsafeMutableBufferPointer { actionBuffer in
                    positionRows.withUnsafeMutableBufferPointer { positionBuffer in
                        nonisolated(unsafe) let base = buffer.baseAddress!
                        nonisolated(unsafe) let actionBase = actionBuffer.baseAddress, positionBase = positionBuffer.baseAddress
                        DispatchQueue.concurrentPerform(iterations: count) { slot in
                            video(index: first + slot, into: base + slot * size,
                                  actions: actions ? actionBase! + slot * actionSize : nil,
                                  positions: actions ? positionBase! + slot * positionSize : nil)
                        }
                    }
                }
            }
            for slot in 0..<count {
                try pixels.withUnsafeBytes {
                    try writer.append(video: UnsafeRawBufferPointer(rebasing: $0[(slot * size)..<((slot + 1) * size)]),
                                      actions: actions ? Array(actionRows[(slot * actionSize)..<((slot + 1) * actionSize)]) : nil,
                                      endEffectorPositions: actions ? Array(positionRows[(slot * positionSize)..<((slot + 1) * positionSize)]) : nil,
                                      label: label(index: first + slot))
                }
            }
        }
        return try writer.finish()
    }
}
