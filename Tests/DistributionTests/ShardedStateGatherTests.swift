// The pieces of a model shard inside one tensor (hand-checked), and the sharded-state gather on a mesh of
// one rank: every tensor of every group, in order, refusing requests out of order and a root that is not
// rank 0 of both axes. Several ranks (threads and mpirun) are TrainingTests' (OptimizerShardingTests: a
// sharded checkpoint is bitwise the unsharded run's; modelShardPiecesMatchTheShardLayout checks these
// pieces against VideoModel's ShardLayout).
import Testing
import Kernels
@testable import Distribution

@Suite struct ShardedStateGatherTests {
    /// A [2, 4, 3] tensor split along axis 1 over 2 shards: shard s holds rows o, columns 2s..<2s+2, i.e.
    /// two runs of 6 floats per shard.
    @Test func piecesOfATensorSplitAlongAnAxis() {
        let shape = [2, 4, 3]
        let tensor = (0..<24).map(Float.init)
        var runs: [[Int]] = []
        ModelShardPieces.forEach(shape: shape, axis: 1, shard: 1, of: 2) { runs.append([$0, $1, $2]) }
        #expect(runs == [[6, 0, 6], [18, 6, 6]])
        var piece = [Float](repeating: -1, count: 12)
        tensor.withUnsafeBufferPointer { t in
            piece.withUnsafeMutableBufferPointer { ModelShardPieces.extract(from: t.baseAddress!, into: $0.baseAddress!, shape: shape, axis: 1, shard: 1, of: 2) }
        }
        #expect(piece == [6, 7, 8, 9, 10, 11, 18, 19, 20, 21, 22, 23])
        var rebuilt = [Float](repeating: 0, count: 24)
        for shard in 0..<2 {
            var part = [Float](repeating: 0, count: 12)
            tensor.withUnsafeBufferPointer { t in
                part.withUnsafeMutableBufferPointer { ModelShardPieces.extract(from: t.baseAddress!, into: $0.baseAddress!, shape: shape, axis: 1, shard: shard, of: 2) }
            }
            part.withUnsafeBufferPointer { p in
                rebuilt.withUnsafeMutableBufferPointer { ModelShardPieces.insert(p.baseAddress!, into: $0.baseAddress!, shape: shape, axis: 1, shard: shard, of: 2) }
            }
        }
        #expect(rebuilt == tensor, "the shards put together are the tensor")
        runs = []
        ModelShardPieces.forEach(shape: shape, axis: nil, shard: 1, of: 2) { runs.append([$0, $1, $2]) }
        #expect(runs == [[0, 0, 24]], "a replicated tensor is one run: the whole tensor")
    }

    /// One rank: the gather hands out the parameters and then each slot, tensor by tensor in table order.
    @Test func oneRankGathersEveryTensorInOrder() throws {
        var table = ParameterTable()
        table.add("a", [2, 3])
        table.add("b", [5])
        let parameters = FloatBuffer((0..<table.totalCount).map { Float($0) })
        let slots = [FloatBuffer((0..<table.totalCount).map { Float(100 + $0) })]
        let partition = try FlatPartition(count: table.totalCount, parts: 1)
        var seen: [String] = []
        let gather = try ShardedStateGather(dataAxis: LocalCommunicator(), modelAxis: LocalCommunicator(), isRoot: true, partition: partition,
                                            full: table, shardTable: table, splitAxes: [nil, nil], parameters: parameters, slots: slots,
                                            groups: ["params", "optimizer/m"]) { seen.append("\($0)/\($1)") }
        #expect(gather.total == 4)
        #expect(throws: DistributedError.internalError("checkpoint tensor optimizer/m/a requested out of order")) {
            _ = try gather.tensor(group: 1, entry: 0)
        }
        for (group, buffer) in [parameters, slots[0]].enumerated() {
            for (index, entry) in table.entries.enumerated() {
                let values = try gather.tensor(group: group, entry: index)
                #expect(Array(values) == Array(buffer.array[entry.offset..<(entry.offset + entry.count)]), "group \(group), \(entry.name)")
            }
        }
        try gather.finish()  // nothing left to take part in
        #expect(seen == ["params/a", "params/b", "optimizer/m/a", "optimizer/m/b"])
    }

    @Test func theRootMustBeRankZeroOfBothAxes() throws {
        final class SecondOfTwo: Communicator, @unchecked Sendable {
            let rank = 1, size = 2
            func barrier() throws {}
            func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) throws {}
            func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation) throws {}
            func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation) throws {}
            func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws {}
            func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {}
            func allGather(_ value: UInt64) throws -> [UInt64] { [value, value] }
            func split(color: Int, key: Int) throws -> any Communicator { self }
        }
        var table = ParameterTable()
        table.add("a", [4])
        let buffer = FloatBuffer(count: table.totalCount)
        #expect(throws: DistributedError.internalError("world rank 0 must be data rank 0 and model rank 0 to gather the checkpoint")) {
            _ = try ShardedStateGather(dataAxis: LocalCommunicator(), modelAxis: SecondOfTwo(), isRoot: true,
                                       partition: try FlatPartition(count: table.totalCount, parts: 1), full: table, shardTable: table,
                                       splitAxes: [nil], parameters: buffer, slots: [], groups: ["params"])
        }
    }
}
