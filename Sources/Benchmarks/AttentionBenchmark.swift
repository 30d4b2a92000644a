// AttentionBenchmark (`vt bench --attention`): the attention kernel that keeps softmax statistics (and skips
// the causal blocks' masked triangle) against the one that stores probabilities, on the block shapes and the
// rows of a config's training step (batch × positions), in the config's precision. The two kernels alternate
// and medians are reported, so host noise hits both alike.

import Common
import Foundation
import Kernels
import Training

public struct AttentionShapeReport: Codable, Sendable {
    public var blockLength: Int
    public var causal: Bool
    public var layers: Int
    /// Median seconds of one layer's forward and backward, stored probabilities vs statistics.
    public var storedForwardSeconds: Double, storedBackwardSeconds: Double
    public var statisticsForwardSeconds: Double, statisticsBackwardSeconds: Double
    /// Bytes the forward keeps for backward: probabilities [G, H, Nb, Nb] vs statistics [G·Nb, H, 2].
    public var storedBytes: Int, statisticsBytes: Int
    /// Fraction of the block's score and weighted-sum work the statistics kernel runs.
    public var computedFraction: Double
}

public struct AttentionBenchmarkReport: Codable, Sendable {
    public var config: String
    public var precision: String
    public var rows: Int
    public var heads: Int
    public var headSize: Int
    public var repeats: Int
    public var shapes: [AttentionShapeReport]
}

extension Benchmark {
    public static func attention(config: RunConfig, configName: String, repeats: Int = 5,
                                 progress: (String) -> Void = { _ in }) -> AttentionBenchmarkReport {
        MatMul.configureThreads()
        let model = config.model, precision = config.training.precision
        let heads = model.heads, dh = model.headSize, width = heads * dh
        let rows = config.training.batchSize * model.positionsPerSlice
        var random = Xoshiro256(seed: 11)
        func normals(_ count: Int, _ scale: Double) -> FloatBuffer {
            FloatBuffer((0..<count).map { _ in Float(scale * random.nextNormal()) })
        }
        let q = normals(rows * width, 1.5), k = normals(rows * width, 1.5), v = normals(rows * width, 1), dOut = normals(rows * width, 1)
        func rounded(_ x: FloatBuffer) -> BFloat16Buffer { let b = BFloat16Buffer(count: x.count); b.round(from: x.pointer); return b }
        let q16 = rounded(q), k16 = rounded(k), v16 = rounded(v), dOut16 = rounded(dOut)
        let out = FloatBuffer(count: rows * width), dq = FloatBuffer(count: rows * width)
        let dk = FloatBuffer(count: rows * width), dv = FloatBuffer(count: rows * width)
        // The layers' (block length, causal) pairs, with how many layers share each.
        var counts: [String: (nb: Int, causal: Bool, layers: Int)] = [:]
        for (layers, causal) in [(model.encoderLayers, false), (model.decoderLayers, true)] {
            for index in 0..<layers {
                let nb = model.block(forLayer: index).product
                counts["\(nb)-\(causal)", default: (nb, causal, 0)].layers += 1
            }
        }
        var reports: [AttentionShapeReport] = []
        for (nb, causal, layers) in counts.values.sorted(by: { ($0.nb, $0.causal ? 1 : 0) < ($1.nb, $1.causal ? 1 : 0) }) {
            progress("attention Nb \(nb)\(causal ? " causal" : ""): \(repeats) alternating rounds")
            let groups = rows / nb
            let bias = normals(heads * nb * nb, 0.5), dBias = FloatBuffer(count: heads * nb * nb)
            let probs = FloatBuffer(count: groups * heads * nb * nb)
            let shape = BlockAttention.Shape(groups: groups, blockLength: nb, heads: heads, headSize: dh, causal: causal)
            let statistics = FloatBuffer(count: BlockAttention.statisticsCount(rows: rows, heads: heads))
            let storedWorkspace = FloatBuffer(count: StoredProbabilityAttention.backwardWorkspaceCount(shape))
            let storedWorkspace16 = BFloat16Buffer(count: max(StoredProbabilityAttention.forwardWorkspaceCountBF16(shape),
                                                              StoredProbabilityAttention.backwardWorkspaceCountBF16(shape)))
            let workspace = BlockAttention.Workspace(fp32: FloatBuffer(count: shape.backwardWorkspaceCount),
                                                     bf16: BFloat16Buffer(count: shape.workspaceCountBF16))
            let inputs: BlockAttention.Inputs = precision == .bf16
                ? .bf16(q: q16.pointer, k: k16.pointer, v: v16.pointer) : .fp32(q: q.pointer, k: k.pointer, v: v.pointer)
            let gradient: Operand = precision == .bf16 ? .bf16(dOut16.pointer) : .fp32(dOut.pointer)
            func storedForward() {
                if precision == .bf16 {
                    StoredProbabilityAttention.forward(out: out.pointer, probs: probs.pointer, q: q16.pointer, k: k16.pointer,
                                                       v: v16.pointer, bias: bias.pointer, shape: shape, workspace: storedWorkspace16)
                } else {
                    StoredProbabilityAttention.forward(out: out.pointer, probs: probs.pointer, q: q.pointer, k: k.pointer, v: v.pointer,
                                                       bias: bias.pointer, shape: shape)
                }
            }
            func storedBackward() {
                if precision == .bf16 {
                    StoredProbabilityAttention.backward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dBias: dBias.pointer,
                                                        dOut: dOut16.pointer, q: q16.pointer, k: k16.pointer, v: v16.pointer,
                                                        probs: probs.pointer, shape: shape, workspace: storedWorkspace,
                                                        workspace16: storedWorkspace16)
                } else {
                    StoredProbabilityAttention.backward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dBias: dBias.pointer,
                                                        dOut: dOut.pointer, q: q.pointer, k: k.pointer, v: v.pointer, probs: probs.pointer,
                                                        shape: shape, workspace: storedWorkspace)
                }
            }
            func statisticsForward() {
                BlockAttention.forward(out: .fp32(out.pointer), statistics: statistics.pointer, inputs: inputs, bias: bias.pointer,
                                       shape: shape, workspace: workspace)
            }
            func statisticsBackward() {
                BlockAttention.backward(dq: .fp32(dq.pointer), dk: .fp32(dk.pointer), dv: .fp32(dv.pointer), dBias: dBias.pointer,
                                        dOut: gradient, inputs: inputs, statistics: statistics.pointer, bias: bias.pointer,
                                        shape: shape, workspace: workspace)
            }
            func seconds(_ body: () -> Void) -> Double { var clock = Stopwatch(); body(); return clock.lap() }
            var times = [[Double]](repeating: [], count: 4)
            storedForward(); storedBackward(); statisticsForward(); statisticsBackward()   // warm-up (primitives, pages)
            for _ in 0..<repeats {
                times[0].append(seconds(storedForward)); times[1].append(seconds(storedBackward))
                times[2].append(seconds(statisticsForward)); times[3].append(seconds(statisticsBackward))
            }
            reports.append(AttentionShapeReport(
                blockLength: nb, causal: causal, layers: layers,
                storedForwardSeconds: median(times[0]), storedBackwardSeconds: median(times[1]),
                statisticsForwardSeconds: median(times[2]), statisticsBackwardSeconds: median(times[3]),
                storedBytes: probs.bytes, statisticsBytes: statistics.bytes,
                computedFraction: BlockAttention.computedFraction(blockLength: nb, causal: causal)))
        }
        return AttentionBenchmarkReport(config: configName, precision: precision.rawValue, rows: rows, heads: heads,
                                        headSize: dh, repeats: repeats, shapes: reports)
    }
}
