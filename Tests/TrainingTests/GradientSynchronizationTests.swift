// The ways gradients and parameters are synchronised (GradientSynchronization.swift), in one process with
// one thread per rank: the mesh and the config choose the way, and each way records the spans of its
// step — what `vt train --timeline` writes (names, categories, lanes) and what the metrics add up —
// without being asked whether anyone will look. That each way trains bitwise like the others is
// OptimizerShardingTests', ModelAxisTests' and DataParallelTests'.

import Foundation
import VTTestSupport
import Testing
import Distribution
import Optimization
@testable import Training

/// One step (two accumulation micro-batches) on a data × model mesh of threads; rank 0's metrics and the
/// way it synchronised.
private func oneStep(data: Int, model: Int, sharded: Bool) throws -> (StepMetrics, String) {
    var settings = modelAxisConfig(.rmsprop)
    settings.training.accumulationSteps = 2
    settings.distribution.shardOptimizer = sharded
    let config = settings
    let mesh = ThreadMesh(data: data, model: model)
    let results = try onEveryRank(mesh.size) { rank -> (StepMetrics, String) in
        let trainer = try mesh.trainer(config, rank: rank)
        return (try trainer.trainStep(), "\(type(of: trainer.synchronization))")
    }
    return results[0]
}

@Suite struct GradientSynchronizationTests {
    @Test(arguments: [(1, 1, false, "SingleRank"), (1, 2, true, "SingleRank"), (2, 1, false, "ReplicatedAllReduce"),
                      (2, 1, true, "ShardedOptimizer"), (2, 2, true, "ShardedOptimizer")])
    func theMeshAndTheConfigChooseTheWay(data: Int, model: Int, sharded: Bool, way: String) throws {
        let (metrics, chosen) = try oneStep(data: data, model: model, sharded: sharded)
        #expect(chosen == way, "data=\(data),model=\(model), shard_optimizer \(sharded)")
        let trace = metrics.trace
        #expect(trace.step == 0 && metrics.step == 1)
        let names = trace.spans.map(\.name)
        // Compute per micro-batch on the main thread, first.
        #expect(Array(names.prefix(2)) == ["forward+backward 0", "forward+backward 1"])
        #expect(trace.spans.prefix(2).allSatisfy { $0.category == "compute" && $0.lane == 0 })
        #expect(trace.spans.dropFirst(2).allSatisfy { $0.category == "communication" })
        // The data axis's spans: the wait, each bucket on the communication thread, ZeRO-1's all-gather.
        let buckets = trace.spans.filter { $0.lane == 1 }.map(\.name)
        if data == 1 {
            #expect(!names.contains("wait for gradients") && buckets.isEmpty && metrics.communicationSeconds == 0)
        } else {
            let kind = sharded ? "reduce-scatter" : "all-reduce"
            #expect(names[2] == "wait for gradients")
            #expect(!buckets.isEmpty && buckets == buckets.indices.map { "\(kind) bucket \($0)" }, "\(buckets)")
            #expect(names.contains("all-gather parameters") == sharded)
            #expect(metrics.communicationSeconds > 0 && metrics.communicationBusySeconds > 0)
        }
        // The model axis's activation all-reduces, last.
        let modelAxis = names.filter { $0 == "model-axis all-reduce" }.count
        #expect((modelAxis > 0) == (model > 1) && (metrics.modelAxisSeconds > 0) == (model > 1))
        #expect(names.suffix(modelAxis).allSatisfy { $0 == "model-axis all-reduce" })
        #expect(trace.spans.allSatisfy { $0.end >= $0.start })
    }

    /// ZeRO-1 finds the norm together with the loss: asking for it without synchronising is a bug, said so.
    @Test func theShardedNormComesFromSynchronize() throws {
        var settings = modelAxisConfig(.rmsprop)
        settings.distribution.shardOptimizer = true
        let config = settings
        let mesh = ThreadMesh(data: 2, model: 1)
        let messages = try onEveryRank(2) { rank -> String in
            let trainer = try mesh.trainer(config, rank: rank)
            do { _ = try trainer.synchronization.gradientNorm(); return "no error" } catch { return "\(error)" }
        }
        #expect(messages.allSatisfy { $0.hasPrefix("internal: the sharded gradient norm is found by synchronize") }, "\(messages)")
    }
}
