// Inputs that crashed the checkpoint reader under the fuzzer (Tests/Fuzz, harness `checkpoint`), kept as
// bytes, and their hand-made siblings: opening them must throw a CheckpointError, never trap.

import Common
import Foundation
import Testing
import VTTestFiles
@testable import Checkpointing

@Suite struct FuzzRegressionTests {
    /// The fuzzer's input: an index header whose file size is ≥ 2^63 (converting it to Int trapped).
    @Test func indexClaimingAnImpossibleFileSizeIsDamage() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path("step_00000001.h5")
        try Data(base64Encoded: "VlRDS1BUSVgAAQAABAAAADMsnp6enp6enp6enp6enp6enp7MVg==")!.write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: CheckpointError.self) { try CheckpointFile(path: path) }
        #expect(error.kind == .damaged && "\(error)".contains("impossible sizes"), "\(error)")
    }

    /// A sound index (its CRC matches) listing a dataset at offset 2^63 (converting it to Int trapped).
    @Test func indexEntryBeyondAnyFileIsDamage() throws {
        let error = try openIndex(entryOffset: 1 << 63, entryLength: 8)
        #expect(error.kind == .damaged && "\(error)".contains("impossible data ranges"), "\(error)")
    }

    /// A sound index listing offset + length past Int.max (the end-of-range sum overflowed and trapped).
    @Test func indexEntryWhoseEndOverflowsIsDamage() throws {
        let error = try openIndex(entryOffset: UInt64(Int.max - 10), entryLength: 100)
        #expect(error.kind == .damaged && "\(error)".contains("impossible data ranges"), "\(error)")
    }

    /// A 512-byte file that is nothing but an index (64-byte user block, one entry) with a correct CRC.
    private func openIndex(entryOffset: UInt64, entryLength: UInt64) throws -> CheckpointError {
        var bytes = CheckpointIndex.magic
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        put(UInt32(1)); put(UInt32(1)); put(UInt64(512)); put(UInt32(0)); put(UInt32(64))
        put(entryOffset); put(entryLength); put(UInt32(0)); put(UInt32(0))
        put(CRC32C.checksum(bytes))
        bytes += [UInt8](repeating: 0, count: 512 - bytes.count)
        let scratch = try ScratchDirectory()
        let path = scratch.path("step_00000001.h5")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return try #require(throws: CheckpointError.self) { try CheckpointFile(path: path) }
    }
}
