// StateMemory: what the training state of one rank occupies — parameters and gradients (always whole:
// forward reads the one and backward writes the other), optimizer slots and the master weights they
// update (1/D of them under ZeRO-1, ShardedOptimizer.swift), the bf16 weight copy — and the log line
// `vt train` prints about it (docs/design.md §9's `state_bytes` and its parts).
// Leaves out: activations (the model's `activationBytes`), the process's peak resident memory (Benchmark).

import Foundation

/// What the training state of one rank occupies (docs/design.md §9's `state_bytes` and its parts).
public struct StateMemory: Equatable, Sendable {
    /// fp32 parameters this rank holds (all of its model shard: forward reads them).
    public var parameterBytes: Int
    public var gradientBytes: Int
    public var optimizerSlotBytes: Int
    /// The bf16 copy of the weights (bf16 runs).
    public var lowPrecisionWeightBytes: Int
    /// fp32 master weights this rank updates: its range under ZeRO-1, else all of them.
    public var masterWeightBytes: Int

    /// Parameters, gradients, optimizer slots and bf16 weights held (`vt bench`'s `state_bytes`).
    public var stateBytes: Int { parameterBytes + gradientBytes + optimizerSlotBytes + lowPrecisionWeightBytes }
    /// Optimizer slots plus the master weights they update: what ZeRO-1 divides by D.
    public var optimizerStateBytes: Int { optimizerSlotBytes + masterWeightBytes }
}

extension Trainer {
    /// This rank's training state.
    public var stateMemory: StateMemory {
        StateMemory(parameterBytes: model.parameters.bytes, gradientBytes: model.gradients.bytes,
                    optimizerSlotBytes: optimizer.slots.reduce(0) { $0 + $1.bytes },
                    lowPrecisionWeightBytes: model.lowPrecisionWeightBytes,
                    masterWeightBytes: optimizer.range.count * MemoryLayout<Float>.stride)
    }

    /// One line for the log: what this rank holds, and what ZeRO-1 divided.
    public var stateMemorySummary: String {
        let memory = stateMemory
        func mb(_ bytes: Int) -> String { String(format: "%.2f MB", Double(bytes) / 1e6) }
        let held = "parameters \(mb(memory.parameterBytes)) and gradients \(mb(memory.gradientBytes)) in full"
            + (memory.lowPrecisionWeightBytes > 0 ? ", bf16 weights \(mb(memory.lowPrecisionWeightBytes))" : "")
        guard let optimizerShards else {
            return "state per rank: optimizer slots \(mb(memory.optimizerSlotBytes)) + master weights \(mb(memory.masterWeightBytes)) "
                + "= \(mb(memory.optimizerStateBytes)) (not sharded); \(held)"
        }
        let whole = (optimizer.slots.count + 1) * model.parameters.bytes
        return "state per rank: optimizer slots \(mb(memory.optimizerSlotBytes)) + master weights \(mb(memory.masterWeightBytes)) "
            + "= \(mb(memory.optimizerStateBytes)) (ZeRO-1 over data=\(optimizerShards.parts): "
            + String(format: "%.4f", Double(memory.optimizerStateBytes) / Double(whole)) + " of \(mb(whole))); \(held)"
    }
}
