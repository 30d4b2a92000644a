// A run's checkpoint directory: the commit protocol (temporary file → rename → `latest`), retention,
// cleaning up after a killed writer, falling back from a damaged newest checkpoint, and failed saves —
// injected, and a real full disk (a 1 MiB tmpfs, when the tests run as root and may mount one).

import Foundation
import Kernels
import Testing
import VTTestFiles
@testable import Checkpointing

@Suite struct CheckpointDirectoryTests {
    func names(_ directory: CheckpointDirectory) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.url.path).sorted()
    }

    @Test func saveCommitsAndMovesLatest() throws {
        let scratch = try ScratchDirectory()
        let directory = CheckpointDirectory(url: scratch.url.appendingPathComponent("run"), hooks: CheckpointWriteHooks())
        try directory.prepare()
        let first = try directory.save(sampleContents(step: 100), retention: nil)
        #expect(first.url.lastPathComponent == "step_00000100.h5")
        #expect(directory.latestPointer()?.lastPathComponent == "step_00000100.h5")
        try directory.save(sampleContents(step: 200), retention: nil)
        #expect(try names(directory) == ["latest", "step_00000100.h5", "step_00000200.h5"])
        #expect(try String(contentsOf: directory.url.appendingPathComponent("latest"), encoding: .utf8) == "step_00000200.h5\n")
        #expect(try directory.candidates().map(\.lastPathComponent) == ["step_00000200.h5", "step_00000100.h5"])
    }

    @Test func retentionKeepsTheLastNMilestonesAndTheNewest() throws {
        let policy = RetentionPolicy(keepLast: 2, milestones: [300])
        #expect(policy.kept([100, 200, 300, 400, 500], protecting: 500) == [300, 400, 500])
        #expect(RetentionPolicy(keepLast: 0).kept([100, 200], protecting: 200) == [200])
        // Resumed from an older checkpoint: the new save is kept even though newer steps exist.
        #expect(RetentionPolicy(keepLast: 1).kept([100, 200, 900], protecting: 200) == [200, 900])

        let scratch = try ScratchDirectory()
        let directory = CheckpointDirectory(url: scratch.url, hooks: CheckpointWriteHooks())
        var removed: [String] = []
        for step in stride(from: 100, through: 600, by: 100) {
            removed += try directory.save(sampleContents(step: step), retention: policy).removed.map(\.lastPathComponent)
        }
        #expect(removed == ["step_00000100.h5", "step_00000200.h5", "step_00000400.h5"])
        #expect(try directory.checkpoints().map(\.step) == [300, 500, 600])
    }

    @Test func staleTemporaryFilesAreRemovedAtStart() throws {
        let scratch = try ScratchDirectory()
        let directory = CheckpointDirectory(url: scratch.url, hooks: CheckpointWriteHooks())
        try directory.save(sampleContents(step: 10), retention: nil)
        for name in [".step_00000020.h5.tmp.4242", ".latest.tmp.4242", "notes.txt"] {
            _ = FileManager.default.createFile(atPath: scratch.path(name), contents: Data("partial".utf8))
        }
        #expect(try directory.prepare() == [".latest.tmp.4242", ".step_00000020.h5.tmp.4242"])
        #expect(try names(directory) == ["latest", "notes.txt", "step_00000010.h5"])
    }

    @Test func anInjectedWriteFailureLeavesEverythingAsItWas() throws {
        let scratch = try ScratchDirectory()
        let directory = CheckpointDirectory(url: scratch.url, hooks: CheckpointWriteHooks())
        try directory.save(sampleContents(step: 10), retention: RetentionPolicy(keepLast: 1))
        let before = try fileBytes(scratch.path("step_00000010.h5"))
        directory.hooks = CheckpointWriteHooks { index, _, _ in
            if index == 7 { throw POSIXError(.ENOSPC) }
        }
        let error = try #require(throws: CheckpointError.self) {
            try directory.save(sampleContents(step: 20), retention: RetentionPolicy(keepLast: 1))
        }
        #expect(error.kind == .saveFailed && "\(error)".contains("step_00000020.h5"))
        #expect(try names(directory) == ["latest", "step_00000010.h5"])  // no temporary file, nothing pruned
        #expect(directory.latestPointer()?.lastPathComponent == "step_00000010.h5")
        #expect(try fileBytes(scratch.path("step_00000010.h5")) == before)
    }

    @Test func aDamagedNewestCheckpointFallsBackToThePreviousOne() throws {
        let scratch = try ScratchDirectory()
        let directory = CheckpointDirectory(url: scratch.url, hooks: CheckpointWriteHooks())
        let contents = [sampleContents(step: 10, seed: 1), sampleContents(step: 20, seed: 2), sampleContents(step: 30, seed: 3)]
        for c in contents { try directory.save(c, retention: nil) }
        // Newest: truncated. Second newest: one flipped byte in a parameter.
        let newest = scratch.path("step_00000030.h5")
        try writeBytes(Array(try fileBytes(newest).prefix(3000)), newest)
        let second = scratch.path("step_00000020.h5")
        var bytes = try fileBytes(second)
        let at = try #require(offset(of: tensorBytes(of: contents[1].tensors[0], "encoder/final_norm/scale"), in: bytes))
        bytes[at + 5] ^= 0x80
        try writeBytes(bytes, second)

        var skipped: [SkippedCheckpoint] = []
        let restored = emptyLike(contents[0])
        let loaded = try directory.loadNewestIntact(skipped: { skipped.append($0) }) { file in
            for tensors in restored { try file.read(into: tensors) }
        }
        #expect(loaded?.step == 10)
        #expect(skipped.map(\.url.lastPathComponent) == ["step_00000030.h5", "step_00000020.h5"])
        #expect(skipped[1].error.object == "/params/encoder/final_norm/scale")
        #expect(zip(contents[0].tensors, restored).allSatisfy { tensorValues($0) == tensorValues($1) })
    }

    @Test func anEmptyDirectoryHasNothingToLoad() throws {
        let scratch = try ScratchDirectory()
        let directory = CheckpointDirectory(url: scratch.url.appendingPathComponent("absent"), hooks: CheckpointWriteHooks())
        let loaded = try directory.loadNewestIntact(skipped: { _ in Issue.record("nothing to skip") }) { _ in }
        #expect(loaded == nil)
    }

    /// A real full disk: a 1 MiB tmpfs. Skipped unless running as root with permission to mount.
    @Test(.enabled(if: getuid() == 0, "needs root to mount a tmpfs"))
    func aFullDiskFailsTheSaveLoudlyAndKeepsOlderCheckpoints() throws {
        let scratch = try ScratchDirectory()
        let mountPoint = scratch.url.appendingPathComponent("tiny-disk")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        guard run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint.path]) == 0 else {
            print("note: cannot mount a tmpfs here; the injected-failure test covers the logic")
            return
        }
        defer { _ = run("/bin/umount", [mountPoint.path]) }
        let directory = CheckpointDirectory(url: mountPoint.appendingPathComponent("run"), hooks: CheckpointWriteHooks())
        try directory.prepare()
        try directory.save(sampleContents(step: 1), retention: RetentionPolicy(keepLast: 3))
        let before = try fileBytes(directory.url.appendingPathComponent("step_00000001.h5").path)

        var big = ParameterTable()
        big.add("encoder/embedding", [300, 1000])  // 1.2 MB of parameters: cannot fit
        let tooBig = CheckpointContents(step: 2, attributes: [],
                                        tensors: [CheckpointTensors(group: "params", table: big, buffer: FloatBuffer(count: big.totalCount))])
        let error = try #require(throws: CheckpointError.self) { try directory.save(tooBig, retention: RetentionPolicy(keepLast: 3)) }
        #expect(error.kind == .saveFailed)
        #expect("\(error)".contains("step_00000002.h5"))
        #expect("\(error)".lowercased().contains("no space left"), "\(error)")
        #expect(try names(directory) == ["latest", "step_00000001.h5"])
        #expect(directory.latestPointer()?.lastPathComponent == "step_00000001.h5")
        #expect(try fileBytes(directory.url.appendingPathComponent("step_00000001.h5").path) == before)
        // The space came back: the next save that fits succeeds.
        try directory.save(sampleContents(step: 3), retention: RetentionPolicy(keepLast: 3))
        #expect(try directory.checkpoints().map(\.step) == [1, 3])
        let restored = emptyLike(sampleContents(step: 3))
        let file = try CheckpointFile(path: directory.url.appendingPathComponent("step_00000001.h5").path)
        for tensors in restored { try file.read(into: tensors) }

        // The disk fills up in the middle of a write: the file's blocks were reserved before HDF5 wrote
        // anything, so this save still completes; the next one finds the disk full and fails cleanly.
        let filler = mountPoint.appendingPathComponent("filler").path
        directory.hooks = CheckpointWriteHooks { index, _, _ in
            guard index == 4, !FileManager.default.fileExists(atPath: filler) else { return }
            let descriptor = open(filler, O_WRONLY | O_CREAT, 0o644)
            defer { close(descriptor) }
            let block = [UInt8](repeating: 1, count: 4096)
            while block.withUnsafeBytes({ write(descriptor, $0.baseAddress!, block.count) }) > 0 {}
        }
        try directory.save(sampleContents(step: 4), retention: RetentionPolicy(keepLast: 3))
        let full = try #require(throws: CheckpointError.self) { try directory.save(sampleContents(step: 5), retention: RetentionPolicy(keepLast: 3)) }
        #expect(full.kind == .saveFailed && "\(full)".contains("No space left on device"), "\(full)")
        #expect(try names(directory) == ["latest", "step_00000001.h5", "step_00000003.h5", "step_00000004.h5"])
        #expect(directory.latestPointer()?.lastPathComponent == "step_00000004.h5")
        for step in [1, 3, 4] {
            let file = try CheckpointFile(path: directory.checkpointURL(step: step).path)
            #expect(try file.verify().allSatisfy(\.isIntact))
        }
        try FileManager.default.removeItem(atPath: filler)
        directory.hooks = CheckpointWriteHooks()
        try directory.save(sampleContents(step: 5), retention: RetentionPolicy(keepLast: 3))
        #expect(try directory.checkpoints().map(\.step) == [3, 4, 5])
    }
}

@discardableResult
func run(_ executable: String, _ arguments: [String]) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return -1 }
    process.waitUntilExit()
    return process.terminationStatus
}
