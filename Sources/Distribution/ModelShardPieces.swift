// ModelShardPieces: where model shard `shard` of `count` sits inside one full tensor of `shape` split
// along `axis` (nil: replicated, the shard is the whole tensor) — the model axis's layout (docs/design.md §4)
// for one tensor on its own, such as a message, rather than a whole flat buffer. A split tensor is one
// run per index of the axes before `axis`, each `shape[axis]/count × (product of the axes after axis)`
// floats long; the shard's tensor is those runs back to back.
//
// Used by the sharded checkpoint gather (ShardedStateGather.swift: shards → full tensor) and by resuming
// sharded optimizer state (Training: full tensor → this rank's shard). Leaves out: whole flat buffers
// (VideoModel's ShardLayout, which the tests check these pieces against), which axis a tensor splits on.

public enum ModelShardPieces {
    /// Calls `body(offset in the full tensor, offset in the shard's tensor, length)` for every run.
    public static func forEach(shape: [Int], axis: Int?, shard: Int, of count: Int, _ body: (Int, Int, Int) -> Void) {
        guard let axis, count > 1 else { body(0, 0, shape.reduce(1, *)); return }
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        let length = shape[axis], part = length / count
        for o in 0..<outer { body((o * length + shard * part) * inner, o * part * inner, part * inner) }
    }

    /// Copies shard `shard`'s runs of the full `tensor` into `piece` (the shard's tensor).
    public static func extract(from tensor: UnsafePointer<Float>, into piece: UnsafeMutablePointer<Float>, shape: [Int], axis: Int?,
                               shard: Int, of count: Int) {
        forEach(shape: shape, axis: axis, shard: shard, of: count) { fullOffset, shardOffset, length in
            (piece + shardOffset).update(from: tensor + fullOffset, count: length)
        }
    }

    /// Copies `piece` (shard `shard`'s tensor) into its runs of the full `tensor`; other runs are untouched.
    public static func insert(_ piece: UnsafePointer<Float>, into tensor: UnsafeMutablePointer<Float>, shape: [Int], axis: Int?,
                              shard: Int, of count: Int) {
        forEach(shape: shape, axis: axis, shard: shard, of: count) { fullOffset, shardOffset, length in
            (tensor + fullOffset).update(from: piece + shardOffset, count: length)
        }
    }
}
