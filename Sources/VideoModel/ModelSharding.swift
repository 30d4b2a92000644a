// ModelSharding: the model axis of the device mesh (docs/design.md §4, Megatron / Mesh-TensorFlow layout).
// Rank m of a model group of M holds heads m·H/M ..< (m+1)·H/M and FFN hidden units m·F/M ..< (m+1)·F/M
// of every layer: query/key/value and ffn/hidden column-split, attention/output and ffn/output row-split,
// the relative biases split by head. Everything else is replicated. A layer then needs one sum over the
// group after each row-split product in forward (attention output, FFN output) and one after each
// column-split product's input gradient in backward (d(LN(z)) of attention and FFN): `ModelAxisReduce`.
//
// `ShardLayout` maps between a shard's flat buffer and the full model's (checkpoints always hold full
// tensors, so a run saved on one mesh resumes on any other).


public struct ModelSharding: Sendable, Equatable, CustomStringConvertible {
    /// This rank's position on the model axis, `0..<count`.
    public let index: Int
    /// Ranks on the model axis (M).
    public let count: Int

    public init(index: Int, count: Int) {
        precondition(count >= 1 && (0..<count).contains(index), "ModelSharding: index \(index) of \(count)")
        self.index = index
        self.count = count
    }

    public static let whole = ModelSharding(index: 0, count: 1)
    public var description: String { "model shard \(index) of \(count)" }

    /// Why `config` cannot be split over `count` model ranks, or nil when it can.
    public static func problem(config: ModelConfig, count: Int) -> String? {
        var reasons: [String] = []
        if config.heads % count != 0 { reasons.append("model.heads \(config.heads)") }
        if config.ffnSize % count != 0 { reasons.append("model.ffn_size \(config.ffnSize)") }
        guard !reasons.isEmpty else { return nil }
        return "a model axis of \(count) must divide \(reasons.joined(separator: " and ")) (heads and d_ff are split over it)"
    }
}

/// Sums `count` floats at the pointer in place over the ranks of this rank's model group. Never throws:
/// a failing collective inside a layer cannot be recovered from, so the implementation ends the job.
public typealias ModelAxisReduce = (UnsafeMutablePointer<Float>, Int) -> Void

/// Where each tensor of a shard sits in the full model, for gathering shards into full tensors and
/// extracting a shard from them.
public struct ShardLayout: Sendable {
    public let shard: ModelParameters
    public let full: ModelParameters

    public init(shard: ModelParameters, full: ModelParameters) {
        precondition(full.sharding.count == 1 && shard.table.entries.count == full.table.entries.count)
        self.shard = shard
        self.full = full
    }

    /// Copies this shard's part of every tensor from a full buffer into a shard buffer.
    public func extract(from whole: UnsafePointer<Float>, into part: UnsafeMutablePointer<Float>) {
        forEachPiece { fullOffset, shardOffset, count in
            (part + shardOffset).update(from: whole + fullOffset, count: count)
        }
    }

    /// Copies this shard's part of table entry `index` from `tensor` (that full tensor alone, e.g. a
    /// received message) into a shard buffer.
    public func extract(entry index: Int, from tensor: UnsafePointer<Float>, into part: UnsafeMutablePointer<Float>) {
        let base = full.table.entries[index].offset
        forEachPiece(entry: index) { fullOffset, shardOffset, count in
            (part + shardOffset).update(from: tensor + (fullOffset - base), count: count)
        }
    }

    /// Copies a shard buffer into its place in a full buffer (the other shards' places are untouched).
    public func insert(_ part: UnsafePointer<Float>, into whole: UnsafeMutablePointer<Float>) {
        forEachPiece { fullOffset, shardOffset, count in
            (whole + fullOffset).update(from: part + shardOffset, count: count)
        }
    }

    /// Calls `body(full offset, shard offset, count)` for every contiguous run the shard shares with the
    /// full model: a replicated tensor is one run; a tensor split along axis a has one run per index of
    /// the axes before a, each `shape[a]/M × (product of the axes after a)` long.
    /// `entry` limits it to one table entry.
    func forEachPiece(entry only: Int? = nil, _ body: (Int, Int, Int) -> Void) {
        let m = shard.sharding.count, index = shard.sharding.index
        for (position, (entry, (local, axis))) in zip(full.table.entries, zip(shard.table.entries, shard.splitAxes)).enumerated()
        where only == nil || only == position {
            guard let axis else { body(entry.offset, local.offset, entry.count); continue }
            let outer = entry.shape[..<axis].reduce(1, *), inner = entry.shape[(axis + 1)...].reduce(1, *)
            let length = entry.shape[axis], part = length / m
            precondition(local.shape[axis] == part)
            for o in 0..<outer {
                body(entry.offset + (o * length + index * part) * inner, local.offset + o * part * inner, part * inner)
            }
        }
    }
}
