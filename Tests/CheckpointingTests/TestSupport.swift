// Helpers for the checkpoint tests: a small parameter table with recognisable values, and byte-level surgery
// on files (flip one byte, truncate). Scratch directories: VTTestFiles' ScratchDirectory.

import Foundation
import HDF5
import Kernels
@testable import Checkpointing

/// A table shaped like a slice of the model's: nested names, odd sizes (so offsets are padded).
func sampleTable() -> ParameterTable {
    var table = ParameterTable()
    table.add("encoder/embedding", [3, 3, 2, 5])
    table.add("encoder/layer_0/attention/query", [6, 4])
    table.add("encoder/layer_0/attention/relative_t", [2, 3])
    table.add("encoder/final_norm/scale", [6])
    table.add("head/channel_1/previous", [1, 7, 6])
    return table
}

/// Buffers for `table` whose every value is distinct and depends on `seed`.
func sampleBuffer(_ table: ParameterTable, seed: Float) -> FloatBuffer {
    let buffer = FloatBuffer(count: table.totalCount)
    for entry in table.entries {
        for i in 0..<entry.count { buffer[entry.offset + i] = seed + Float(entry.offset + i) * 0.001 + 0.5 }
    }
    return buffer
}

func sampleContents(step: Int, seed: Float = 1, table: ParameterTable = sampleTable()) -> CheckpointContents {
    CheckpointContents(step: step,
                       attributes: [("config", .string("{\"model\": {\"hidden_size\": 6}}")), ("optimizer_step", .int64(Int64(step))),
                                    ("learning_rate", .double(1e-3)), ("optimizer_slots", .strings(["m", "v"]))],
                       tensors: [CheckpointTensors(group: "params", table: table, buffer: sampleBuffer(table, seed: seed)),
                                 CheckpointTensors(group: "optimizer/m", table: table, buffer: sampleBuffer(table, seed: seed + 10)),
                                 CheckpointTensors(group: "optimizer/v", table: table, buffer: sampleBuffer(table, seed: seed + 20))])
}

/// Fresh, zeroed buffers for reading `contents` back.
func emptyLike(_ contents: CheckpointContents) -> [CheckpointTensors] {
    contents.tensors.map { CheckpointTensors(group: $0.group, table: $0.table, buffer: FloatBuffer(count: $0.table.totalCount)) }
}

/// The values of every tensor (padding excluded), for bitwise comparisons.
func tensorValues(_ tensors: CheckpointTensors) -> [String: [UInt32]] {
    var result: [String: [UInt32]] = [:]
    for entry in tensors.table.entries {
        result[entry.name] = (0..<entry.count).map { tensors.buffer[entry.offset + $0].bitPattern }
    }
    return result
}

func fileBytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

func writeBytes(_ bytes: [UInt8], _ path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

/// Offset of the first occurrence of `needle` in `haystack`.
func offset(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard needle.count <= haystack.count else { return nil }
    outer: for start in 0...(haystack.count - needle.count) {
        for i in 0..<needle.count where haystack[start + i] != needle[i] { continue outer }
        return start
    }
    return nil
}

/// The little-endian bytes of `tensor`'s values.
func tensorBytes(of tensors: CheckpointTensors, _ name: String) -> [UInt8] {
    let entry = tensors.table[name]!
    return Array(UnsafeRawBufferPointer(start: tensors.buffer.pointer + entry.offset, count: entry.count * 4))
}
