// One checkpoint file: written and read back bitwise, laid out as docs/design.md §5 says (readable by plain
// HDF5), and every kind of damage or mismatch refused with the dataset named.

import Common
import Foundation
import HDF5
import Kernels
import Testing
import VTTestFiles
@testable import Checkpointing

@Suite struct CheckpointFileTests {
    @Test func roundTripIsBitwise() throws {
        let scratch = try ScratchDirectory()
        let contents = sampleContents(step: 1234)
        let path = scratch.path("step.h5")
        try CheckpointWriter.write(contents, to: path)
        let file = try CheckpointFile(path: path)
        #expect(file.step == 1234)
        #expect(file.int("optimizer_step") == 1234)
        #expect(file.double("learning_rate") == 1e-3)
        #expect(file.strings("optimizer_slots") == ["m", "v"])
        let restored = emptyLike(contents)
        for tensors in restored { try file.read(into: tensors) }
        for (original, copy) in zip(contents.tensors, restored) {
            #expect(tensorValues(original) == tensorValues(copy), "group \(original.group)")
        }
        let reports = try file.verify()
        #expect(reports.count == 15 && reports.allSatisfy(\.isIntact))
    }

    @Test func layoutFollowsTheDesign() throws {
        let scratch = try ScratchDirectory()
        let contents = sampleContents(step: 7)
        let path = scratch.path("step.h5")
        try CheckpointWriter.write(contents, to: path)
        // Read with the plain HDF5 wrapper, as any HDF5 tool would.
        let file = try HDF5File.open(path)
        #expect(try file.root.attribute("format", as: String.self) == "vt-checkpoint")
        #expect(try file.root.attribute("format_version", as: Int64.self) == 1)
        #expect(try file.root.attribute("step", as: Int64.self) == 7)
        #expect(try !file.root.attribute("created", as: String.self).isEmpty)
        #expect(try file.root.children() == ["optimizer", "params"])
        #expect(try file.root.group("optimizer").children() == ["m", "v"])
        let query = try file.root.dataset("params/encoder/layer_0/attention/query")
        #expect(try query.shape() == [6, 4])
        #expect(try query.elementType() == .float32)
        #expect(try query.read(as: Float.self) == (0..<24).map { contents.tensors[0].buffer[contents.tensors[0].table["encoder/layer_0/attention/query"]!.offset + $0] })
        #expect(try query.hasAttribute("crc32c"))
        #expect(try file.root.dataset("optimizer/v/head/channel_1/previous").shape() == [1, 7, 6])
        try file.close()

        // The user-block index points at each dataset's bytes, with their CRC.
        let checkpoint = try CheckpointFile(path: path)
        let index = try #require(checkpoint.index)
        #expect(index.userBlockSize == 512 && index.entries.count == 15)
        let raw = try fileBytes(path)
        #expect(index.fileSize == raw.count)
        var expected: [[UInt8]] = []
        for tensors in contents.tensors { for entry in tensors.table.entries { expected.append(tensorBytes(of: tensors, entry.name)) } }
        for (entry, data) in zip(index.entries, expected) {
            #expect(Array(raw[entry.offset..<entry.offset + entry.length]) == data)
            #expect(entry.checksum == CRC32C.checksum(data))
        }
    }

    @Test func aFlippedByteInADatasetIsRejectedNamingIt() throws {
        let scratch = try ScratchDirectory()
        let contents = sampleContents(step: 3)
        let path = scratch.path("step.h5")
        try CheckpointWriter.write(contents, to: path)
        var bytes = try fileBytes(path)
        let target = contents.tensors[1]  // optimizer/m
        let at = try #require(offset(of: tensorBytes(of: target, "encoder/layer_0/attention/query"), in: bytes))
        bytes[at + 37] ^= 0x10
        try writeBytes(bytes, path)
        let file = try CheckpointFile(path: path)
        try file.read(into: emptyLike(contents)[0])  // params are fine
        let error = try #require(throws: CheckpointError.self) { try file.read(into: emptyLike(contents)[1]) }
        #expect(error.kind == .damaged)
        #expect(error.object == "/optimizer/m/encoder/layer_0/attention/query")
        #expect("\(error)".contains("/optimizer/m/encoder/layer_0/attention/query") && "\(error)".contains("CRC-32C"))
        let failed = try file.verify().filter { !$0.isIntact }.map(\.path)
        #expect(failed == ["/optimizer/m/encoder/layer_0/attention/query"])
    }

    @Test func aFlippedByteInTheConfigIsRejected() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path("step.h5")
        try CheckpointWriter.write(sampleContents(step: 3), to: path)
        var bytes = try fileBytes(path)
        let at = try #require(offset(of: Array("hidden_size".utf8), in: bytes))
        bytes[at] ^= 0x01  // 'h' → 'i'
        try writeBytes(bytes, path)
        let error = try #require(throws: CheckpointError.self) { try CheckpointFile(path: path) }
        #expect(error.kind == .damaged && error.object == "HDF5 metadata")  // the global heap holding the string
    }

    @Test func truncatedAndForeignFilesAreUnreadable() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path("step.h5")
        try CheckpointWriter.write(sampleContents(step: 3), to: path)
        let bytes = try fileBytes(path)
        for keep in [0, 100, bytes.count / 2, bytes.count - 1] {
            try writeBytes(Array(bytes.prefix(keep)), path)
            let error = try #require(throws: CheckpointError.self, "kept \(keep) bytes") {
                let file = try CheckpointFile(path: path)
                _ = try file.verify()
                for tensors in emptyLike(sampleContents(step: 3)) { try file.read(into: tensors) }
            }
            #expect(error.isDamage, "kept \(keep) bytes: \(error)")
        }
        let missing = try #require(throws: CheckpointError.self) { try CheckpointFile(path: scratch.path("nope.h5")) }
        #expect(missing.kind == .unreadable && "\(missing)".contains("no such file"))
        let shard = try HDF5File.create(scratch.path("shard.h5"))
        try shard.root.setAttribute("format", "video-shard")
        try shard.close()
        let foreign = try #require(throws: CheckpointError.self) { try CheckpointFile(path: scratch.path("shard.h5")) }
        #expect(foreign.kind == .notACheckpoint && "\(foreign)".contains("video-shard"))
    }

    /// Any single flipped byte: the file is refused (unreadable or damaged) or reads back exactly (the
    /// byte was in unused space). It never loads different numbers.
    @Test(.timeLimit(.minutes(1))) func randomFlippedBytesNeverLoadWrongValues() throws {
        let scratch = try ScratchDirectory()
        let contents = sampleContents(step: 5)
        let path = scratch.path("step.h5")
        try CheckpointWriter.write(contents, to: path)
        let original = try fileBytes(path)
        var generator = SystemRandomNumberGenerator()
        var refused = 0
        for trial in 0..<300 {
            var bytes = original
            let at = trial < 100 ? trial * original.count / 100 : Int.random(in: 0..<original.count, using: &generator)
            bytes[at] ^= UInt8(1 << (trial % 8))
            try writeBytes(bytes, path)
            do {
                let file = try CheckpointFile(path: path)
                let restored = emptyLike(contents)
                for tensors in restored { try file.read(into: tensors) }
                for (a, b) in zip(contents.tensors, restored) {
                    #expect(tensorValues(a) == tensorValues(b), "byte \(at) flipped: loaded different values")
                }
            } catch let error as CheckpointError {
                #expect(error.isDamage, "byte \(at): \(error)")
                refused += 1
            }
        }
        #expect(refused > 200)
    }

    @Test func aDifferentModelIsAMismatchNamingTheTensor() throws {
        let scratch = try ScratchDirectory()
        let contents = sampleContents(step: 3)
        let path = scratch.path("step.h5")
        try CheckpointWriter.write(contents, to: path)
        let file = try CheckpointFile(path: path)

        var wider = ParameterTable()
        for entry in sampleTable().entries { wider.add(entry.name, entry.name.hasSuffix("query") ? [6, 8] : entry.shape) }
        let shape = try #require(throws: CheckpointError.self) {
            try file.read(into: CheckpointTensors(group: "params", table: wider, buffer: FloatBuffer(count: wider.totalCount)))
        }
        #expect(shape.kind == .mismatch && shape.object == "/params/encoder/layer_0/attention/query" && "\(shape)".contains("[6, 4]"))

        var more = sampleTable()
        more.add("decoder/condition", [6, 6])
        let missing = try #require(throws: CheckpointError.self) {
            try file.read(into: CheckpointTensors(group: "params", table: more, buffer: FloatBuffer(count: more.totalCount)))
        }
        #expect(missing.kind == .mismatch && missing.object == "/params/decoder/condition")

        var fewer = ParameterTable()
        fewer.add("encoder/embedding", [3, 3, 2, 5])
        let extra = try #require(throws: CheckpointError.self) {
            try file.read(into: CheckpointTensors(group: "params", table: fewer, buffer: FloatBuffer(count: fewer.totalCount)))
        }
        #expect(extra.kind == .mismatch)

        let slot = try #require(throws: CheckpointError.self) {
            try file.read(into: CheckpointTensors(group: "optimizer/rms", table: sampleTable(), buffer: FloatBuffer(count: sampleTable().totalCount)))
        }
        #expect(slot.kind == .mismatch && slot.object == "/optimizer/rms")
    }

    /// A streamed group (tensors handed over one at a time, as a sharded trainer gathers them) writes the
    /// same datasets, bytes and checksums as a buffered one; each tensor is asked for once, in order, and
    /// read back one at a time (`readTensor`) with its checks.
    @Test func streamedTensorsAreWrittenLikeBufferedOnes() throws {
        let scratch = try ScratchDirectory()
        let buffered = sampleContents(step: 3)
        var requests: [String] = []
        var streamed = buffered
        streamed.streamed = buffered.tensors.dropFirst().map { group in
            StreamedTensors(group: group.group, table: group.table) { index in
                let entry = group.table.entries[index]
                requests.append(group.group + "/" + entry.name)
                let copy = UnsafeMutableBufferPointer<Float>.allocate(capacity: entry.count)  // a fresh "message" each time
                _ = copy.initialize(from: UnsafeBufferPointer(start: group.buffer.pointer + entry.offset, count: entry.count))
                return UnsafeBufferPointer(copy)  // leaked on purpose: a few hundred bytes
            }
        }
        streamed.tensors = [buffered.tensors[0]]
        #expect(streamed.tensorBytes == buffered.tensorBytes)
        try CheckpointWriter.write(buffered, to: scratch.path("buffered.h5"))
        try CheckpointWriter.write(streamed, to: scratch.path("streamed.h5"))
        #expect(requests == buffered.tensors.dropFirst().flatMap { group in group.table.entries.map { group.group + "/" + $0.name } })
        let a = try CheckpointFile(path: scratch.path("buffered.h5")), b = try CheckpointFile(path: scratch.path("streamed.h5"))
        let (reportsA, reportsB) = (try a.verify(), try b.verify())
        #expect(reportsB.allSatisfy(\.isIntact) && reportsB.count == 15)
        #expect(reportsA.map(\.path) == reportsB.map(\.path) && reportsA.map(\.computedChecksum) == reportsB.map(\.computedChecksum))
        #expect(b.int("dataset_count") == 15)
        let table = sampleTable()
        try b.checkTensorNames(group: "optimizer/v", table: table)
        let entry = table["head/channel_1/previous"]!
        var values = [Float](repeating: 0, count: entry.count)
        try values.withUnsafeMutableBytes { try b.readTensor(group: "optimizer/v", entry: entry, into: $0) }
        #expect(values == (0..<entry.count).map { buffered.tensors[2].buffer[entry.offset + $0] })
        var other = table
        other.add("extra", [2])
        #expect(throws: CheckpointError.self) { try b.checkTensorNames(group: "params", table: other) }
    }

    /// A fetch that fails (a gather that broke) fails the write like a failing disk: no file is left behind
    /// by the directory, nothing earlier is touched.
    @Test func aFailingStreamedTensorFailsTheSave() throws {
        let scratch = try ScratchDirectory()
        let directory = CheckpointDirectory(url: scratch.url, hooks: CheckpointWriteHooks())
        try directory.save(sampleContents(step: 1), retention: nil)
        var contents = sampleContents(step: 2)
        let group = contents.tensors.removeLast()
        contents.streamed = [StreamedTensors(group: group.group, table: group.table) { index in
            if index == 2 { throw CheckpointError(.saveFailed, file: "gather", "rank 1 went away") }
            return UnsafeBufferPointer(start: group.buffer.pointer + group.table.entries[index].offset, count: group.table.entries[index].count)
        }]
        do {
            try directory.save(contents, retention: nil)
            Issue.record("the save succeeded")
        } catch let error as CheckpointError {
            #expect(error.kind == .saveFailed && "\(error)".contains("rank 1 went away"), "\(error)")
        }
        #expect(try directory.checkpoints().map(\.step) == [1])
        #expect(directory.latestPointer()?.lastPathComponent == "step_00000001.h5")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).filter { $0.contains(".tmp") }.isEmpty)
    }

    @Test func reservedAttributesAreRefused() throws {
        let scratch = try ScratchDirectory()
        var contents = sampleContents(step: 3)
        contents.attributes.append(("step", .int64(9)))
        #expect(throws: CheckpointError.self) { try CheckpointWriter.write(contents, to: scratch.path("x.h5")) }
    }

    @Test func fileNames() {
        #expect(CheckpointFormat.fileName(step: 200) == "step_00000200.h5")
        #expect(CheckpointFormat.fileName(step: 1_000_000) == "step_01000000.h5")
        #expect(CheckpointFormat.step(fromFileName: "step_00300000.h5") == 300_000)
        #expect(CheckpointFormat.step(fromFileName: "step_123456789.h5") == 123_456_789)
        #expect(CheckpointFormat.step(fromFileName: ".step_00000200.h5.tmp.12") == nil)
        #expect(CheckpointFormat.step(fromFileName: "step_0000020.h5") == nil)
        #expect(CheckpointFormat.step(fromFileName: "latest") == nil)
    }
}
